"""Adapters for models whose forward takes keyword arguments and returns structured outputs.

cdig calls a model as ``model(x) -> Tensor``. Many real models do not look like that:
HuggingFace ``transformers`` models take their input as a keyword argument
(``past_values=``), sometimes as a list of 1-d series (TimesFM), and return a
``ModelOutput`` with several fields; Keras models may return a dict or a tuple of outputs.
:func:`select` turns such a model into a plain ``x -> Tensor`` model without a hand-written
wrapper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from ._bridge import OutputError

__all__ = ["OutputNotFound", "Selected", "select"]


class OutputNotFound(OutputError, ValueError):
    """``output=`` names nothing in the model's output (a ``ValueError``)."""


OutputKey = str | int | Callable[[Any], Any] | None


def select(
    model: Any,
    output: OutputKey = None,
    *,
    kwarg: str | None = None,
    as_list: bool = False,
    per_series: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A model that takes one input batch and returns one tensor, from a structured one.

    Parameters
    ----------
    model : torch.nn.Module, keras.Model, or callable
        E.g. a ``transformers`` ``PatchTSTForPrediction`` or ``TimesFmModelForPrediction``,
        or a Keras model with several (named) outputs.
    output : str, int, callable, or None, default=None
        Which output to return: a field or key name (``"prediction_outputs"``,
        ``"mean_predictions"``, a Keras output name), a position in a tuple, or a function
        of the raw output. ``None`` accepts a plain tensor, or a structure holding exactly
        one tensor; otherwise the error lists the names to choose from.
    kwarg : str, optional
        Pass the input batch as this keyword argument (``model(**{kwarg: x})``) instead of
        positionally. Default: the model's ``main_input_name`` when it has one (every
        ``transformers`` model: ``"past_values"`` for the time-series ones), else positional.
    as_list : bool, default=False
        Pass the batch as a list of its rows, ``[x[0], x[1], ...]`` (TimesFM takes a list
        of 1-d series: give inputs of shape ``(batch, time)``).
    per_series : mapping of str to value, optional
        Keyword arguments with one entry per series, made for every call from one value:
        a tensor or array is stacked ``n`` times on a new leading axis, anything else is
        repeated in a list of length ``n`` (e.g. TimesFM's ``per_series={"freq": 1}``,
        which otherwise defaults to 0).
    **kwargs
        Fixed keyword arguments passed on every call (e.g. ``forecast_context_len=512``).

    Returns
    -------
    Selected or keras layer
        For PyTorch models and callables a :class:`Selected` ``torch.nn.Module`` holding
        ``model`` as a submodule, so that cdig runs it in ``eval()`` mode during a call and
        restores every submodule's mode afterwards; parameters, ``requires_grad`` and
        ``.grad`` are never touched. For Keras models a Keras layer that calls ``model``
        with ``training`` passed through (cdig calls it with ``training=False``).

    Raises
    ------
    TypeError
        For a model that is not callable or arguments of the wrong type.
    OutputNotFound
        A ``ValueError``, at the first call, when ``output`` names nothing in the model's
        output; the message lists what the model returned.

    Examples
    --------
    >>> import torch, cdig
    >>> from transformers import PatchTSTConfig, PatchTSTForPrediction  # doctest: +SKIP
    >>> net = PatchTSTForPrediction(PatchTSTConfig(num_input_channels=1, context_length=64,
    ...     prediction_length=8, patch_length=8, patch_stride=8))  # doctest: +SKIP
    >>> model = cdig.models.select(net, "prediction_outputs")  # past_values=x  # doctest: +SKIP
    >>> attr = cdig.explain(model, torch.randn(2, 64, 1), "fourier", time_axis=1,
    ...                     target=cdig.Horizon("mean", channel=0))  # doctest: +SKIP

    A Keras model with named outputs:

    >>> model = cdig.models.select(keras_model, "mean")  # doctest: +SKIP
    """
    if not callable(model):
        raise TypeError(f"model must be a model or a callable; got {type(model).__name__}.")
    if output is not None and not isinstance(output, (str, int)) and not callable(output):
        raise TypeError(
            f"output={output!r} must be a field name (str), a position (int), a function of "
            "the model's output, or None."
        )
    if isinstance(output, bool):
        raise TypeError(f"output={output!r} must be a field name, a position or a function.")
    if kwarg is not None and not isinstance(kwarg, str):
        raise TypeError(f"kwarg={kwarg!r} must be the name of a keyword argument (str) or None.")
    if not isinstance(as_list, bool):
        raise TypeError(f"as_list={as_list!r} must be True or False.")
    if per_series is not None and not isinstance(per_series, Mapping):
        raise TypeError(
            f"per_series must be a mapping {{name: value}}; got {type(per_series).__name__}."
        )
    clash = sorted(set(per_series or {}) & set(kwargs))
    if kwarg is not None:
        clash += [kwarg] if kwarg in kwargs or kwarg in (per_series or {}) else []
    if clash:
        raise TypeError(f"keyword argument(s) {clash} are given twice; give each once.")
    if kwarg is None:
        name = getattr(model, "main_input_name", None)
        kwarg = name if isinstance(name, str) and name else None
    call = _Call(output, kwarg, as_list, dict(per_series or {}), dict(kwargs))
    from ._wrap import detect_framework

    if detect_framework(model) == "keras":
        return _keras_selected(model, call)
    return Selected(model, call)


class _Call:
    """How to call the wrapped model and read its output (shared by torch and Keras)."""

    def __init__(
        self,
        output: OutputKey,
        kwarg: str | None,
        as_list: bool,
        per_series: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> None:
        self.output = output
        self.kwarg = kwarg
        self.as_list = as_list
        self.per_series = per_series
        self.kwargs = kwargs

    def __call__(self, model: Callable[..., Any], x: Any, *args: Any, **extra: Any) -> Any:
        if args and self.kwarg:
            raise TypeError(
                f"the model takes its input as {self.kwarg}=...; give extra arguments by "
                "name: additional_forward_args={'NAME': value, ...} (a dict), not a tuple."
            )
        if self.as_list and len(x.shape) != 2:
            raise ValueError(
                f"as_list=True passes every row as a 1-d series, so inputs must have shape "
                f"(batch, time); got {tuple(x.shape)}. Pass x[:, 0] for one channel."
            )
        inputs = list(x) if self.as_list else x
        kwargs = dict(self.kwargs)
        if self.per_series:
            n = int(x.shape[0])
            kwargs.update({k: _repeat(v, n) for k, v in self.per_series.items()})
        clash = sorted(set(extra) & set(kwargs))
        if clash:
            raise TypeError(
                f"{clash} are given both to cdig.models.select and as additional_forward_args; "
                "give each once (per-sample values as additional_forward_args)."
            )
        kwargs.update(extra)
        try:
            if self.kwarg:
                out = model(**{self.kwarg: inputs}, **kwargs)
            else:
                out = model(inputs, *args, **kwargs)
        except (RuntimeError, ValueError, IndexError) as err:
            first = " ".join(str(err).split())[:300]
            self._batch_mismatch(f"failed ({type(err).__name__}: {first})", int(x.shape[0]), err)
            raise
        picked = pick(out, self.output)
        shape = getattr(picked, "shape", None)
        if shape is not None and len(shape) >= 1 and shape[0] != x.shape[0]:
            self._batch_mismatch(f"returned {shape[0]} rows", int(x.shape[0]), None)
        return picked

    def _batch_mismatch(self, what: str, n: int, err: BaseException | None) -> None:
        """Raise a ValueError naming fixed arguments with a batch axis other than ``n``."""
        wrong = {
            k: tuple(v.shape)
            for k, v in self.kwargs.items()
            if hasattr(v, "shape") and len(v.shape) >= 1 and v.shape[0] not in (1, n)
        }
        if not wrong:
            return
        named = ", ".join(f"{k} of shape {s}" for k, s in wrong.items())
        keys = ", ".join(repr(k) for k in wrong)
        raise ValueError(
            f"the model {what} on a batch of {n} rows, and "
            f"cdig.models.select passes the same {named} on every call: a batch-size "
            f"mismatch. cdig calls the model on batches of path points (any number of rows, "
            f"here {n}), so arguments with one row per sample must follow the batch: pass "
            f"them as cdig.explain(..., additional_forward_args={{{keys}: ...}}) instead of "
            "to select."
        ) from err

    def describe(self) -> str:
        parts = [f"output={self.output!r}"]
        if self.kwarg:
            parts.append(f"kwarg={self.kwarg!r}")
        if self.as_list:
            parts.append("as_list=True")
        parts += [f"{k}={v!r}" for k, v in {**self.kwargs, **self.per_series}.items()]
        return ", ".join(parts)


def _repeat(value: Any, n: int) -> Any:
    if isinstance(value, Tensor):
        return value.unsqueeze(0).expand(n, *value.shape)
    if hasattr(value, "__array__") and getattr(value, "ndim", 0) > 0:
        t = torch.as_tensor(value)
        return t.unsqueeze(0).expand(n, *t.shape)
    return [value] * n


def _fields(out: Any) -> list[str]:
    if isinstance(out, Mapping):
        return [str(k) for k, v in out.items() if v is not None]
    if isinstance(out, (tuple, list)):
        return [str(i) for i in range(len(out))]
    return []


def pick(out: Any, output: OutputKey) -> Any:
    """The part ``output`` of a model's raw output ``out`` (see :func:`select`)."""
    if callable(output):
        return output(out)
    if output is None:
        if _is_tensor(out):
            return out
        values = (
            [v for v in out.values() if v is not None]
            if isinstance(out, Mapping)
            else list(out)
            if isinstance(out, (tuple, list))
            else [out]
        )
        tensors = [v for v in values if _is_tensor(v)]
        if len(tensors) == 1:
            return tensors[0]
        raise OutputNotFound(
            f"the model returned {type(out).__name__} with several outputs "
            f"({', '.join(_fields(out)) or '?'}); choose one with "
            "cdig.models.select(model, output=NAME)."
        )
    if isinstance(output, str):
        if isinstance(out, Mapping) and output in out and out[output] is not None:
            return out[output]
        if not isinstance(out, (Mapping, tuple, list)) and getattr(out, output, None) is not None:
            return getattr(out, output)
        have = _fields(out)
        hint = f"; it has: {', '.join(have)}" if have else ""
        raise OutputNotFound(
            f"output={output!r} is not an output of the model (it returned "
            f"{type(out).__name__}{hint})."
        )
    seq = list(v for v in out.values() if v is not None) if isinstance(out, Mapping) else out
    if not isinstance(seq, (tuple, list)) or not -len(seq) <= output < len(seq):
        n = len(seq) if isinstance(seq, (tuple, list)) else "no"
        raise OutputNotFound(
            f"output={output} is out of range: the model returned {type(out).__name__} with "
            f"{n} positional outputs."
        )
    return seq[output]


def _is_tensor(v: Any) -> bool:
    if isinstance(v, Tensor):
        return True
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (Mapping, tuple))


class Selected(torch.nn.Module):
    """A PyTorch model (or callable) seen as ``x -> Tensor``; made by :func:`select`.

    The wrapped model is a submodule (when it is a ``torch.nn.Module``), so ``eval()``,
    ``train()``, ``.to()``, ``.double()`` and ``parameters()`` reach it, and cdig's
    inference mode (``eval()`` during a call, every submodule's mode restored after)
    covers it.

    Attributes
    ----------
    model : torch.nn.Module or callable
        The wrapped model.
    """

    def __init__(self, model: Callable[..., Any], call: _Call) -> None:
        super().__init__()
        if isinstance(model, torch.nn.Module):
            self.model = model
        else:
            self.__dict__["model"] = model  # a plain callable: not a submodule
        self._call = call

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Any:
        """Run the model on the batch ``x`` (shape ``(n, ...)``) and return the selected output.

        ``args`` and ``kwargs`` (rows of ``additional_forward_args``, one per row of ``x``)
        are passed on to the model with the fixed ``**kwargs`` of :func:`select`.
        """
        return self._call(self.model, x, *args, **kwargs)

    def extra_repr(self) -> str:
        return self._call.describe()


def _keras_selected(model: Any, call: _Call) -> Any:
    import keras

    class SelectedKeras(keras.layers.Layer):
        """A Keras model seen as ``x -> tensor``; made by :func:`cdig.models.select`."""

        def __init__(self, inner: Any, how: _Call) -> None:
            policy = getattr(inner, "dtype_policy", None)
            super().__init__(dtype=policy, name=f"select_{getattr(inner, 'name', 'model')}")
            self.inner = inner
            self._how = how

        def call(self, x: Any, training: bool = False) -> Any:
            return self._how(self.inner, x, training=training)

    return SelectedKeras(model, call)
