"""Explaining forecasts: which step of the horizon, or which summary of it.

A forecaster returns, for every input window, a horizon of future values: outputs of shape
``(batch, horizon)``, or ``(batch, horizon, K)`` with ``K`` channels (PatchTST) or a mean
and quantiles (TimesFM's ``full_predictions``). :class:`Horizon` says which scalar to
explain:

* ``Horizon(5)``: the sixth future step (0-based; ``-1`` is the last);
* ``Horizon("mean")`` / ``Horizon("sum")``: the mean or sum over the horizon (or over
  ``steps=``);
* ``Horizon("each")``: every step, one attribution per step, stacked on a new leading
  ``"horizon"`` axis (:func:`explain_horizon`, also reached through :func:`cdig.explain`);

with ``channel=`` or ``quantile=`` for outputs with a third axis. Pass it as ``target=``.
The explained step is recorded in the result: ``attr.target`` (e.g. ``"horizon step 5"``,
``"mean of horizon steps 0-47, quantile 0.9"``), ``attr.target_index`` (the step, and the
channel or quantile index, per sample) and, for ``"each"``, the ``"horizon"`` coordinate.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ._settings import Settings
from .attribution import Attribution
from .targets import TIMESFM_QUANTILES, Horizon, TimeColumns

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .domains import Domain

__all__ = ["Horizon", "TimeColumns", "explain_horizon", "plot_horizon", "TIMESFM_QUANTILES"]


# ---------------------------------------------------------------------- one per step
def explain_horizon(
    model: Any,
    inputs: Any,
    domain: Any = "time",
    *,
    target: Horizon,
    baselines: Any = None,
    fs: float | None = None,
    time_axis: int = -1,
    settings: Settings | None = None,
    additional_forward_args: Any = None,
    **options: Any,
) -> Attribution | dict[str, Attribution]:
    """One attribution per forecast step, stacked on a leading ``"horizon"`` axis.

    Parameters
    ----------
    model, inputs, domain, baselines, fs, time_axis, additional_forward_args
        As in :func:`cdig.explain`.
    target : Horizon
        ``Horizon("each", steps=..., channel=..., quantile=...)``.
    settings : Settings, optional
        The integration settings, already validated (as :func:`cdig.explain` passes them);
        ``time_axis`` and ``options`` are then not used.
    **options
        ``n_steps``, ``method``, ``internal_batch_size``, ``rtol``, ``atol``, ``max_steps``,
        ``progress``: as in :func:`cdig.explain`, for every step.

    Returns
    -------
    Attribution or dict of str to Attribution
        ``values`` of shape ``(batch, n_horizon_steps, *coefficient_shape)`` with dims
        ``("horizon", *domain dims)`` and coordinate ``"horizon"`` (the 0-based steps).
        ``outputs``, ``baseline_outputs`` and ``delta`` are sums over the steps, so
        completeness reads as usual and ``attr.sum_over("horizon")`` explains the sum of the
        forecast; the per-step values are in ``attr.settings["horizon"]`` (keys ``"steps"``,
        ``"outputs"``, ``"baseline_outputs"``, ``"delta"``, each ``(batch, n_horizon_steps)``
        but ``"steps"``). Figure: :func:`plot_horizon` (``attr.plot()``).

    Notes
    -----
    Each step is one Cross-domain IG integration. Data-dependent domains (seasonal-trend,
    ICA ...) are fitted once, at the first step, and reused for the others.
    """
    from ._inputs import as_forward_args, as_series
    from .engine import CrossDomainIG
    from .models import wrap

    if not isinstance(target, Horizon) or not target.each:
        raise TypeError(f"target must be cdig.Horizon('each', ...); got {target!r}.")
    if settings is None:
        settings = Settings(time_axis=time_axis, **options)
    time_axis = settings.time_axis
    adapter = wrap(model)
    x, layout = as_series(inputs, time_axis, adapter.dtype, adapter.device)
    extra = as_forward_args(
        additional_forward_args, x.shape[0], adapter.dtype, adapter.device, adapter.framework
    )
    args, kwargs = extra.rows(torch.zeros(1, dtype=torch.long)) if extra else ((), {})
    with adapter.inference(), torch.no_grad():
        probe = adapter(layout.to_user(x[:1]), *args, **kwargs)
    spec = target.resolve(tuple(probe.shape))
    assert spec._length is not None
    steps = spec.step_indices(spec._length)
    ig = CrossDomainIG(adapter, domain, time_axis=time_axis, fs=fs)
    per_step: list[Any] = []
    for i, step in enumerate(steps):
        res = ig._explain(inputs, baselines, spec.at(int(step)), settings, additional_forward_args)
        if i == 0:  # fit data-dependent domains once; later steps reuse them
            ig.domain = (
                _frozen(res.domain)
                if isinstance(res, Attribution)
                else {label: _frozen(a.domain) for label, a in res.items()}
            )
            ig.fs = None
        per_step.append(res)
    name = spec.__name__
    if isinstance(per_step[0], Attribution):
        return _stack(per_step, steps, name)
    return {label: _stack([r[label] for r in per_step], steps, name) for label in per_step[0]}


def _frozen(dom: Domain | None) -> Domain:
    """``dom`` (fitted) as a domain the engine neither clones nor refits."""
    assert dom is not None
    base = type(dom)
    cls = _FROZEN.get(base)
    if cls is None:
        cls = type(base.__name__, (base,), {"clone": _same_domain, "fit": _keep_fit})
        cls.__qualname__ = base.__qualname__
        cls.__module__ = base.__module__
        cls.__doc__ = base.__doc__
        _FROZEN[base] = cls
    new = copy.copy(dom)
    new.__class__ = cls
    return new


_FROZEN: dict[type, type] = {}


def _same_domain(self: Domain) -> Domain:
    return self


def _keep_fit(self: Domain, x: Tensor) -> Domain:
    if (self.n_samples_, self.n_channels_, self.n_times_) != tuple(x.shape):
        raise AssertionError("a frozen domain was given other inputs")  # internal invariant
    return self


def _stack(attrs: list[Attribution], steps: np.ndarray, name: str) -> Attribution:
    first = attrs[0]
    outputs = np.stack([a.outputs for a in attrs], axis=1)  # (B, S)
    base = np.stack([a.baseline_outputs for a in attrs], axis=1)
    delta = np.stack([a.delta for a in attrs], axis=1)
    settings = dict(first.settings)
    settings["horizon"] = {
        "steps": np.asarray(steps, dtype=np.int64),
        "outputs": outputs,
        "baseline_outputs": base,
        "delta": delta,
    }
    return replace(
        first,
        values=np.stack([a.values for a in attrs], axis=1),
        delta=delta.sum(axis=1),
        dims=("horizon", *first.dims),
        coords={**first.coords, "horizon": np.asarray(steps, dtype=np.int64)},
        units={**first.units, "horizon": "step"},
        outputs=outputs.sum(axis=1),
        baseline_outputs=base.sum(axis=1),
        n_steps=np.max(np.stack([a.n_steps for a in attrs], axis=1), axis=1),
        # every step is integrated on its own: the worst step speaks for the sample
        error=np.max(np.stack([a.error for a in attrs], axis=1), axis=1),
        converged=np.all(np.stack([a.converged for a in attrs], axis=1), axis=1),
        status=_worst_status(np.stack([a.status for a in attrs], axis=1)),
        n_evaluations=np.sum(np.stack([a.n_evaluations for a in attrs], axis=1), axis=1),
        target=name,
        target_index=None,
        settings=settings,
    )


def _worst_status(status: np.ndarray) -> np.ndarray:
    """Per sample (rows of ``status``, one column per step) the status that speaks for it:
    ``"converged"`` only when every step is; else the gravest reason among the steps."""
    out = np.full(status.shape[0], "converged", dtype=status.dtype)
    for name in ("floor", "n_steps", "max_steps", "singular"):  # later ones win
        out = np.where((status == name).any(axis=1), name, out)
    return out


# ---------------------------------------------------------------------- figure
def plot_horizon(
    attr: Attribution,
    sample: int = 0,
    *,
    dim: str | None = None,
    cmap: str = "RdBu_r",
    figsize: tuple[float, float] | None = None,
    vmax: float | None = None,
    x: Any = None,
) -> Figure:
    """Heatmap of the attributions per forecast step: coefficient (row) x horizon step.

    Parameters
    ----------
    attr : Attribution
        From ``Horizon("each")``: dims ``("horizon", ...)``.
    sample : int, default=0
    dim : str, optional
        The coefficient axis drawn as rows (``"component"`` for seasonal-trend,
        ``"frequency"`` for Fourier ...); other axes (channels, time) are summed. Default:
        the first axis that is not ``"horizon"`` or ``"channel"``.
    cmap : str, default="RdBu_r"
        Diverging colour map, centred at zero (red pushes the forecast up).
    figsize : (float, float), optional
    vmax : float, optional
        Colour scale from ``-vmax`` to ``vmax`` (larger values saturate); default the
        largest ``|attribution|``. Useful when one row (a trend) dwarfs the others.
    x : array-like, optional
        Accepted like every figure of :mod:`cdig.plot` takes it; not drawn (the input is
        the same for every step).

    Returns
    -------
    matplotlib.figure.Figure
        Top: the forecast ``f(x)`` and ``f(x')`` per step. Bottom: the heatmap, one row per
        coefficient, one column per step, with a colour bar.
    """
    from .plot import _pyplot, _symmetric_norm

    if vmax is not None and not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax={vmax!r} must be a positive number or None.")

    if not attr.dims or attr.dims[0] != "horizon":
        raise ValueError(
            f"plot_horizon needs attributions with a leading 'horizon' axis (target="
            f"cdig.Horizon('each')); these have dims {attr.dims}."
        )
    if not 0 <= sample < attr.batch_size:
        raise ValueError(f"sample={sample} is out of range for a batch of {attr.batch_size}.")
    rest = [d for d in attr.dims[1:] if d != "channel"]
    if dim is None:
        if not rest:
            raise ValueError(f"no coefficient axis to draw in dims {attr.dims}.")
        dim = rest[0]
    if dim not in attr.dims[1:]:
        raise ValueError(f"dim={dim!r} is not an axis of these attributions ({attr.dims}).")
    v = attr.values[sample]  # (S, ...)
    keep = attr.dims.index(dim)  # axis in v (v has no batch axis; dims[0] is horizon)
    sum_axes = tuple(a for a in range(1, v.ndim) if a != keep)
    grid = v.sum(axis=sum_axes) if sum_axes else v  # (S, n)
    steps = np.asarray(attr.coords["horizon"])
    labels = attr.coords.get(dim)
    plt = _pyplot()
    n_rows = grid.shape[1]
    fig = plt.figure(layout="constrained", figsize=figsize or (10.0, 3.2 + min(0.35 * n_rows, 4.0)))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.5))
    hz = attr.settings.get("horizon") if isinstance(attr.settings, Mapping) else None
    if hz is not None:
        top.plot(steps, hz["outputs"][sample], color="k", marker=".", label="f(x)")
        top.plot(steps, hz["baseline_outputs"][sample], color="0.5", ls="--", label="f(x')")
        top.legend(fontsize="small", loc="best")
    top.set_ylabel("forecast")
    edges = _edges(steps.astype(np.float64))
    categorical = labels is None or np.asarray(labels).dtype.kind in "USO"
    y_edges = (
        np.arange(n_rows + 1) - 0.5 if categorical else _edges(np.asarray(labels, dtype=np.float64))
    )
    mesh = bottom.pcolormesh(
        edges,
        y_edges,
        grid.T,
        cmap=cmap,
        norm=_symmetric_norm(grid if vmax is None else np.array([vmax])),
        shading="flat",
    )
    if categorical:
        names = [str(s) for s in (labels if labels is not None else range(n_rows))]
        bottom.set_yticks(np.arange(n_rows), names)
        bottom.invert_yaxis()
    else:
        unit = attr.units.get(dim, "")
        bottom.set_ylabel(f"{dim} ({unit})" if unit else dim)
    columns = "time column" in str(attr.target)  # a TimeColumns target
    bottom.set_xlabel("time column" if columns else "horizon step (0 = first forecast point)")
    top.set_ylabel("output" if columns else "forecast")
    extend = "neither" if vmax is None or np.abs(grid).max() <= vmax else "both"
    fig.colorbar(mesh, ax=bottom, label="attribution", shrink=0.9, extend=extend)
    delta = attr.settings["horizon"]["delta"][sample] if hz is not None else attr.delta
    name = type(attr.domain).__name__ if attr.domain is not None else "Cross-domain IG"
    fig.suptitle(
        f"{name} attributions per {'time column' if columns else 'forecast step'}, sample "
        f"{sample} | max |delta| per step = "
        f"{float(np.max(np.abs(delta))):.2g}\n{attr.target}",
        fontsize="medium",
    )
    return fig


def _edges(pos: np.ndarray) -> np.ndarray:
    if pos.size == 1:
        return np.array([pos[0] - 0.5, pos[0] + 0.5])
    mid = (pos[1:] + pos[:-1]) / 2
    return np.concatenate([[2 * pos[0] - mid[0]], mid, [2 * pos[-1] - mid[-1]]])
