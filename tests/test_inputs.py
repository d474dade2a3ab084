"""cdig._inputs: inputs, baselines and model outputs checked at the boundary; each error
names the argument and the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig

from .conftest import linear_net, short_series


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


# ---------------------------------------------------------------------- outputs, devices, ranges
C, T = 1, 16


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (lambda z: z.flatten(1)[:, :2] > 0, TypeError, "dtype torch.bool.*before the threshold"),
        (lambda z: z.flatten(1)[:, :2].long(), TypeError, "dtype torch.int64"),
        (
            lambda z: z.flatten(1)[:, :2].to(torch.complex128),
            TypeError,
            r"complex outputs.*\.abs\(\)",
        ),
        (lambda z: z.flatten(1)[:, :0], ValueError, r"empty output of shape \(\d+, 0\)"),
    ],
)
def test_outputs_without_a_gradient_are_refused(model, error, match):
    with pytest.raises(error, match=match):
        cdig.explain(model, short_series(), target=0)


def test_zero_channels_and_meta_tensors_are_refused():
    with pytest.raises(ValueError, match=r"inputs has no channels \(shape \(2, 0, 16\)\)"):
        cdig.explain(lambda z: z.sum((1, 2)), torch.zeros(2, 0, T), domain="fourier")
    with pytest.raises(ValueError, match="inputs is on the 'meta' device"):
        cdig.explain(linear_net(), short_series().to("meta"), target=0)
    meta_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, 2)).to("meta")
    with pytest.raises(ValueError, match="model's weights are on the 'meta' device"):
        cdig.explain(meta_model, short_series(torch.float32), target=0)


def test_targets_steps_and_baselines_out_of_range():
    with pytest.raises(ValueError, match=r"target index 10+ is out of range .* use 0\.\.1"):
        cdig.explain(linear_net(), short_series(), target=10**30)
    with pytest.raises(TypeError, match=r"target=1e\+30 is a float.*integer"):
        cdig.explain(linear_net(), short_series(), target=1e30)
    with pytest.raises(ValueError, match=r"n_steps=2000000000 is more than 16384 .*'auto'"):
        cdig.explain(linear_net(), short_series(), target=0, n_steps=2_000_000_000)
    with pytest.raises(ValueError, match=r"baselines=1e\+39 does not fit in torch\.float32"):
        cdig.explain(linear_net().float(), short_series(torch.float32), target=0, baselines=1e39)
    big = np.full((2, C, T), 1e39)
    with pytest.raises(
        ValueError, match=r"baselines holds values beyond the range of torch\.float32"
    ):
        cdig.explain(linear_net().float(), short_series(torch.float32), target=0, baselines=big)


# ---------------------------------------------------------------------- boolean baselines
_LIN = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))


@pytest.mark.parametrize(
    "baselines",
    [True, np.bool_(False), np.ones((4, 2, 32), dtype=bool), torch.zeros(2, 32, dtype=torch.bool)],
    ids=["True", "np.bool_", "bool-array", "bool-tensor"],
)
def test_boolean_baselines_are_refused(baselines):
    with pytest.raises(TypeError, match=r"baselines.* boolean; pass None"):
        cdig.explain(_LIN, torch.randn(4, 2, 32), target=0, baselines=baselines)


def test_finite_inputs_whose_sum_overflows_are_accepted():
    # the inputs' finite check is elementwise: finite values whose float32 sum overflows
    # (16 x 3e38) pass it, without a numpy overflow warning
    x = torch.full((1, 1, 16), 3e38, dtype=torch.float32)
    assert not torch.isfinite(x.sum()) and torch.isfinite(x).all()

    def model(z):
        return torch.tanh(1e-38 * z[:, 0, :2])

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        attr = cdig.explain(model, x, target=0, n_steps=8)
    assert np.isfinite(attr.values).all() and np.isfinite(attr.delta).all()
    with pytest.raises(ValueError, match="inputs contains 1 NaN or infinite"):
        cdig.explain(model, torch.cat([x[..., :15], torch.full((1, 1, 1), np.inf)], -1), target=0)
