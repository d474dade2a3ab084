"""The one bridge from other frameworks to torch autograd.

A model of another framework becomes a torch function through :class:`BridgedModel`: its
``__call__`` runs the framework on the input (as numpy) and, when torch needs a gradient,
returns a tensor made by :class:`_Bridge`, a ``torch.autograd.Function`` whose ``backward``
asks the framework for the vector-Jacobian product ``g^T (dy/dx)`` with the incoming
``grad_output`` ``g`` of the whole output tensor. Only real tensors cross the bridge, so
complex-gradient conventions (PyTorch's conjugate vs. JAX's) never meet: for a real input and
a real output every framework's VJP is the same array.

A framework adapter implements three hooks on numpy arrays:

``_forward(x) -> y``
    outputs for inputs ``x`` of shape ``(n, ...)`` (the user's layout).
``_vjp(x, g) -> gx``
    ``g`` has the shape of ``y``; ``gx`` the shape of ``x``.
``_forward_vjp(x) -> (y, vjp)``
    optional: outputs and a closure ``g -> gx`` in one call, for frameworks that keep the
    intermediate values (the default calls ``_forward`` now and ``_vjp`` later).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ._torch import ModelAdapter

__all__ = [
    "BridgedModel",
    "OutputError",
    "check_real_output",
    "explicit_dtype",
    "to_numpy",
    "to_torch",
    "torch_dtype",
]

Shape = tuple[int | None, ...]
VJP = Callable[[np.ndarray], np.ndarray]

_TORCH_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    # half precision models take float32 inputs (the framework casts them); attributions,
    # domains and path sums must not run in half precision.
    "float16": torch.float32,
    "bfloat16": torch.float32,
}


class OutputError(TypeError):
    """The model returned something that is not one real floating tensor."""


def torch_dtype(name: Any) -> torch.dtype | None:
    """The torch dtype cdig feeds a model whose floating dtype is ``name`` (or None)."""
    key = str(getattr(name, "name", name)).split(".")[-1].lower()
    return _TORCH_DTYPES.get(key)


def explicit_dtype(dtype: Any) -> torch.dtype:
    """The floating torch dtype a user asked a framework model to be fed (``dtype=``)."""
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ValueError(f"dtype={dtype} must be a floating dtype (torch.float32 or float64).")
        return dtype
    out = torch_dtype(np.dtype(dtype).name if not isinstance(dtype, str) else dtype)
    if out is None:
        raise ValueError(
            f"dtype={dtype!r} must be a floating dtype such as 'float32' or 'float64'."
        )
    return out


def to_numpy(t: Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (a copy only when it lives on another device)."""
    return t.detach().cpu().numpy()


def to_torch(a: Any, like: Tensor | None = None) -> Tensor:
    """A torch tensor sharing the memory of array ``a`` when it is writable, else a copy."""
    arr = np.asarray(a)
    if (arr.dtype.kind == "f" and arr.dtype.itemsize < 4) or arr.dtype.name == "bfloat16":
        arr = arr.astype(np.float32)  # float16 / bfloat16 outputs of mixed-precision models
    elif not arr.flags.writeable or not arr.dtype.isnative:
        arr = np.array(arr, dtype=arr.dtype.newbyteorder("="))
    t = torch.from_numpy(arr)
    if like is not None:
        t = t.to(dtype=like.dtype, device=like.device)
    return t


def check_real_output(y: np.ndarray, framework: str) -> None:
    if not (np.issubdtype(y.dtype, np.floating) or y.dtype.name == "bfloat16"):
        raise OutputError(
            f"the {framework} model returned an array of dtype {y.dtype}; cdig needs real "
            "floating outputs (take the real part, magnitude or a class score in the model)."
        )


def format_shape(shape: Sequence[int | None]) -> str:
    inner = ", ".join("None" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class _Bridge(torch.autograd.Function):
    """``y = model(x)`` with ``dL/dx = VJP(model, x)(dL/dy)`` computed by the framework."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, adapter: BridgedModel) -> Tensor:
        y, vjp = adapter._run(adapter._forward_vjp, x)
        ctx.vjp = vjp
        ctx.adapter = adapter
        ctx.x_meta = (tuple(x.shape), x.dtype, x.device)
        return to_torch(y)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        shape, dtype, device = ctx.x_meta
        g = ctx.adapter._run_vjp(ctx.vjp, grad_output, shape)
        ctx.vjp = None  # free the framework's saved values
        gx = to_torch(g).to(dtype=dtype, device=device)
        if tuple(gx.shape) != shape:
            raise RuntimeError(
                f"internal error: the {ctx.adapter.framework} VJP returned shape "
                f"{tuple(gx.shape)} for an input of shape {shape}."
            )
        return gx, None


class BridgedModel(ModelAdapter):
    """A model of another framework seen as a differentiable torch function.

    Subclasses set :attr:`framework`, implement ``_forward`` and ``_vjp`` (or
    ``_forward_vjp``) on numpy arrays, and may set ``input_shape`` (expected shape, ``None``
    for free axes) for early, readable shape errors.

    Calls run on the CPU side of torch: inputs are handed over as numpy arrays (views of the
    tensors, no copy), outputs come back as tensors sharing the framework's buffer when it
    is writable. The framework itself may compute on any device it is configured for.
    """

    framework = "bridge"
    #: Exceptions of the framework that mean "this input does not fit the model".
    _input_errors: tuple[type[BaseException], ...] = (ValueError, TypeError)

    def __init__(self, input_shape: Sequence[int | None] | None = None) -> None:
        self.input_shape = None if input_shape is None else _as_shape(input_shape)

    # ------------------------------------------------------------------ torch side
    def __call__(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__} takes the input alone; extra model arguments "
                "(additional_forward_args) work with PyTorch models only."
            )
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} takes a torch.Tensor; got {type(x).__name__}.")
        if x.is_complex() or not x.is_floating_point():
            raise TypeError(
                f"{type(self).__name__} takes real floating tensors; got dtype {x.dtype}."
            )
        self._check_shape(tuple(x.shape))
        if torch.is_grad_enabled() and x.requires_grad:
            out: Tensor = _Bridge.apply(x, self)
            return out
        return to_torch(self._run(self._forward, x))

    @property
    def device(self) -> torch.device | None:
        return torch.device("cpu")

    # ------------------------------------------------------------------ framework hooks
    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _vjp(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward_vjp(self, x: np.ndarray) -> tuple[np.ndarray, VJP]:
        y = self._forward(x)

        def vjp(g: np.ndarray) -> np.ndarray:
            return self._vjp(x, g)

        return y, vjp

    # ------------------------------------------------------------------ errors
    def _check_shape(self, given: tuple[int, ...]) -> None:
        want = self.input_shape
        if want is None:
            return
        fits = len(want) == len(given) and all(w is None or w == g for w, g in zip(want, given))
        if not fits:
            raise ValueError(self._shape_message(given, None))

    def _shape_message(self, given: tuple[int, ...], err: BaseException | None) -> str:
        want = self.input_shape
        msg = f"the {self.framework} model cannot take inputs of shape {format_shape(given)}"
        if want is not None:
            msg += f"; it expects {format_shape(want)} (None: any size)"
        if err is not None:
            msg += f". {type(err).__name__}: {_summary(err)}"
        msg += "."
        swapped = (
            want is not None
            and len(want) == 3
            and len(given) == 3
            and all(w is None or w == g for w, g in zip(want[1:], given[:0:-1]))
        )
        if swapped:
            msg += (
                " The time and channel axes look swapped: if your data is laid out "
                "(batch, time, channels), pass time_axis=1 to cdig.explain / CrossDomainIG."
            )
        elif len(given) == 3:
            msg += (
                " Check time_axis (1: (batch, time, channels); -1: (batch, channels, time)) "
                "and the series length."
            )
        return msg

    def _run(self, hook: Callable[[np.ndarray], Any], x: Tensor) -> Any:
        try:
            result = hook(to_numpy(x))
        except OutputError:
            raise
        except self._input_errors as err:
            raise ValueError(self._shape_message(tuple(x.shape), err)) from err
        y = result[0] if isinstance(result, tuple) else result
        check_real_output(np.asarray(y), self.framework)
        return result

    def _run_vjp(self, vjp: VJP, grad_output: Tensor, x_shape: tuple[int, ...]) -> np.ndarray:
        try:
            return vjp(to_numpy(grad_output.contiguous()))
        except self._input_errors as err:
            raise ValueError(self._shape_message(x_shape, err)) from err


def _summary(err: BaseException, limit: int = 500) -> str:
    """The framework's message on one line: ANSI colours and argument dumps dropped."""
    lines = []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines():
        if line.strip().startswith("Arguments received"):
            break
        if line.strip():
            lines.append(line.strip())
    text = " ".join(lines)
    return (text[: limit - 3] + "...") if len(text) > limit else text.rstrip(".")


def _as_shape(shape: Sequence[int | None]) -> Shape:
    try:
        out = tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"input_shape={shape!r} must be a sequence of ints or None (None: any size), "
            "e.g. (None, 256, 1)."
        ) from None
    return out
