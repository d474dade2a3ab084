"""Shared fixtures and helpers: the small smooth model, every domain, seeded inputs, a linear
model, the comparison of two results, and running the command line on model files."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch


class SmoothCNN(torch.nn.Module):
    """A random conv net with tanh/softplus activations (smooth, so quadrature converges).

    Input ``(batch, channels, time)``, output ``(batch, n_out)``. The head reads the mean over
    time, so any length is accepted; with ``n_times`` it reads every time step instead, and the
    model takes series of exactly ``n_times`` samples (as many real models do). The activations
    are submodules, so that a test can swap one (the same weights, another function).
    """

    def __init__(
        self,
        channels: int = 2,
        n_out: int = 3,
        width: int = 6,
        seed: int = 0,
        n_times: int | None = None,
    ):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv1 = torch.nn.Conv1d(channels, width, 7, padding=3)
        self.act1 = torch.nn.Tanh()
        self.conv2 = torch.nn.Conv1d(width, width, 5, padding=2, dilation=1)
        self.act2 = torch.nn.Softplus()
        self.head = torch.nn.Linear(width * (n_times or 1), n_out)
        self.every_step = n_times is not None
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.4)
        self.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.head(h.flatten(1) if self.every_step else h.mean(dim=-1))


@pytest.fixture
def smooth_cnn() -> SmoothCNN:
    return SmoothCNN()


def every_domain(n_times: int, fs: float = 32.0, seed: int = 0) -> dict[str, Any]:
    """One instance of every registered domain, keyed by its registered name.

    Settings fit series of ``n_times >= 16`` points sampled at ``fs`` Hz: an STFT of 8 (below
    32 points) or 16 samples per frame, hop a quarter of that; a wavelet of level 1 or 2; a
    seasonal period of 4 or 8 samples; a seeded, non-orthogonal ``(n_times, n_times)`` basis;
    a nonlinear custom domain (``sinh`` / ``asinh``); ICA with ``tol=1e-2``, which FastICA
    reaches on short noisy series (there is no independent source to find in Gaussian noise;
    the attributions are exactly complete whatever the unmixing).
    ``tests/test_guards.py`` checks that no registered domain is missing. The optional
    packages (PyWavelets, scikit-learn, statsmodels) are needed when a domain is fitted, not
    here (:data:`NEEDS`).
    """
    from cdig.domains import (
        DCT,
        ICA,
        PCA,
        STFT,
        Cepstrum,
        Custom,
        Fourier,
        LinearBasis,
        SeasonalTrend,
        Time,
        Wavelet,
    )

    short = n_times < 32
    n_fft = 8 if short else 16
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n_times, n_times)))
    return {
        "cepstrum": Cepstrum(fs=fs),
        "custom": Custom(torch.sinh, torch.asinh),
        "dct": DCT(fs=fs),
        "fourier": Fourier(fs=fs),
        "ica": ICA(tol=1e-2),
        "linear_basis": LinearBasis(q + 0.1 * np.eye(n_times)),
        "pca": PCA(),
        "seasonal_trend": SeasonalTrend(period=4 if short else 8),
        "stft": STFT(n_fft=n_fft, hop_length=n_fft // 4, fs=fs),
        "time": Time(fs=fs),
        "wavelet": Wavelet(level=1 if short else 2),
    }


#: The optional package each domain needs to be fitted (a test skips without it).
NEEDS = {"wavelet": "pywt", "ica": "sklearn", "seasonal_trend": "statsmodels"}


@pytest.fixture
def series() -> np.ndarray:
    """A batch of 4 two-channel float64 series of 96 samples."""
    rng = np.random.default_rng(0)
    t = np.arange(96) / 32.0
    x = rng.normal(size=(4, 2, 96)) * 0.5
    x[:, 0] += np.sin(2 * np.pi * 3.0 * t)
    return x


# ---------------------------------------------------------------------- helpers
def same_result(a: Any, b: Any) -> None:
    """Assert that two Attributions hold the same arrays, layout, target and coordinates."""
    for name in ("values", "delta", "outputs", "baseline_outputs", "n_steps", "error",
                 "converged", "n_evaluations"):  # fmt: skip
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.target_index, b.target_index)
    assert a.dims == b.dims and a.target == b.target and dict(a.units) == dict(b.units)
    assert set(a.coords) == set(b.coords)
    for k in a.coords:
        np.testing.assert_array_equal(a.coords[k], b.coords[k])


# ---------------------------------------------------------------------- a linear model
def linear_net() -> torch.nn.Module:
    """Flatten, then a seeded ``Linear(16, 2)`` in float64: attributions are ``w * (x - x')``."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)).double()


def short_series(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Two seeded one-channel series of 16 samples, shape ``(2, 1, 16)``."""
    return torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(1)).to(dtype)


# ---------------------------------------------------------------------- the command line
def run_cli(argv: list[Any], capsys: Any, trust: bool = True) -> tuple[int, str, str]:
    """Run ``cdig ARGV``: the exit code, stdout and stderr.

    The tests' own TorchScript and .pt2 files are trusted unless ``trust=False``.
    """
    from cdig.cli import main

    argv = [str(a) for a in argv]
    if trust and argv[:1] == ["explain"]:
        argv.append("--trust-model-file")
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def write_cli_files(folder: Path, model: torch.nn.Module, x: np.ndarray) -> None:
    """Write ``model`` as TorchScript (``net.ts``) and the inputs as ``x.npy`` into ``folder``."""
    with warnings.catch_warnings():  # torch deprecates TorchScript; the command line reads it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(folder / "net.ts"))
    np.save(folder / "x.npy", x)
