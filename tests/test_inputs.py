"""cdig._inputs: inputs, baselines and model outputs checked at the boundary; each error
names the argument and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import cdig


# ---------------------------------------------------------------------- baselines
def test_dataset_baselines_share_the_element_checks(tmp_path, smooth_cnn, series):
    from cdig._inputs import as_dataset_baselines, batch_baselines

    shape = series.shape[1:]
    for bad, err, word in (
        (np.ones(shape, dtype=bool), TypeError, "boolean"),
        (np.full(shape, np.nan), ValueError, "NaN or infinite"),
        (np.ones((2, 3, 96)), ValueError, "Per-sample baselines are not supported"),
        (float("inf"), ValueError, "must be finite"),
    ):
        with pytest.raises(err, match=word):
            as_dataset_baselines(bad, shape)
    stack = np.zeros((3, *shape))
    assert batch_baselines(as_dataset_baselines(stack, shape), 3).shape == (3, 1, *shape)
    assert as_dataset_baselines(2, shape) == 2.0
    # a dataset run with stacked baselines gives what one call on the same samples gives
    stack = np.stack([np.zeros(shape), np.full(shape, 0.1)])
    run = cdig.explain_dataset(
        smooth_cnn, series, "time", out=tmp_path / "r", target=0, n_steps=8,
        baselines=stack, shard_size=4, progress=False,
    )  # fmt: skip
    one = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=8, baselines=stack[:, None])
    np.testing.assert_array_equal(run.open("time")[:], one.values)
