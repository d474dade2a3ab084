"""TIMING and FLEXtime peers: known answers on synthetic models, closed forms, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cdig.peers import flextime, freqrise, timing

T, FS = 128, 128.0


class OneSegment(torch.nn.Module):
    """Class 1 is carried by the energy of samples 40..59 only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x[:, 0, 40:60] ** 2).sum(-1)
        return torch.stack([-v, v], dim=1)


class OneBand(torch.nn.Module):
    """Class 1 is carried by the power of the input at ``f0`` Hz only (a matched filter)."""

    def __init__(self, f0: float) -> None:
        super().__init__()
        t = torch.arange(T, dtype=torch.float64) / FS
        self.register_buffer("c", torch.cos(2 * torch.pi * f0 * t))
        self.register_buffer("s", torch.sin(2 * torch.pi * f0 * t))
        self.scale = torch.nn.Parameter(torch.tensor(1.0 / T, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, 0]
        e = ((x * self.c).sum(-1) ** 2 + (x * self.s).sum(-1) ** 2) * self.scale
        return torch.stack([torch.full_like(e, 2.0), e], dim=1)


def test_timing_ranks_the_carrying_segment_first():
    x = np.random.default_rng(0).normal(size=(6, 1, T))
    model = OneSegment()
    a = timing(model, x, target=1, seed=0).values
    assert a.shape == x.shape and a.dtype == np.float64
    top = np.abs(a[:, 0]).argmax(axis=-1)
    assert np.all((top >= 40) & (top < 60))
    share = np.abs(a[:, 0, 40:60]).sum(-1) / np.abs(a[:, 0]).sum(-1)
    np.testing.assert_allclose(share, 1.0)  # nothing outside the segment moves the output
    np.testing.assert_array_equal(a, timing(model, x, target=1, seed=0).values)  # seeded


def test_timing_linear_closed_form_and_layout():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, T, 2))  # (batch, time, channels)
    w = rng.normal(size=(T * 2, 1))
    lin = torch.nn.Linear(T * 2, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w.T))
    model = torch.nn.Sequential(torch.nn.Flatten(), lin)
    a = timing(model, x, target=0, n_masks=200, time_axis=1, seed=3).values
    # constant gradient w: every point masked at least once gets exactly x * w
    expected = (x * w.reshape(T, 2)[None]).transpose(0, 2, 1)  # (B, C, T)
    moved = a != 0
    assert moved.mean() > 0.95
    np.testing.assert_allclose(a[moved], expected[moved], rtol=1e-10, atol=1e-12)


def test_flextime_ranks_the_carrying_band_first():
    rng = np.random.default_rng(2)
    t = np.arange(T) / FS
    f0 = 18.0  # the centre of band 4 of 16 (16..20 Hz at fs = 128)
    x = (
        np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6, (4, 1, 1)))
        + np.sin(2 * np.pi * 45 * t)
        + 0.3 * rng.normal(size=(4, 1, T))
    )
    model = OneBand(f0)
    imp = flextime(model, x, target=1, n_epochs=150).values
    assert imp.shape == (4, 1, T // 2 + 1) and np.all(imp >= 0)
    freqs = np.fft.rfftfreq(T, 1 / FS)
    top = freqs[imp[:, 0].argmax(axis=-1)]
    assert np.all((top >= 16) & (top <= 20))
    band = (freqs >= 16) & (freqs <= 20)
    assert np.all(imp[:, 0, band].mean(-1) > 3 * imp[:, 0, ~band].mean(-1))
    # the model is left as it was: no gradient stored, still trainable
    assert model.scale.grad is None and model.scale.requires_grad and model.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_bands": 100}, ValueError, "n_bands=100"),
        ({"n_bands": 1}, ValueError, "n_bands=1"),
        ({"n_taps": 8}, ValueError, "n_taps=8"),
        ({"keep_ratio": 1.5}, ValueError, "keep_ratio=1.5"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate=-1.0"),
        ({"n_epochs": 0}, ValueError, "n_epochs=0"),
    ],
)
def test_flextime_bad_arguments(kwargs, error, match):
    x = np.random.default_rng(0).normal(size=(2, 1, T))
    with pytest.raises(error, match=match):
        flextime(OneBand(18.0), x, **kwargs)


def test_flextime_needs_class_scores_and_timing_checks_masks():
    x = np.random.default_rng(0).normal(size=(2, 1, T))
    with pytest.raises(ValueError, match="n_classes"):
        flextime(lambda z: z.sum(dim=(1, 2)), x)
    with pytest.raises(ValueError, match="n_masks=0"):
        timing(OneSegment(), x, target=1, n_masks=0)
    with pytest.raises(ValueError, match="retention=2"):
        timing(OneSegment(), x, target=1, retention=2)


def test_a_seed_that_is_no_seed_fails_before_the_model_runs():
    calls = []

    def model(z):
        calls.append(z.shape)
        return z.sum(dim=(1, 2))[:, None].repeat(1, 2)

    x = np.random.default_rng(0).normal(size=(2, 1, 32))
    with pytest.raises(TypeError, match="seed='0' must be None, a non-negative integer"):
        timing(model, x, target=1, seed="0")
    with pytest.raises(TypeError, match="seed=-1 must be None"):
        freqrise(model, x, "fourier", target=1, n_masks=2, seed=-1)
    assert calls == []
    gen = np.random.default_rng(5)  # a Generator: the same masks as its seed
    np.testing.assert_array_equal(
        timing(model, x, target=1, n_masks=4, seed=gen).values,
        timing(model, x, target=1, n_masks=4, seed=5).values,
    )
