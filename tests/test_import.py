"""`import cdig` is light, and every module the docs name is reachable from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cdig

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    env["MPLBACKEND"] = "Agg"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_cdig_imports_no_optional_dependency():
    out = _run(
        "import sys, cdig\n"
        "heavy = ['matplotlib', 'tensorflow', 'keras', 'jax', 'ray', 'pandas', 'xarray',\n"
        "         'aeon', 'pywt', 'sklearn', 'statsmodels']  # torch itself imports tqdm\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_cli_help_imports_no_optional_dependency():
    out = _run(
        "import contextlib, io, sys\n"
        "sys.argv = ['cdig', '--help']\n"
        "from cdig.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as text:\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code in (0, None), stop.code\n"
        "assert 'explain' in text.getvalue()\n"
        "heavy = ['matplotlib', 'tensorflow', 'keras', 'jax', 'ray', 'pandas', 'xarray',\n"
        "         'aeon', 'pywt', 'sklearn', 'statsmodels', 'scipy', 'onnx', 'captum']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_import_cdig_defers_the_parts_a_first_explanation_does_not_need():
    # cold start (benchmarks/cold_start.py): the ONNX converter, dataset runs and metrics
    # are imported on first use, and reachable as before
    out = _run(
        "import sys, cdig\n"
        "late = ['cdig.models._onnx', 'cdig.runs', 'cdig.metrics', 'cdig.peers']\n"
        "print(sorted(m for m in late if m in sys.modules))\n"
        "from cdig import DatasetRun, explain_dataset, open_run\n"
        "from cdig.models import ONNX_OPERATORS, from_onnx\n"
        "assert cdig.explain_dataset is explain_dataset and cdig.peers.timing\n"
        "assert cdig.runs.DatasetRun is DatasetRun and callable(from_onnx) and ONNX_OPERATORS\n"
        "assert {'DatasetRun', 'metrics', 'runs'} <= set(dir(cdig))\n"
        "assert 'from_onnx' in dir(cdig.models)\n"
        "print('ok')\n"
    )
    assert out.split("\n")[:2] == ["[]", "ok"]


def test_documented_submodules_are_attributes_after_plain_import():
    pytest.importorskip("matplotlib")
    out = _run(
        "import sys, numpy as np, torch, cdig\n"
        "for name in ['plot', 'report', 'datasets', 'domains', 'metrics', 'models',\n"
        "             'peers', 'quadrature']:\n"
        "    assert getattr(cdig, name).__name__ == 'cdig.' + name, name\n"
        "    assert name in dir(cdig), name\n"
        "assert 'matplotlib' not in sys.modules  # reaching cdig.plot imports nothing heavy\n"
        "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 1))\n"
        "attr = cdig.explain(model, torch.randn(1, 1, 32), 'fourier', fs=8.0)\n"
        "fig = cdig.plot.plot_attribution(attr)\n"
        "print(type(fig).__name__, 'matplotlib' in sys.modules)\n"
    )
    assert out.split() == ["Figure", "True"]


def test_unknown_attribute_is_an_attribute_error():
    import cdig

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cdig.nope  # noqa: B018


# ---------------------------------------------------------------------- one version
def test_the_version_lives_in_one_module():
    import ast
    import pathlib

    from cdig._version import __version__

    assert cdig.__version__ == __version__
    root = pathlib.Path(cdig.__file__).parent
    for path in root.rglob("*.py"):  # no module reaches back into the package root
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level and node.module is None:
                names = {a.name for a in node.names}
                assert "__version__" not in names, path
