"""The discrete cosine transform domain: orthonormal DCT-II of each channel."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ._base import Domain, check_fs, register

__all__ = ["DCT", "dct", "idct"]


def _twiddle(n: int, like: Tensor) -> Tensor:
    """``exp(-i*pi*k / (2n))`` for ``k = 0 .. n-1`` in the complex dtype matching ``like``."""
    real = like.real.dtype if like.is_complex() else like.dtype
    k = torch.arange(n, dtype=torch.float64, device=like.device)
    angle = -math.pi * k / (2 * n)
    return torch.polar(torch.ones_like(k), angle).to(_cdtype(real))


def _cdtype(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


def _scale(n: int, like: Tensor) -> Tensor:
    """Orthonormal scaling of DCT-II bin ``k``: ``1/sqrt(n)`` for ``k = 0``, ``sqrt(2/n)`` else."""
    s = torch.full((n,), math.sqrt(2.0 / n), dtype=like.dtype, device=like.device)
    s[0] = math.sqrt(1.0 / n)
    return s


def dct(x: Tensor) -> Tensor:
    """Orthonormal DCT-II along the last axis (``scipy.fft.dct(x, norm="ortho")``), in torch.

    Parameters
    ----------
    x : Tensor of shape (..., n), real

    Returns
    -------
    Tensor of shape (..., n)

    Notes
    -----
    :math:`X_k = s_k \\sum_{n=0}^{N-1} x_n \\cos\\frac{\\pi k (2n + 1)}{2N}` with
    :math:`s_0 = \\sqrt{1/N}`, :math:`s_k = \\sqrt{2/N}`, computed with one FFT of the
    reordered series :math:`v = (x_0, x_2, x_4, \\dots, x_5, x_3, x_1)` (Makhoul, 1980):
    :math:`X_k = s_k \\mathrm{Re}[e^{-i\\pi k/2N} \\mathrm{DFT}(v)_k]`.
    """
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)  # (..., n)
    V = torch.fft.fft(v, dim=-1)
    return (V * _twiddle(n, x)).real * _scale(n, x)


def idct(X: Tensor) -> Tensor:
    """Inverse of :func:`dct` (orthonormal DCT-III) along the last axis, in torch.

    Parameters
    ----------
    X : Tensor of shape (..., n), real

    Returns
    -------
    Tensor of shape (..., n)

    Notes
    -----
    With :math:`y_k = X_k / s_k` and :math:`y_n = 0`, the DFT of the reordered series is
    :math:`V_k = e^{i\\pi k/2N} (y_k - i\\, y_{N-k})`, Hermitian for any real :math:`X`, so one
    inverse real FFT gives :math:`v` and undoing the reordering gives :math:`x`.
    """
    n = X.shape[-1]
    y = X / _scale(n, X)  # (..., n), half the unnormalized DCT-II
    y_rev = torch.cat([torch.zeros_like(y[..., :1]), y[..., 1:].flip(-1)], dim=-1)  # y_{n-k}
    V = torch.complex(y, -y_rev) * _twiddle(n, X).conj()
    v = torch.fft.irfft(V[..., : n // 2 + 1], n=n, dim=-1)  # (..., n)
    half = (n + 1) // 2
    out = torch.empty_like(v)
    out[..., ::2] = v[..., :half]
    out[..., 1::2] = v[..., half:].flip(-1)
    return out


@register
class DCT(Domain):
    """Orthonormal discrete cosine transform (DCT-II) along time.

    Parameters
    ----------
    fs : float, optional
        Sampling rate in Hz. Coordinates are frequencies in Hz when given, coefficient
        indices otherwise.

    Notes
    -----
    Coefficient :math:`k` weighs the cosine :math:`\\cos(\\pi k (2n+1) / 2N)`, which makes
    :math:`k/2` cycles over the series: frequency :math:`k f_s / (2N)` Hz, so the DCT has
    twice the frequency resolution of the DFT and real coefficients. Cosines are even about
    both ends of the series, so a DCT does not see the jump between the last and first
    samples that a DFT does (less leakage for trends). The transform is orthonormal: the
    inverse is the transpose (DCT-III), exact and linear, so the DCT shares the engine's
    time pass.

    Coefficient array shape: ``(batch, channels, n_times)``, real.

    Examples
    --------
    >>> import torch
    >>> dom = DCT(fs=10.0).fit(torch.zeros(1, 1, 20))
    >>> dom.coords["frequency"][:3].tolist()
    [0.0, 0.25, 0.5]
    """

    per_channel = True
    name = "dct"

    def __init__(self, fs: float | None = None) -> None:
        self.fs = fs

    def _check_params(self, n_times: int) -> None:
        check_fs(self.fs)

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        return dct(x)

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        return idct(X)

    def inverse_vjp(self, X: Tensor, G: Tensor, index: Tensor | None = None) -> Tensor:
        return dct(G)  # orthonormal: the inverse's transpose is the forward transform

    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "frequency")

    def _coords(self) -> dict[str, np.ndarray]:
        k = np.arange(self.n_times_, dtype=np.float64)
        return {"frequency": k * self.fs / (2 * self.n_times_) if self.fs else k}

    @property
    def units(self) -> dict[str, str]:
        return {"frequency": "Hz" if self.fs else "bin"}
