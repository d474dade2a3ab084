"""The paper's PPG heart-rate case study (examples/ppg_heart_rate.py) on the real weights.

Needs TensorFlow and the KID-PPG files: ``../shared/data/kidppg/`` next to the project root,
or the folder named by the environment variable ``CDIG_KIDPPG_DATA``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CDIG_KIDPPG_DATA", ROOT / ".." / "shared" / "data" / "kidppg"))
FILES = ("ppg_samples.npz", "model_S13.h5", "model_S9.h5")

pytestmark = [
    pytest.mark.scripts,
    pytest.mark.skipif(
        not all((DATA / f).is_file() for f in FILES),
        reason=f"KID-PPG data not found in {DATA} (set CDIG_KIDPPG_DATA to its folder)",
    ),
]


@pytest.fixture(scope="module")
def example():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (cdig[keras])")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (cdig[plot])")
    spec = importlib.util.spec_from_file_location(
        "ppg_heart_rate", ROOT / "examples" / "ppg_heart_rate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("ppg")
    res = example.main(["--data", str(DATA), "--out", str(out)])
    return {r["subject"]: r for r in res}, out


def test_figure_written(results):
    """One figure per window (cdig.plot) and both stacked in ppg_heart_rate.png."""
    matplotlib_image = pytest.importorskip("matplotlib.image")
    _, out = results
    parts = [matplotlib_image.imread(out / f"ppg_heart_rate_{s}.png") for s in ("S13", "S9")]
    both = matplotlib_image.imread(out / "ppg_heart_rate.png")
    assert both.shape[0] == parts[0].shape[0] + parts[1].shape[0]
    assert both.shape[1] == parts[0].shape[1] == parts[1].shape[1]
    assert 10_000 < (out / "ppg_heart_rate.png").stat().st_size < 400_000


def test_complete_within_one_percent(results):
    res, _ = results
    for r in res.values():
        attr = r["attr"]
        diff = attr.outputs - attr.baseline_outputs
        assert np.all(np.abs(attr.delta) < 0.01 * np.abs(diff))
        np.testing.assert_allclose(attr.values.sum(axis=(1, 2)), diff + attr.delta, rtol=1e-6)
        assert attr.units["frequency"] == "BPM" and attr.coords["frequency"][-1] == 960.0
        assert attr.values.shape == (1, 1, 129)


def test_prediction_matches_the_model_outside_cdig(example, results):
    """A freshly rebuilt model (not the one cdig saw) gives the same heart rates."""
    res, _ = results
    for subject, r in res.items():
        fresh = example.load_model(DATA, subject)
        want = float(np.asarray(fresh(r["x"], training=False))[0, 0])
        assert r["prediction"] == pytest.approx(want, abs=1e-3)
        assert r["attr"].outputs[0] == pytest.approx(want, abs=1e-3)


def test_weights_are_the_published_ones(example):
    """Every array of the .h5 file lands in the rebuilt model, in order."""
    h5py = pytest.importorskip("h5py")
    model = example.load_model(DATA, "S9")
    stored = []
    with h5py.File(DATA / "model_S9.h5", "r") as f:
        group = f["model_weights"]
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            for name in group[layer].attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                key = name if name in group[layer] else f"{layer}/{name}"
                stored.append(np.asarray(group[layer][key]))
    loaded = model.get_weights()
    assert len(loaded) == len(stored) == 32  # 9 convolutions, attention, norm, 2 dense
    for a, b in zip(loaded, stored):
        np.testing.assert_array_equal(a, b)


def test_the_papers_reading(results):
    """S13 (low error): the top frequency is the heart rate's bin; S9 (high error): it is not."""
    res, _ = results
    s13, s9 = res["S13"], res["S9"]
    assert abs(s13["prediction"] - s13["truth"]) < 3.0
    assert abs(s9["prediction"] - s9["truth"]) > 10.0
    bin_width = 60.0 * 32.0 / 256  # 7.5 BPM
    assert abs(s13["attr"].top(1)[0]["frequency"] - s13["truth"]) < bin_width
    assert abs(s9["attr"].top(1)[0]["frequency"] - s9["truth"]) > 4 * bin_width
