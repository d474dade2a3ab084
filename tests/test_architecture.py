"""The import rules of docs/architecture.md, checked on the source with ``ast``.

Each rule is data (the tables below): every module of cdig belongs to one group, and each
group says what it may import; a failure names the module, the line and the rule. There are
no exceptions: what a group imports only inside a function (``ON_USE``) is a rule like the
others, and the module-level imports form no cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdig._optional import _EXTRAS

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cdig"

#: Modules that import nothing from cdig but each other: every layer may use them.
LEAVES = {
    "cdig._checks",
    "cdig._evaluate",
    "cdig._layout",
    "cdig._npy",
    "cdig._numerics",
    "cdig._optional",
    "cdig._progress",
    "cdig._settings",
    "cdig._text",
    "cdig._version",
    "cdig._warnings",
    "cdig.quadrature",
    "cdig.models._archive",
    "cdig.models._pt2",
    "cdig.models._reach",
}

#: Every module of cdig belongs to exactly one group (a module, a package, or the leaves);
#: ``test_every_module_has_a_rule`` checks that none is left out.
GROUPS: dict[str, set[str]] = {
    "leaves": LEAVES,
    # transforms, models, the result object, readers: the leaves only (and themselves)
    "domains": {"cdig.domains"},
    "models": {"cdig.models"},
    "attribution": {"cdig.attribution"},
    "_io": {"cdig._io"},
    "datasets": {"cdig.datasets"},
    # the boundary: everything a user passes, validated once
    "_inputs": {"cdig._inputs"},
    "targets": {"cdig.targets"},
    "baselines": {"cdig.baselines"},
    # the integrator
    "integrator": {"cdig._adaptive", "cdig._guards", "cdig.engine"},
    # the public one-call surface and the consumers of results, side by side
    "api": {"cdig.api"},
    "_prepare": {"cdig._prepare"},
    "metrics": {"cdig.metrics"},
    "peers": {"cdig.peers"},
    "plot": {"cdig.plot"},
    "runs": {"cdig.runs"},
    # built on those
    "report": {"cdig.report"},
    "horizon": {"cdig.horizon"},
    "demo": {"cdig.demo"},
    "cli": {"cdig.cli"},
    "root": {"cdig"},
}

_BELOW_ENGINE = {"leaves", "domains", "models", "attribution", "_inputs", "targets", "baselines"}

#: What each group may import (besides itself), at module level or in a function.
MAY_IMPORT: dict[str, set[str]] = {
    "leaves": set(),
    "domains": {"leaves"},
    "models": {"leaves"},
    "attribution": {"leaves"},
    "_io": {"leaves"},
    "datasets": {"leaves"},
    "_inputs": {"leaves", "domains"},
    "targets": {"leaves"},
    "baselines": {"leaves", "_inputs"},
    "integrator": _BELOW_ENGINE,
    "api": _BELOW_ENGINE | {"integrator"},
    "_prepare": _BELOW_ENGINE | {"integrator"},
    "metrics": _BELOW_ENGINE | {"integrator", "_prepare"},
    "peers": _BELOW_ENGINE | {"integrator", "_prepare"},
    "plot": {"leaves", "attribution"},
    "runs": _BELOW_ENGINE | {"integrator"},
    "report": {"leaves", "attribution", "plot"},
    "horizon": {"targets", "api"},
    "demo": _BELOW_ENGINE | {"integrator", "api", "plot", "report"},
    "cli": set(GROUPS) - {"cli", "root"},
    "root": set(GROUPS) - {"cli", "root"},
}

#: What a group may import only inside a function, on use: (group, target) -> why.
ON_USE: dict[tuple[str, str], str] = {
    ("attribution", "plot"): "Attribution.plot() draws itself with cdig.plot",
    ("horizon", "plot"): "plot_horizon is re-exported on first use: import cdig loads no figures",
}

#: Who may import the dataset runs (the rest of the library never depends on them).
RUNS_IMPORTERS = {"cdig", "cdig.cli", "cdig.runs"}

# The package root is imported by no module of it, and no private name crosses a package.
ROOT_IMPORT_EXCEPTIONS: dict[str, str] = {}
PRIVATE_NAME_EXCEPTIONS: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    importer: str
    target: str  # a module, or the package root "cdig" for an attribute of it
    names: tuple[str, ...]  # the names of ``from target import ...`` (empty for ``import``)
    line: int
    top_level: bool  # at module level (not in a function, not under TYPE_CHECKING)
    typing_only: bool = False  # under ``if TYPE_CHECKING:``: no dependency at run time
    in_function: bool = False  # in a function's body: runs when called, not on import


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(path: Path) -> list[Edge]:
    importer = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    typing = {
        id(inner)
        for n in tree.body
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        for inner in ast.walk(n)
    }
    functions = {
        id(inner)
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for inner in ast.walk(n)
    }
    out = []
    for node in ast.walk(tree):
        at_top, hint, call = id(node) in top, id(node) in typing, id(node) in functions
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Edge(importer, alias.name, (), node.lineno, at_top, hint, call))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(importer, path, node)
            for alias in node.names:  # ``from . import x``: x is a submodule or an attribute
                sub = f"{target}.{alias.name}"
                if _is_module(sub):
                    out.append(Edge(importer, sub, (), node.lineno, at_top, hint, call))
                else:
                    edge = Edge(importer, target, (alias.name,), node.lineno, at_top, hint, call)
                    out.append(edge)
    return out


EDGES = [e for p in sorted(PACKAGE.rglob("*.py")) for e in _edges(p)]
#: The imports of cdig modules that run (type-only imports create no dependency at run time).
INTERNAL = [
    e for e in EDGES if (e.target == "cdig" or e.target.startswith("cdig.")) and not e.typing_only
]


def _within(module: str, group: str) -> bool:
    return module == group or module.startswith(group + ".")


def _where(e: Edge) -> str:
    return f"{e.importer} (line {e.line}) imports {e.target}"


def test_the_source_tree_is_parsed():
    assert len({e.importer for e in EDGES}) > 40 and len(INTERNAL) > 100


def _group(module: str) -> str | None:
    """The group of ``module``: the one whose member is the longest prefix of its name."""
    best: tuple[int, str | None] = (-1, None)
    for group, members in GROUPS.items():
        for member in members:
            if _within(module, member) and len(member) > best[0]:
                best = (len(member), group)
    return best[1]


MODULES = sorted({_module_name(p) for p in PACKAGE.rglob("*.py")})


def test_every_module_has_a_rule():
    """Every module of cdig is in a group, every group has a rule, every member exists."""
    assert len(MODULES) > 60
    assert not [m for m in MODULES if _group(m) is None]
    assert set(MAY_IMPORT) == set(GROUPS)
    members = [m for ms in GROUPS.values() for m in ms]
    assert len(members) == len(set(members)) and all(_is_module(m) for m in members)
    for group in GROUPS:  # no empty group: each holds at least one module
        assert any(_group(m) == group for m in MODULES), group


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_module_imports_only_what_its_rule_allows(group):
    allowed = MAY_IMPORT[group] | {group}
    bad = [
        f"{_where(e)} ({_group(e.target)})"
        for e in INTERNAL
        if _group(e.importer) == group
        and _group(e.target) not in allowed
        and not (e.in_function and (group, _group(e.target)) in ON_USE)
    ]
    assert not bad, bad


def test_what_is_imported_only_on_use_is_imported_only_on_use():
    used = {(_group(e.importer), _group(e.target)) for e in INTERNAL if e.in_function}
    loaded = {(_group(e.importer), _group(e.target)) for e in INTERNAL if not e.in_function}
    assert set(ON_USE) <= used, "a rule of ON_USE is no longer needed: delete it"
    assert not set(ON_USE) & loaded, sorted(set(ON_USE) & loaded)


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of ``graph`` (node -> successors) as ``[a, b, ..., a]``; ``[]`` when none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    assert _cycle({"a": {"a"}}) == ["a", "a"]


def test_the_rules_are_layered():
    """What the rules allow between groups has no cycle: each layer knows only layers below."""
    graph = {g: {t for t in allowed if t != g} for g, allowed in MAY_IMPORT.items()}
    assert _cycle(graph) == []


def test_the_import_graph_has_no_cycle():
    """Module-level imports (outside functions and ``if TYPE_CHECKING:``) form no cycle."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in INTERNAL:
        if not e.in_function and e.target != e.importer:
            graph[e.importer].add(e.target)
    assert sum(map(len, graph.values())) > 100  # the graph is there
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_no_cycle_either_through_imports_in_functions():
    """Imports on use count too: ``_inputs -> horizon -> _inputs`` (the latter inside
    ``explain_horizon``) was a cycle that module-level imports alone did not show."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in INTERNAL:
        if e.target != e.importer:
            graph[e.importer].add(e.target)
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_nothing_imports_the_command_line():
    bad = [
        _where(e) for e in INTERNAL if _within(e.target, "cdig.cli") and e.importer != "cdig.cli"
    ]
    assert not bad, bad


def test_only_the_package_and_the_command_line_import_the_dataset_runs():
    bad = [
        _where(e)
        for e in INTERNAL
        if _within(e.target, "cdig.runs")
        and e.importer != "cdig"
        and not any(_within(e.importer, m) for m in RUNS_IMPORTERS - {"cdig"})
    ]
    assert not bad, bad


def test_no_module_imports_the_package_root():
    """``from cdig import x`` / ``from . import __version__`` inside cdig: import cycles."""
    found = {e.importer for e in INTERNAL if e.target == "cdig" and e.importer != "cdig"}
    assert found <= set(ROOT_IMPORT_EXCEPTIONS), sorted(found - set(ROOT_IMPORT_EXCEPTIONS))
    assert set(ROOT_IMPORT_EXCEPTIONS) <= found, "an exception is no longer needed: delete it"


def _package(module: str) -> str:
    """The package a module belongs to (a package ``__init__`` belongs to itself)."""
    if (SRC / Path(*module.split("."))).is_dir():
        return module
    return module.rsplit(".", 1)[0]


def test_private_names_stay_inside_their_package():
    """``from cdig.engine import _check_steps`` in another package reaches into internals."""
    found = {
        (e.importer, e.target, name)
        for e in INTERNAL
        for name in e.names
        if name.startswith("_") and not name.startswith("__")
        and _package(e.importer) != _package(e.target)
    }  # fmt: skip
    assert found <= set(PRIVATE_NAME_EXCEPTIONS), sorted(found - set(PRIVATE_NAME_EXCEPTIONS))
    assert set(PRIVATE_NAME_EXCEPTIONS) <= found, "an exception is no longer needed: delete it"


def test_optional_packages_are_imported_on_use_only():
    """``import cdig`` stays light: matplotlib, TensorFlow, JAX ... only inside functions."""
    optional = {name.split(".")[0] for name in _EXTRAS}
    bad = [_where(e) for e in EDGES if e.top_level and e.target.split(".")[0] in optional]
    assert not bad, bad


def test_the_documented_table_names_every_group():
    """docs/architecture.md's table of what each module may import lists every group."""
    doc = (SRC.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc.split("## What each module may import")[1].split("\n## ")[0]
    for group, members in GROUPS.items():
        if group == "leaves":
            assert "| leaves" in section
            continue
        for member in members:
            short = member.removeprefix("cdig.") if member != "cdig" else "__init__"
            if (SRC / Path(*member.split("."))).is_dir() and member != "cdig":
                short += "/"
            assert f"`{short}`" in section, f"{member} ({group}) is not in the documented table"
