"""Peer attribution methods in any domain, for comparisons with Cross-domain IG.

Each returns a :class:`cdig.Attribution` whose ``values`` are float64 of shape
``(batch, *coefficient_shape)`` of the domain it is given (a required argument: these methods
are defined per domain, rFFT in their papers), with that fitted domain, its coordinates, the
inputs' layout and the target, ready for the metrics of :mod:`cdig.metrics` and the figures
of :mod:`cdig.plot`. ``attr.peer`` names the method and its options; the facts only
Integrated Gradients has (``delta``, ``baseline_outputs``, ``n_steps``, ``error``,
``converged``, ``status``) are None:

* :func:`gradient` -- the gradient of the target with respect to the coefficients (its
  modulus), or gradient x input, ``Re[X * conj(grad)]``;
* :func:`freqrise` -- FreqRISE: random smooth masks over the coefficients, importance = the
  mask-weighted mean prediction (Brüsch et al., 2024);
* :func:`virtual_inspection` -- a time-domain relevance (e.g. time-domain IG) carried onto
  the coefficients of a linear domain by the relevance rule of a virtual inspection layer
  (DFT-LRP, Vielhaben et al., 2024).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._checks import Seed, as_rng, check_int
from .._inputs import as_series
from .._numerics import re_mul
from .._prepare import Score, fitted_domain, prepare, resolve
from ..attribution import Attribution
from ..targets import select_target
from ._result import model_result, peer_result, seed_option

__all__ = ["freqrise", "gradient", "virtual_inspection"]


def gradient(
    model: Any,
    inputs: Any,
    domain: Any,
    *,
    target: Any = None,
    times_input: bool = False,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
) -> Attribution:
    """Gradient saliency, or gradient x input, taken in the coefficients of ``domain``.

    Parameters
    ----------
    model, inputs, target, fs, time_axis, internal_batch_size
        As in :func:`cdig.explain`.
    domain : str or Domain
        Where the gradient is taken (``"fourier"`` for rFFT coefficients).
    times_input : bool, default=False
        ``False``: the modulus of the gradient :math:`|g_i|` (the absolute value for a real
        domain). ``True``: gradient x input, :math:`\\mathrm{Re}[X_i \\overline{g_i}]`.

    Returns
    -------
    Attribution
        ``values`` of shape ``(batch, *coefficient_shape)``, float64; ``peer.name``
        ``"gradient"`` or ``"gradient_x_input"``; ``outputs`` the target output at the
        input; ``n_evaluations`` 1 (one gradient) per sample.

    Notes
    -----
    :math:`g = \\partial f(T^{-1}(X)) / \\partial X` at :math:`X = T(x)` in PyTorch's complex
    convention (:math:`\\partial/\\partial \\mathrm{Re} + i\\,\\partial/\\partial \\mathrm{Im}`).
    Gradient x input is IG with a single path point and a zero coefficient baseline.
    """
    setup = prepare(
        model, inputs, None, domain,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    spec = resolve(target, setup, "output")
    grads = []
    with setup.adapter.inference(), torch.enable_grad():
        for lo in range(0, setup.batch, setup.chunk):
            rows = setup.index[lo : lo + setup.chunk]
            X = setup.coefficients[rows].clone().requires_grad_(True)  # (n, *coef)
            y = select_target(spec, setup.call(setup.domain.inverse(X, rows)), rows)
            (g,) = torch.autograd.grad(y.sum(), X)
            grads.append(g.detach())
    g = torch.cat(grads)  # (B, *coef)
    X = setup.coefficients
    if times_input:
        out = re_mul(X, g)  # Re[X conj(g)] in float64
    else:
        out = g.abs().double()
    name = "gradient_x_input" if times_input else "gradient"
    return model_result(name, out.cpu().numpy(), setup, spec, fs, {}, n_evaluations=1)


def freqrise(
    model: Any,
    inputs: Any,
    domain: Any,
    *,
    target: Any = None,
    n_masks: int = 1000,
    n_cells: int = 10,
    probability: float = 0.5,
    score: Score = "probability",
    seed: Seed = 0,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
) -> Attribution:
    """FreqRISE: importance of each coefficient from random smooth masks.

    Parameters
    ----------
    model, inputs, target, fs, time_axis, internal_batch_size
        As in :func:`cdig.explain`.
    domain : str or Domain
        Masks multiply the coefficients of this domain (``"fourier"``, rFFT, for FreqRISE).
    n_masks : int, default=1000
        Number of random masks, shared by all samples.
    n_cells : int, default=10
        Cells of the coarse binary grid along the last coefficient axis (frequency).
    probability : float in (0, 1), default=0.5
        Probability that a cell is kept.
    score : {"probability", "output"}, default="probability"
        Softmax probability of the target, or the raw target output.
    seed : None, int or numpy.random.Generator, default=0
        Seed of the masks: the same int gives the same masks; a Generator is drawn from.

    Returns
    -------
    Attribution
        ``values`` of shape ``(batch, *coefficient_shape)``, float64, non-negative for
        probabilities; ``peer.options`` ``n_masks``, ``n_cells``, ``probability``,
        ``score`` and ``seed``; ``outputs`` the score at the input (the target's softmax
        probability for ``score="probability"``); ``n_evaluations`` ``n_masks`` per sample.

    Notes
    -----
    As in RISE, each mask is a coarse Bernoulli(``probability``) grid of ``n_cells + 1``
    cells per row, linearly upsampled to cells of width :math:`\\lceil F / n_{cells} \\rceil`,
    shifted by a random offset and cropped to the :math:`F` coefficients, so it is smooth in
    ``[0, 1]``. With :math:`s_j` the score of :math:`T^{-1}(M_j \\odot X)`,

    .. math::  I = \\frac{1}{N\\,p} \\sum_{j=1}^{N} s_j\\, M_j .
    """
    n_masks = check_int(n_masks, "n_masks")
    n_cells = check_int(n_cells, "n_cells")
    if not 0.0 < float(probability) < 1.0:
        raise ValueError(f"probability={probability!r} must lie strictly between 0 and 1.")
    rng = as_rng(seed)  # a seed that is no seed fails before the model runs
    setup = prepare(
        model, inputs, None, domain,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    spec = resolve(target, setup, score)
    masks = _smooth_masks(setup.coefficient_shape, n_masks, n_cells, probability, rng)
    masks_t = torch.as_tensor(masks, device=setup.x.device)  # (N, *coef), float64
    X = setup.coefficients
    real = X.real.dtype if X.is_complex() else X.dtype
    total = setup.batch * n_masks
    acc = torch.zeros((setup.batch, *setup.coefficient_shape), dtype=torch.float64)
    with setup.adapter.inference(), torch.no_grad():
        for lo in range(0, total, setup.chunk):
            e = torch.arange(lo, min(lo + setup.chunk, total), device=X.device)
            rows, j = e // n_masks, e % n_masks
            Xm = X[rows] * masks_t[j].to(real)  # (n, *coef)
            out = setup.call(setup.domain.inverse(Xm, setup.index[rows]))
            if score == "probability":
                out = torch.softmax(out.double(), dim=1)
            s = select_target(spec, out, rows).double()  # (n,)
            weighted = s.view(-1, *([1] * len(setup.coefficient_shape))) * masks_t[j]
            acc.index_add_(0, rows.cpu(), weighted.cpu())
    options = {
        "n_masks": n_masks,
        "n_cells": n_cells,
        "probability": float(probability),
        "score": score,
        "seed": seed_option(seed),
    }
    values = (acc / (n_masks * float(probability))).numpy()
    return model_result(
        "freqrise", values, setup, spec, fs, options,
        n_evaluations=n_masks, probability=score == "probability",
    )  # fmt: skip


def _smooth_masks(
    shape: tuple[int, ...], n_masks: int, n_cells: int, probability: float, seed: Seed
) -> np.ndarray:
    """Smooth random masks of shape (n_masks, *shape), float64 in [0, 1]."""
    rng = as_rng(seed)
    n_coef = shape[-1]
    cell = int(np.ceil(n_coef / n_cells))
    lead = int(np.prod(shape[:-1]))
    grid = (rng.random((n_masks * lead, n_cells + 1)) < probability).astype(np.float64)
    coarse = np.arange(n_cells + 1) * cell  # positions of the grid points
    fine = np.arange((n_cells + 1) * cell)
    up = np.stack([np.interp(fine, coarse, row) for row in grid])  # (N * lead, (n+1) cell)
    shift = rng.integers(0, cell, size=n_masks * lead)
    cols = shift[:, None] + np.arange(n_coef)[None, :]
    masks = np.take_along_axis(up, cols, axis=1)  # (N * lead, F)
    return masks.reshape(n_masks, *shape)


def virtual_inspection(
    inputs: Any,
    relevance: Any,
    domain: Any,
    *,
    eps: float = 1e-6,
    fs: float | None = None,
    time_axis: int = -1,
) -> Attribution:
    """Carry a time-domain relevance onto the coefficients of a linear domain (DFT-LRP).

    Parameters
    ----------
    inputs : array-like of shape (batch, channels, time)
        The explained series (layout given by ``time_axis``).
    relevance : Attribution or array-like
        One relevance per time sample, e.g. time-domain IG: shape (batch, channels, time) or
        the inputs' own layout, or an Attribution in the time domain.
    domain : str or Domain
        A linear domain (``"fourier"`` for DFT-LRP) whose inverse has no offset (``T^{-1}(0) = 0``).
    eps : float, default=1e-6
        Stabilizer, relative to ``max|x|`` per sample: divisions by :math:`x_t` use
        :math:`x_t + \\epsilon\\,\\mathrm{sign}(x_t)`.

    Returns
    -------
    Attribution
        ``values`` of shape ``(batch, *coefficient_shape)``, float64; ``peer.options``
        ``eps`` and ``relevance`` (the explainer of an Attribution relevance, or
        ``"array"``). From an Attribution relevance it keeps the target, the target index,
        ``outputs`` and ``n_evaluations`` (the relevance's cost); from an array, whose model
        it does not know, ``target`` is ``"unknown"``, ``outputs`` None and
        ``n_evaluations`` 0 (it runs no model).

    Notes
    -----
    A virtual inspection layer puts :math:`x = T^{-1}(X)` in front of the model and applies
    the LRP epsilon rule to it: coefficient :math:`i` contributes :math:`z_{ti}` to
    :math:`x_t = \\sum_i z_{ti}` and receives the share :math:`z_{ti}/x_t` of the relevance
    :math:`R_t`, so :math:`R_i = \\sum_t z_{ti} R_t / x_t`. For a real-linear inverse,
    :math:`\\sum_t z_{ti} r_t = \\mathrm{Re}[X_i \\overline{(J^T r)_i}]`, one vector-Jacobian
    product through the inverse. For the rFFT this is DFT-LRP, the conjugate pair of bin
    :math:`k` included. Relevance is conserved: :math:`\\sum_i R_i = \\sum_t R_t` up to the
    stabilizer.
    """
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"eps={eps!r} must be a non-negative number.")
    x, layout = as_series(inputs, time_axis, torch.float64, "cpu")
    R = _time_relevance(relevance, x, layout)  # (B, C, T), float64
    dom = fitted_domain(None, domain, x, fs)
    if not dom.linear:
        raise ValueError(
            f"virtual_inspection needs a linear domain; {type(dom).__name__} is not linear."
        )
    index = torch.arange(x.shape[0])
    with torch.no_grad():
        X = dom.forward(x, index).detach()  # (B, *coef)
        offset = dom.inverse(torch.zeros_like(X), index)
    if float(offset.abs().max()) > 1e-8 * max(1.0, float(x.abs().max())):
        raise ValueError(
            f"{type(dom).__name__}'s inverse has an offset (T^-1(0) != 0); the relevance rule "
            "needs x = T^-1(X) to be the sum of the coefficients' contributions."
        )
    scale = eps * x.abs().amax(dim=(1, 2), keepdim=True)
    denom = x + scale * torch.where(x >= 0, 1.0, -1.0)
    denom = torch.where(denom == 0, torch.ones_like(denom), denom)
    r = R / denom  # (B, C, T)
    g = dom.inverse_vjp(X, r.to(X.real.dtype if X.is_complex() else X.dtype), index)
    values = re_mul(X, g).numpy()  # Re[X conj(g)], in float64 (was the model's precision)
    if isinstance(relevance, Attribution):
        options = {"eps": float(eps), "relevance": relevance.explainer}
        return peer_result(
            "virtual_inspection", values, dom, layout, fs, options,
            n_evaluations=relevance.n_evaluations, outputs=relevance.outputs,
            target=relevance.target, target_index=relevance.target_index,
        )  # fmt: skip
    options = {"eps": float(eps), "relevance": "array"}
    return peer_result(
        "virtual_inspection", values, dom, layout, fs, options, n_evaluations=0, target="unknown"
    )


def _time_relevance(relevance: Any, x: Tensor, layout: Any) -> Tensor:
    if isinstance(relevance, Attribution):
        values = np.asarray(relevance.values)
    elif isinstance(relevance, Tensor):
        values = relevance.detach().cpu().numpy()
    else:
        values = np.asarray(relevance)
    if np.iscomplexobj(values) or not np.issubdtype(values.dtype, np.number):
        raise TypeError("relevance must be a real array, one value per time sample.")
    R = torch.as_tensor(values, dtype=torch.float64)
    user_shape = tuple(layout.to_user(x).shape)
    if tuple(R.shape) == tuple(x.shape):
        return R
    if tuple(R.shape) == user_shape:
        return layout.to_canonical(R)
    raise ValueError(
        f"relevance has shape {tuple(R.shape)}; it must have one value per time sample of the "
        f"inputs, shape {tuple(x.shape)} (batch, channels, time) or {user_shape}."
    )
