"""Every ```python block of README.md and docs/*.md runs, as written.

How the blocks are run
----------------------
* One namespace per markdown file; its blocks run in the order they appear, each as one
  test (``docs/domains.md:11`` is the block whose fence is on line 11). A block that fails
  makes the later blocks of the same file fail too, with a message naming it.
* The blocks of a file run in one temporary folder of their own (files a block writes, such
  as ``report.html`` or ``runs/forda``, land there), with matplotlib on the Agg backend.
* A block may be preceded (blank lines allowed in between) by HTML comments, which markdown
  renderers hide::

      <!-- cdig-doctest: setup=torch_classifier -->
      <!-- cdig-doctest: requires=tensorflow,keras; marker=ray -->
      <!-- cdig-doctest: skip=why this block cannot run in the test suite -->
      <!-- cdig-doctest: setup=keras_classifier; isolated=KERAS_BACKEND=jax -->
      <!-- cdig-doctest: warns=ConvergenceWarning -->

  ``setup=NAME[,NAME]`` runs the named fixtures of :data:`SETUPS` into the file's
  namespace before the block (they define the names a block takes as given, such as
  ``model`` and ``x``); ``requires=`` skips the block with a reason when a package is
  missing; ``marker=`` adds a pytest marker (``ray``); ``skip=`` skips it with the reason
  given, which is shown in the test report. Blocks are never skipped silently.
  ``isolated=NAME=VALUE`` runs the setups and the block alone in a new interpreter with
  that environment variable set (e.g. Keras on the JAX backend, which must be chosen
  before keras is first imported); its names do not reach the file's namespace.
  ``warns=NAME`` says that the block issues cdig's warning ``cdig.NAME`` (the text around
  the block should say why): the test then fails if it does not. Any other cdig warning
  fails the test, as in the rest of the suite.
* Running the blocks is marked ``scripts`` (``make check`` leaves it out); the tests of the
  parser are not.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import cdig

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*cdig-doctest:(?P<body>.*?)-->\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a markdown file with the directives written before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            d = _DIRECTIVE.match(lines[i])
            if d is not None:
                for part in d.group("body").split(";"):
                    if part.strip():
                        key, _, value = part.partition("=")
                        pending[key.strip()] = value.strip()
            elif lines[i].strip():
                pending = {}
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        if info in ("python", "py"):
            blocks.append(Block(path, start + 1, "\n".join(body) + "\n", pending))
        pending = {}
    return blocks


# ---------------------------------------------------------------------- fixtures for blocks
def _torch_classifier(ns: dict[str, Any]) -> None:
    """``model``: a small conv net (batch, 1, time) -> (batch, 2); ``x``, ``X``, ``y``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(  # built-in layers only: Ray workers can unpickle it
        torch.nn.Conv1d(1, 4, 9, padding=4),
        torch.nn.Tanh(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    rng = np.random.default_rng(0)
    t = np.arange(256) / 32.0
    x = (np.sin(2 * np.pi * 4.0 * t) + 0.3 * rng.normal(size=(3, 1, 256))).astype(np.float32)
    X = rng.normal(size=(24, 1, 256)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    ns.update(model=model, x=x, X=X, y=y)


def _keras_classifier(ns: dict[str, Any]) -> None:
    """``keras_model`` (and ``model``): Keras (batch, 64, 2) -> (batch, 3); ``x``."""
    import keras

    keras.utils.set_random_seed(0)
    keras_model = keras.Sequential(
        [
            keras.Input((64, 2)),
            keras.layers.Conv1D(4, 5, padding="same", activation="tanh"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(3),
        ]
    )
    x = np.random.default_rng(1).normal(size=(2, 64, 2)).astype(np.float32)
    ns.update(keras_model=keras_model, model=keras_model, x=x)


def _jax_functions(ns: dict[str, Any]) -> None:
    """``net.apply(variables, x)``, ``predict(x)``, ``fn``/``params``: (batch, 256, 1) -> 4."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(2)

    class Net:  # the shape of a Flax module: parameters passed to apply
        def apply(self, variables: Any, x: Any) -> Any:
            h = jnp.tanh(x[..., 0] @ variables["w1"])
            return h @ variables["w2"]

    variables = {
        "w1": jnp.asarray(rng.normal(size=(256, 8)) / 16, dtype=jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(8, 4)), dtype=jnp.float32),
    }
    net = Net()

    def predict(x: Any) -> Any:
        return net.apply(variables, x)

    x = rng.normal(size=(2, 256, 1)).astype(np.float32)
    ns.update(jax=jax, net=net, variables=variables, predict=predict, fn=net.apply)
    ns.update(params=variables, p=variables, x=x)


def _seed(ns: dict[str, Any]) -> None:
    """Seeds torch (blocks that draw random weights or data)."""
    torch.manual_seed(0)


SETUPS: dict[str, Callable[[dict[str, Any]], None]] = {
    "seed": _seed,
    "torch_classifier": _torch_classifier,
    "keras_classifier": _keras_classifier,
    "jax_functions": _jax_functions,
}
_REQUIRES = {"keras_classifier": ("tensorflow", "keras"), "jax_functions": ("jax",)}


# ---------------------------------------------------------------------- the test
BLOCKS = [b for path in FILES for b in parse_blocks(path)]
_NAMESPACES: dict[Path, dict[str, Any]] = {}
_FAILED: dict[Path, str] = {}
_FOLDERS: dict[Path, Path] = {}


def _params() -> list[Any]:
    params = []
    for b in BLOCKS:
        names = [m.strip() for m in b.options.get("marker", "").split(",") if m.strip()]
        params.append(pytest.param(b, id=b.id, marks=[getattr(pytest.mark, m) for m in names]))
    return params


def _missing(block: Block) -> list[str]:
    needed = [p.strip() for p in block.options.get("requires", "").split(",") if p.strip()]
    for s in block.options.get("setup", "").split(","):
        needed += list(_REQUIRES.get(s.strip(), ()))
    return [p for p in needed if importlib.util.find_spec(p) is None]


def test_parser_sees_indented_blocks_and_directives(tmp_path):
    md = tmp_path / "x.md"
    md.write_text(
        "text\n<!-- cdig-doctest: setup=a,b; skip=no reason -->\n\n```python\nx = 1\n```\n"
        "- item\n  ```python\n  y = 2\n  ```\n```bash\nls\n```\n",
        encoding="utf-8",
    )
    blocks = parse_blocks(md)
    assert [b.code for b in blocks] == ["x = 1\n", "y = 2\n"]
    assert blocks[0].options == {"setup": "a,b", "skip": "no reason"}
    assert blocks[1].options == {} and blocks[1].line == 8


def test_every_doc_file_with_python_has_blocks():
    assert {b.path.name for b in BLOCKS} >= {"README.md", "domains.md", "frameworks.md"}
    for b in BLOCKS:  # every named setup exists: a typo would otherwise skip nothing
        for s in filter(None, (s.strip() for s in b.options.get("setup", "").split(","))):
            assert s in SETUPS, f"{b.id}: unknown setup {s!r}; known: {sorted(SETUPS)}"
        if "warns" in b.options:  # a cdig warning class, not a typo that would catch nothing
            category = getattr(cdig, b.options["warns"].strip(), None)
            assert isinstance(category, type) and issubclass(category, Warning), b.id


def _run_isolated(block: Block, folder: Path) -> None:
    """The block's setups and code in a fresh interpreter, with ``isolated``'s variable."""
    name, _, value = block.options["isolated"].partition("=")
    setups = [s.strip() for s in block.options.get("setup", "").split(",") if s.strip()]
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.test_docs import SETUPS\n"
        "ns = {'__name__': '__docs__'}\n"
        f"for s in {setups!r}:\n"
        "    SETUPS[s](ns)\n"
        f"exec(compile({block.code!r}, {block.id!r}, 'exec'), ns)\n"
    )
    src = str(ROOT / "src")
    env = {**os.environ, name.strip(): value.strip(), "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{block.id} failed:\n{done.stderr[-3000:]}"


@pytest.mark.scripts
@pytest.mark.parametrize("block", _params())
def test_doc_block_runs(block: Block, tmp_path_factory, monkeypatch):
    if "skip" in block.options:
        pytest.skip(f"{block.id}: {block.options['skip'] or 'no reason given'}")
    missing = _missing(block)
    if missing:
        pytest.skip(f"{block.id} needs {', '.join(missing)}, which is not installed")
    if block.path in _FAILED:
        pytest.fail(f"an earlier block of this file failed: {_FAILED[block.path]}")
    folder = _FOLDERS.setdefault(block.path, tmp_path_factory.mktemp(block.path.stem))
    monkeypatch.chdir(folder)
    if "isolated" in block.options:
        _run_isolated(block, folder)
        return
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ns = _NAMESPACES.setdefault(block.path, {"__name__": "__docs__"})
    try:
        for s in filter(None, (s.strip() for s in block.options.get("setup", "").split(","))):
            SETUPS[s](ns)
        if "warns" in block.options:
            with pytest.warns(getattr(cdig, block.options["warns"].strip())):
                exec(compile(block.code, block.id, "exec"), ns)
        else:
            exec(compile(block.code, block.id, "exec"), ns)
    except BaseException:
        _FAILED[block.path] = block.id
        raise
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


@pytest.mark.scripts
def test_readme_quick_start_is_self_contained_and_finds_each_rhythm(tmp_path, monkeypatch):
    # issue 27: the first block took `model` and `x` from a hidden fixture; it must run alone,
    # in a fresh namespace, and what its comments promise must hold
    first = parse_blocks(ROOT / "README.md")[0]
    assert first.options == {}, f"{first.id} must need no setup, skip or isolation"
    monkeypatch.chdir(tmp_path)
    ns: dict[str, Any] = {"__name__": "__docs__"}
    exec(compile(first.code, first.id, "exec"), ns)
    np.testing.assert_array_equal(ns["peak_hz"], [2.0, 5.0, 2.0, 5.0])
    assert ns["attr"].top(1)[0]["frequency"] == 2.0
    assert ns["attr"].converged.all()


def test_readme_has_an_install_section_naming_every_extra():
    import tomllib

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Install" in text and text.index("## Install") < text.index("## Quick start")
    install = text[text.index("## Install") : text.index("## Quick start")]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = extras["requires-python"].removeprefix(">=")
    assert f"Python {required} or newer" in install
    for extra in extras["optional-dependencies"]:
        assert f"`{extra}`" in install, f"the install section does not describe [{extra}]"
