"""Named baseline strategies for Integrated Gradients, ready for ``baselines=``.

Every generator takes the inputs you explain and returns a stack of baseline series of shape
``(n_baselines, *inputs.shape)`` (numpy, the inputs' float dtype, the inputs' own layout),
which :func:`cdig.explain` and :meth:`cdig.CrossDomainIG.explain` accept as ``baselines=``:

========================  ================================================================
:func:`zeros`             the all-zero series (cdig's default), one baseline
:func:`mean`              each channel's own time mean, a constant series, one baseline
:func:`lowpass`           the input low-pass filtered below a cut-off in Hz, one baseline
:func:`noise`             the input plus Gaussian or uniform noise, ``n`` baselines
:func:`training_samples`  series drawn from a training set (expected gradients), ``n``
:func:`segment_masked`    the input with random segments set to zero (TIMING), ``n``
:func:`phase_randomized`  the input's amplitude spectrum with random phases, ``n``
========================  ================================================================

The baselines are time series, so they work in every transform domain (time, Fourier, STFT,
wavelet, DCT, cepstrum, linear bases): the engine integrates from the domain's transform of
each baseline (:meth:`cdig.domains.Domain.coefficient_baseline`). The decomposition domains
(ICA, PCA, seasonal-trend) start from all-zero coefficients whatever ``baselines=`` says,
and warn when given another baseline.
With several baselines the attribution is the mean of the attributions from each, and the
completeness delta is reported for that mean:
``delta = sum(values) - (f(x) - mean_s f(x'_s))``, which is the mean of the per-baseline
deltas, so it vanishes when every path converges.

Generators with randomness take ``seed`` (``None``, an ``int`` or a
:class:`numpy.random.Generator`, as scikit-learn's ``random_state``); the same ``int`` gives
the same baselines.

>>> import numpy as np, torch, cdig
>>> from cdig import baselines
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
>>> x = np.random.default_rng(0).normal(size=(2, 1, 64))
>>> b = baselines.segment_masked(x, n=4, seed=0)
>>> b.shape
(4, 2, 1, 64)
>>> attr = cdig.explain(model, x, "fourier", baselines=b, n_steps=8)
>>> bool(np.all(np.abs(attr.delta) < 1e-4))
True
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from ._checks import Seed, as_rng, check_choice, check_int, check_optional_int, check_real
from ._inputs import as_series
from ._layout import InputLayout

__all__ = [
    "lowpass",
    "mean",
    "noise",
    "phase_randomized",
    "segment_masked",
    "segment_masks",
    "training_samples",
    "zeros",
]


# ---------------------------------------------------------------------- helpers
def _canonical(inputs: Any, time_axis: int) -> tuple[np.ndarray, InputLayout, np.dtype]:
    """``inputs`` as a float numpy array of shape (batch, channels, time), and its layout."""
    x, layout = as_series(inputs, time_axis, None, "cpu")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    arr = x.numpy()
    return arr, layout, arr.dtype


def _to_user(stack: np.ndarray, layout: InputLayout, dtype: np.dtype) -> np.ndarray:
    """(n, batch, channels, time) -> (n, *user_shape) in ``dtype``."""
    out = layout.to_user(torch.from_numpy(np.ascontiguousarray(stack)))
    return np.ascontiguousarray(out.numpy(), dtype=dtype)


# ---------------------------------------------------------------------- generators
def zeros(inputs: Any, *, time_axis: int = -1) -> np.ndarray:
    """The all-zero baseline (what ``baselines=None`` means), as a stack of one.

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
        The series to explain (layout given by ``time_axis``).
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (1, *inputs.shape)
    """
    x, layout, dtype = _canonical(inputs, time_axis)
    return _to_user(np.zeros((1, *x.shape), dtype=dtype), layout, dtype)


def mean(inputs: Any, *, time_axis: int = -1) -> np.ndarray:
    """Each series replaced by its own time mean, per channel: a constant baseline.

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (1, *inputs.shape)

    Notes
    -----
    :math:`x'_{c,t} = \\frac{1}{T}\\sum_{u} x_{c,u}`. In the Fourier domain this baseline
    equals the input at the DC bin and is zero elsewhere, so the DC bin gets no attribution.
    For z-normalized series it is (nearly) the zero baseline.
    """
    x, layout, dtype = _canonical(inputs, time_axis)
    m = np.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape)
    return _to_user(m[None].copy(), layout, dtype)


def lowpass(
    inputs: Any,
    cutoff: float,
    fs: float,
    *,
    kind: Literal["butterworth", "ideal"] = "butterworth",
    order: int = 4,
    time_axis: int = -1,
) -> np.ndarray:
    """The input with its content above ``cutoff`` Hz removed: a blurred baseline.

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
    cutoff : float
        Cut-off frequency in Hz, in ``(0, fs / 2)``.
    fs : float
        Sampling rate in Hz.
    kind : {"butterworth", "ideal"}, default="butterworth"
        ``"butterworth"``: a zero-phase Butterworth filter of ``order`` run forwards and
        backwards (:func:`scipy.signal.sosfiltfilt`; smooth in time, gain 1/2 at the
        cut-off). ``"ideal"``: the rFFT bins above ``cutoff`` set to zero (a brick wall:
        the baseline equals the input exactly at every bin up to the cut-off, so in the
        Fourier domain only the bins above it receive attribution).
    order : int, default=4
        Butterworth order (ignored for ``"ideal"``).
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (1, *inputs.shape)

    Raises
    ------
    ValueError
        ``cutoff`` not in ``(0, fs / 2)``; a series too short for the Butterworth filter's
        padding (use ``kind="ideal"``).
    """
    fs = check_real(fs, "fs", low=0.0, open_low=True)
    cutoff = check_real(cutoff, "cutoff", low=0.0, open_low=True)
    if cutoff >= fs / 2:
        raise ValueError(
            f"cutoff={cutoff} Hz must lie below the Nyquist frequency fs/2 = {fs / 2} Hz."
        )
    check_choice(kind, "kind", ("butterworth", "ideal"))
    order = check_int(order, "order", high=20)
    x, layout, dtype = _canonical(inputs, time_axis)
    T = x.shape[-1]
    if kind == "ideal":
        X = np.fft.rfft(x.astype(np.float64), axis=-1)
        X[..., np.fft.rfftfreq(T, d=1.0 / fs) > cutoff] = 0.0
        out = np.fft.irfft(X, n=T, axis=-1)
    else:
        from scipy.signal import butter, sosfiltfilt

        sos = butter(order, cutoff, btype="low", fs=fs, output="sos")
        pad = 3 * (2 * len(sos) + 1)  # sosfiltfilt's default padding
        if T <= pad:
            raise ValueError(
                f"the series have {T} time points; the order-{order} Butterworth filter needs "
                f"more than {pad}. Use kind='ideal' or a lower order."
            )
        out = sosfiltfilt(sos, x.astype(np.float64), axis=-1)
    return _to_user(out[None], layout, dtype)


def noise(
    inputs: Any,
    n: int = 8,
    *,
    scale: float = 0.1,
    kind: Literal["gaussian", "uniform"] = "gaussian",
    relative: bool = True,
    seed: Seed = None,
    time_axis: int = -1,
) -> np.ndarray:
    """The input plus independent noise: ``n`` baselines around the input.

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
    n : int, default=8
        Number of baselines.
    scale : float, default=0.1
        Standard deviation (``"gaussian"``) or half-width (``"uniform"``) of the noise; with
        ``relative=True`` as a fraction of each series' per-channel standard deviation.
    kind : {"gaussian", "uniform"}, default="gaussian"
    relative : bool, default=True
        Scale the noise by each series' per-channel standard deviation (a constant channel
        gets no noise); ``False``: ``scale`` is in the inputs' units.
    seed : None, int or numpy.random.Generator, default=None
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (n, *inputs.shape)

    Notes
    -----
    :math:`x'_s = x + \\sigma\\,\\epsilon_s` with :math:`\\epsilon_s` i.i.d. standard normal
    or uniform on :math:`[-1, 1]`. The path from a nearby baseline is short, so the
    attribution explains a small output change: how the model reacts to perturbations of
    this size, not why it predicts what it does (Sturmfels et al., 2020, "Visualizing the
    impact of feature attribution baselines").
    """
    n = check_int(n, "n")
    scale = check_real(scale, "scale", low=0.0, open_low=True)
    check_choice(kind, "kind", ("gaussian", "uniform"))
    if not isinstance(relative, (bool, np.bool_)):
        raise TypeError(f"relative={relative!r} must be True or False.")
    rng = as_rng(seed)
    x, layout, dtype = _canonical(inputs, time_axis)
    shape = (n, *x.shape)
    eps = rng.standard_normal(shape) if kind == "gaussian" else rng.uniform(-1, 1, shape)
    sigma = scale * (x.std(axis=-1, keepdims=True) if relative else 1.0)
    return _to_user(x[None] + sigma * eps, layout, dtype)


def training_samples(
    train: Any,
    inputs: Any,
    n: int = 8,
    *,
    seed: Seed = None,
    time_axis: int = -1,
) -> np.ndarray:
    """Series drawn at random from a training set, as in expected gradients.

    Parameters
    ----------
    train : array-like of shape (n_train, channels, time)
        Reference series in the same layout as ``inputs`` (same channels and length).
    inputs : array-like of shape (batch, channels, time)
    n : int, default=8
        Baselines per explained series.
    seed : None, int or numpy.random.Generator, default=None
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (n, *inputs.shape)
        ``out[s, i]`` is a training series drawn uniformly with replacement, independently
        for every ``s`` and ``i``.

    Notes
    -----
    Expected gradients (Erion et al., 2021) average IG over baselines drawn from the data
    distribution: :math:`\\phi = \\mathbb{E}_{x' \\sim D}[\\mathrm{IG}(x, x')]`, here a
    Monte-Carlo mean over ``n`` draws with the usual number of path points per draw
    (the original draws one path point per baseline instead).
    """
    n = check_int(n, "n")
    rng = as_rng(seed)
    x, layout, dtype = _canonical(inputs, time_axis)
    ref, ref_layout, _ = _canonical(train, time_axis)
    if ref_layout.ndim != layout.ndim or ref.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"train has series of shape {tuple(ref.shape[1:])} (channels, time) but the inputs "
            f"have {tuple(x.shape[1:])}; pass training series in the inputs' layout, "
            "same channels and length."
        )
    pick = rng.integers(0, ref.shape[0], size=(n, x.shape[0]))
    return _to_user(ref[pick], layout, dtype)


def segment_masked(
    inputs: Any,
    n: int = 8,
    *,
    retention: float = 0.5,
    n_segments: int | None = None,
    min_length: int = 1,
    max_length: int | None = None,
    fill: float = 0.0,
    seed: Seed = None,
    time_axis: int = -1,
) -> np.ndarray:
    """TIMING-style baselines: the input with random time segments set to ``fill``.

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
    n : int, default=8
        Number of masks (baselines) per series.
    retention : float in (0, 1), default=0.5
        Expected fraction of points kept equal to the input; sets the number of segments
        when ``n_segments`` is None (see Notes).
    n_segments : int, optional
        Segments per mask, instead of ``retention``.
    min_length, max_length : int, default=1 and the series length
        Segment lengths are drawn uniformly from ``min_length..max_length`` (as TIMING's
        code: 1 and the series length).
    fill : float, default=0.0
        Value of the masked points (TIMING: zero).
    seed : None, int or numpy.random.Generator, default=None
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (n, *inputs.shape)

    Notes
    -----
    TIMING (Jang, Kim and Yang, ICML 2025) integrates from baselines that equal the input
    except on random contiguous segments: each segment lies in one channel drawn uniformly,
    its length :math:`L` uniform on ``min_length..max_length`` and its start uniform among
    the positions where it fits. Masks are drawn independently per series and per baseline.
    With :math:`m` segments over :math:`C` channels of :math:`T` points a point is kept with
    probability about :math:`(1 - \\bar L / (C T))^m`; ``retention`` :math:`r` sets
    :math:`\\mu = \\log(r) / \\log(1 - \\bar L/(CT))` and each mask gets
    :math:`\\lfloor \\mu \\rfloor` or :math:`\\lfloor \\mu \\rfloor + 1` segments at random
    (mean :math:`\\mu`; none when :math:`\\mu < 1` and the draw says so: that baseline is
    the input itself and adds nothing), so the expected retention is close to :math:`r`. TIMING's
    code uses 50 segments of length 1..48 on 48 x 31 MIMIC-III series, a retention of about
    0.44. The straight path from such a baseline moves only the masked points, so each
    baseline attributes only to them; the mean over the ``n`` baselines keeps completeness
    (:func:`cdig.metrics.timing` instead normalizes per point by how often it was masked).
    """
    n = check_int(n, "n")
    x, layout, dtype = _canonical(inputs, time_axis)
    masks = _segment_masks(
        x.shape, n, as_rng(seed), retention=retention, n_segments=n_segments,
        min_length=min_length, max_length=max_length,
    )  # fmt: skip
    fill = float(fill)
    if not math.isfinite(fill):
        raise ValueError(f"fill={fill} must be finite.")
    out = np.where(masks, fill, x[None])  # (n, B, C, T)
    return _to_user(out, layout, dtype)


def phase_randomized(
    inputs: Any,
    n: int = 8,
    *,
    per_channel: bool = True,
    seed: Seed = None,
    time_axis: int = -1,
) -> np.ndarray:
    """Surrogates with the input's amplitude spectrum and random phases: ``n`` baselines.

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
    n : int, default=8
        Number of surrogates per series.
    per_channel : bool, default=True
        ``True``: independent random phases for every channel. ``False``: the same random
        phase shifts for all channels of a series, which keeps the cross-spectra (the linear
        correlations between channels) as well.
    seed : None, int or numpy.random.Generator, default=None
    time_axis : int, default=-1

    Returns
    -------
    ndarray of shape (n, *inputs.shape)
        Real series. ``|rfft(out[s])| == |rfft(inputs)|`` at every frequency (to float
        rounding), so each surrogate has the input's mean, variance, power spectrum and
        autocorrelation; the timing of events (spikes, blinks, onsets) is destroyed.

    Notes
    -----
    Each series' real FFT :math:`X_k = |X_k| e^{i\\theta_k}` becomes
    :math:`|X_k| e^{i(\\theta_k + \\phi_k)}` with :math:`\\phi_k` uniform on
    :math:`[0, 2\\pi)`, drawn independently per surrogate and series (and channel with
    ``per_channel=True``). The DC bin is kept (the mean is unchanged) and, for an even
    length, the Nyquist bin keeps its magnitude with a random sign (it must stay real).
    This is the surrogate of Theiler et al. (1992), "Testing for nonlinearity in time
    series: the method of surrogate data".

    Use it for models that normalise their input (z-scoring each series, per-bin
    normalisation of a spectrogram, layer norm at the input): their output is the same for
    every scaled copy ``a * x`` with ``a > 0``, so along the straight path from the zero
    baseline ``f`` does not change and then jumps at ``x' = 0``. The gradients never see
    that jump: attributions stay near zero while ``f(x) - f(x')`` does not, and no number
    of steps closes the gap. A surrogate has the input's scale and spectrum, so no point of
    its path is a scaled copy of ``x`` or zero.
    """
    n = check_int(n, "n")
    if not isinstance(per_channel, (bool, np.bool_)):
        raise TypeError(f"per_channel={per_channel!r} must be True or False.")
    rng = as_rng(seed)
    x, layout, dtype = _canonical(inputs, time_axis)
    batch, channels, T = x.shape
    X = np.fft.rfft(x.astype(np.float64), axis=-1)  # (B, C, F)
    F = X.shape[-1]
    shape = (n, batch, channels if per_channel else 1, F)
    phase = np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, size=shape))
    phase[..., 0] = 1.0  # the mean stays
    if T % 2 == 0:  # the Nyquist bin must stay real: a random sign
        phase[..., -1] = rng.choice([-1.0, 1.0], size=shape[:-1])
    out = np.fft.irfft(X[None] * phase, n=T, axis=-1)
    return _to_user(out, layout, dtype)


def segment_masks(
    shape: tuple[int, int, int],
    n: int,
    *,
    retention: float = 0.5,
    n_segments: int | None = None,
    min_length: int = 1,
    max_length: int | None = None,
    seed: Seed = None,
) -> np.ndarray:
    """The random segment masks behind :func:`segment_masked` (and :func:`cdig.metrics.timing`).

    Parameters
    ----------
    shape : tuple of int
        ``(batch, channels, time)``.
    n : int
        Masks per series.
    retention, n_segments, min_length, max_length, seed
        As in :func:`segment_masked`.

    Returns
    -------
    ndarray of bool, shape (n, batch, channels, time)
        True where a point is masked.
    """
    if len(shape) != 3:
        raise ValueError(f"shape={shape!r} must be (batch, channels, time).")
    return _segment_masks(
        tuple(int(v) for v in shape), check_int(n, "n"), as_rng(seed), retention=retention,
        n_segments=n_segments, min_length=min_length, max_length=max_length,
    )  # fmt: skip


def _segment_masks(
    shape: tuple[int, ...],
    n: int,
    rng: np.random.Generator,
    *,
    retention: float = 0.5,
    n_segments: int | None = None,
    min_length: int = 1,
    max_length: int | None = None,
) -> np.ndarray:
    """Boolean masks of shape (n, batch, channels, time), True where a point is masked."""
    batch, channels, T = shape
    lo = check_int(min_length, "min_length", high=T)
    hi = check_optional_int(max_length, "max_length", low=lo, high=T)
    hi = T if hi is None else hi
    if n_segments is None:
        check_real(retention, "retention", low=0.0, high=1.0, open_low=True, open_high=True)
        frac = (lo + hi) / 2 / (channels * T)  # mean share of the points one segment covers
        mu = 1.0 if frac >= 1 else math.log(float(retention)) / math.log1p(-frac)
        # mu segments on average: floor(mu) or floor(mu) + 1, at random, per mask
        m_each = np.floor(mu) + (rng.random((n, batch)) < mu - np.floor(mu))
        m_each = m_each.astype(np.int64)  # a mask may get no segment when mu < 1
    else:
        m_each = np.full((n, batch), check_int(n_segments, "n_segments"), dtype=np.int64)
    m = max(1, int(m_each.max()))
    lengths = rng.integers(lo, hi + 1, size=(n, batch, m))
    starts = np.floor(rng.random((n, batch, m)) * (T - lengths + 1)).astype(np.int64)
    chans = rng.integers(0, channels, size=(n, batch, m))
    t = np.arange(T)
    # (n, B, m, T): segment j of mask (s, i) covers starts <= t < starts + lengths
    covered = (t >= starts[..., None]) & (t < (starts + lengths)[..., None])
    covered &= (np.arange(m) < m_each[..., None])[..., None]  # segments beyond m_each unused
    masks = np.zeros((n, batch, channels, T), dtype=bool)
    for c in range(channels):
        masks[:, :, c] = np.any(covered & (chans == c)[..., None], axis=2)
    return masks
