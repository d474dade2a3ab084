"""Recent time-series explainers, written from their papers, to compare Cross-domain IG with.

* :func:`timing` -- TIMING (Jang, Kim and Yang, ICML 2025, arXiv 2506.05035): Integrated
  Gradients whose paths start from the input with random time segments set to zero, one mask
  per path point, averaged per point over the masks that moved it. Time-domain relevance,
  values of shape ``(batch, channels, time)``.
* :func:`flextime` -- FLEXtime (Brüsch et al., 2024, "FLEXtime: Filterbank learning to
  explain time series"): a mask over the bands of a FIR filterbank learned so that the
  re-weighted sum of the bands keeps the prediction with few bands; importance of each rFFT
  bin = the masked filterbank's gain there, values of shape ``(batch, channels,
  n_times // 2 + 1)`` (the :class:`cdig.domains.Fourier` coefficient shape).

Both return a :class:`cdig.Attribution` (in the time domain and in a fitted
:class:`cdig.domains.Fourier`), with ``attr.peer`` naming the method and its options and
the facts only Integrated Gradients has (``delta``, ``baseline_outputs``, ``n_steps``,
``error``, ``converged``, ``status``) None.

Both are own implementations from the papers' descriptions (and, for the facts the papers
leave to their code, the authors' public code); every choice left open is stated in the
function's Notes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._checks import Seed, as_rng, check_int, check_optional_int, check_real
from .._prepare import prepare, resolve
from ..attribution import Attribution
from ..baselines import segment_masks
from ..domains import Fourier
from ..targets import select_target
from ._result import model_result, seed_option

__all__ = ["flextime", "timing"]


def timing(
    model: Any,
    inputs: Any,
    *,
    target: Any = None,
    n_masks: int = 50,
    retention: float = 0.5,
    n_segments: int | None = None,
    min_length: int = 1,
    max_length: int | None = None,
    seed: Seed = 0,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
) -> Attribution:
    """TIMING: temporality-aware Integrated Gradients with segment-masked baselines.

    Parameters
    ----------
    model, inputs, target, time_axis, internal_batch_size
        As in :func:`cdig.explain`.
    fs : float, optional
        Sampling rate in Hz: the time coordinate in seconds (else in samples). It changes
        no value.
    n_masks : int, default=50
        Path points, each with its own random mask (TIMING's ``n_samples``: 50).
    retention, n_segments, min_length, max_length
        The masks, as in :func:`cdig.baselines.segment_masked`: segments of random length
        in ``min_length..max_length`` (default 1 and the series length, as TIMING's code),
        each in one random channel; their number from ``retention`` (the expected fraction
        of points left at the input) unless ``n_segments`` is given.
    seed : None, int or numpy.random.Generator, default=0

    Returns
    -------
    Attribution
        ``values`` of shape (batch, channels, time), float64, in the time domain;
        ``peer.options`` ``n_masks``, ``retention``, ``n_segments``, ``min_length``,
        ``max_length`` and ``seed``; ``outputs`` the raw target output at the input;
        ``n_evaluations`` ``n_masks`` (gradients) per sample.

    Notes
    -----
    With masks :math:`M_j` (1 = masked), path fractions :math:`\\alpha_j` and the zero
    baseline on masked points, path point :math:`j` is
    :math:`z_j = (1 - M_j) \\odot x + \\alpha_j M_j \\odot x` and

    .. math::  \\phi = x \\odot \\frac{\\sum_j M_j \\odot \\nabla f(z_j)}
                                     {\\max(1, \\sum_j M_j)},

    the mean over the masks that moved a point of its IG integrand (points never masked get
    0). Choices the paper leaves open, taken here: :math:`\\alpha_j = (j + 1/2)/n` (midpoints;
    the authors' code uses a left Riemann grid) with mask :math:`j` drawn independently of
    :math:`\\alpha_j`; masks drawn independently per series; the explained scalar is the raw
    target output (a logit for a classifier), as in the authors' code; no added path noise.
    Completeness holds only in expectation (the per-point normalization breaks the sum
    rule): use :func:`cdig.explain` with :func:`cdig.baselines.segment_masked` for a
    complete, converged variant, in any domain.
    """
    n = check_int(n_masks, "n_masks")
    as_rng(seed)  # a seed that is no seed fails before the model runs (nothing is drawn)
    setup = prepare(
        model, inputs, None, "time",
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    spec = resolve(target, setup, "output")
    x = setup.x  # (B, C, T)
    masks = segment_masks(
        (x.shape[0], x.shape[1], x.shape[2]), n, retention=retention, n_segments=n_segments,
        min_length=min_length, max_length=max_length, seed=seed,
    )  # fmt: skip  # (n, B, C, T)
    masks_t = torch.as_tensor(masks, device=x.device).transpose(0, 1)  # (B, n, C, T)
    alphas = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    total = setup.batch * n
    acc = torch.zeros(x.shape, dtype=torch.float64, device=x.device)
    chunk = check_optional_int(internal_batch_size, "internal_batch_size") or 256
    with setup.adapter.inference(), torch.enable_grad():
        for lo in range(0, total, chunk):
            e = torch.arange(lo, min(lo + chunk, total), device=x.device)
            rows, j = e // n, e % n
            m = masks_t[rows, j].to(x.dtype)  # (k, C, T)
            a = alphas[j.cpu()].to(device=x.device, dtype=x.dtype).view(-1, 1, 1)
            z = (x[rows] * (1 - m + a * m)).requires_grad_(True)  # (k, C, T)
            y = select_target(spec, setup.call(z), rows)
            (g,) = torch.autograd.grad(y.sum(), z)
            acc.index_add_(0, rows, (g * m).double())
    count = masks_t.sum(dim=1).clamp(min=1).double()  # (B, C, T)
    values = (x.double() * acc / count).cpu().numpy()
    options = {
        "n_masks": n,
        "retention": float(retention),
        "n_segments": n_segments,
        "min_length": min_length,
        "max_length": max_length,
        "seed": seed_option(seed),
    }
    return model_result("timing", values, setup, spec, fs, options, n_evaluations=n)


def flextime(
    model: Any,
    inputs: Any,
    *,
    target: Any = None,
    n_bands: int = 16,
    n_taps: int | None = None,
    keep_ratio: float = 0.05,
    regularization: float = 1.0,
    n_epochs: int = 500,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
) -> Attribution:
    """FLEXtime: a learned mask over a filterbank's bands, read out per frequency bin.

    Parameters
    ----------
    model, inputs, target, time_axis, internal_batch_size
        As in :func:`cdig.explain`; the model must return class scores (batch, n_classes).
        ``target`` defaults to the predicted class.
    fs : float, optional
        Sampling rate in Hz: the frequency coordinate in Hz (else in rFFT bins). It changes
        no value (the bands are fractions of the Nyquist frequency).
    n_bands : int, default=16
        Bands of equal width covering 0 .. Nyquist (at most the number of rFFT bins).
    n_taps : int, optional
        Odd FIR length; default the odd number at or just above half the series length
        (3 to 501).
    keep_ratio : float in (0, 1), default=0.05
        Mean mask value allowed before the penalty starts.
    regularization : float, default=1.0
        Weight of the penalty :math:`\\max(\\bar m - r, 0)`.
    n_epochs, learning_rate, momentum : default=500, 0.1, 0.9
        Plain SGD with momentum on the mask (FLEXtime's defaults).

    Returns
    -------
    Attribution
        ``values`` of shape (batch, channels, time // 2 + 1), float64, non-negative: the
        importance of each rFFT bin, in a fitted :class:`cdig.domains.Fourier` (onesided),
        comparable with its Cross-domain IG attributions; ``peer.options`` ``n_bands``,
        ``n_taps`` (the length used), ``keep_ratio``, ``regularization``, ``n_epochs``,
        ``learning_rate`` and ``momentum``; ``outputs`` the target's softmax probability at
        the input; ``n_evaluations`` ``n_epochs`` (gradients) per sample.

    Notes
    -----
    The filterbank (FLEXtime's FIR variant): a low-pass, ``n_bands - 2`` band-passes and a
    high-pass of width :math:`B = f_s/(2K)` (:func:`scipy.signal.firwin`), applied with
    zero-phase alignment ("same" convolution, the group delay removed). A mask
    :math:`m \\in [0, 1]^{C \\times K}` per series, started at 0.5, minimizes

    .. math::  -\\log \\mathrm{softmax}(f(\\textstyle\\sum_k m_k\\, b_k))_y
               + \\lambda \\max(\\bar m - r, 0)

    and is clipped to [0, 1] after every step. Importance of bin :math:`f` is
    :math:`\\sum_k m_k |H_k(f)|`. Choices taken here: the cross-entropy is applied to the
    model's logits (the authors' code applies it to softmax probabilities, a second
    softmax); a fixed number of epochs (no early stopping); series optimized together in
    chunks but independently (the loss is a sum over series); ``fs`` labels the frequencies
    only (bands are fractions of the Nyquist frequency).
    """
    n_bands = check_int(n_bands, "n_bands", low=2)
    n_epochs = check_int(n_epochs, "n_epochs")
    check_real(keep_ratio, "keep_ratio", low=0.0, high=1.0, open_low=True, open_high=True)
    for name, val in (
        ("regularization", regularization),
        ("learning_rate", learning_rate),
        ("momentum", momentum),
    ):
        check_real(val, name, low=0.0)
    setup = prepare(
        model, inputs, None, "time",
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    spec = resolve("predicted" if target is None else target, setup, "probability")
    x = setup.x  # (B, C, T)
    T = x.shape[-1]
    n_bins = T // 2 + 1
    if n_bands > n_bins:
        raise ValueError(
            f"n_bands={n_bands} exceeds the {n_bins} rFFT bins of series of {T} samples; "
            f"use n_bands <= {n_bins}."
        )
    taps = _default_taps(T) if n_taps is None else check_int(n_taps, "n_taps", low=3)
    if taps % 2 == 0:
        raise ValueError(f"n_taps={n_taps} must be odd (a symmetric, zero-phase FIR).")
    h = _filterbank(n_bands, taps)  # (K, taps)
    bands = torch.as_tensor(_apply_bank(x.double().cpu().numpy(), h), device=x.device)
    bands = bands.to(x.dtype)  # (B, C, T, K)
    chunk = check_optional_int(internal_batch_size, "internal_batch_size") or 256
    masks = []
    with setup.adapter.inference(), torch.enable_grad():
        for lo in range(0, setup.batch, chunk):
            rows = setup.index[lo : lo + chunk]
            masks.append(
                _fit_mask(setup, spec, bands[rows], rows, n_epochs, float(learning_rate),
                          float(momentum), float(keep_ratio), float(regularization))
            )  # fmt: skip
    m = torch.cat(masks).double().cpu().numpy()  # (B, C, K)
    gain = np.abs(_response(h, T))  # (K, n_bins)
    values = np.einsum("bck,kf->bcf", m, gain)
    options = {
        "n_bands": n_bands,
        "n_taps": taps,
        "keep_ratio": float(keep_ratio),
        "regularization": float(regularization),
        "n_epochs": n_epochs,
        "learning_rate": float(learning_rate),
        "momentum": float(momentum),
    }
    fourier = Fourier(fs=fs).fit(setup.x)  # the rFFT bins the values are read at
    return model_result(
        "flextime", values, setup, spec, fs, options,
        n_evaluations=n_epochs, probability=True, domain=fourier,
    )  # fmt: skip


def _default_taps(T: int) -> int:
    """The odd number at or just above half the series length, between 3 and 501."""
    taps = min(501, max(3, T // 2))
    return taps if taps % 2 else taps + 1


def _filterbank(n_bands: int, taps: int) -> np.ndarray:
    """FIR taps (K, taps) of equal-width bands over [0, 1/2] cycles per sample."""
    from scipy.signal import firwin

    width = 0.5 / n_bands
    bank = [firwin(taps, width, fs=1.0, pass_zero="lowpass")]
    for k in range(1, n_bands - 1):
        bank.append(firwin(taps, [k * width, (k + 1) * width], fs=1.0, pass_zero="bandpass"))
    bank.append(firwin(taps, (n_bands - 1) * width, fs=1.0, pass_zero="highpass"))
    return np.stack(bank)


def _apply_bank(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Band signals (B, C, T, K): each filter applied with its group delay removed."""
    from scipy.signal import fftconvolve

    out = [fftconvolve(x, hk[None, None, :], mode="same", axes=-1) for hk in h]
    return np.stack(out, axis=-1)


def _response(h: np.ndarray, T: int) -> np.ndarray:
    """Frequency responses (K, T // 2 + 1) of the filters at the rFFT bins k / T."""
    f = np.arange(T // 2 + 1) / T
    n = np.arange(h.shape[1])
    return h @ np.exp(-2j * np.pi * np.outer(n, f))


def _fit_mask(
    setup: Any,
    spec: Any,
    bands: torch.Tensor,
    rows: torch.Tensor,
    n_epochs: int,
    lr: float,
    momentum: float,
    keep: float,
    lam: float,
) -> torch.Tensor:
    """The optimized mask (k, C, K) of one chunk of series."""
    mask = torch.full(
        (bands.shape[0], bands.shape[1], bands.shape[-1]), 0.5, dtype=bands.dtype,
        device=bands.device, requires_grad=True,
    )  # fmt: skip
    opt = torch.optim.SGD([mask], lr=lr, momentum=momentum)
    for _ in range(n_epochs):
        z = (bands * mask[:, :, None, :]).sum(-1)  # (k, C, T)
        logp = torch.log_softmax(setup.call(z), dim=1)
        ce = -select_target(spec, logp, rows)  # (k,)
        penalty = (mask.mean(dim=(1, 2)) - keep).clamp(min=0)
        # the gradient with respect to the mask only: the model's .grad fields stay untouched
        (mask.grad,) = torch.autograd.grad((ce + lam * penalty).sum(), mask)
        opt.step()
        with torch.no_grad():
            mask.clamp_(0.0, 1.0)
    return mask.detach()
