"""The cepstral domain: complex cepstrum, a non-linear (homomorphic) transform."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._warnings import warn
from ._base import check_fs, register
from ._persample import PerSampleDomain

__all__ = ["Cepstrum", "unwrap_phase"]


def unwrap_phase(phase: Tensor) -> Tensor:
    """Unwrap phases along the last axis: add multiples of 2*pi so steps lie in [-pi, pi).

    Parameters
    ----------
    phase : Tensor of shape (..., n), real, in radians

    Returns
    -------
    Tensor of shape (..., n)
        Differentiable: the added multiples are piecewise constant.
    """
    step = torch.diff(phase, dim=-1)
    wrapped = torch.remainder(step + math.pi, 2 * math.pi) - math.pi
    correction = torch.cumsum((wrapped - step).detach(), dim=-1)
    return torch.cat([phase[..., :1], phase[..., 1:] + correction], dim=-1)


@register
class Cepstrum(PerSampleDomain):
    """Complex cepstrum along time: the inverse Fourier transform of the complex log spectrum.

    Parameters
    ----------
    eps : float, default=1e-12
        Guard against ``log(0)``: magnitudes enter as ``log(|X| + eps)`` and come back as
        ``exp(.) - eps``, so the round trip stays exact for every ``eps >= 0``. It sets the
        floor of the log magnitude (``log(eps)``, about -27.6 for the default), which is
        where a zero baseline starts. ``eps=0`` is the textbook cepstrum and rejects series
        (and baselines, such as the default zeros) with an exactly zero spectral bin.
    fs : float, optional
        Sampling rate in Hz; quefrencies are in seconds when given, samples otherwise.

    Notes
    -----
    For one channel of :math:`N` samples with real FFT :math:`X_k`,

    .. math::  c = \\mathrm{irfft}\\big(\\log(|X_k| + \\epsilon)
               + i\\,[\\varphi_k - \\pi\\sigma - 2\\pi r k / N]\\big),

    where :math:`\\varphi` is the unwrapped phase, :math:`\\sigma = 1` when the mean of the
    series is negative (else 0), and :math:`r` the integer delay
    :math:`\\mathrm{round}(\\varphi_{N/2}/\\pi)` (odd :math:`N`: the nearest integer slope).
    Removing :math:`\\pi\\sigma` and the linear phase :math:`2\\pi r k/N` makes the phase zero
    at DC and Nyquist, which ``irfft`` needs to keep all information, and keeps the cepstrum
    concentrated near zero quefrency. :math:`\\sigma` and :math:`r` are learned per sample
    and channel at :meth:`fit` and restored by the inverse

    .. math::  x = \\mathrm{irfft}\\big((e^{\\mathrm{Re}\\,C_k} - \\epsilon)\\,
               e^{i(\\mathrm{Im}\\,C_k + \\pi\\sigma + 2\\pi r k/N)}\\big),
               \\quad C = \\mathrm{rfft}(c),

    so ``inverse(forward(x)) == x``. The inverse is not linear (``linear = False``): the
    integration path is straight in log magnitude and unwrapped phase (multiplicative in the
    spectrum), and the engine integrates in cepstral coefficients. A convolution in time is
    a sum of cepstra.

    The inverse of a sample only produces series whose mean and Nyquist component have the
    same signs as that sample's; a baseline with other signs is replaced by its nearest such
    series (the engine reports ``f`` at this effective baseline, and a warning says so). The
    default zeros baseline is reproduced exactly.

    Coefficient array shape: ``(batch, channels, n_times)``, real; quefrencies in FFT order
    (``0, 1, ..., -2, -1`` samples); negative quefrencies hold the anticausal part.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 1, 32, dtype=torch.float64)
    >>> dom = Cepstrum().fit(x)
    >>> bool(torch.allclose(dom.inverse(dom.forward(x)), x, atol=1e-10))
    True
    """

    name = "cepstrum"
    linear = False

    def __init__(self, eps: float = 1e-12, fs: float | None = None) -> None:
        self.eps = eps
        self.fs = fs

    # ------------------------------------------------------------------ fitting
    def _check_params(self, n_times: int) -> None:
        check_fs(self.fs)
        eps = self.eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
            raise TypeError(f"eps={eps!r} must be a number >= 0.")
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"eps={eps!r} must be a finite number >= 0 (e.g. 1e-12).")

    def _fit(self, x: Tensor) -> None:
        spec = torch.fft.rfft(x.detach(), dim=-1)  # (B, C, K)
        self._check_spectrum(spec, "x")
        negative = spec[..., 0].real < 0
        phase = unwrap_phase(torch.angle(spec)) - math.pi * negative[..., None].to(x.dtype)
        n, last = self.n_times_, spec.shape[-1] - 1
        if last == 0:
            delay = torch.zeros_like(phase[..., 0])
        elif n % 2 == 0:  # the Nyquist phase is a multiple of pi
            delay = torch.round(phase[..., -1] / math.pi)
        else:  # no Nyquist bin: remove the nearest integer linear-phase slope
            delay = torch.round(phase[..., -1] * n / (2 * math.pi * last))
        self.sign_ = negative  # (B, C) bool: mean of the series < 0
        self.delay_ = delay.to(torch.float64)  # (B, C) integer-valued

    def _check_spectrum(self, spec: Tensor, what: str) -> None:
        if self.eps > 0:
            return
        zero = spec.abs() == 0
        if bool(zero.any()):
            b, c, k = (int(i) for i in torch.nonzero(zero)[0])
            raise ValueError(
                f"Cepstrum(eps=0) cannot take the log of {what}'s spectrum: bin {k} of sample "
                f"{b}, channel {c} is exactly zero. Use eps > 0 (e.g. eps=1e-12), or a "
                "baseline with a nonzero spectrum if this is the baseline."
            )

    def _row_state(self, n: int, index: Tensor | None) -> tuple[Tensor, Tensor]:
        """(sign, delay) of each row, shapes (n, C, 1)."""
        idx = self._rows(index, n).to(self.sign_.device)
        return self.sign_[idx][..., None], self.delay_[idx][..., None]

    def _linear_phase(self, n: int, index: Tensor | None, like: Tensor) -> Tensor:
        """``pi*sigma + 2*pi*r*k/N`` per row and bin, shape (n, C, K)."""
        sign, delay = self._row_state(n, index)
        k = torch.arange(self.n_times_ // 2 + 1, dtype=torch.float64, device=delay.device)
        # pi*sigma + ((2*pi*r) * k) / N, in place: one float64 (n, C, K) temporary, the
        # same numbers as the expression written out
        phase = (2 * math.pi * delay) * k
        phase.div_(self.n_times_).add_(math.pi * sign.to(torch.float64))
        return phase.to(dtype=like.dtype, device=like.device)

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        spec = torch.fft.rfft(x, dim=-1)  # (n, C, K)
        self._check_spectrum(spec, "the input")
        phase = unwrap_phase(torch.angle(spec)) - self._linear_phase(len(x), index, x)
        log_spec = torch.complex(torch.log(spec.abs() + self.eps), phase)
        return torch.fft.irfft(log_spec, n=self.n_times_, dim=-1)  # (n, C, N)

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        log_spec = torch.fft.rfft(X, dim=-1)  # (n, C, K)
        magnitude = torch.exp(log_spec.real) - self.eps
        phase = log_spec.imag + self._linear_phase(len(X), index, log_spec.real)
        return torch.fft.irfft(torch.polar(magnitude, phase), n=self.n_times_, dim=-1)

    def coefficient_baseline(self, xb: Tensor, index: Tensor | None = None) -> Tensor:
        """Cepstrum of the baseline under each row's sign and delay; warns if not reproduced."""
        X0 = self.forward(xb, index)
        rec = self.inverse(X0, index)
        err = float((rec - xb).abs().max()) / max(1.0, float(xb.abs().max()))
        if err > 1e-6:
            warn(
                f"Cepstrum: the baseline cannot be reproduced exactly (relative error "
                f"{err:.3g}): its mean or Nyquist component has another sign than the "
                "explained series. Attributions are complete with respect to the nearest "
                "reproducible baseline (f(x') is evaluated there); use the zeros baseline "
                "for an exact one."
            )
        return X0

    # ------------------------------------------------------------------ meaning
    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "quefrency")

    def _coords(self) -> dict[str, np.ndarray]:
        n = self.n_times_
        q = np.fft.fftfreq(n, 1.0 / n)  # 0, 1, ..., -1 samples
        return {"quefrency": q / self.fs if self.fs else q}

    @property
    def units(self) -> dict[str, str]:
        return {"quefrency": "s" if self.fs else "sample"}
