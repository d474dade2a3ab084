"""Validation and normalization of user inputs, done once at the boundary.

Inside cdig every series batch has the canonical layout ``(batch, channels, time)``. The
:class:`cdig._layout.InputLayout` remembers how the user laid out the data so that the model
is always called in the user's own layout. The ``target`` argument is validated in
:mod:`cdig.targets`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from ._layout import InputLayout
from ._text import ArgumentError, ArgumentTypeError, Name
from .domains import Domain, get_domain

__all__ = [
    "as_series",
    "as_baselines",
    "ForwardArgs",
    "as_forward_args",
]

ArrayLike = Union[np.ndarray, Tensor, Sequence[Any], float]


#: The layouts built so far, by ``(ndim, time_axis)`` of plain ints (frozen: shared).
_LAYOUTS: dict[tuple[int, int], InputLayout] = {}


def _layout(ndim: int, time_axis: int) -> InputLayout:
    plain = type(ndim) is int and type(time_axis) is int
    if plain:
        hit = _LAYOUTS.get((ndim, time_axis))
        if hit is not None:  # checked when it was built
            return hit
    layout = _new_layout(ndim, time_axis)
    if plain:
        _LAYOUTS[ndim, time_axis] = layout
    return layout


def _new_layout(ndim: int, time_axis: int) -> InputLayout:
    if isinstance(time_axis, bool) or not isinstance(time_axis, numbers.Integral):
        raise ArgumentTypeError(Name("time_axis", time_axis), " must be an integer axis index.")
    if ndim not in (2, 3):
        raise ArgumentError(
            "inputs must have shape (batch, channels, time), (batch, time, channels) with ",
            Name("time_axis", 1),
            f", (batch, time), or (time,) for one series; got {ndim} dimension(s).",
            argument="inputs",
        )
    axis = int(time_axis) % ndim if -ndim <= time_axis < ndim else None
    if axis is None or axis == 0 or (ndim == 2 and axis != 1):
        raise ArgumentError(
            Name("time_axis", time_axis),
            f" is not valid for {ndim}-d inputs; use -1 for (batch, channels, time) or "
            "(batch, time), and 1 for (batch, time, channels).",
        )
    return InputLayout(ndim=ndim, time_axis=axis)


def _all_finite(t: Tensor) -> bool:
    if t.is_cpu and t.dtype in (torch.float32, torch.float64):
        # numpy: no dispatch cost on small inputs (a reduction without ndarray.all()'s
        # Python wrapper; elementwise: a sum would warn where finite values overflow)
        return bool(np.logical_and.reduce(np.isfinite(t.numpy()), axis=None))
    return bool(torch.isfinite(t).all())


def _is_pandas(value: Any, kind: str) -> bool:
    return type(value).__name__ == kind and type(value).__module__.startswith("pandas")


def _to_tensor(value: Any, name: str, dtype: torch.dtype | None, device: Any) -> Tensor:
    if isinstance(value, Tensor):
        # (a tensor outside any graph is used as it is: detach() would only alias it)
        t = value.detach() if value.requires_grad or value.grad_fn is not None else value
    else:
        try:
            arr = np.asarray(value.to_numpy() if _is_pandas(value, "DataFrame") else value)
        except Exception as err:  # pragma: no cover - exotic objects
            raise ArgumentTypeError(
                Name(name), f" must be a numpy array or torch tensor; got {type(value)}"
            ) from err
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
        ):
            raise ArgumentTypeError(
                Name(name), f" must hold real numbers; got an array of dtype {arr.dtype}."
            )
        arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # e.g. a pandas Series' values: torch warns on these
            arr = arr.copy()
        t = torch.from_numpy(arr)
    if t.is_complex():
        raise ArgumentTypeError(Name(name), f" must be real-valued; got complex dtype {t.dtype}.")
    if t.is_meta:
        raise ArgumentError(
            Name(name),
            " is on the 'meta' device, which holds shapes but no values; there is "
            "nothing to explain. Pass real data (on 'cpu' or a GPU).",
        )
    if device is not None and not isinstance(device, torch.device):
        device = torch.device(device)
    if device is not None and device.type == "meta":
        raise ValueError(
            "the model's weights are on the 'meta' device, which holds shapes but no values; "
            "load its weights (e.g. model.to_empty(device='cpu') then load_state_dict) before "
            "explaining it."
        )
    if dtype is None:
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
    given_finite = t.is_floating_point() and dtype != t.dtype and _all_finite(t)
    if dtype != t.dtype or (device is not None and t.device != device):
        t = t.to(dtype=dtype, device=device)  # (the same tensor when nothing changes)
    if given_finite and not _all_finite(t):
        raise ArgumentError(
            Name(name),
            f" holds values beyond the range of {dtype} (largest magnitude "
            f"{torch.finfo(dtype).max:.3g}), the dtype the model computes in; rescale them.",
        )
    if not _all_finite(t):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ArgumentError(
            Name(name), f" contains {n_bad} NaN or infinite value(s); clean or impute them first."
        )
    return t


def as_series(
    x: ArrayLike, time_axis: int, dtype: torch.dtype | None, device: Any
) -> tuple[Tensor, InputLayout]:
    """Validate ``x`` and return it as a tensor of shape ``(batch, channels, time)``.

    One series is a batch of one: a 1-d array or a pandas ``Series`` is one single-channel
    series, and a pandas ``DataFrame`` is one series with rows = time and columns = channels
    (as a CSV file is read by ``cdig explain``). Both are given to the model as
    ``(1, channels, time)``, or ``(1, time, channels)`` with ``time_axis=1``.
    """
    frame = _is_pandas(x, "DataFrame")
    t = _to_tensor(x, "inputs", dtype, device)
    if frame or t.ndim == 1:
        _layout(3, time_axis)  # the error for a bad time_axis, before reshaping
        t = t.reshape(len(t), -1)  # (time, channels)
        t = (t.T if int(time_axis) % 3 == 2 else t).unsqueeze(0)
    layout = _layout(t.ndim, time_axis)
    xc = layout.to_canonical(t)
    if xc.shape[0] < 1:
        raise ValueError("inputs has an empty batch axis; pass at least one series.")
    if xc.shape[1] < 1:
        raise ArgumentError(
            f"inputs has no channels (shape {tuple(t.shape)}); every series needs at least "
            "one channel. Check the array and ",
            Name("time_axis"),
            ".",
            argument="inputs",
        )
    if xc.shape[-1] < 2:
        raise ArgumentError(
            f"inputs has {xc.shape[-1]} time point(s) along ",
            Name("time_axis", time_axis),
            "; at least 2 are needed. Check ",
            Name("time_axis"),
            " (1 for (batch, time, channels)).",
            argument="inputs",
        )
    return xc, layout


def check_model_output(out: Tensor) -> None:
    """The model's output for a batch: real floating values, at least one per sample.

    Raises ``TypeError`` for boolean, integer or complex outputs (no gradient to integrate)
    and ``ValueError`` for an empty output such as shape ``(batch, 0)``.
    """
    kind = out.dtype  # (its flags: no calls of tensor methods for every model call)
    if not kind.is_floating_point and kind.is_complex:
        raise TypeError(
            f"the model returned complex outputs (dtype {out.dtype}); integrated gradients "
            "need a real output. Explain a real function of it, e.g. its magnitude: "
            "cdig.explain(lambda x: model(x).abs(), ...)."
        )
    if not kind.is_floating_point:
        raise TypeError(
            f"the model returned outputs of dtype {out.dtype}; a boolean or integer output has "
            "no gradient to integrate. Explain the scores before the threshold or arg-max "
            "(the logits or probabilities)."
        )
    if out.numel() == 0:
        raise ValueError(
            f"the model returned an empty output of shape {tuple(out.shape)}; there is no "
            "output to explain. Check the model (an output axis of size 0)."
        )


def as_baselines(baselines: Any, x: Tensor, layout: InputLayout) -> Tensor:
    """Baselines as a tensor of shape ``(n_baselines, batch, channels, time)``.

    ``None`` means zeros; a number fills the input's shape; an array broadcastable to the
    input's (user-layout) shape is one baseline; an array with one more leading axis holds
    several baselines, whose attributions are averaged.
    """
    if baselines is None:
        if x.is_contiguous():  # the same zeros as zeros_like(x).unsqueeze(0), one operation
            return x.new_zeros((1, *x.shape))
        return torch.zeros_like(x).unsqueeze(0)
    number = _baseline_number(baselines)
    if number is not None:
        if x.is_floating_point() and abs(number) > torch.finfo(x.dtype).max:
            raise ArgumentError(
                Name("baselines", number),
                f" does not fit in {x.dtype} (largest magnitude "
                f"{torch.finfo(x.dtype).max:.3g}), the dtype the inputs are explained in; pass a "
                "baseline in the range of your data.",
            )
        return torch.full_like(x, number).unsqueeze(0)
    b = _to_tensor(baselines, "baselines", x.dtype, x.device)
    user_shape = tuple(layout.to_user(x).shape)
    stacked = b.ndim == len(user_shape) + 1
    try:
        if stacked:
            b = b.expand(b.shape[0], *user_shape)
        else:
            b = b.expand(*user_shape).unsqueeze(0)
    except RuntimeError:
        raise ArgumentError(
            Name("baselines"),
            f" has shape {tuple(b.shape)}, which does not broadcast to the inputs' "
            f"shape {user_shape}; pass one baseline broadcastable to it, or several stacked "
            f"on a leading axis, shape (n_baselines, {', '.join(map(str, user_shape))}).",
        ) from None
    if b.shape[0] < 1:
        raise ArgumentError(Name("baselines"), " has an empty leading (n_baselines) axis.")
    return layout.to_canonical(b).contiguous()


def _baseline_number(baselines: Any) -> float | None:
    """``baselines`` as a finite float when it is a number, else None; booleans refused."""
    if isinstance(baselines, (bool, np.bool_)) or (
        isinstance(baselines, (np.ndarray, Tensor)) and baselines.dtype in (np.bool_, torch.bool)
    ):
        one = np.ndim(baselines) == 0
        raise ArgumentTypeError(
            Name("baselines", baselines) if one else Name("baselines"),
            " is" if one else " are",
            " boolean; pass None (zeros), a number such as 1.0, or an array of "
            "baseline series (cast a mask with .astype(float) if that is what you mean).",
        )
    if isinstance(baselines, numbers.Real):
        if not np.isfinite(float(baselines)):
            raise ArgumentError(Name("baselines", baselines), " must be finite.")
        return float(baselines)
    return None


def as_dataset_baselines(baselines: Any, sample_shape: tuple[int, ...]) -> Any:
    """Baselines for every batch of a dataset, validated once before any batch runs.

    Returns None, a float, or the array as given: one baseline broadcastable to a sample's
    shape ``sample_shape`` (user layout, no batch axis), or several stacked on a leading axis,
    ``(n_baselines, *sample_shape)``. :func:`batch_baselines` gives a batch's form of it.
    The elements are checked as :func:`as_baselines` checks them (real, finite, not bool).
    """
    if baselines is None:
        return None
    number = _baseline_number(baselines)
    if number is not None:
        return number
    _to_tensor(baselines, "baselines", torch.float64, "cpu")  # real, numeric and finite
    arr = np.asarray(baselines.detach().cpu() if isinstance(baselines, Tensor) else baselines)
    nd = len(sample_shape)
    ok = arr.ndim in (nd, nd + 1)
    if ok:
        try:
            np.broadcast_shapes(arr.shape[arr.ndim - nd :], sample_shape)
        except ValueError:
            ok = False
    if not ok:
        raise ArgumentError(
            Name("baselines"),
            f" has shape {arr.shape}; for a dataset give a number, one baseline "
            f"broadcastable to a sample's shape {sample_shape}, or several stacked, shape "
            f"(n_baselines, {', '.join(map(str, sample_shape))}). Per-sample baselines are not "
            "supported by explain_dataset.",
        )
    return arr


def batch_baselines(baselines: Any, n_dims: int) -> Any:
    """The ``baselines`` argument of one batch (``n_dims`` axes) of :func:`as_dataset_baselines`.

    One baseline broadcasts as it is; stacked ones get a batch axis of 1.
    """
    if isinstance(baselines, np.ndarray) and baselines.ndim == n_dims:  # (S, *sample_shape)
        return baselines[:, None]
    return baselines


# ---------------------------------------------------------------------- domains
def resolve_domains(domain: Any, fs: float | None) -> list[tuple[str, Domain]]:
    """``(label, domain)`` pairs of a domain argument (a name, a Domain, a list or a dict).

    Names are built with ``fs``; labels are the names, the domains' names or the dict keys,
    and must be distinct.
    """
    if isinstance(domain, (str, Domain)):
        items: list[tuple[str | None, Any]] = [(None, domain)]
    elif isinstance(domain, Mapping):
        items = [(str(k), v) for k, v in domain.items()]
    elif isinstance(domain, Sequence):
        items = [(None, d) for d in domain]
    else:
        raise TypeError(
            f"domain must be a name, a Domain, or a list/dict of them; got {type(domain).__name__}."
        )
    if not items:
        raise ValueError("domain is empty; give at least one domain.")
    out: list[tuple[str, Domain]] = []
    for label, d in items:
        dom = get_domain(d, fs=fs)
        dom_fs = getattr(dom, "fs", None)
        if fs is not None and dom_fs not in (None, fs):
            raise ValueError(
                f"fs={fs} conflicts with {type(dom).__name__}(fs={dom_fs}); set it in one place."
            )
        name = label or (d if isinstance(d, str) else dom.name)
        if any(name == n for n, _ in out):
            raise ValueError(
                f"domain {name!r} is given twice; pass a dict {{label: domain}} to name them."
            )
        out.append((name, dom))
    return out


@dataclass(frozen=True)
class ForwardArgs:
    """Extra model arguments with one row per sample, repeated along each sample's path.

    Captum's ``additional_forward_args`` convention: the model is called as
    ``model(x_rows, *args_rows, **kwargs_rows)``, where every tensor whose leading axis is the
    batch of inputs is indexed by the sample each path point belongs to, and everything else
    (numbers, strings, ``None``, 0-d tensors) is passed unchanged. Built by
    :func:`as_forward_args`.
    """

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    batch: int

    def rows(self, samples: Tensor) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments for model rows belonging to ``samples`` (LongTensor of shape (n,))."""

        def pick(v: Any) -> Any:
            if isinstance(v, Tensor) and v.ndim >= 1:
                return v.index_select(0, samples.to(v.device))
            return v

        return tuple(pick(v) for v in self.args), {k: pick(v) for k, v in self.kwargs.items()}


def as_forward_args(
    value: Any,
    batch: int,
    dtype: torch.dtype | None,
    device: Any,
    framework: str = "torch",
) -> ForwardArgs | None:
    """Validate ``additional_forward_args`` for a batch of ``batch`` inputs.

    Parameters
    ----------
    value : None, mapping, tuple, list, or one value
        A mapping passes keyword arguments, a tuple or list positional ones (after the
        input), anything else one positional argument, as in Captum. Tensors and arrays must
        have the batch as their leading axis; they are copied (detached) and moved to
        ``device``. Floating numpy arrays take ``dtype`` (the model's, else float32).
    batch : int
        Number of input series.

    Raises
    ------
    TypeError
        For a model that is not a PyTorch model, or a keyword that is not a string.
    ValueError
        For a tensor or array whose leading axis is not the batch, naming the argument.
    """
    if value is None:
        return None
    if framework != "torch":
        raise TypeError(
            f"additional_forward_args work with PyTorch models; this is a {framework} model. "
            "Give it its extra inputs inside a function (lambda x: model(x, extra)) and "
            "explain that, with extra inputs of the right batch."
        )
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(
                f"additional_forward_args keys must be keyword names (str); got {bad[:3]}."
            )
        named: list[tuple[str, Any]] = [(f"[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, (tuple, list)):
        named = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        named = [("", value)]
    out = []
    for label, v in named:
        if isinstance(v, Tensor) or (hasattr(v, "__array__") and not isinstance(v, (str, bytes))):
            t = v.detach() if isinstance(v, Tensor) else torch.as_tensor(np.asarray(v))
            if not isinstance(v, Tensor) and t.is_floating_point():
                t = t.to(dtype if dtype is not None and dtype.is_floating_point else torch.float32)
            if t.ndim >= 1 and t.shape[0] != batch:
                raise ValueError(
                    f"additional_forward_args{label} has shape {tuple(t.shape)}; its first axis "
                    f"must be the batch of inputs ({batch} series), since each sample's row is "
                    "repeated along its path. An argument that is the same for every sample "
                    "goes to the model directly: cdig.models.select(model, output, NAME=value) "
                    "or a lambda."
                )
            v = t.to(device) if device is not None else t
        out.append(v)
    if isinstance(value, Mapping):
        return ForwardArgs((), dict(zip(value.keys(), out)), batch)
    return ForwardArgs(tuple(out), {}, batch)
