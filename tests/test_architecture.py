"""The import rules of docs/architecture.md, checked on the source with ``ast``.

Each rule is data (a table below); a failure names the module, the line and the rule. Known
exceptions are listed explicitly, each with the reason and the work that removes it.
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

#: Layers that may import only themselves and the leaves.
ALLOWED_ONLY = {
    "cdig.domains": {"cdig.domains"},
    "cdig.models": {"cdig.models"},
}

#: What a layer never imports (also not inside a function).
FORBIDDEN = {
    "cdig.engine": {
        "cdig.api", "cdig.metrics", "cdig.runs", "cdig.plot", "cdig.report", "cdig.cli",
        "cdig.demo", "cdig.datasets",
    },
    "cdig.metrics": {
        "cdig.api", "cdig.runs", "cdig.plot", "cdig.report", "cdig.cli", "cdig.demo",
        "cdig.peers",
    },
    "cdig.peers": {
        "cdig.api", "cdig.runs", "cdig.plot", "cdig.report", "cdig.cli", "cdig.demo",
        "cdig.metrics",
    },
    "cdig._prepare": {
        "cdig.api", "cdig.metrics", "cdig.peers", "cdig.runs", "cdig.plot", "cdig.report",
        "cdig.cli", "cdig.demo",
    },
    "cdig.plot": {"cdig.engine", "cdig.api", "cdig.metrics", "cdig.runs", "cdig.cli"},
    "cdig.report": {"cdig.engine", "cdig.api", "cdig.metrics", "cdig.runs", "cdig.cli"},
    "cdig.runs": {"cdig.api", "cdig.cli", "cdig.report", "cdig.demo"},
    "cdig._io": {"cdig.engine", "cdig.api", "cdig.runs", "cdig.cli", "cdig.models"},
}  # fmt: skip

#: Who may import the dataset runs (the rest of the library never depends on them).
RUNS_IMPORTERS = {"cdig", "cdig.cli", "cdig.runs"}

# Known exceptions: (importer, what it imports) -> why, and what removes it.
# None left: r1-boundary's version module and settings object removed the last ones.
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
    out = []
    for node in ast.walk(tree):
        at_top, hint = id(node) in top, id(node) in typing
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Edge(importer, alias.name, (), node.lineno, at_top, hint))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(importer, path, node)
            for alias in node.names:  # ``from . import x``: x is a submodule or an attribute
                sub = f"{target}.{alias.name}"
                if _is_module(sub):
                    out.append(Edge(importer, sub, (), node.lineno, at_top, hint))
                else:
                    out.append(Edge(importer, target, (alias.name,), node.lineno, at_top, hint))
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


def test_leaves_import_only_leaves():
    bad = [_where(e) for e in INTERNAL if e.importer in LEAVES and e.target not in LEAVES]
    assert not bad, bad


@pytest.mark.parametrize("layer", sorted(ALLOWED_ONLY))
def test_domains_and_models_import_only_themselves_and_the_leaves(layer):
    allowed = ALLOWED_ONLY[layer] | LEAVES
    bad = [
        _where(e)
        for e in INTERNAL
        if _within(e.importer, layer) and not any(_within(e.target, a) for a in allowed)
    ]
    assert not bad, bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_do_not_import_what_sits_above_them(layer):
    bad = [
        _where(e)
        for e in INTERNAL
        if _within(e.importer, layer) and any(_within(e.target, f) for f in FORBIDDEN[layer])
    ]
    assert not bad, bad


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
