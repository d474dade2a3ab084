"""The one-call entry point, :func:`explain`."""

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
from .horizon import Horizon, explain_horizon

__all__ = ["explain"]


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
    if isinstance(target, Horizon) and target.each:  # one attribution per forecast step
        result = explain_horizon(
            model,
            inputs,
            domain,
            target=target,
            baselines=baselines,
            fs=fs,
            settings=settings,
            additional_forward_args=additional_forward_args,
        )
    else:
        ig = CrossDomainIG(model, domain, time_axis=time_axis, fs=fs)
        result = ig._explain(inputs, baselines, target, settings, additional_forward_args)
    if names is None:
        return result
    if isinstance(result, Attribution):
        return result.with_channel_names(names)
    return {key: attr.with_channel_names(names) for key, attr in result.items()}


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
