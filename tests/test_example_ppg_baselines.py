"""examples/ppg_baselines.py on the real KID-PPG weights: where each baseline puts the mass.

Needs TensorFlow and the KID-PPG files: ``../shared/data/kidppg/`` next to the project root,
or the folder named by the environment variable ``CDIG_KIDPPG_DATA``.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CDIG_KIDPPG_DATA", ROOT / ".." / "shared" / "data" / "kidppg"))
FILES = ("ppg_samples.npz", "model_S13.h5", "model_S9.h5")

NAMES = ("zeros", "mean", "low-pass 30 BPM", "noise (8, 0.1 sd)")  # the quick ones

pytestmark = [
    pytest.mark.scripts,
    pytest.mark.skipif(
        not all((DATA / f).is_file() for f in FILES),
        reason=f"KID-PPG data not found in {DATA} (set CDIG_KIDPPG_DATA to its folder)",
    ),
]


@pytest.fixture(scope="module")
def rows():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (cdig[keras])")
    spec = importlib.util.spec_from_file_location(
        "ppg_baselines", ROOT / "examples" / "ppg_baselines.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small budget: some paths stop before 1 %
        found = module.explain_all(DATA, rtol=0.02, max_steps=1024, subjects=("S13",), names=NAMES)
    return {(r["subject"], r["baseline"]): r for r in found}, module


def test_rows_and_completeness(rows):
    found, module = rows
    assert sorted(found) == sorted(("S13", n) for n in NAMES)
    text = module.table(list(found.values()))
    assert text.count("\n") == 2 + len(NAMES)  # header, rule, one row each
    for r in found.values():
        gap = r["prediction"] - r["baseline_output"]
        if abs(gap) > 1.0:  # completeness within a few percent of what is explained
            assert abs(r["delta"]) < 0.1 * abs(gap), (r["subject"], r["baseline"])


def test_where_the_attribution_sits(rows):
    found, _ = rows
    # zeros, mean and low-pass agree: S13's largest bin is its heart rate
    for name in ("zeros", "mean", "low-pass 30 BPM"):
        r = found[("S13", name)]
        assert abs(r["top_bpm"][0] - r["truth"]) <= 5.0, name
    # noise around the input explains a tiny output change and spreads to high frequencies
    noise, zeros = found[("S13", "noise (8, 0.1 sd)")], found[("S13", "zeros")]
    assert abs(noise["prediction"] - noise["baseline_output"]) < 1.0
    assert noise["near_share"] < 0.5 * zeros["near_share"]
    assert np.mean(noise["top_bpm"]) > 300.0
