"""cdig._guards: the checks around each model call. Non-finite outputs, gradients and values,
output and input shape errors, half precision in every domain, float64 functions given float32."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig import NonFiniteError
from cdig.domains import Fourier, available_domains

from .conftest import NEEDS, SmoothCNN, every_domain, linear_net, short_series


# ---------------------------------------------------------------------- non-finite models
class BandNaN(torch.nn.Module):
    """Linear, but NaN where the first value of channel 0 lies in (lo, hi)."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, z):
        v = z[:, 0, 0]
        y = z.sum(dim=(1, 2))
        return torch.where((v > self.lo) & (v < self.hi), torch.full_like(y, float("nan")), y)


def _band_inputs() -> torch.Tensor:
    x = torch.randn(4, 2, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[:, 0, 0] = torch.tensor([0.1, 0.2, 1.0, 0.3], dtype=torch.float64)
    return x  # only sample 2 crosses the band (0.5, 0.7), at alpha in (0.5, 0.7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"domain": "time"},
        {"domain": Fourier(), "n_steps": "auto"},
        {"domain": "time", "baselines": np.zeros((2, 4, 2, 16)), "internal_batch_size": 7},
    ],
    ids=["time", "fourier-auto", "two-baselines-chunked"],
)
def test_nan_on_the_path_only_raises_naming_sample_and_alpha(kwargs):
    x = _band_inputs()
    domain = kwargs.pop("domain")
    with pytest.raises(NonFiniteError, match=r"explained output is NaN.*samples 2 \(alpha=") as e:
        cdig.explain(BandNaN(0.5, 0.7), x, domain, **kwargs)
    assert e.value.samples == [2]
    assert 0.5 <= e.value.alphas[0] <= 0.7
    assert isinstance(e.value, ValueError)


def test_nan_on_the_path_of_a_coefficient_pass():
    x = _band_inputs()
    ig = cdig.CrossDomainIG(BandNaN(0.5, 0.7), Fourier(), linear_shortcut=False)
    with pytest.raises(NonFiniteError) as e:
        ig.explain(x, n_steps=32)
    assert e.value.samples == [2]
    assert 0.5 <= e.value.alphas[0] <= 0.7  # the coefficient path is the time path here


def test_minus_inf_at_the_baseline_raises():
    x = torch.rand(3, 1, 16, dtype=torch.float64) + 0.5
    with pytest.raises(
        NonFiniteError, match=r"at the baseline \(alpha=0\) for samples \[0, 1, 2\]"
    ):
        cdig.explain(lambda z: torch.log(z.sum(dim=(1, 2))), x)


def test_nan_at_the_inputs_raises():
    x = torch.rand(3, 1, 16, dtype=torch.float64)
    x[1] = -x[1]
    with pytest.raises(NonFiniteError, match=r"at the inputs \(alpha=1\) for samples \[1\]"):
        cdig.explain(lambda z: torch.sqrt(z.sum(dim=(1, 2))), x, baselines=0.0)


class _InfGradInBand(torch.autograd.Function):
    """Identity forward; an infinite gradient where the input lies in (0.4, 0.6)."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return v.clone()

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return torch.where((v > 0.4) & (v < 0.6), torch.full_like(g, float("inf")), g)


def test_infinite_gradient_on_the_path_raises():
    x = _band_inputs()
    model = lambda z: _InfGradInBand.apply(z[:, 0, 0]) + z.sum(dim=(1, 2))  # noqa: E731
    with pytest.raises(NonFiniteError, match="gradient of the explained output") as e:
        cdig.explain(model, x, n_steps=32)
    assert e.value.samples == [2]
    assert 0.4 <= e.value.alphas[0] <= 0.6


def test_explain_dataset_does_not_write_non_finite_results(tmp_path):
    x = _band_inputs().numpy()
    with pytest.raises(NonFiniteError, match=r"samples 0 \(alpha="):  # sample 2 = row 0 of shard 1
        cdig.explain_dataset(
            BandNaN(0.5, 0.7), x, out=tmp_path / "run", shard_size=2, progress=False
        )
    shards = sorted(p.name for p in (tmp_path / "run" / "shards").iterdir())
    assert shards == ["000000"]  # the finite first batch only; nothing of the second
    for f in (tmp_path / "run" / "shards" / "000000").glob("*.npy"):
        assert np.isfinite(np.load(f)).all()


# ---------------------------------------------------------------------- shapes it cannot take
_LIN = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))


@pytest.mark.parametrize("chunk", [None, 3])
@pytest.mark.parametrize(
    "fn, got",
    [
        (lambda z: _LIN(z)[0], r"\(3,\)"),
        (lambda z: _LIN(z).sum(), r"\(\)"),
        (lambda z: _LIN(z)[:1, 0], r"\(1,\)"),
    ],
    ids=["first-row", "sum", "fewer-rows"],
)
def test_outputs_without_the_batch_axis_are_refused(fn, got, chunk):
    x = torch.randn(4, 2, 32)
    with pytest.raises(ValueError, match=rf"output of shape {got} for a batch of \d+ input"):
        cdig.explain(fn, x, internal_batch_size=chunk)


@pytest.mark.parametrize("chunk", [None, 5])
@pytest.mark.parametrize(
    "shape, time_axis",
    [((4, 3, 32), -1), ((4, 2, 31), -1), ((4, 32, 2), 1)],
    ids=["channels", "length", "time-axis"],
)
def test_inputs_the_model_cannot_take_are_named(shape, time_axis, chunk):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    if time_axis == 1:  # the model wants (batch, channels, time); the data is the other way
        model = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.Flatten())
        shape = (4, 32, 2)
    x = torch.randn(*shape)
    with pytest.raises(ValueError, match=r"failed on an input of shape \(\d+, \d+, \d+\)") as e:
        cdig.explain(model, x, target=0, time_axis=-1, internal_batch_size=chunk)
    assert "time_axis=-1" in str(e.value)
    assert isinstance(e.value.__cause__, RuntimeError)


# ---------------------------------------------------------------------- half precision
FS = 8.0


def test_every_registered_domain_is_covered():
    assert set(every_domain(32)) == set(available_domains())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(every_domain(32)))
def test_half_precision_models_in_every_domain(name, dtype):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    model = SmoothCNN(channels=2, n_out=2, seed=3).to(dtype)
    x = np.random.default_rng(4).normal(size=(3, 2, 32)) * 0.5
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cdig.CompletenessWarning)
        warnings.simplefilter("ignore", cdig.ConvergenceWarning)  # FastICA's, not ours
        attr = cdig.explain(model, x, every_domain(32, fs=FS)[name], target=1, n_steps=32)
    assert all(
        v.dtype == dtype and torch.equal(v, before[k]) for k, v in model.state_dict().items()
    )
    assert np.isfinite(attr.values).all()
    # f(x), f(x') are the model's own (half precision) outputs
    with torch.no_grad():
        out = model(torch.tensor(x, dtype=dtype))[:, 1].double().numpy()
    np.testing.assert_array_equal(attr.outputs, out)
    eps = torch.finfo(dtype).eps
    tol = 40 * eps * np.maximum(1.0, np.abs(attr.outputs) + np.abs(attr.baseline_outputs))
    assert np.all(np.abs(attr.delta) <= tol), (attr.delta, tol)


def test_half_inputs_to_a_plain_function():
    model = SmoothCNN(channels=2, n_out=2, seed=3).half()
    x = torch.randn(2, 2, 32, generator=torch.Generator().manual_seed(5)).half()
    with warnings.catch_warnings():  # half precision: checked to 5 % below, not to rtol
        warnings.simplefilter("ignore", cdig.CompletenessWarning)
        attr = cdig.explain(lambda z: model(z)[:, 0], x.numpy(), "fourier", n_steps=32)
    assert attr.values.dtype == np.float32 and np.isfinite(attr.values).all()
    assert np.all(np.abs(attr.delta) <= 0.05 * np.maximum(1.0, np.abs(attr.outputs)))


# ---------------------------------------------------------------------- sums that overflow
def test_attributions_that_overflow_raise():
    # finite outputs (the two values cancel) and finite gradients (1e300), but every value
    # (x - x') * gradient = 1e10 * 1e300 overflows: the values' guard must catch it
    x = torch.full((2, 1, 4), 1e10, dtype=torch.float64)
    model = lambda z: 1e300 * (z[:, 0, 0] - z[:, 0, 1])  # noqa: E731
    with pytest.raises(NonFiniteError, match="time: the attributions overflowed"):
        cdig.explain(model, x, "time", n_steps=8)


@pytest.mark.parametrize("n_steps", [8, 64])
def test_finite_outputs_whose_sum_overflows_are_explained(n_steps):
    # the path guard reads one sum per pass; a sum that overflows although every output and
    # gradient is finite must not be taken for a non-finite model
    big = 2e38
    x = torch.full((1, 1, 4), 0.5)
    model = lambda z: big * torch.sigmoid(z.sum(dim=(1, 2)))  # noqa: E731
    assert not torch.isfinite(model(x.expand(n_steps, 1, 4)).sum())  # the sum overflows
    attr = cdig.explain(model, x, "time", n_steps=n_steps, baselines=0.0)
    assert np.isfinite(attr.values).all()
    assert np.isfinite(attr.delta).all()


# ---------------------------------------------------------------------- float64 functions
def test_a_float64_function_with_float32_inputs_is_cast_up_exactly():
    weights = linear_net()[1].weight.detach().numpy()  # float64 numpy weights: invisible to cdig

    def f(z):
        return torch.nn.functional.linear(z.flatten(1), torch.from_numpy(weights))

    x32 = short_series(torch.float32)
    with pytest.warns(UserWarning, match="cast to float64, which is exact"):
        res = cdig.explain(f, x32, target=0, n_steps=8)
    ref = cdig.explain(f, x32.double(), target=0, n_steps=8)
    np.testing.assert_array_equal(res.values, ref.values)
    # linear model, zero baseline: attributions are exactly w * x
    np.testing.assert_allclose(
        res.values.reshape(2, -1), weights[0] * x32.double().numpy().reshape(2, -1), atol=1e-12
    )


class _Slots:
    __slots__ = ("w",)

    def __init__(self, w):
        self.w = w


def test_hidden_float64_weights_are_met_by_casting_the_inputs_up():
    # float32 inputs could be cast (exactly) to the weights' float64: cast, with a warning
    hidden = _Slots(torch.randn(32, 1, dtype=torch.float64))
    x = np.zeros((2, 1, 32), dtype=np.float32) + 1
    with pytest.warns(UserWarning, match="cast to float64, which is exact"):
        res = cdig.explain(lambda z: (z[:, 0] @ hidden.w)[:, 0], x, n_steps=8)
    np.testing.assert_allclose(res.values[:, 0], np.tile(hidden.w[:, 0].numpy(), (2, 1)))
    # float64 weights given float16 inputs and other dtype failures keep the message
    with pytest.raises(ValueError, match=r"float16.*pass inputs of the model's dtype"):
        cdig.explain(lambda z: (z[:, 0] @ hidden.w)[:, 0], x.astype(np.float16))
