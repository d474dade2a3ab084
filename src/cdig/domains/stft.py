"""The short-time Fourier transform: time-frequency attributions with an exact inverse."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._base import Domain, check_fs, register

__all__ = ["STFT", "check_nola", "get_window"]

#: Default relative tolerance of the nonzero-overlap-add test.
NOLA_TOL = 1e-10

WindowArg = str | tuple[Any, ...] | np.ndarray | Tensor | list[float]


def get_window(window: WindowArg, n_fft: int) -> np.ndarray:
    """The analysis window as a float64 array of length ``n_fft``.

    Parameters
    ----------
    window : str, tuple, or array-like of shape (n_fft,)
        A name known to :func:`scipy.signal.get_window` (``"hann"``, ``("kaiser", 8.0)``,
        ...; the periodic, DFT-even form is used), a torch window name (``"hann_window"``
        or any ``torch.<name>_window``), or the window samples themselves.
    n_fft : int
        Frame length in samples.

    Returns
    -------
    ndarray of shape (n_fft,), float64

    Raises
    ------
    ValueError
        Unknown window name, wrong length, non-finite or all-zero samples.
    """
    if isinstance(window, (str, tuple)):
        return _named_window(window, n_fft)
    if isinstance(window, Tensor):
        window = window.detach().cpu().numpy()
    try:
        w = np.asarray(window, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"window must be a window name or an array of {n_fft} numbers; got "
            f"{type(window).__name__}."
        ) from None
    if w.shape != (n_fft,):
        raise ValueError(
            f"window has shape {w.shape} but n_fft={n_fft}; give a 1-D array of n_fft samples "
            "or a window name such as 'hann'."
        )
    if not np.isfinite(w).all() or not np.any(w):
        raise ValueError("window must have finite samples, not all zero.")
    return w


def _named_window(window: str | tuple[Any, ...], n_fft: int) -> np.ndarray:
    from scipy.signal import get_window as scipy_window

    try:
        return np.asarray(scipy_window(window, n_fft, fftbins=True), dtype=np.float64)
    except (ValueError, TypeError) as err:
        reason = str(err)
    if isinstance(window, str):
        name = window[: -len("_window")] if window.endswith("_window") else window
        make = getattr(torch, f"{name}_window", None)
        if callable(make):
            return make(n_fft, periodic=True, dtype=torch.float64).numpy()
    raise ValueError(
        f"window={window!r} is not a known window ({reason}); use a name accepted by "
        "scipy.signal.get_window (e.g. 'hann', 'hamming', ('kaiser', 8.0)), a torch window "
        "name (e.g. 'hann_window'), or an array of n_fft samples."
    )


def _frame_starts(n_times: int, n_fft: int, hop: int) -> np.ndarray:
    """First padded-sample index of every frame; frame ``m`` is centred on sample ``m*hop``.

    Frames are centred at ``0, hop, 2*hop, ...`` up to the first centre at or past the last
    sample, so every sample lies between two frame centres.
    """
    n_frames = 1 + -(-(n_times - 1) // hop)  # 1 + ceil((n_times - 1) / hop)
    return np.arange(n_frames) * hop  # in padded coordinates (left pad = n_fft // 2)


def _envelope(w: np.ndarray, n_times: int, hop: int) -> np.ndarray:
    """``sum_m w[n + n_fft//2 - m*hop]**2`` for every sample ``n``, shape (n_times,)."""
    n_fft = len(w)
    starts = _frame_starts(n_times, n_fft, hop)
    padded = np.zeros(int(starts[-1]) + n_fft)
    for s in starts:
        padded[s : s + n_fft] += w**2
    left = n_fft // 2
    return padded[left : left + n_times]


def check_nola(
    window: WindowArg = "hann",
    n_fft: int = 64,
    hop_length: int | None = None,
    n_times: int | None = None,
    tol: float = NOLA_TOL,
) -> bool:
    """Whether an STFT with these settings can be inverted (nonzero overlap-add, NOLA).

    Parameters
    ----------
    window : str, tuple or array-like of shape (n_fft,), default="hann"
        As in :class:`STFT`.
    n_fft : int, default=64
        Frame length in samples.
    hop_length : int, optional
        Frame step in samples; default ``n_fft // 4``.
    n_times : int, optional
        Series length. Given: test the exact finite framing that :class:`STFT` uses (frames
        centred at ``0, hop, ...``, zero padding). Omitted: test the stationary condition
        for an endless series.
    tol : float, default=1e-10
        Relative tolerance: the envelope must exceed ``tol * max(w)**2`` everywhere.

    Returns
    -------
    bool

    Notes
    -----
    The inverse of :class:`STFT` is the weighted overlap-add (least-squares) inverse

    .. math::  x[n] = \\frac{\\sum_m w[n - s_m]\\, \\mathrm{IDFT}(X_m)[n - s_m]}
                          {\\sum_m w^2[n - s_m]},

    with :math:`s_m` the start of frame :math:`m`. It reconstructs :math:`x` exactly if and
    only if the envelope :math:`E[n] = \\sum_m w^2[n - s_m]` is nonzero at every sample.
    For an endless series with :math:`s_m = mH` this is
    :math:`\\sum_m w^2[n + mH] > 0` for :math:`n = 0, \\dots, H-1` (SciPy's ``check_NOLA``).
    It fails, for example, when :math:`H > N_{fft}` (samples no frame sees) or for a window
    that is zero at its ends with :math:`H = N_{fft}`.

    Examples
    --------
    >>> check_nola("hann", 64, 16), check_nola("hann", 64, 64), check_nola("boxcar", 8, 9)
    (True, False, False)
    """
    n_fft, hop = _check_framing(n_fft, hop_length)
    w = get_window(window, n_fft)
    return bool(_nola_margin(w, hop, n_times)[0] > tol)


def _nola_margin(w: np.ndarray, hop: int, n_times: int | None) -> tuple[float, int]:
    """(smallest envelope / max(w)**2, sample where it occurs)."""
    if n_times is None:
        n_fft = len(w)
        env = np.array([np.sum(w[n:n_fft:hop] ** 2) if n < n_fft else 0.0 for n in range(hop)])
    else:
        env = _envelope(w, n_times, hop)
    at = int(np.argmin(env))
    return float(env[at] / np.max(w**2)), at


def _check_framing(n_fft: Any, hop_length: Any) -> tuple[int, int]:
    if isinstance(n_fft, bool) or not isinstance(n_fft, (int, np.integer)) or n_fft < 1:
        raise ValueError(f"n_fft={n_fft!r} must be a positive integer (frame length in samples).")
    hop = max(1, int(n_fft) // 4) if hop_length is None else hop_length
    if isinstance(hop, bool) or not isinstance(hop, (int, np.integer)) or hop < 1:
        raise ValueError(
            f"hop_length={hop_length!r} must be a positive integer (frame step in samples) "
            "or None for n_fft // 4."
        )
    return int(n_fft), int(hop)


@register
class STFT(Domain):
    """Short-time Fourier transform: one coefficient per (channel, frequency, frame).

    Parameters
    ----------
    n_fft : int, default=64
        Frame length in samples; at most the series length.
    hop_length : int, optional
        Step between frame centres in samples; default ``n_fft // 4``.
    window : str, tuple or array-like of shape (n_fft,), default="hann"
        Analysis window: a :func:`scipy.signal.get_window` name (periodic form), a torch
        window name, or the samples themselves.
    fs : float, optional
        Sampling rate in Hz: frequencies in Hz and frame times in seconds when given, bin
        indices and samples otherwise.
    onesided : bool, default=True
        ``True``: ``n_fft // 2 + 1`` non-negative frequencies (real FFT of each frame).
        ``False``: all ``n_fft`` frequencies in FFT order, negative ones included.

    Notes
    -----
    Frame :math:`m` is centred on sample :math:`mH` (:math:`H` = ``hop_length``) for
    :math:`m = 0, \\dots, \\lceil (N-1)/H \\rceil`, so the first and last frames are centred
    on the first and last samples; the series is zero padded by ``n_fft // 2`` samples on
    the left and as needed on the right. Coefficient :math:`X[k, m]` is the DFT bin
    :math:`k` of the windowed frame, with time origin at the frame's first sample (as in
    ``torch.stft``).

    The inverse is the weighted overlap-add (least-squares) inverse; it returns exactly
    :math:`N` samples and reconstructs :math:`x` exactly when the squared windows overlap-add
    to a nonzero envelope at every sample, which :meth:`fit` checks (see
    :func:`check_nola`). The inverse is real-linear, so the STFT shares the engine's time
    pass with other linear domains.

    Coefficient array shape: ``(batch, channels, n_frequencies, n_frames)``, complex.

    Examples
    --------
    >>> import torch
    >>> dom = STFT(n_fft=16, hop_length=4, fs=100.0).fit(torch.randn(1, 1, 50))
    >>> dom.forward(torch.randn(2, 1, 50)).shape
    torch.Size([2, 1, 9, 14])
    >>> float(dom.coords["frequency"][1]), float(dom.coords["time"][1])
    (6.25, 0.04)
    """

    per_channel = True
    name = "stft"
    is_complex = True

    def __init__(
        self,
        n_fft: int = 64,
        hop_length: int | None = None,
        window: WindowArg = "hann",
        fs: float | None = None,
        onesided: bool = True,
    ) -> None:
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.window = window
        self.fs = fs
        self.onesided = onesided

    # ------------------------------------------------------------------ fitting
    def _check_params(self, n_times: int) -> None:
        check_fs(self.fs)
        if not isinstance(self.onesided, bool):
            raise TypeError(f"onesided={self.onesided!r} must be True or False.")
        n_fft, hop = _check_framing(self.n_fft, self.hop_length)
        if n_fft > n_times:
            raise ValueError(
                f"n_fft={n_fft} is longer than the series (n_times={n_times}); use "
                f"n_fft <= {n_times}, e.g. STFT(n_fft={_pow2_at_most(n_times // 2)})."
            )
        w = get_window(self.window, n_fft)
        margin, at = _nola_margin(w, hop, n_times)
        if not margin > NOLA_TOL:
            raise ValueError(
                f"STFT(n_fft={n_fft}, hop_length={hop}, window={_short(self.window)}) is not "
                f"invertible: the squared windows overlap-add to {margin:.3g} * max(window)**2 "
                f"at sample {at} (nonzero overlap-add, NOLA, fails), so that sample cannot be "
                "reconstructed. Use a smaller hop_length (at most n_fft, and below n_fft for "
                f"windows that vanish at their ends), e.g. hop_length={max(1, n_fft // 4)} "
                "with window='hann'."
            )

    def _fit(self, x: Tensor) -> None:
        n_fft, hop = _check_framing(self.n_fft, self.hop_length)
        w = get_window(self.window, n_fft)
        self.n_fft_, self.hop_length_ = n_fft, hop
        self.window_ = torch.as_tensor(w)  # (n_fft,) float64
        starts = _frame_starts(self.n_times_, n_fft, hop)
        self.n_frames_ = len(starts)
        self.pad_ = (n_fft // 2, int(starts[-1]) + n_fft - self.n_times_ - n_fft // 2)
        # (n_frames * n_fft,) padded position of every frame sample, for the overlap-add
        self.positions_ = torch.as_tensor((starts[:, None] + np.arange(n_fft)).ravel())
        self.inv_envelope_ = torch.as_tensor(1.0 / _envelope(w, self.n_times_, hop))

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        w = self.window_.to(dtype=x.dtype, device=x.device)
        padded = torch.nn.functional.pad(x, self.pad_)  # (n, C, padded length)
        frames = padded.unfold(-1, self.n_fft_, self.hop_length_) * w  # (n, C, M, n_fft)
        spec = torch.fft.rfft(frames, dim=-1) if self.onesided else torch.fft.fft(frames, dim=-1)
        return spec.transpose(-1, -2)  # (n, C, F, M)

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        spec = X.transpose(-1, -2)  # (n, C, M, F)
        if self.onesided:
            frames = torch.fft.irfft(spec, n=self.n_fft_, dim=-1)
        else:
            frames = torch.fft.ifft(spec, dim=-1).real  # (n, C, M, n_fft)
        w = self.window_.to(dtype=frames.dtype, device=frames.device)
        frames = (frames * w).flatten(-2)  # (n, C, M * n_fft)
        length = self.n_times_ + sum(self.pad_)
        out = frames.new_zeros((*frames.shape[:-1], length))
        out = out.index_add(-1, self.positions_.to(frames.device), frames)  # overlap-add
        left = self.pad_[0]
        inv_env = self.inv_envelope_.to(dtype=frames.dtype, device=frames.device)
        return out[..., left : left + self.n_times_] * inv_env

    # ------------------------------------------------------------------ meaning
    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "frequency", "time")

    def _coords(self) -> dict[str, np.ndarray]:
        n = self.n_fft_
        d = 1.0 / self.fs if self.fs else 1.0 / n  # bin index when fs is None
        freq = np.fft.rfftfreq(n, d) if self.onesided else np.fft.fftfreq(n, d)
        centres = np.arange(self.n_frames_, dtype=np.float64) * self.hop_length_
        return {"frequency": freq, "time": centres / self.fs if self.fs else centres}

    @property
    def units(self) -> dict[str, str]:
        return {"frequency": "Hz" if self.fs else "bin", "time": "s" if self.fs else "sample"}


def _short(window: Any) -> str:
    if isinstance(window, (str, tuple)):
        return repr(window)
    return f"<array of {len(window)} samples>"


def _pow2_at_most(n: int) -> int:
    return 1 << max(0, int(n).bit_length() - 1)
