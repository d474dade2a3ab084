"""cdig._numerics: the numeric rules shared by results and dataset runs."""

from __future__ import annotations

import numpy as np
import pytest

import cdig


# ---------------------------------------------------------------------- one completeness rule
def test_one_completeness_rule_for_results_and_runs(tmp_path, smooth_cnn, series):
    from cdig._numerics import COMPLETENESS_FLOOR, completeness_flagged, completeness_ok

    ok = completeness_ok(np.array([0.1, 0.1, 1e-7]), np.array([1.0, 100.0, 0.0]), 0.05)
    assert ok.tolist() == [False, True, False]
    assert completeness_flagged(np.array([0.1, 0.1, 1e-7]), ok).tolist() == [True, False, False]
    assert COMPLETENESS_FLOOR == 1e-6
    with pytest.warns(cdig.CompletenessWarning, match="4 of 4 samples"):
        run = cdig.explain_dataset(
            smooth_cnn, series, "fourier", out=tmp_path / "r", fs=32.0, target=0, n_steps=2,
            rtol=1e-3, progress=False,
        )  # fmt: skip
    np.testing.assert_array_equal(run.completeness("fourier", 1e-3), run.unconverged("fourier"))
