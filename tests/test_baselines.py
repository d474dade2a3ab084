"""cdig.baselines: completeness per baseline and for the mean, closed forms, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig import baselines

from .conftest import SmoothCNN

T, FS = 64, 32.0


@pytest.fixture(scope="module")
def data() -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    t = np.arange(T) / FS
    x = np.sin(2 * np.pi * 3 * t) + 0.5 * np.sin(2 * np.pi * 11 * t)
    x = x + 0.2 * rng.normal(size=(3, 1, T))
    train = rng.normal(size=(20, 1, T))
    return SmoothCNN(channels=1, n_out=3), x, train


def _all(x: np.ndarray, train: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "zeros": baselines.zeros(x),
        "mean": baselines.mean(x),
        "lowpass": baselines.lowpass(x, 4.0, FS),
        "lowpass-ideal": baselines.lowpass(x, 4.0, FS, kind="ideal"),
        "noise": baselines.noise(x, n=3, scale=0.5, seed=0),
        "uniform": baselines.noise(x, n=3, kind="uniform", seed=0),
        "training": baselines.training_samples(train, x, n=3, seed=0),
        "segments": baselines.segment_masked(x, n=3, seed=0),
        "phase": baselines.phase_randomized(x, n=3, seed=0),
    }


@pytest.mark.parametrize("domain", ["time", "fourier", "stft", "wavelet"])
def test_completeness_per_baseline_and_for_the_mean(data, domain):
    model, x, train = data
    for name, b in _all(x, train).items():
        assert b.shape[1:] == x.shape and b.dtype == x.dtype, name
        attr = cdig.explain(model, x, domain, target=1, baselines=b, fs=FS, n_steps=64)
        gap = attr.outputs - attr.baseline_outputs
        sums = attr.values.reshape(len(x), -1).sum(axis=1)
        np.testing.assert_allclose(sums, gap, atol=1e-6 * (1 + np.abs(gap).max()), err_msg=name)
        assert np.all(np.abs(attr.delta) < 1e-6), name
        # the mean over baselines: the same as averaging separate explanations
        if len(b) > 1:
            single = [
                cdig.explain(model, x, domain, target=1, baselines=bs, fs=FS, n_steps=64)
                for bs in b
            ]
            np.testing.assert_allclose(
                attr.values, np.mean([s.values for s in single], axis=0), atol=1e-10
            )
            np.testing.assert_allclose(
                attr.delta, np.mean([s.delta for s in single], axis=0), atol=1e-10
            )
            np.testing.assert_allclose(
                attr.baseline_outputs, np.mean([s.baseline_outputs for s in single], axis=0)
            )


def test_linear_model_closed_forms():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 1, T)) + 1.5
    w = rng.normal(size=(1, T))
    model = torch.nn.Linear(T, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(w))
    f = torch.nn.Sequential(torch.nn.Flatten(), model)
    train = rng.normal(size=(10, 1, T))
    for b in _all(x, train).values():
        # linear model: IG in time is w * (x - mean baseline), whatever the path count
        attr = cdig.explain(f, x, "time", target=0, baselines=b, n_steps=2)
        np.testing.assert_allclose(attr.values, w * (x - b.mean(axis=0)), atol=1e-10)
    # mean baseline: the DC bin gets nothing in the Fourier domain
    attr = cdig.explain(f, x, "fourier", target=0, baselines=baselines.mean(x), n_steps=2)
    assert np.all(np.abs(attr.values[..., 0]) < 1e-10)
    assert np.abs(attr.values[..., 1:]).sum() > 1e-3
    # ideal low-pass baseline: only bins above the cut-off carry attribution
    b = baselines.lowpass(x, 4.0, FS, kind="ideal")
    attr = cdig.explain(f, x, "fourier", target=0, baselines=b, fs=FS, n_steps=2)
    freqs = attr.coords["frequency"]
    assert np.all(np.abs(attr.values[..., freqs <= 4.0]) < 1e-10)
    assert np.abs(attr.values[..., freqs > 4.0]).sum() > 1e-3


def test_generators_closed_forms():
    rng = np.random.default_rng(4)
    t = np.arange(256) / FS
    x = (np.sin(2 * np.pi * 1 * t) + np.sin(2 * np.pi * 12 * t) + 2.0)[None, None]  # (1, 1, 256)
    np.testing.assert_allclose(baselines.zeros(x), 0.0)
    np.testing.assert_allclose(baselines.mean(x)[0], np.full_like(x, x.mean()))
    ideal = baselines.lowpass(x, 4.0, FS, kind="ideal")[0]
    np.testing.assert_allclose(ideal, np.sin(2 * np.pi * 1 * t)[None, None] + 2.0, atol=1e-10)
    smooth = baselines.lowpass(x, 4.0, FS)[0]
    inner = slice(32, -32)  # away from the edges of the zero-phase filter
    np.testing.assert_allclose(
        smooth[..., inner], (np.sin(2 * np.pi * 1 * t) + 2.0)[None, None, inner], atol=0.02
    )
    # noise: centred on the input with the requested spread (relative to the input's std)
    z = baselines.noise(x, n=400, scale=0.2, seed=0) - x
    assert abs(z.std() / (0.2 * x.std()) - 1) < 0.02 and abs(z.mean()) < 0.01
    u = baselines.noise(x, n=50, scale=0.2, kind="uniform", seed=0) - x
    assert np.abs(u).max() <= 0.2 * x.std() + 1e-12
    a = baselines.noise(x, n=2, scale=0.3, relative=False, seed=0) - x
    assert 0.2 < a.std() < 0.4
    # training samples: every baseline is one of the training series
    train = rng.normal(size=(5, 1, 256))
    draws = baselines.training_samples(train, np.repeat(x, 3, axis=0), n=7, seed=1)
    assert draws.shape == (7, 3, 1, 256)
    hits = (draws[:, :, None] == train[None, None]).all(axis=(-1, -2))  # (7, 3, 5)
    assert np.all(hits.sum(axis=-1) == 1)
    # segment masks: every point is the input or the fill value, masked in runs
    xs = rng.normal(size=(4, 2, 100)) + 5.0
    for retention in (0.3, 0.7, 0.9):
        b = baselines.segment_masked(xs, n=200, retention=retention, seed=0, fill=-1.0)
        masked = b == -1.0
        assert np.all(masked | (b == xs[None]))
        assert abs(1 - masked.mean() - retention) < 0.05
    one = baselines.segment_masked(xs, n=50, n_segments=1, min_length=5, max_length=9, seed=0)
    runs = (one == 0).sum(axis=-1)  # one segment in one channel per mask
    assert np.all(runs.sum(axis=-1) >= 5) and np.all(runs.sum(axis=-1) <= 9)
    assert np.all((runs > 0).sum(axis=-1) == 1)


def test_seeds_and_layouts():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, T, 3))  # (batch, time, channels)
    train = rng.normal(size=(6, T, 3))
    for make in (
        lambda s: baselines.noise(x, n=4, seed=s, time_axis=1),
        lambda s: baselines.training_samples(train, x, n=4, seed=s, time_axis=1),
        lambda s: baselines.segment_masked(x, n=4, seed=s, time_axis=1),
        lambda s: baselines.phase_randomized(x, n=4, seed=s, time_axis=1),
    ):
        a, b, c = make(0), make(0), make(1)
        assert a.shape == (4, *x.shape)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
        np.testing.assert_array_equal(make(g1), make(g2))
    seg = baselines.segment_masked(x, n=4, seed=0, time_axis=1)
    assert np.all((seg == 0) | (seg == x[None]))
    assert baselines.mean(x, time_axis=1)[0, 0, 0, 1] == pytest.approx(x[0, :, 1].mean())
    x2 = rng.normal(size=(3, T))  # (batch, time)
    b2 = baselines.segment_masked(x2, n=2, seed=0)
    assert b2.shape == (2, 3, T)
    model = torch.nn.Linear(T, 2).double()
    attr = cdig.explain(model, x2, "fourier", target=0, baselines=b2, n_steps=4)
    assert np.all(np.abs(attr.delta) < 1e-8)
    assert baselines.zeros(x.astype(np.float32), time_axis=1).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x: baselines.lowpass(x, 16.0, FS), ValueError, "Nyquist"),
        (lambda x: baselines.lowpass(x, 4.0, -1.0), ValueError, "fs=-1.0"),
        (lambda x: baselines.lowpass(x, 0, FS), ValueError, "cutoff=0"),
        (lambda x: baselines.lowpass(x, 4.0, FS, kind="gauss"), ValueError, "kind='gauss'"),
        (lambda x: baselines.lowpass(x[..., :10], 4.0, FS), ValueError, "kind='ideal'"),
        (lambda x: baselines.noise(x, n=0), ValueError, "n=0"),
        (lambda x: baselines.noise(x, scale=-1), ValueError, "scale=-1"),
        (lambda x: baselines.noise(x, kind="pink"), ValueError, "kind='pink'"),
        (lambda x: baselines.noise(x, relative="yes"), TypeError, "relative"),
        (lambda x: baselines.noise(x, seed="a"), TypeError, "seed='a'"),
        (lambda x: baselines.noise(x, seed=1.5), TypeError, "seed=1.5"),
        (lambda x: baselines.training_samples(x[:, :, :10], x), ValueError, "train has"),
        (lambda x: baselines.segment_masked(x, retention=1.5), ValueError, "retention=1.5"),
        (lambda x: baselines.segment_masked(x, retention=True), TypeError, "retention"),
        (lambda x: baselines.segment_masked(x, min_length=10, max_length=5), ValueError,
         "max_length=5"),
        (lambda x: baselines.segment_masked(x, min_length=T + 1), ValueError, "min_length"),
        (lambda x: baselines.segment_masked(x, n_segments=0), ValueError, "n_segments=0"),
        (lambda x: baselines.segment_masked(x, fill=np.nan), ValueError, "fill=nan"),
        (lambda x: baselines.mean(x * np.nan), ValueError, "NaN"),
        (lambda x: baselines.phase_randomized(x, n=0), ValueError, "n=0"),
        (lambda x: baselines.phase_randomized(x, per_channel=1), TypeError, "per_channel"),
    ],
)  # fmt: skip
def test_bad_arguments(call, error, match):
    x = np.random.default_rng(0).normal(size=(2, 1, T))
    with pytest.raises(error, match=match):
        call(x)


@pytest.mark.parametrize("length", [64, 65])
@pytest.mark.parametrize("per_channel", [True, False])
def test_phase_randomized_keeps_the_amplitude_spectrum(length, per_channel):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, length)) + np.linspace(0, 2, length)
    b = baselines.phase_randomized(x, n=5, seed=7, per_channel=per_channel)
    assert b.shape == (5, *x.shape) and b.dtype == x.dtype and np.isrealobj(b)
    amp = np.abs(np.fft.rfft(x, axis=-1))
    np.testing.assert_allclose(np.abs(np.fft.rfft(b, axis=-1)), amp[None].repeat(5, 0),
                               rtol=1e-9, atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(b.mean(axis=-1), x.mean(axis=-1)[None].repeat(5, 0), atol=1e-12)
    assert not np.allclose(b[0], x)  # the phases did change
    np.testing.assert_array_equal(
        b, baselines.phase_randomized(x, 5, seed=7, per_channel=per_channel)
    )

    # one phase draw for all channels keeps each cross-spectrum X_c conj(X_d)
    def cross(z: np.ndarray) -> np.ndarray:
        Z = np.fft.rfft(z, axis=-1)
        return Z[..., 0, :] * np.conj(Z[..., 1, :])

    same = np.allclose(cross(b), cross(x)[None], rtol=1e-8, atol=1e-8)
    assert same is (not per_channel)


def test_phase_randomized_fixes_a_scale_invariant_model():
    """A model that z-scores its input: the zero baseline is a singular point (attributions
    ~0 while f(x) - f(0) is not), the phase-randomized surrogates give complete results."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(T, 1).double()

    def model(x: torch.Tensor) -> torch.Tensor:
        z = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True).clamp_min(1e-12)
        return torch.tanh(lin(z.flatten(1)))[:, 0]

    t = np.arange(T) / FS
    x = (np.sin(2 * np.pi * 3 * t) + 0.3 * np.random.default_rng(0).normal(size=T))[None, None]
    with pytest.warns(cdig.ConvergenceWarning):
        zero = cdig.explain(model, x + 0.0, "fourier", fs=FS, max_steps=64)
    gap = zero.outputs - zero.baseline_outputs
    # the jump at x' = 0 is not seen: attributions explode near 0 and miss f(x) - f(0)
    assert not zero.converged[0] and abs(zero.delta[0]) > abs(gap[0])
    b = baselines.phase_randomized(x, n=2, seed=0)
    attr = cdig.explain(model, x, "fourier", fs=FS, baselines=b)
    assert attr.converged.all()
    assert np.all(np.abs(attr.delta) <= 0.01 * np.abs(attr.outputs - attr.baseline_outputs))
