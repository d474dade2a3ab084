"""Checks around the model: what it is given, what it returns, and whether it is finite.

The engine calls the model through :func:`guarded_call`, which

* runs a float16 / bfloat16 model in its own dtype while everything else (domains,
  quadrature, accumulation) works in float32, since torch's FFTs refuse half precision;
* turns the model's own shape or dtype errors into a ``ValueError`` that names the input
  shape, the layout and the fix;
* checks that every output has one row per input row.

:class:`NonFiniteError` is raised when the explained output or its gradient is NaN or infinite
at the input, the baseline or anywhere on the path: such attributions are meaningless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._inputs import ForwardArgs, check_model_output
from ._layout import InputLayout
from ._text import KEYWORD, Name, Part, in_words, python_words

__all__ = ["NonFiniteError", "LOW_PRECISION", "guarded_call", "work_dtype"]

#: Model dtypes that are called in their own precision while cdig computes in float32.
LOW_PRECISION = (torch.float16, torch.bfloat16)

_SHAPE_WORDS = ("shape", "size", "dimension", "channel", "index", "mat1", "length", "expected")
_DTYPE_WORDS = ("dtype", "scalar type", "Double", "Float", "Half", "BFloat16")


class NonFiniteError(ValueError):
    """The model's output or its gradient is NaN or infinite where cdig evaluates it.

    Attributes
    ----------
    samples : list of int
        The samples concerned (indices into the batch of inputs).
    alphas : list of float
        Path positions (0: baseline, 1: input) where it happened, one per sample, when known.
    """

    def __init__(
        self,
        message: str | tuple[Part, ...],
        samples: Sequence[int] = (),
        alphas: Sequence[float] = (),
    ) -> None:
        # a message naming parameters is a tuple of text and Name parts (cdig._text)
        self.parts = (message,) if isinstance(message, str) else tuple(message)
        super().__init__(in_words(self, python_words))
        self.samples = [int(s) for s in samples]
        self.alphas = [float(a) for a in alphas]


def work_dtype(model_dtype: torch.dtype | None) -> torch.dtype | None:
    """The dtype cdig computes in for a model computing in ``model_dtype``."""
    return torch.float32 if model_dtype in LOW_PRECISION else model_dtype


def float64_if_needed(adapter: Any, layout: InputLayout, x: Tensor) -> Tensor:
    """``x`` cast to float64 when the model (of unknown dtype) fails on float32 but not float64.

    A plain function closing over float64 numpy weights shows no dtype to cdig; given float32
    inputs it fails with a dtype mismatch. One single-sample call decides: if float32 fails
    with a dtype error and float64 works, the inputs are cast up (exactly) with a warning.
    """
    if x.dtype != torch.float32:
        return x
    try:
        with torch.no_grad(), adapter.inference():
            adapter(layout.to_user(x[:1]))
        return x
    except (RuntimeError, TypeError, ValueError) as err:
        if not any(word in str(err) for word in _DTYPE_WORDS):
            return x  # another failure: reported by the explanation itself
    try:
        with torch.no_grad(), adapter.inference():
            adapter(layout.to_user(x[:1].double()))
    except (RuntimeError, TypeError, ValueError):
        return x
    from ._warnings import warn

    warn(
        "the model failed on float32 inputs and works on float64 ones (its weights are not "
        "visible to cdig, e.g. numpy arrays in a function); the inputs were cast to float64, "
        "which is exact, and explained in float64. Pass float64 inputs to skip this check."
    )
    return x.double()


def guarded_call(
    adapter: Callable[..., Tensor],
    layout: InputLayout,
    time_axis: int,
    model_dtype: torch.dtype | None,
    forward_args: ForwardArgs | None = None,
) -> Callable[..., Tensor]:
    """``call(xc (n, C, T), samples=None) -> model outputs (n, ...)``, with this module's checks.

    ``xc`` is in cdig's working dtype; when ``model_dtype`` differs (half precision) the model
    receives ``xc`` cast to it and its floating outputs are cast back to ``xc``'s dtype (both
    casts are differentiable). With ``forward_args`` (per-sample extra arguments), ``samples``
    (LongTensor of shape (n,)) names the sample each row of ``xc`` belongs to, and the model
    receives those samples' rows of the extra arguments.
    """

    canonical = layout.ndim == 3 and layout.time_axis != 1  # to_user(xc) is xc

    def call(xc: Tensor, samples: Tensor | None = None) -> Tensor:
        xu = xc if canonical else layout.to_user(xc)
        cast = model_dtype is not None and model_dtype != xc.dtype
        given = xu.to(model_dtype) if cast else xu
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
        if forward_args is not None:
            if samples is None or samples.shape[0] != xc.shape[0]:  # pragma: no cover
                raise RuntimeError("internal error: model rows without their samples")
            args, kwargs = forward_args.rows(samples)
        try:
            out = adapter(given, *args, **kwargs)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, IndexError) as err:
            raise ValueError(_input_message(err, given, layout, time_axis)) from err
        if not isinstance(out, Tensor) or out.ndim == 0 or out.shape[0] != xc.shape[0]:
            raise ValueError(_output_message(out, xu))
        kind = out.dtype
        if not kind.is_floating_point or out.numel() == 0:  # (the checks' own conditions)
            check_model_output(out)
        if cast and out.is_floating_point():
            out = out.to(xc.dtype)
        return out

    return call


def _input_message(err: BaseException, xu: Tensor, layout: InputLayout, time_axis: int) -> str:
    first = " ".join(str(err).split())[:400]
    shape = tuple(xu.shape)
    axes = {2: "(batch, time)", -1: "(batch, channels, time)", 1: "(batch, time, channels)"}
    kind = axes[2] if layout.ndim == 2 else axes[1 if layout.time_axis == 1 else -1]
    msg = (
        f"the model failed on an input of shape {shape}, laid out as {kind} "
        f"(time_axis={time_axis}): {type(err).__name__}: {first}."
    )
    if any(word in str(err) for word in _DTYPE_WORDS):
        return (
            msg + f" The inputs were passed as {xu.dtype}, which the model does not seem to "
            "compute in: pass inputs of the model's dtype (e.g. float64 arrays for float64 "
            "weights) or cast the weights (model.float()), or wrap a module rather than "
            "a function so that cdig can read its dtype."
        )
    if any(word in str(err).lower() for word in _SHAPE_WORDS):
        return msg + (
            " Check the number of channels and the series length the model expects, and "
            "time_axis (1: (batch, time, channels); -1: (batch, channels, time)). If the model "
            "also takes tensors with one row per sample (masks, time features), their batch "
            "must follow the inputs': pass them as additional_forward_args, which repeats "
            "each sample's rows along its path."
        )
    return msg


def _output_message(out: Any, xu: Tensor) -> str:
    n = xu.shape[0]
    got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
    msg = (
        f"the model returned an output of shape {got} for a batch of {n} input(s) of shape "
        f"{tuple(xu.shape)}; outputs must keep the batch axis first, shape ({n},) or "
        f"({n}, ...). "
    )
    if isinstance(out, Tensor) and out.ndim >= 2 and out.shape[1] == n and out.shape[0] != n:
        # (n_times, batch, k): recurrent and speech/EEG models often put time first
        return msg + (
            f"The output looks time-first, (n_times={out.shape[0]}, batch={n}, ...): move "
            "the batch axis first with transpose, e.g. lambda x: m(x).transpose(0, 1) "
            "(for a model returning a tuple, lambda x: m(x)[1].transpose(0, 1))."
        )
    return msg + (
        "Do not index or reduce over the batch in the model (e.g. use "
        "lambda x: m(x)[:, 0] rather than m(x)[0], and no .sum() over all outputs)."
    )


def all_finite(t: Tensor) -> bool:
    """Whether every value of ``t`` is finite: one read of the device.

    A float32 / float64 tensor on the CPU is checked by numpy (a few microseconds; torch's
    ``isfinite(t).all()`` dispatches several operators, about 15 us on a small tensor).
    """
    if t.is_cpu and t.dtype in (torch.float32, torch.float64):
        return bool(np.isfinite(t.detach().resolve_neg().numpy()).all())
    return bool(torch.isfinite(t).all())


def check_outputs_finite(values: Tensor, samples: Tensor, where: str, alpha: float) -> None:
    """Raise :class:`NonFiniteError` when ``values`` (one per entry of ``samples``) are not finite.

    ``where`` says what was evaluated (``"inputs"``, ``"baseline"``), ``alpha`` its path position.
    """
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    idx = sorted({int(s) for s in samples[bad].tolist()})
    vals = values[bad][:3].tolist()
    text = (
        f"the explained output is NaN or infinite at the {where} (alpha={alpha:g}) for "
        f"samples {idx[:10]}{' ...' if len(idx) > 10 else ''} (values {vals}); attributions "
        "would be meaningless. "
    )
    raise NonFiniteError(
        (
            text,
            "Choose a baseline where the model is finite; pass it as ",
            Name("baselines", KEYWORD),
            ".",
        )
        if where == "baseline"
        else text + "Check the model on these inputs.",
        samples=idx,
        alphas=[alpha] * len(idx),
    )


def path_error(
    what: str, ids: Sequence[int], alphas: Sequence[float], label: str
) -> NonFiniteError:
    """:class:`NonFiniteError` for non-finite path evaluations.

    ``ids`` name the failing evaluations (``label`` says what they are: samples, path rows),
    ``alphas`` are their path positions.
    """
    pairs: dict[int, float] = {}
    for i, a in zip(ids, alphas):
        pairs.setdefault(int(i), float(a))
    shown = ", ".join(f"{i} (alpha={a:.4g})" for i, a in list(pairs.items())[:10])
    more = " ..." if len(pairs) > 10 else ""
    return NonFiniteError(
        f"the {what} is NaN or infinite on the path from the baseline (alpha=0) to the input "
        f"(alpha=1) for {label} {shown}{more}; the model must be finite and differentiable "
        "along the whole straight path (check log, sqrt, division or exp that overflow or "
        "cross a singularity there, or choose another baseline).",
        samples=list(pairs),
        alphas=list(pairs.values()),
    )


def first_bad(y: Tensor, g: Tensor) -> tuple[str, Tensor]:
    """``(what, indices of the failing evaluations)`` for outputs ``y`` and gradients ``g``."""
    ybad = ~torch.isfinite(y.detach().reshape(y.shape[0], -1)).all(dim=1)
    if bool(ybad.any()):
        return "explained output", torch.nonzero(ybad).flatten()
    gbad = ~torch.isfinite(g.reshape(g.shape[0], -1)).all(dim=1)
    return "gradient of the explained output", torch.nonzero(gbad).flatten()
