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
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from ._settings import Settings
from .attribution import Attribution

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .domains import Domain

__all__ = ["Horizon", "TimeColumns", "explain_horizon", "plot_horizon", "TIMESFM_QUANTILES"]

#: Quantile levels of TimesFM's ``full_predictions`` (after the mean at index 0).
TIMESFM_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

_SUMMARIES = ("mean", "sum", "each")


class Horizon:
    """The part of a forecast horizon to explain; pass it as ``target=``.

    Parameters
    ----------
    what : int or {"mean", "sum", "each"}
        An int: one future step, 0-based along the output's horizon axis (axis 1);
        negative counts from the end (``-1``: the last step). ``"mean"`` / ``"sum"``: the
        mean or sum of the forecast over ``steps``. ``"each"``: every step of ``steps``,
        one attribution each (see :func:`explain_horizon`).
    steps : slice, range, or sequence of int, optional
        The steps a summary or ``"each"`` covers; default the whole horizon.
    channel : int, optional
        For outputs of shape ``(batch, horizon, K)``: the index along the last axis (a
        channel of a multivariate forecaster such as PatchTST). Outputs with ``K = 1`` need
        neither ``channel`` nor ``quantile``.
    quantile : float, optional
        For outputs ``(batch, horizon, 1 + n_quantiles)`` whose last axis holds the mean
        and then the quantiles ``levels`` (TimesFM's ``full_predictions``): the quantile
        level to explain, e.g. ``0.9``.
    levels : sequence of float, optional
        The quantile levels after the mean; default :data:`TIMESFM_QUANTILES`
        (``model.config.quantiles`` of a TimesFM model).

    Notes
    -----
    A ``Horizon`` is a callable target, ``outputs -> (batch,)``; outputs must have shape
    ``(batch, horizon)`` or ``(batch, horizon, K)``. Bad settings raise ``ValueError``
    naming the argument as soon as the model's output shape is known (before integrating).

    Examples
    --------
    >>> import torch, cdig
    >>> out = torch.arange(12.0).reshape(2, 6)  # two forecasts of six steps
    >>> cdig.Horizon(-1)(out), cdig.Horizon("mean", steps=range(3))(out)
    (tensor([ 5., 11.]), tensor([1., 7.]))
    >>> cdig.Horizon("mean", quantile=0.9).__name__
    'mean of the horizon, quantile 0.9'
    """

    def __init__(
        self,
        what: int | Literal["mean", "sum", "each"],
        *,
        steps: slice | Sequence[int] | None = None,
        channel: int | None = None,
        quantile: float | None = None,
        levels: Sequence[float] | None = None,
    ) -> None:
        if isinstance(what, str):
            if what not in _SUMMARIES:
                raise ValueError(
                    f"Horizon({what!r}) is not understood; use a step (int), 'mean', 'sum' "
                    "or 'each'."
                )
        elif isinstance(what, bool) or not isinstance(what, numbers.Integral):
            raise TypeError(
                f"Horizon(what={what!r}) must be a step index (int) or one of {_SUMMARIES}."
            )
        else:
            what = int(what)
            if steps is not None:
                raise ValueError("steps= applies to 'mean', 'sum' and 'each'; not to one step.")
        if steps is not None and not isinstance(steps, slice):
            if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence):
                raise TypeError(f"steps={steps!r} must be a slice, a range or a list of ints.")
            if not steps or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in steps
            ):
                raise ValueError(f"steps={steps!r} must be a non-empty sequence of ints.")
            steps = tuple(int(s) for s in steps)
        if channel is not None and (
            isinstance(channel, bool) or not isinstance(channel, numbers.Integral)
        ):
            raise TypeError(f"channel={channel!r} must be an int index or None.")
        if channel is not None and quantile is not None:
            raise ValueError("give channel= or quantile=, not both.")
        if levels is not None and quantile is None:
            raise ValueError("levels= is used with quantile= only.")
        if quantile is not None:
            levels = tuple(float(v) for v in (TIMESFM_QUANTILES if levels is None else levels))
            q = float(quantile)
            match = [i for i, v in enumerate(levels) if abs(v - q) < 1e-9]
            if not match:
                raise ValueError(
                    f"quantile={quantile!r} is not one of the model's levels {list(levels)}; "
                    "pass levels=model.config.quantiles when they differ from TimesFM's."
                )
            quantile = q
            self._last: int | None = 1 + match[0]  # the mean comes first
        else:
            self._last = None if channel is None else int(channel)
        self.what: int | str = what
        self.steps = steps
        self.channel = None if channel is None else int(channel)
        self.quantile = quantile
        self.levels = None if levels is None else tuple(levels)
        self._length: int | None = None  # set by resolve(): the horizon length

    # ------------------------------------------------------------------ reading
    @property
    def each(self) -> bool:
        """Whether every step gets its own attribution (``Horizon("each")``)."""
        return self.what == "each"

    def series(self, outputs: Tensor) -> Tensor:
        """The forecast ``(n, horizon)`` from outputs ``(n, horizon)`` or ``(n, horizon, K)``."""
        shape = tuple(outputs.shape)
        if outputs.ndim == 2:
            if self._last is not None:
                what = "quantile=" if self.quantile is not None else "channel="
                raise ValueError(
                    f"{what} needs outputs of shape (batch, horizon, K); the model's output "
                    f"has shape {shape}. For TimesFM quantiles select 'full_predictions': "
                    "cdig.models.select(model, 'full_predictions', as_list=True)."
                )
            return outputs
        if outputs.ndim != 3:
            raise ValueError(
                f"Horizon targets need forecasts of shape (batch, horizon) or (batch, horizon, "
                f"K); the model's output has shape {shape}."
            )
        k = shape[2]
        if self._last is None:
            if k == 1:
                return outputs[:, :, 0]
            raise ValueError(
                f"the model's output has shape {shape}: {k} values per step; pass channel= "
                "(an index along the last axis) or quantile= (TimesFM's full_predictions)."
            )
        if not -k <= self._last < k:
            name = "quantile" if self.quantile is not None else "channel"
            raise ValueError(
                f"{name}={self.quantile if self.quantile is not None else self.channel} needs "
                f"index {self._last} along the last output axis, which has size {k} "
                f"(output shape {shape})."
            )
        return outputs[:, :, self._last]

    def step_indices(self, length: int) -> np.ndarray:
        """The explained steps (0-based, non-negative) of a horizon of ``length`` steps."""
        if isinstance(self.what, int):
            if not -length <= self.what < length:
                raise ValueError(
                    f"Horizon({self.what}) is out of range for a forecast of {length} steps; "
                    f"use 0..{length - 1} (or -{length}..-1 from the end)."
                )
            return np.array([self.what % length])
        if self.steps is None:
            return np.arange(length)
        if isinstance(self.steps, slice):
            idx = np.arange(length)[self.steps]
            if idx.size == 0:
                raise ValueError(f"steps={self.steps} selects no step of a {length}-step horizon.")
            return idx
        idx = np.asarray(self.steps)
        bad = (idx < -length) | (idx >= length)
        if bad.any():
            raise ValueError(
                f"steps={list(self.steps)}: step {int(idx[bad][0])} is out of range for a "
                f"forecast of {length} steps."
            )
        return idx % length

    def resolve(self, shape: Sequence[int]) -> Horizon:
        """A copy with the steps fixed for outputs of ``shape`` (checks everything once)."""
        self.series(torch.empty(tuple(shape), device="meta"))
        length = int(shape[1])
        idx = self.step_indices(length)
        new = copy.copy(self)
        new._length = length
        if isinstance(self.what, int):
            new.what = int(idx[0])
        elif not (idx.size == length and np.all(idx == np.arange(length))):
            new.steps = tuple(int(i) for i in idx)
        else:
            new.steps = None
        return new

    def __call__(self, outputs: Tensor) -> Tensor:
        """The explained scalar per row: outputs ``(n, horizon[, K])`` -> ``(n,)``."""
        y = self.series(outputs)
        if self.each:
            raise ValueError(
                "Horizon('each') explains every step separately: use cdig.explain(model, x, "
                "domain, target=cdig.Horizon('each')) or cdig.horizon.explain_horizon; "
                "CrossDomainIG.explain takes one step or a summary."
            )
        length = y.shape[1]
        idx = self.step_indices(length)
        if isinstance(self.what, int):
            return y[:, int(idx[0])]
        contiguous = idx.size and np.all(np.diff(idx) == 1)
        part = (
            y[:, int(idx[0]) : int(idx[-1]) + 1]
            if contiguous
            else y[:, torch.as_tensor(idx, device=y.device)]
        )
        return part.mean(dim=1) if self.what == "mean" else part.sum(dim=1)

    def indices(self, batch: int) -> np.ndarray | None:
        """``target_index`` of a result: the step (and channel / quantile index) per sample.

        Shape ``(batch,)``, or ``(batch, 2)`` with a channel or quantile; ``None`` for
        summaries (their steps are in :attr:`__name__`) and before :meth:`resolve`.
        """
        if not isinstance(self.what, int) or self._length is None:
            return None
        if self._last is None:
            return np.full(batch, self.what, dtype=np.int64)
        return np.tile(np.array([self.what, self._last], dtype=np.int64), (batch, 1))

    @property
    def __name__(self) -> str:
        """What is explained, for titles and ``Attribution.target``."""
        if isinstance(self.what, int):
            text = f"horizon step {self.what}"
        else:
            verb = {"mean": "mean of", "sum": "sum of", "each": "each of"}[self.what]
            text = f"{verb} {_steps_text(self.steps, self._length)}"
        if self.quantile is not None:
            text += f", quantile {self.quantile:g}"
        elif self.channel is not None:
            text += f", channel {self.channel}"
        return text

    def at(self, step: int) -> Horizon:
        """The same channel / quantile at one ``step``."""
        new = copy.copy(self)
        new.what, new.steps, new._length = int(step), None, None
        return new

    def __repr__(self) -> str:
        args = [repr(self.what)]
        for name in ("steps", "channel", "quantile"):
            value = getattr(self, name)
            if value is not None:
                args.append(f"{name}={value!r}")
        return f"Horizon({', '.join(args)})"


class TimeColumns(Horizon):
    """One class of a model that gives a class vector per time column; pass it as ``target=``.

    Sequence classifiers (a seizure detector scoring every 0.5 s, a speech model scoring
    every frame) return outputs of shape ``(batch, n_columns, n_classes)``. ``TimeColumns``
    says which class, over which columns, as one scalar per sample; titles and labels speak
    of time columns and classes.

    Parameters
    ----------
    what : int or {"mean", "sum", "each"}
        An int: one column (0-based, negative from the end). ``"mean"`` / ``"sum"``: over
        ``columns`` (default all). ``"each"``: one attribution per column.
    cls : int, optional
        The class, an index along the last output axis; needed when there are several.
    columns : slice, range or sequence of int, optional
        The columns a summary covers. Default: all, or the last ``last_s`` seconds.
    last_s : float, optional
        Cover the columns of the last ``last_s`` seconds: ``round(last_s / column_s)``
        columns. Needs ``column_s``; not with ``columns``.
    column_s : float, optional
        Seconds between columns (the model's hop, 0.5 for a 2 Hz output).

    Notes
    -----
    Outputs must be batch-first. A model that returns ``(n_columns, batch, n_classes)``
    (recurrent models often do) is wrapped with ``lambda x: m(x).transpose(0, 1)``.

    Examples
    --------
    >>> import torch, cdig
    >>> probs = torch.rand(2, 30, 4)  # 2 recordings, 30 columns of 0.5 s, 4 classes
    >>> target = cdig.TimeColumns("mean", cls=3, last_s=10, column_s=0.5)
    >>> bool(torch.allclose(target(probs), probs[:, -20:, 3].mean(dim=1)))
    True
    >>> target.resolve(probs.shape).__name__
    'class 3, mean over time columns 10-29 (the last 10 s)'
    """

    def __init__(
        self,
        what: int | Literal["mean", "sum", "each"],
        *,
        cls: int | None = None,
        columns: slice | Sequence[int] | None = None,
        last_s: float | None = None,
        column_s: float | None = None,
    ) -> None:
        if column_s is not None:
            column_s = float(column_s)
            if not (np.isfinite(column_s) and column_s > 0):
                raise ValueError(f"column_s={column_s!r} must be a positive number of seconds.")
        if last_s is not None:
            if columns is not None:
                raise ValueError("give columns= or last_s=, not both.")
            if column_s is None:
                raise ValueError(
                    "last_s= needs column_s= (the seconds between output columns, e.g. 0.5)."
                )
            last_s = float(last_s)
            k = round(last_s / column_s) if np.isfinite(last_s) and last_s > 0 else 0
            if k < 1:
                raise ValueError(
                    f"last_s={last_s!r} must cover at least one column of {column_s} s."
                )
            columns = slice(-k, None)
        try:
            super().__init__(what, steps=columns, channel=cls)
        except (TypeError, ValueError) as err:
            raise type(err)(
                str(err).replace("steps=", "columns=").replace("channel=", "cls=")
            ) from None
        self.last_s = last_s
        self.column_s = column_s

    def series(self, outputs: Tensor) -> Tensor:
        """The class's scores ``(n, n_columns)`` from outputs ``(n, n_columns[, n_classes])``."""
        shape = tuple(outputs.shape)
        if outputs.ndim == 3 and self._last is None and shape[2] > 1:
            raise ValueError(
                f"the model's output has shape {shape}: {shape[2]} classes per time column; "
                "pass cls= (the class to explain, an index along the last axis)."
            )
        if outputs.ndim not in (2, 3):
            raise ValueError(
                "TimeColumns targets need outputs of shape (batch, n_columns) or (batch, "
                f"n_columns, n_classes), batch first; the model's output has shape {shape}."
            )
        try:
            return super().series(outputs)
        except ValueError as err:
            text = (
                str(err)
                .replace("channel=", "cls=")
                .replace("(batch, horizon, K)", "(batch, n_columns, n_classes)")
            )
            raise ValueError(text) from None

    def step_indices(self, length: int) -> np.ndarray:
        """The explained columns (0-based, non-negative) of ``length`` columns."""
        try:
            return super().step_indices(length)
        except ValueError as err:
            text = str(err).replace("steps=", "columns=").replace("Horizon(", "TimeColumns(")
            text = text.replace("forecast of", "output of").replace("steps", "columns")
            raise ValueError(text.replace("horizon", "output")) from None

    @property
    def __name__(self) -> str:
        cls = "" if self.channel is None else f"class {self.channel}, "
        if isinstance(self.what, int):
            text = f"time column {self.what}"
            if self.column_s is not None and self._length is not None:
                text += f" ({self.what * self.column_s:g} s after the first)"
            return cls + text
        verb = {"mean": "mean over", "sum": "sum over", "each": "each of"}[self.what]
        if self.steps is None:
            span = (
                "all time columns"
                if self._length is None
                else (f"time columns 0-{self._length - 1}")
            )
        else:
            span = _steps_text(self.steps, self._length).replace("horizon steps", "time columns")
        if self.last_s is not None:
            span += f" (the last {self.last_s:g} s)"
        return f"{cls}{verb} {span}"

    def __repr__(self) -> str:
        args = [repr(self.what)]
        for name, value in (("cls", self.channel), ("last_s", self.last_s),
                            ("column_s", self.column_s)):  # fmt: skip
            if value is not None:
                args.append(f"{name}={value!r}")
        if self.last_s is None and self.steps is not None:
            args.append(f"columns={self.steps!r}")
        return f"TimeColumns({', '.join(args)})"


def _steps_text(steps: Any, length: int | None) -> str:
    if steps is None:
        return "the horizon" if length is None else f"horizon steps 0-{length - 1}"
    if isinstance(steps, slice):
        return f"horizon steps [{steps.start}:{steps.stop}:{steps.step}]".replace("None", "")
    idx = list(steps)
    if len(idx) > 1 and idx == list(range(idx[0], idx[-1] + 1)):
        return f"horizon steps {idx[0]}-{idx[-1]}"
    shown = ", ".join(map(str, idx[:8])) + (", ..." if len(idx) > 8 else "")
    return f"horizon steps {shown}"


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
    inputs: Any = None,
    ax: Any = None,
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
    inputs : array-like, optional
        Accepted like every figure of :mod:`cdig.plot` takes it; not drawn (the input is
        the same for every step).
    ax : sequence of two matplotlib Axes, optional
        Draw into these Axes: the forecast, then the heatmap (the rule of :mod:`cdig.plot`:
        no title is set on your figure); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        Top: the forecast ``f(x)`` and ``f(x')`` per step. Bottom: the heatmap, one row per
        coefficient, one column per step, with a colour bar.
    """
    from .plot import _figure_of, _given_axes, _pyplot, _symmetric_norm

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
    n_rows = grid.shape[1]
    if ax is None:
        size = figsize or (10.0, 3.2 + min(0.35 * n_rows, 4.0))
        fig = _pyplot().figure(layout="constrained", figsize=size)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.5))
    else:
        top, bottom = _given_axes(ax, 2, figsize)
        fig = _figure_of(top)
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
    if ax is not None:  # the caller's figure keeps its own title
        return fig
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
