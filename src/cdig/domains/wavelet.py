"""The wavelet domain: multilevel discrete wavelet transform with an exact inverse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._optional import require
from ._base import Domain, check_fs, register

__all__ = ["Wavelet", "WaveletLayout"]

#: Largest condition number of a level's 2x2 polyphase matrix accepted at fit.
MAX_POLYPHASE_COND = 1e8


@dataclass(frozen=True)
class WaveletLayout:
    """Where each band sits in the flat coefficient axis.

    Attributes
    ----------
    lengths : tuple of int
        Length of the series entering level ``j`` for ``j = 1 .. level`` (``lengths[0]`` is
        ``n_times``) followed by the length of the deepest approximation.
    bands : tuple of (str, int, int, int)
        ``(label, level, start, stop)`` of each band in PyWavelets order:
        ``cA<L>, cD<L>, ..., cD1``.
    """

    lengths: tuple[int, ...]
    bands: tuple[tuple[str, int, int, int], ...]

    @classmethod
    def build(cls, n_times: int, level: int) -> WaveletLayout:
        lengths = [n_times]
        for _ in range(level):
            lengths.append(-(-lengths[-1] // 2))  # ceil: odd lengths are extended by one
        bands = [(f"cA{level}", level, 0, lengths[level])]
        start = lengths[level]
        for j in range(level, 0, -1):
            bands.append((f"cD{j}", j, start, start + lengths[j]))
            start += lengths[j]
        return cls(tuple(lengths), tuple(bands))

    @property
    def size(self) -> int:
        return self.bands[-1][3]


def _periodic_taps(filt: np.ndarray, shift: int, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices and taps of ``y[k] = sum_j filt[j] * x[(2k + shift - j) mod period]``.

    Returns ``index`` of shape (period // 2, len(filt)) and ``filt`` (float64).
    """
    k = np.arange(period // 2)[:, None]
    j = np.arange(len(filt))[None, :]
    return (2 * k + shift - j) % period, np.asarray(filt, dtype=np.float64)


def _polyphase_inverse(lo: np.ndarray, hi: np.ndarray, shift: int, period: int) -> np.ndarray:
    """Per-frequency inverse of one analysis level, shape (2, 2, period // 2 // 2 + 1), complex.

    Analysis ``cA[k] = sum_j lo[j] x[(2k + shift - j) mod P]`` (likewise ``cD`` with ``hi``)
    splits into polyphase parts ``x_p[m] = x[2m + p]``: ``cA = sum_p a_p * x_p`` with
    circular cross-correlations ``a_p`` of length ``M = P/2``. In the DFT of length ``M``
    this is a 2x2 matrix ``H(w)`` per frequency, inverted here.
    """
    half = period // 2
    H = np.empty((2, 2, half // 2 + 1), dtype=np.complex128)
    for row, filt in enumerate((lo, hi)):
        for p in (0, 1):
            taps = np.zeros(half)
            for j, c in enumerate(filt):
                d = shift - j
                if d % 2 == p:
                    taps[((d - p) // 2) % half] += c
            # correlation y[k] = sum_q a[q] x[k+q]  ->  Y(w) = conj(A(w)) X(w) for real a
            H[row, p] = np.conj(np.fft.rfft(taps))
    Hm = np.moveaxis(H, -1, 0)  # (F, 2, 2)
    cond = np.linalg.cond(Hm)
    if not np.all(np.isfinite(cond)) or cond.max() > MAX_POLYPHASE_COND:
        raise ValueError(
            f"the wavelet filters are not invertible at a level of length {period} "
            f"(polyphase condition number {float(np.max(cond)):.3g}); use another wavelet."
        )
    return np.moveaxis(np.linalg.inv(Hm), 0, -1)


@register
class Wavelet(Domain):
    """Multilevel discrete wavelet transform (DWT) along time, any PyWavelets wavelet.

    Parameters
    ----------
    wavelet : str or pywt.Wavelet, default="db4"
        A discrete wavelet known to PyWavelets (``pywt.wavelist(kind="discrete")``:
        ``"haar"``, ``"db1"``..``"db38"``, ``"sym2"``.., ``"coif1"``.., ``"bior2.2"``..,
        ``"rbio"``.., ``"dmey"``).
    level : int, optional
        Number of levels; default and maximum ``pywt.dwt_max_level(n_times, filter_length)``.
    fs : float, optional
        Sampling rate in Hz: band edges in Hz and coefficient times in seconds when given,
        cycles per sample and samples otherwise.

    Notes
    -----
    The boundary is handled by periodization: the series is one period of a periodic
    signal. It is the one PyWavelets mode whose transform is not redundant (for even
    lengths), and it is exactly invertible with an inverse of exactly ``n_times`` samples;
    the other modes add boundary coefficients that are not free to vary independently.

    Level :math:`j` splits its input (the approximation of level :math:`j-1`, the series
    for :math:`j=1`) into an approximation and a detail half its length, with PyWavelets'
    decomposition filters and alignment, so that the coefficients equal
    ``pywt.wavedec(x, wavelet, mode="periodization", level=level)``. An input of odd
    length is first extended by repeating its last sample (as PyWavelets does), so a level
    of length :math:`n` gives :math:`\\lceil n/2 \\rceil` coefficients per band.

    The inverse is the exact inverse of each level, computed per frequency from the 2x2
    polyphase matrix of the decomposition filters rather than from the reconstruction
    filters: it agrees with ``pywt.waverec`` for perfect-reconstruction wavelets and stays
    exact for wavelets whose tabulated filters are not (``"dmey"``, long ``"sym"`` and
    ``"bior"`` filters, off by up to 1e-2 in ``waverec``). For odd lengths the extension
    sample is dropped. The inverse is linear, so the wavelet domain shares the engine's
    time pass.

    Coefficients are concatenated into one axis in PyWavelets order
    ``cA<L>, cD<L>, cD<L-1>, ..., cD1``. Detail band ``cD<j>`` covers frequencies
    :math:`[f_s/2^{j+1}, f_s/2^j]` and ``cA<L>`` covers :math:`[0, f_s/2^{L+1}]`
    (idealized; real wavelet filters overlap). Coefficient :math:`k` of level :math:`j` is
    placed at the centre of the samples it summarizes, :math:`2^j k + (2^j - 1)/2`.
    ``attr.group_by("band")`` sums attributions per band.

    Coefficient array shape: ``(batch, channels, n_coefficients)``, real.

    Examples
    --------
    >>> import torch
    >>> dom = Wavelet("haar", level=2).fit(torch.zeros(1, 1, 8))
    >>> dom.coords["band"].tolist()
    ['cA2', 'cA2', 'cD2', 'cD2', 'cD1', 'cD1', 'cD1', 'cD1']
    >>> [round(v, 6) for v in dom.forward(torch.ones(1, 1, 8))[0, 0, :3].tolist()]
    [2.0, 2.0, 0.0]
    """

    name = "wavelet"

    def __init__(
        self,
        wavelet: Any = "db4",
        level: int | None = None,
        fs: float | None = None,
    ) -> None:
        self.wavelet = wavelet
        self.level = level
        self.fs = fs

    # ------------------------------------------------------------------ fitting
    def _check_params(self, n_times: int) -> None:
        check_fs(self.fs)
        w = _discrete_wavelet(self.wavelet)
        self._resolve_level(n_times, w.dec_len)

    def _resolve_level(self, n_times: int, filter_length: int) -> int:
        pywt = require("pywt", "the wavelet domain")
        max_level = int(pywt.dwt_max_level(n_times, filter_length))
        name = getattr(self.wavelet, "name", self.wavelet)
        if max_level < 1:
            raise ValueError(
                f"the series (n_times={n_times}) is too short for wavelet={name!r} (filter "
                f"length {filter_length}): not even one level fits; use a shorter wavelet "
                f"(e.g. 'haar' or 'db2') or a series of at least {2 * (filter_length - 1)} "
                "samples."
            )
        if self.level is None:
            return max_level
        if isinstance(self.level, bool) or not isinstance(self.level, (int, np.integer)):
            raise TypeError(f"level={self.level!r} must be an integer or None.")
        if not 1 <= self.level <= max_level:
            raise ValueError(
                f"level={self.level} is not possible for wavelet={name!r} and "
                f"n_times={n_times}: the max level is {max_level} "
                f"(pywt.dwt_max_level); use 1 <= level <= {max_level} or level=None."
            )
        return int(self.level)

    def _fit(self, x: Tensor) -> None:
        w = _discrete_wavelet(self.wavelet)
        self.wavelet_name_ = str(w.name)
        self.level_ = self._resolve_level(self.n_times_, w.dec_len)
        self.layout_ = WaveletLayout.build(self.n_times_, self.level_)
        lo, hi = np.asarray(w.dec_lo), np.asarray(w.dec_hi)
        self.levels_: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        for n in self.layout_.lengths[: self.level_]:
            period = n + n % 2
            shift = (len(lo) // 2) % period  # PyWavelets' alignment in periodization mode
            idx, lo_t = _periodic_taps(lo, shift, period)
            _, hi_t = _periodic_taps(hi, shift, period)
            inv = _polyphase_inverse(lo, hi, shift, period)
            self.levels_.append(
                (
                    torch.as_tensor(idx),
                    torch.as_tensor(lo_t),
                    torch.as_tensor(hi_t),
                    torch.as_tensor(inv),
                )
            )

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        details = []
        approx = x  # (n, C, length of the current level)
        for idx, lo, hi, _ in self.levels_:
            if approx.shape[-1] % 2:  # odd: repeat the last sample, as PyWavelets does
                approx = torch.cat([approx, approx[..., -1:]], dim=-1)
            gathered = approx[..., idx.to(x.device)]  # (n, C, P/2, filter length)
            details.append(gathered @ hi.to(x))
            approx = gathered @ lo.to(x)
        return torch.cat([approx, *details[::-1]], dim=-1)  # (n, C, n_coefficients)

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        bands = self.layout_.bands
        approx = X[..., bands[0][2] : bands[0][3]]
        for j in range(self.level_, 0, -1):
            _, _, start, stop = bands[self.level_ - j + 1]
            approx = self._inverse_level(approx, X[..., start:stop], j)
        return approx

    def _inverse_level(self, cA: Tensor, cD: Tensor, level: int) -> Tensor:
        """Series entering level ``level`` (1-based) from its two bands, each (n, C, P/2)."""
        n_out = self.layout_.lengths[level - 1]
        half = cA.shape[-1]
        inv = self.levels_[level - 1][3].to(device=cA.device)
        inv = inv.to(torch.complex128 if cA.dtype == torch.float64 else torch.complex64)
        A = torch.fft.rfft(cA, dim=-1)  # (n, C, half // 2 + 1)
        D = torch.fft.rfft(cD, dim=-1)
        even = torch.fft.irfft(inv[0, 0] * A + inv[0, 1] * D, n=half, dim=-1)
        odd = torch.fft.irfft(inv[1, 0] * A + inv[1, 1] * D, n=half, dim=-1)
        x = torch.stack([even, odd], dim=-1).flatten(-2)  # (n, C, P) interleaved
        return x[..., :n_out]  # drop the extension sample of odd lengths

    # ------------------------------------------------------------------ meaning
    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "coefficient")

    def _coords(self) -> dict[str, np.ndarray]:
        labels, levels, lows, highs, times = [], [], [], [], []
        nyquist = 0.5 * (self.fs if self.fs else 1.0)
        for label, level, start, stop in self.layout_.bands:
            n = stop - start
            labels += [label] * n
            levels += [level] * n
            top = nyquist / 2 ** (level - 1) if label.startswith("cD") else nyquist / 2**level
            low = top / 2 if label.startswith("cD") else 0.0
            lows += [low] * n
            highs += [top] * n
            centre = 2**level * np.arange(n) + (2**level - 1) / 2
            times.append(np.minimum(centre, self.n_times_ - 1))
        t = np.concatenate(times)
        return {
            "coefficient": np.arange(self.layout_.size),
            "band": np.array(labels),
            "level": np.array(levels),
            "band_low": np.array(lows),
            "band_high": np.array(highs),
            "time": t / self.fs if self.fs else t,
        }

    @property
    def units(self) -> dict[str, str]:
        freq = "Hz" if self.fs else "cycles/sample"
        return {"band_low": freq, "band_high": freq, "time": "s" if self.fs else "sample"}


def _discrete_wavelet(wavelet: Any) -> Any:
    """A ``pywt.Wavelet`` for a name or object; clear errors for unknown/continuous ones."""
    pywt = require("pywt", "the wavelet domain")
    if isinstance(wavelet, pywt.Wavelet):
        return wavelet
    if isinstance(wavelet, pywt.ContinuousWavelet):
        wavelet = wavelet.name
    if not isinstance(wavelet, str):
        raise TypeError(
            f"wavelet must be a wavelet name (str) or a pywt.Wavelet; got {type(wavelet).__name__}."
        )
    if wavelet in pywt.wavelist(kind="discrete"):
        return pywt.Wavelet(wavelet)
    if _is_continuous(pywt, wavelet):
        raise ValueError(
            f"wavelet={wavelet!r} is a continuous wavelet; the wavelet domain needs a discrete "
            "one with a perfect-reconstruction filter bank, e.g. 'db4', 'sym5', 'coif2' "
            "(see pywt.wavelist(kind='discrete'))."
        )
    raise ValueError(
        f"wavelet={wavelet!r} is not a wavelet PyWavelets knows; use a name from "
        "pywt.wavelist(kind='discrete'), e.g. 'haar', 'db4', 'sym5', 'coif2', 'bior2.2'."
    )


def _is_continuous(pywt: Any, name: str) -> bool:
    try:
        pywt.ContinuousWavelet(name)
    except (ValueError, TypeError):
        return False
    return True
