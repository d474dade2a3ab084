"""The one-call entry points, :func:`explain` and :func:`explain_horizon`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np

from ._settings import (
    FORWARD_ARGS,
    MAX_STEPS,
    N_STEPS,
    PARAMETERS,
    PROGRESS,
    RTOL,
    TARGET_BASELINES,
    Method,
    Settings,
    fill_doc,
)
from .attribution import Attribution
from .engine import CrossDomainIG, DomainArg, DomainsArg
from .targets import Horizon

__all__ = ["explain", "explain_horizon"]


@overload
def explain(
    model: Any,
    inputs: Any,
    domain: DomainArg = ...,
    *,
    target: Any = ...,
    baselines: Any = ...,
    fs: float | None = ...,
    n_steps: int | Literal["auto"] = ...,
    method: Method | None = ...,
    internal_batch_size: int | None = ...,
    time_axis: int = ...,
    rtol: float = ...,
    atol: float = ...,
    max_steps: int = ...,
    progress: bool = ...,
    additional_forward_args: Any = ...,
    channel_names: Sequence[str] | None = ...,
) -> Attribution: ...


@overload
def explain(
    model: Any,
    inputs: Any,
    domain: list[DomainArg] | tuple[DomainArg, ...] | Mapping[str, DomainArg],
    *,
    target: Any = ...,
    baselines: Any = ...,
    fs: float | None = ...,
    n_steps: int | Literal["auto"] = ...,
    method: Method | None = ...,
    internal_batch_size: int | None = ...,
    time_axis: int = ...,
    rtol: float = ...,
    atol: float = ...,
    max_steps: int = ...,
    progress: bool = ...,
    additional_forward_args: Any = ...,
    channel_names: Sequence[str] | None = ...,
) -> dict[str, Attribution]: ...


@fill_doc(
    settings=PARAMETERS,
    progress=PROGRESS,
    forward_args=FORWARD_ARGS,
    target_baselines=TARGET_BASELINES,
)
def explain(
    model: Any,
    inputs: Any,
    domain: DomainsArg = "time",
    *,
    target: Any = None,
    baselines: Any = None,
    fs: float | None = None,
    n_steps: int | Literal["auto"] = N_STEPS,
    method: Method | None = None,
    internal_batch_size: int | None = None,
    time_axis: int = -1,
    rtol: float = RTOL,
    atol: float = 0.0,
    max_steps: int = MAX_STEPS,
    progress: bool = False,
    additional_forward_args: Any = None,
    channel_names: Sequence[str] | None = None,
) -> Attribution | dict[str, Attribution]:
    """Explain a time-series model in one or more domains.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps inputs (layout given by ``time_axis``) to outputs of shape ``(batch,)``,
        ``(batch, K)`` or ``(batch, ...)``.
    inputs : array-like of shape (batch, channels, time)
        numpy or torch; ``(batch, time, channels)`` with ``time_axis=1``; ``(batch, time)``.
    domain : str, Domain, or a list / dict of them, default="time"
        Name (see :func:`cdig.domains.available_domains`) or object. A list or dict returns a
        dict of results keyed by name (or dict key); linear domains share one pass.
    {target_baselines}
    fs : float, optional
        Sampling rate in Hz for domains given by name (frequency coordinates in Hz).
    {settings}
    time_axis : int, default=-1
        Axis of time in ``inputs``.
    {progress}
    {forward_args}
    channel_names : sequence of str, optional
        One name per channel (e.g. EEG electrodes ``["AF3", "F7", ...]``); they become
        ``coords["channel"]`` and appear in ``top()``, ``to_xarray()``, ``to_pandas()``, the
        figures and the report. Default: the columns of a pandas ``DataFrame`` input, the
        ``"channel"`` coordinate of an xarray ``DataArray`` input, else indices.

    Returns
    -------
    Attribution or dict of str to Attribution
        An :class:`Attribution` for one domain (typed so), a dict keyed by label for a list
        or dict of domains.

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> attr = cdig.explain(model, torch.randn(2, 1, 64), domain="fourier", fs=32.0)
    >>> attr.values.shape, float(attr.coords["frequency"][-1])
    ((2, 1, 33), 16.0)
    """
    settings = Settings(
        n_steps, method, internal_batch_size, rtol, atol, max_steps, time_axis, progress
    )
    names = _channel_names(inputs, channel_names)
    ig = CrossDomainIG(model, domain, time_axis=time_axis, fs=fs)
    result = ig.run(
        inputs,
        baselines,
        target,
        settings=settings,
        additional_forward_args=additional_forward_args,
    )
    if names is None:
        return result
    if isinstance(result, Attribution):
        return result.with_channel_names(names)
    return {key: attr.with_channel_names(names) for key, attr in result.items()}


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

    The same as :func:`explain` with ``target=Horizon("each", ...)``.

    Parameters
    ----------
    model, inputs, domain, baselines, fs, time_axis, additional_forward_args
        As in :func:`cdig.explain`.
    target : Horizon
        ``Horizon("each", steps=..., channel=..., quantile=...)`` (or
        ``TimeColumns("each", cls=...)``).
    settings : Settings, optional
        The integration settings, already validated; ``time_axis`` and ``options`` are
        then not used.
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
        but ``"steps"``). ``n_steps`` and ``error`` are the largest over the steps,
        ``converged`` holds when every step converged. Figure:
        :func:`cdig.plot.plot_horizon` (``attr.plot()``).

    Notes
    -----
    Each step is one Cross-domain IG integration (:meth:`CrossDomainIG.run` takes the
    steps in one call). Data-dependent domains (seasonal-trend, ICA ...) are fitted once,
    and the end points evaluated once, for all steps.
    """
    if not isinstance(target, Horizon) or not target.each:
        raise TypeError(f"target must be cdig.Horizon('each', ...); got {target!r}.")
    if settings is None:
        settings = Settings(time_axis=time_axis, **options)
    ig = CrossDomainIG(model, domain, time_axis=settings.time_axis, fs=fs)
    return ig.run(
        inputs,
        baselines,
        target,
        settings=settings,
        additional_forward_args=additional_forward_args,
    )


def _channel_names(inputs: Any, given: Sequence[str] | None) -> list[str] | None:
    """``channel_names=``, else a DataFrame's columns or a DataArray's channel coordinate."""
    if given is not None:
        if isinstance(given, str) or not isinstance(given, (Sequence, np.ndarray)):
            raise TypeError(f"channel_names={given!r} must be a list of strings, one per channel.")
        return [str(n) for n in given]
    kind, module = type(inputs).__name__, type(inputs).__module__
    if kind == "DataFrame" and module.startswith("pandas"):
        columns = list(inputs.columns)
        if columns != list(range(len(columns))):  # a default RangeIndex names nothing
            return [str(c) for c in columns]
    if kind == "DataArray" and module.startswith("xarray") and "channel" in inputs.dims:
        if "channel" in inputs.coords:
            return [str(c) for c in inputs.coords["channel"].values]
    return None
