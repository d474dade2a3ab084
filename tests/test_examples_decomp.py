"""The decomposition examples run end to end on real data (``--quick``) and stay complete."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.scripts

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    """Train with one intra-op thread: on a shared 2-core machine, two threads waiting on
    each other make small training loops many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _complete(attr, rtol: float = 1e-6) -> None:
    diff = attr.outputs - attr.baseline_outputs
    assert np.all(np.abs(attr.delta) <= rtol * np.maximum(1.0, np.abs(diff)))
    np.testing.assert_allclose(attr.total, diff + attr.delta, rtol=1e-9, atol=1e-9)


def test_seasonal_trend_forecast_quick(capsys):
    pytest.importorskip("statsmodels")
    pytest.importorskip("pmdarima")
    out = _load("seasonal_trend_forecast").main(["--quick"])
    printed = capsys.readouterr().out
    assert "horizon step 26 of 26" in printed and "horizon step 48 of 48" in printed
    assert out["co2"]["mae"] < 2.0  # ppm; the series moves ~6 ppm over a year
    assert out["taylor"]["mae"] < 0.2 * 29617  # MW, a fifth of the mean demand
    names = {
        "co2": ["trend", "seasonal_52", "resid"],
        "taylor": ["trend", "seasonal_48", "seasonal_336", "resid"],
    }
    for key, horizon in (("co2", 26), ("taylor", 48)):
        attrs = out[key]["attributions"]
        assert sorted(attrs) == [0, horizon - 1]
        for attr in attrs.values():
            assert attr.dims == ("channel", "component")
            assert attr.coords["component"].tolist() == names[key]
            assert np.all(attr.baseline_outputs != attr.outputs)
            _complete(attr)


def test_ica_basic_motions_quick(capsys, tmp_path):
    pytest.importorskip("aeon")
    pytest.importorskip("sklearn")
    ex = _load("ica_basic_motions")
    out = ex.main(["--quick"])
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "1. ic" in printed
    assert out["accuracy"] >= 0.75  # four balanced classes: chance is 0.25
    attr = out["attribution"]
    _complete(attr)
    per = attr.sum_over("channel").values
    for i, ranking in enumerate(out["ranking"]):
        names = [name for name, _, _ in ranking]
        assert sorted(names) == [f"ic{k}" for k in range(6)]
        values = np.array([v for _, v, _ in ranking])
        assert np.all(np.diff(np.abs(values)) <= 0)  # best first
        np.testing.assert_allclose(values.sum(), per[i].sum(), rtol=1e-12)
    pytest.importorskip("matplotlib")
    path = tmp_path / "ica.png"
    ex.plot(attr, out["ranking"], str(path))
    assert path.stat().st_size > 0
