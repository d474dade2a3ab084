"""examples/timesfm_forecast.py: a TimesFM-architecture forecaster trained and explained."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.scripts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "timesfm_forecast.py"


def _load():
    spec = importlib.util.spec_from_file_location("_example_timesfm_forecast", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _complete(attr, rtol: float = 1e-6) -> None:
    diff = attr.outputs - attr.baseline_outputs
    assert np.all(np.abs(attr.delta) <= rtol * np.maximum(1.0, np.abs(diff)))
    np.testing.assert_allclose(attr.total, diff + attr.delta, rtol=1e-9, atol=1e-12)


def test_timesfm_forecast_quick(tmp_path, capsys):
    for name in ("transformers", "statsmodels", "pmdarima", "matplotlib"):
        pytest.importorskip(name)
    threads = torch.get_num_threads()
    out = _load().main(["--quick", "--out", str(tmp_path)])
    assert torch.get_num_threads() == threads  # the example restores what it changed
    printed = capsys.readouterr().out
    assert "held-out days: 14" in printed and "reading: the " in printed
    mae = out["mae"]
    assert set(mae) == {"model", "seasonal_naive", "daily_naive"}
    assert all(np.isfinite(v) and v > 0 for v in mae.values())
    # a model that learned nothing (a constant) would be off by ~29,600 MW, the mean demand
    assert mae["model"] < 3000.0
    assert out["losses"][-1] < out["losses"][0]
    for key in ("seasonal", "fourier", "each", "quantile_0.9"):
        _complete(out[key])
    seasonal = out["seasonal"]
    assert seasonal.coords["component"].tolist() == [
        "trend",
        "seasonal_48",
        "seasonal_336",
        "resid",
    ]
    assert seasonal.target == "mean of horizon steps 0-47"
    np.testing.assert_allclose(sum(out["components"].values()), seasonal.total[0], rtol=1e-12)
    np.testing.assert_allclose(sum(out["bands"].values()), out["fourier"].total[0], rtol=1e-9)
    each = out["each"]
    assert each.dims == ("horizon", "channel", "component")
    np.testing.assert_array_equal(each.coords["horizon"], np.arange(0, 48, 4))
    assert out["quantile_0.9"].target == "mean of horizon steps 0-47, quantile 0.9"
    for path in out["files"].values():
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pretrained_checkpoint_fails_clearly_without_the_hub(tmp_path):
    pytest.importorskip("transformers")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",  # the network is unavailable, as it is in this project's CI
        "HF_HOME": str(tmp_path / "hf"),  # an empty cache
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    name = "google/timesfm-2.0-500m-pytorch"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--pretrained", name, "--out", str(tmp_path / "o")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1
    assert f"could not load the pretrained TimesFM checkpoint {name!r}" in proc.stderr
    assert "trains a small TimesFM-architecture model from scratch instead" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()  # it stopped before any work
