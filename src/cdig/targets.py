"""What to explain: the ``target`` argument, validated once at the boundary.

A model returns, per sample, one value, a vector of classes, a forecast horizon or a class
vector per time column; the target says which scalar per sample is explained:

* ``None`` (one output per sample), an index (``1``, ``(2, 0)``), one class per sample,
  ``"predicted"``, ``"label"`` (datasets) or a callable ``outputs -> (batch,)``:
  :func:`as_target` turns each into a :class:`TargetSpec`, and :func:`resolve_target`
  checks it against the model's outputs;
* :class:`Horizon` (forecasters: one future step, a summary of the horizon, or every step)
  and :class:`TimeColumns` (a class vector per time column: one column, a summary, or every
  column).

``Horizon("each")`` and ``TimeColumns("each")`` stand for several targets: the engine
(:meth:`cdig.CrossDomainIG.run`) fits the domains once, integrates every target
(:func:`resolve_targets`) and stacks the results on a new leading axis (:class:`TargetAxis`).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ._text import KEYWORD, ArgumentError, ArgumentTypeError, Name

__all__ = ["Horizon", "TimeColumns", "TIMESFM_QUANTILES"]

#: What a target is, once validated (:class:`TargetSpec`); ``"each"``: several targets.
TargetKind = Literal["none", "index", "per_sample", "callable", "predicted", "label", "each"]


# ---------------------------------------------------------------------- forecasts
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
        one attribution each (see :func:`cdig.explain_horizon`).
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
            raise ValueError(_EACH_IS_SEVERAL)
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


#: Why a ``Horizon("each")`` cannot be one scalar per sample.
_EACH_IS_SEVERAL = (
    "Horizon('each') stands for several targets, one attribution per step: explain it with "
    "cdig.explain or cdig.CrossDomainIG (which stack the steps on a 'horizon' axis); here "
    "give one step or a summary, e.g. Horizon(5) or Horizon('mean')."
)


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


# ---------------------------------------------------------------------- targets
def callable_label(fn: Any, limit: int = 60) -> str:
    """A readable name for a target function: its name, or a lambda's source text.

    ``lambda out: out.softmax(-1)[:, 1]`` is shown as written (cut to ``limit``
    characters), not as ``<lambda>``; a ``functools.partial`` by its function; a callable
    object by its class.
    """
    import functools
    import inspect

    if isinstance(fn, functools.partial):
        return callable_label(fn.func, limit)
    name = getattr(fn, "__name__", None)
    if name is None:
        return type(fn).__name__
    if name != "<lambda>":
        return str(name)
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return "a lambda"
    code = fn.__code__
    line, col = 0, None
    for pos in getattr(code, "co_positions", lambda: iter(()))():
        if pos[0] is not None and pos[2] is not None and (pos[3] or 0) > pos[2]:  # the body
            line, col = pos[0] - first, pos[2]
            break
    text = "".join(lines[line:]) if 0 <= line < len(lines) else "".join(lines)
    start = text.rfind("lambda", 0, col) if col is not None else text.find("lambda")
    if start < 0:
        return "a lambda"
    depth, end = 0, len(text)
    for i in range(start, len(text)):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif depth == 0 and ch in ")]},\n":
            end = i
            break
        elif ch in ")]}":
            depth -= 1
    label = " ".join(text[start:end].split())
    return label if len(label) <= limit else label[: limit - 3] + "..."


@dataclass(frozen=True)
class TargetSpec:
    """A validated target: what scalar per sample to explain.

    Attributes
    ----------
    kind : {"none", "index", "per_sample", "callable", "predicted", "label", "each"}
        ``"label"`` (each sample's labelled class) is a dataset's target only; a batch of
        the dataset turns it into ``"per_sample"`` (:meth:`for_rows`). ``"each"``: several
        targets (a ``Horizon("each")`` or ``TimeColumns("each")``), expanded by
        :func:`resolve_targets`.
    value : Any
        The index tuple (``"index"``), the class per sample (``"per_sample"``, shape
        ``(n,)``), the function (``"callable"``) or the ``Horizon`` (``"each"``).
    origin : str
        The kind given by the user, once resolved (``"none"``, ``"predicted"``, ``"label"``).
    """

    kind: TargetKind
    value: Any = None
    origin: str = ""

    def describe(self) -> str:
        """A label for plots and reports: ``"1"``, ``"predicted class"``, ``"output"`` ..."""
        kind = self.origin or self.kind
        if kind == "none":
            return "output"
        if kind in ("callable", "each"):
            return callable_label(self.value)
        if kind == "per_sample":
            return "class per sample"
        if kind == "predicted":
            return "predicted class"
        if kind == "label":
            return "labelled class"
        index = tuple(self.value)
        return str(index[0]) if len(index) == 1 else str(index)

    def indices(self, batch: int) -> np.ndarray | None:
        """The explained output index of every sample, once resolved.

        Shape ``(batch,)`` for outputs ``(batch, K)``, ``(batch, n_axes)`` for more output
        axes; ``None`` for callables and models with one output per sample.
        """
        if self.kind == "per_sample":
            return np.asarray(self.value, dtype=np.int64).copy()
        if self.kind == "callable" and isinstance(self.value, Horizon):
            return self.value.indices(batch)  # the forecast step (and channel / quantile)
        if self.kind != "index" or self.origin == "none" or not self.value:
            return None
        if len(self.value) == 1:  # (an int64 array of the one index, as np.full gives it)
            return np.full(batch, self.value[0], dtype=np.int64)
        return np.tile(np.asarray(self.value, dtype=np.int64), (batch, 1))

    def for_rows(self, start: int, outputs: Tensor, labels: Any = None) -> TargetSpec:
        """The target of dataset samples ``start .. start + len(outputs) - 1``.

        A fixed index, a callable and ``"none"`` are the same for every batch; per-sample
        kinds (``"predicted"``, ``"label"``, a class per dataset sample) become the class
        of each of these samples, checked against the model's ``outputs`` of shape
        ``(n, n_classes)``, with errors naming the dataset's sample numbers.
        """
        if self.kind in ("none", "index", "callable", "each"):
            return self
        n = outputs.shape[0]
        stop = start + n
        what = "target='predicted'" if self.kind == "predicted" else f"target={self.kind!r}"
        if outputs.ndim != 2:
            raise ValueError(
                f"{what} needs a model with outputs of shape (batch, n_classes); for samples "
                f"{start}..{stop - 1} it returned shape {tuple(outputs.shape)}. Pass "
                "target=None for one output per sample, or an index / callable."
            )
        if self.kind == "predicted":
            idx = outputs.argmax(dim=1).cpu().numpy().astype(np.int64)
        else:
            if self.kind == "label":
                if labels is None:  # checked by explain_dataset; kept for direct use
                    raise ValueError("target='label' needs labels; the data carry none.")
                raw, name = np.asarray(labels), "label"
            else:
                raw, name = np.asarray(self.value)[start:stop], "target"
            if raw.ndim == 1 and len(raw) != n:
                raise ValueError(
                    f"{what}: samples {start}..{stop - 1} need {n} class indices but the "
                    f"target array has only {len(raw)} for them; give one per sample of the "
                    "dataset."
                )
            if raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(
                    f"{what}: the {name}s of samples {start}..{stop - 1} must be integer class "
                    f"indices, one per sample; got dtype {raw.dtype}, shape {raw.shape}. Text "
                    "labels are mapped for you when given as labels= with array data; for "
                    "other data map them first, e.g. classes, y = np.unique(names, "
                    "return_inverse=True)."
                )
            idx = raw.astype(np.int64)
        n_out = outputs.shape[1]
        bad = np.flatnonzero((idx < 0) | (idx >= n_out))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"sample {start + i}: class index {int(idx[i])} (from {what}) is out of range "
                f"for a model with {n_out} outputs; use 0..{n_out - 1}."
            )
        origin = self.origin or ("" if self.kind == "per_sample" else self.kind)
        return TargetSpec("per_sample", idx, origin=origin)


def as_target(target: Any, *, dataset: bool = False) -> TargetSpec:
    """Normalize the ``target`` argument (shape checks happen once outputs are known).

    ``dataset=True`` (:func:`cdig.explain_dataset`): ``"label"`` is understood, and an array
    must hold one integer class per sample of the dataset.
    """
    if type(target) is int:  # the usual case, as the Integral branch below takes it
        return TargetSpec("index", (target,))
    if isinstance(target, TargetSpec):
        return target
    if target is None:
        return TargetSpec("none")
    if isinstance(target, Horizon) and target.each:
        if dataset:
            raise ValueError(
                f"target={target!r} gives one attribution per step, which a dataset run does "
                "not store; explain one step or a summary per run (Horizon(5), "
                "Horizon('mean')), or the samples with cdig.explain."
            )
        return TargetSpec("each", target)
    if dataset and isinstance(target, str) and target == "label":
        return TargetSpec("label")
    if dataset and (
        isinstance(target, (np.ndarray, list)) or (isinstance(target, Tensor) and target.ndim == 1)
    ):
        arr = np.asarray(target.detach().cpu() if isinstance(target, Tensor) else target)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                f"target as an array must hold one integer class per sample; got dtype "
                f"{arr.dtype}, shape {arr.shape}."
            )
        return TargetSpec("per_sample", arr.astype(np.int64))
    if isinstance(target, str):
        if target == "predicted":
            return TargetSpec("predicted")
        label = " 'label' (each sample's labelled class)," if dataset else ""
        raise ArgumentError(
            Name("target", target),
            " is not understood; use an int, a tuple of ints, a sequence of ints (one per "
            f"sample), 'predicted',{label} or a callable outputs -> (batch,).",
        )
    if callable(target):
        return TargetSpec("callable", target)
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return TargetSpec("index", (int(target),))
    if isinstance(target, (float, np.floating)):
        raise ArgumentTypeError(
            Name("target", target),
            " is a float; an output index must be an integer (e.g. ",
            Name("target", 1),
            ").",
        )
    if isinstance(target, tuple) and all(isinstance(t, numbers.Integral) for t in target):
        return TargetSpec("index", tuple(int(t) for t in target))
    arr = np.asarray(target.detach().cpu() if isinstance(target, Tensor) else target)
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        return TargetSpec("per_sample", arr.astype(np.int64))
    raise ArgumentTypeError(
        Name("target"),
        f" of type {type(target).__name__} is not understood; use an int, a tuple of ints, a "
        "1-d sequence of ints (one per sample), 'predicted', or a callable.",
    )


def resolve_target(spec: TargetSpec, outputs: Tensor) -> TargetSpec:
    """Check ``spec`` against the model's outputs for the inputs, shape ``(batch, ...)``.

    Returns a spec whose ``per_sample`` indices (if any) are fixed, so that the same scalar is
    selected at every path point.
    """
    out_shape = tuple(outputs.shape[1:])
    if spec.kind == "each":
        raise ValueError(_EACH_IS_SEVERAL)
    if spec.kind == "callable" and isinstance(spec.value, Horizon):
        spec = TargetSpec("callable", spec.value.resolve(tuple(outputs.shape)))  # fix the steps
    if spec.kind == "callable":
        sel = spec.value(outputs)
        if isinstance(sel, Tensor) and not (sel.is_floating_point() or sel.is_complex()):
            raise ValueError(
                f"the target function returned a tensor of dtype {sel.dtype}; it must return "
                "float outputs of the model, one per sample (select with indexing, e.g. "
                "lambda out: out[:, 0] or out.gather(...), rather than argmax or a cast to int)."
            )
        if not isinstance(sel, Tensor) or tuple(sel.shape) != (outputs.shape[0],):
            got = tuple(sel.shape) if isinstance(sel, Tensor) else type(sel).__name__
            raise ValueError(
                f"target callable must map outputs of shape {tuple(outputs.shape)} to a tensor "
                f"of shape ({outputs.shape[0]},); it returned {got}."
            )
        return spec
    if spec.kind == "none":
        if math.prod(out_shape) != 1:
            raise ArgumentError(
                f"the model's output has shape (batch, {', '.join(map(str, out_shape))}); pass ",
                Name("target", KEYWORD),
                " (an int index, a tuple for multi-axis outputs, 'predicted', or a callable "
                "outputs -> (batch,)).",
            )
        return TargetSpec("index", (0,) * len(out_shape), origin="none")
    if spec.kind == "predicted":
        if len(out_shape) != 1:
            raise ArgumentError(
                Name("target", "predicted"),
                " needs outputs of shape (batch, n_classes); the model's output has shape "
                f"(batch, {', '.join(map(str, out_shape))}).",
            )
        pred = outputs.argmax(dim=1).cpu().numpy().astype(np.int64)
        return TargetSpec("per_sample", pred, origin="predicted")
    if spec.kind == "per_sample":
        idx = spec.value
        batch = outputs.shape[0]
        if len(idx) != batch:
            raise ArgumentError(
                Name("target"),
                f" has {len(idx)} entries; give one class index per sample ({batch}).",
            )
        if len(out_shape) != 1:
            raise ValueError(
                "a per-sample target needs outputs of shape (batch, n_outputs); the model's "
                f"output has shape (batch, {', '.join(map(str, out_shape))})."
            )
        bad = (idx < 0) | (idx >= out_shape[0])
        if bad.any():
            raise ArgumentError(
                f"target index {int(idx[bad][0])} (sample {int(np.flatnonzero(bad)[0])}) is out "
                f"of range for a model with {out_shape[0]} outputs; use 0..{out_shape[0] - 1}.",
                argument="target",
            )
        return spec
    # fixed index
    index = spec.value
    if len(out_shape) == 0:
        raise ArgumentError(
            Name("target", index if len(index) > 1 else index[0]),
            " was given but the model returns one value per sample (output shape (batch,)); pass ",
            Name("target", None),
            ".",
        )
    if len(index) != len(out_shape):
        raise ArgumentError(
            Name("target", index if len(index) > 1 else index[0]),
            f" has {len(index)} index(es) but the model's output has shape "
            f"(batch, {', '.join(map(str, out_shape))}); give a tuple of {len(out_shape)} "
            "indices or a callable.",
        )
    for i, (t, n) in enumerate(zip(index, out_shape)):
        if not 0 <= t < n:
            raise ArgumentError(
                f"target index {t} is out of range for output axis {i + 1} of size {n}; "
                f"use 0..{n - 1}.",
                argument="target",
            )
    return spec


@dataclass(frozen=True)
class TargetAxis:
    """The leading axis on which the results of several targets are stacked.

    Attributes
    ----------
    name : str
        The axis' name in ``Attribution.dims`` (``"horizon"``).
    coords : ndarray of int64, shape (n_targets,)
        Its coordinate: the 0-based steps (or time columns), in the order integrated.
    unit : str
        The coordinate's unit (``"step"``).
    target : str
        What the stacked result explains (``"each of horizon steps 0-5"``).
    """

    name: str
    coords: np.ndarray
    unit: str
    target: str


def resolve_targets(
    spec: TargetSpec, outputs: Tensor
) -> tuple[list[TargetSpec], TargetAxis | None]:
    """The targets of one call, each resolved against the outputs ``(batch, ...)``.

    One target: ``([resolve_target(spec, outputs)], None)``. Several (``"each"``): one
    resolved target per step, and the axis their results are stacked on.
    """
    if spec.kind != "each":
        return [resolve_target(spec, outputs)], None
    several = spec.value.resolve(tuple(outputs.shape))  # checks the steps once
    assert several._length is not None  # internal invariant: resolve sets the length
    steps = several.step_indices(several._length)
    members = [
        resolve_target(TargetSpec("callable", several.at(int(step))), outputs) for step in steps
    ]
    axis = TargetAxis("horizon", np.asarray(steps, dtype=np.int64), "step", several.__name__)
    return members, axis


def select_target(spec: TargetSpec, outputs: Tensor, rows: Tensor | None) -> Tensor:
    """The explained scalar of each row of ``outputs`` (shape ``(n, ...)``) -> ``(n,)``.

    ``rows`` (long tensor of shape ``(n,)``) gives the input sample each row belongs to; it
    picks the class of per-sample targets.
    """
    if spec.kind == "callable":
        fn: Callable[[Tensor], Tensor] = spec.value
        return fn(outputs)
    if spec.kind == "per_sample":
        assert rows is not None  # internal invariant: the engine always passes rows
        idx = torch.as_tensor(spec.value, device=outputs.device)[rows]
        return outputs.gather(1, idx[:, None]).squeeze(1)
    if outputs.ndim == 1:
        return outputs
    if outputs.ndim == 2 and len(spec.value) == 1:  # outputs[:, i], without the index parsing
        return outputs.select(1, spec.value[0])
    return outputs[(slice(None), *spec.value)]
