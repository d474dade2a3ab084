"""The Fourier domain: discrete Fourier transform of each channel."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._base import Domain, check_fs, register

__all__ = ["Fourier"]


@register
class Fourier(Domain):
    """Discrete Fourier transform along time.

    Parameters
    ----------
    onesided : bool, default=True
        ``True``: real FFT, one coefficient per non-negative frequency,
        ``n_times // 2 + 1`` of them. ``False``: full FFT with ``n_times`` coefficients,
        Hermitian-redundant (as in the published reference implementation).
    fs : float, optional
        Sampling rate in Hz. Coordinates are frequencies in Hz when given, bin indices
        otherwise.

    Notes
    -----
    Onesided: :math:`X = \\mathrm{rfft}(x)`, :math:`x = \\mathrm{irfft}(X, n)`. Because ``irfft``
    reads bin :math:`k` (for :math:`0 < k < N/2`) as the pair :math:`(k, N-k)`, the onesided
    attribution of bin :math:`k` equals the sum of the two full-FFT attributions
    :math:`A_k + A_{N-k}`, and DC and Nyquist appear once. Completeness holds in both forms.

    Coefficient array shape: ``(batch, channels, n_frequencies)``, complex.
    """

    per_channel = True
    name = "fourier"
    is_complex = True
    _rows_apart = True  # an FFT per row (h25-rest: bitwise against one row at a time, on CPU)

    def __init__(self, onesided: bool = True, fs: float | None = None) -> None:
        self.onesided = onesided
        self.fs = fs

    def _check_params(self, n_times: int) -> None:
        check_fs(self.fs)
        if not isinstance(self.onesided, bool):
            raise TypeError(f"onesided={self.onesided!r} must be True or False.")

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        if self.onesided:
            return torch.fft.rfft(x, dim=-1)
        return torch.fft.fft(x, dim=-1)

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        if self.onesided:
            return torch.fft.irfft(X, n=self.n_times_, dim=-1)
        return torch.fft.ifft(X, dim=-1).real

    def inverse_vjp(self, X: Tensor, G: Tensor, index: Tensor | None = None) -> Tensor:
        # irfft reads bin k of 0 < k < N/2 twice (as k and N - k): gradient c_k rfft(G)_k / N
        # with c_k = 2 there and 1 at DC and Nyquist; ifft(X).real gives fft(G) / N.
        self._check_fitted()
        n = self.n_times_
        if not self.onesided:
            return torch.fft.fft(G, dim=-1) / n
        gX = torch.fft.rfft(G, dim=-1) * (2.0 / n)
        # in place (no indexing and copy back: the same bits); for an even n DC and Nyquist
        # are the first and last bins, n // 2 apart: one strided view of both
        (gX[..., :: n // 2] if n % 2 == 0 else gX.select(-1, 0)).mul_(0.5)
        return gX

    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "frequency")

    def _coords(self) -> dict[str, np.ndarray]:
        n = self.n_times_
        d = 1.0 / self.fs if self.fs else 1.0 / n  # bin index when fs is None
        freq = np.fft.rfftfreq(n, d) if self.onesided else np.fft.fftfreq(n, d)
        return {"frequency": freq}

    @property
    def units(self) -> dict[str, str]:
        return {"frequency": "Hz" if self.fs else "bin"}
