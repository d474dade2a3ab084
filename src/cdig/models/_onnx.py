"""ONNX graphs of standard operators as differentiable torch modules.

An ONNX file is data: a protobuf message holding a graph of named operators and their
weights. :func:`convert` parses it with the ``onnx`` package (protobuf, no code runs), checks
it, and returns an :class:`OnnxModule` that evaluates the graph node by node with torch
functions, so gradients flow to its inputs. Checked before anything is allocated:

- every operator is one of the standard (``ai.onnx``) operators in :data:`OPERATORS`;
  others (custom domains, control flow, unknown names) are refused, all named at once;
- every weight's declared shape matches the bytes it holds (inline), or the byte range it
  names in an external-data file, which must be a relative path inside the model's folder
  (no absolute path, no ``..``, no link leading out) and lie within that file;
- shapes the graph builds at run time (``ConstantOfShape``, ``Expand``, ``Tile``, ``Range``)
  stay under :data:`MAX_ELEMENTS` elements.

Operators follow the ONNX specification (opsets 7 to 28, the inputs-or-attributes variants
of ``Squeeze``, ``Unsqueeze``, ``Slice``, ``Split``, ``Clip``, ``Pad`` and the reductions);
``LSTM`` and ``GRU`` with constant weights and default activations run as
:class:`torch.nn.LSTM` / :class:`torch.nn.GRU` with the gates reordered (ONNX ``i, o, f, c``
-> torch ``i, f, g, o``; ``z, r, h`` -> ``r, z, n``), the others (computed weights, reverse
direction, peepholes, ``clip``, other activations, GRU's ``linear_before_reset=0``) step by
step as the specification writes them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "MAX_ELEMENTS",
    "MAX_OPSET",
    "ONNX_OPERATORS",
    "OPERATORS",
    "OnnxError",
    "OnnxModule",
    "convert",
    "from_onnx",
]

#: Newest opset of the default domain read (that of onnx 1.23).
MAX_OPSET = 28
#: Most elements a tensor built from a shape computed at run time may have.
MAX_ELEMENTS = 1 << 31


class OnnxError(ValueError):
    """The ONNX file is refused: unknown operators, unsafe external data, inconsistent sizes."""


# ONNX TensorProto data types -> numpy
_NP_TYPES: dict[int, Any] = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
    7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}  # fmt: skip
_TORCH_TYPES: dict[int, torch.dtype] = {
    1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32,
    7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16,
}  # fmt: skip


# ---------------------------------------------------------------------- reading
def convert(path: str | os.PathLike[str]) -> OnnxModule:
    """Read the ONNX model at ``path`` as a torch module.

    Parameters
    ----------
    path : str or path
        An ``.onnx`` file; external data files, if any, in its folder.

    Returns
    -------
    OnnxModule
        ``forward(*inputs)`` takes the graph's inputs in order (tensors of the shapes and
        dtypes the graph declares) and returns its output, or a tuple when it has several.

    Raises
    ------
    OnnxError
        (a :class:`ValueError`) For a file that is not ONNX, unknown or unsupported operators
        (all named), external data outside the model's folder, weights whose declared size
        does not match their bytes.
    ImportError
        When the ``onnx`` package is not installed (``pip install cdig[onnx]``).
    """
    from .._optional import require

    onnx = require("onnx", "loading ONNX models")
    p = Path(path)
    try:
        model = onnx.load_model(str(p), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends
        raise OnnxError(f"it is not an ONNX model ({type(err).__name__}: {err}).") from None
    graph = model.graph
    if not graph.node:
        raise OnnxError("its graph has no nodes.")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not 7 <= opset <= MAX_OPSET:
        raise OnnxError(f"it uses opset {opset}; cdig reads opsets 7 to {MAX_OPSET}.")
    unknown = sorted(
        {
            (n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}")
            for n in graph.node
            if n.domain not in ("", "ai.onnx") or n.op_type not in OPERATORS
        }
    )
    if unknown:
        raise OnnxError(
            f"it uses the operator(s) {', '.join(unknown)}, which cdig does not convert (it "
            f"converts the standard operators {', '.join(sorted(OPERATORS))}). Re-export the "
            "model with standard operators, or load your own architecture as MODULE:FACTORY "
            "with its weights."
        )
    size = p.stat().st_size
    init = {t.name: _tensor(t, p, size) for t in graph.initializer}
    nodes = [_Node.of(n, p, size) for n in graph.node]
    init_names = set(init)
    inputs = [i.name for i in graph.input if i.name not in init_names]
    outputs = [o.name for o in graph.output]
    _check_order(nodes, set(inputs) | init_names, outputs)
    return OnnxModule(nodes, init, inputs, outputs, opset)


def _check_order(nodes: list[_Node], known: set[str], outputs: list[str]) -> None:
    """Every node reads only names defined before it (ONNX's topological order)."""
    known = set(known)
    for j, node in enumerate(nodes):
        missing = [i for i in node.inputs if i and i not in known]
        if missing:
            raise OnnxError(
                f"its node {node.name or j} ({node.op}) reads {', '.join(map(repr, missing))}, "
                "which no graph input, weight or earlier node defines."
            )
        known.update(o for o in node.outputs if o)
    undefined = [o for o in outputs if o not in known]
    if undefined:
        raise OnnxError(f"its outputs {', '.join(map(repr, undefined))} are never computed.")


def _tensor(t: Any, model_path: Path, model_size: int) -> Tensor:
    """A TensorProto as a torch tensor, its declared size checked against its bytes first."""
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise OnnxError(f"the tensor {t.name!r} declares a negative dimension {dims}.")
    dtype = _NP_TYPES.get(t.data_type)
    if dtype is None:
        raise OnnxError(f"the tensor {t.name!r} has the unsupported data type {t.data_type}.")
    numel = math.prod(dims)
    itemsize = np.dtype(dtype).itemsize
    if t.data_location == 1:  # EXTERNAL
        raw = _external(t, model_path, numel * itemsize)
    elif t.HasField("raw_data"):
        raw = t.raw_data
    else:
        field = {
            1: t.float_data, 11: t.double_data, 7: t.int64_data, 12: t.uint64_data,
            13: t.uint64_data,
        }.get(t.data_type, t.int32_data)  # fmt: skip
        if len(field) != numel:
            raise OnnxError(
                f"the tensor {t.name!r} declares {numel} elements (shape {dims}) but holds "
                f"{len(field)}."
            )
        arr = np.asarray(field)
        if t.data_type == 10:  # float16 stored as uint16 bit patterns in int32_data
            arr = arr.astype(np.uint16).view(np.float16)
        return torch.from_numpy(np.array(arr, dtype=dtype).reshape(dims))
    if len(raw) != numel * itemsize:
        raise OnnxError(
            f"the tensor {t.name!r} declares the shape {dims} ({numel * itemsize} bytes) but "
            f"holds {len(raw)} bytes; refused before allocating it."
        )
    arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=numel)
    return torch.from_numpy(arr.astype(dtype).reshape(dims))


def _external(t: Any, model_path: Path, nbytes: int) -> bytes:
    """The bytes of an external-data tensor, from a file inside the model's folder only."""
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    folder = model_path.resolve().parent
    rel = Path(location)
    if (
        not location
        or rel.is_absolute()
        or ".." in rel.parts
        or rel.drive
        or "\\" in location
        or not (folder / rel).resolve().is_relative_to(folder)
    ):
        raise OnnxError(
            f"the tensor {t.name!r} names the external data file {location!r}, which is not "
            "a relative path inside the model's folder; refused (an ONNX file may only read "
            "data stored next to it)."
        )
    target = folder / rel
    if not target.is_file():
        raise OnnxError(f"the external data file {location!r} of {t.name!r} is missing.")
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", nbytes))
    except ValueError:
        raise OnnxError(f"the tensor {t.name!r} has a malformed external-data range.") from None
    fsize = target.stat().st_size
    if offset < 0 or length != nbytes or offset + length > fsize:
        raise OnnxError(
            f"the tensor {t.name!r} needs {nbytes} bytes at offset {offset} of {location!r} "
            f"(declared length {length}), which holds {fsize}; refused before allocating it."
        )
    with open(target, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


class _Node:
    """One graph node: its operator, inputs, outputs and attributes (Python values)."""

    __slots__ = ("attrs", "inputs", "name", "op", "outputs")

    def __init__(self, op: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any],
                 name: str) -> None:  # fmt: skip
        self.op, self.inputs, self.outputs, self.attrs, self.name = (
            op, inputs, outputs, attrs, name,
        )  # fmt: skip

    @classmethod
    def of(cls, n: Any, model_path: Path, model_size: int) -> _Node:
        attrs: dict[str, Any] = {}
        for a in n.attribute:
            if a.type == 1:  # FLOAT
                attrs[a.name] = float(a.f)
            elif a.type == 2:  # INT
                attrs[a.name] = int(a.i)
            elif a.type == 3:  # STRING
                attrs[a.name] = a.s.decode("utf-8", "replace")
            elif a.type == 4:  # TENSOR
                attrs[a.name] = _tensor(a.t, model_path, model_size)
            elif a.type == 6:
                attrs[a.name] = [float(v) for v in a.floats]
            elif a.type == 7:
                attrs[a.name] = [int(v) for v in a.ints]
            elif a.type == 8:
                attrs[a.name] = [s.decode("utf-8", "replace") for s in a.strings]
            else:
                raise OnnxError(
                    f"the {n.op_type} node {n.name!r} has the attribute {a.name!r} of a kind "
                    "cdig does not read (graphs, sparse tensors, types)."
                )
        attrs["_n_outputs"] = len(n.output)
        if n.op_type == "Constant" and "value" not in attrs:
            for key in ("value_float", "value_int", "value_floats", "value_ints"):
                if key in attrs:
                    v = attrs.pop(key)
                    attrs["value"] = torch.tensor(
                        v, dtype=torch.float32 if "float" in key else torch.int64
                    )
            if "value" not in attrs:
                raise OnnxError(f"the Constant node {n.name!r} holds no tensor value.")
        return cls(n.op_type, list(n.input), list(n.output), attrs, n.name)


# ---------------------------------------------------------------------- the module
class OnnxModule(torch.nn.Module):
    """An ONNX graph evaluated with torch operators (differentiable in its float inputs).

    Parameters
    ----------
    nodes : list
        The graph's nodes in topological order (as ONNX requires).
    initializers : dict of str to Tensor
        Weights; floating ones become parameters, the rest buffers.
    inputs, outputs : list of str
        The graph's input and output names.
    opset : int
        The default domain's opset version.
    """

    def __init__(self, nodes: list[_Node], initializers: dict[str, Tensor], inputs: list[str],
                 outputs: list[str], opset: int) -> None:  # fmt: skip
        super().__init__()
        self.nodes, self.input_names, self.output_names, self.opset = nodes, inputs, outputs, opset
        self.weights = torch.nn.ParameterDict()
        self._keys: dict[str, str] = {}
        for i, (name, t) in enumerate(initializers.items()):
            key = f"w{i}"
            self._keys[name] = key
            if t.is_floating_point():
                self.weights[key] = torch.nn.Parameter(t.clone(), requires_grad=False)
            else:
                self.register_buffer(f"b{i}", t.clone())
                self._keys[name] = f"b{i}"
        self.rnns = torch.nn.ModuleDict()
        for j, node in enumerate(nodes):
            if node.op in ("LSTM", "GRU"):
                _check_rnn(node)
                if _fast_rnn(node, initializers):
                    self.rnns[str(j)] = _build_rnn(node, initializers)

    def _value(self, name: str) -> Tensor:
        key = self._keys[name]
        return self.weights[key] if key.startswith("w") else getattr(self, key)

    def forward(self, *args: Tensor) -> Any:
        if len(args) != len(self.input_names):
            raise TypeError(
                f"this ONNX model takes {len(self.input_names)} input(s) "
                f"({', '.join(self.input_names)}); got {len(args)}."
            )
        env: dict[str, Tensor | None] = {"": None}
        for name in self._keys:
            env[name] = self._value(name)
        env.update(zip(self.input_names, args))
        for j, node in enumerate(self.nodes):
            ins = [env[i] if i else None for i in node.inputs]
            try:
                if node.op in ("LSTM", "GRU") and str(j) in self.rnns:
                    outs = _run_rnn(node, self.rnns[str(j)], ins)
                elif node.op in ("LSTM", "GRU"):
                    outs = _loop_rnn(node, ins)
                else:
                    res = OPERATORS[node.op](ins, node.attrs, self.opset)
                    outs = res if isinstance(res, tuple) else (res,)
            except OnnxError:
                raise
            except (RuntimeError, ValueError, IndexError, TypeError) as err:
                raise RuntimeError(f"ONNX node {node.name or j} ({node.op}) failed: {err}") from err
            for name, out in zip(node.outputs, outs):
                if name:
                    env[name] = out
        result = tuple(env[o] for o in self.output_names)
        return result[0] if len(result) == 1 else result


# ---------------------------------------------------------------------- operators
_Op = Callable[[list[Any], dict[str, Any], int], Any]


def _ints(t: Tensor | None) -> list[int]:
    return [] if t is None else [int(v) for v in t.reshape(-1).tolist()]


def _limit(shape: list[int], op: str) -> list[int]:
    n = math.prod(shape) if shape else 1
    if any(s < 0 for s in shape) or n > MAX_ELEMENTS:
        raise OnnxError(
            f"{op} would build a tensor of shape {shape} ({n} elements), above the limit of "
            f"{MAX_ELEMENTS}; refused."
        )
    return shape


def _broadcast_pair(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Equal dtypes (ONNX's rule), the wider float when the module was cast (``.double()``)."""
    if a.dtype != b.dtype:
        if a.is_floating_point() and b.is_floating_point():
            wide = torch.promote_types(a.dtype, b.dtype)
            return a.to(wide), b.to(wide)
        if a.is_floating_point():
            return a, b.to(a.dtype)
        if b.is_floating_point():
            return a.to(b.dtype), b
        return a, b.to(a.dtype)
    return a, b


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> _Op:
    def op(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
        return fn(*_broadcast_pair(ins[0], ins[1]))

    return op


def _unary(fn: Callable[[Tensor], Tensor]) -> _Op:
    return lambda ins, attrs, opset: fn(ins[0])


def _div(a: Tensor, b: Tensor) -> Tensor:
    if a.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _axes(ins: list[Any], attrs: dict[str, Any], pos: int = 1) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(ins) > pos and ins[pos] is not None:
        return _ints(ins[pos])
    return None


def _squeeze(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    axes = _axes(ins, attrs)
    x = ins[0]
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a % x.ndim for a in axes)) if axes else x


def _unsqueeze(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    axes = _axes(ins, attrs) or []
    x = ins[0]
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = x.unsqueeze(a)
    return x


def _reshape(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, shape = ins[0], _ints(ins[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _flatten(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x = ins[0]
    axis = attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _transpose(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x = ins[0]
    perm = attrs.get("perm") or list(range(x.ndim))[::-1]
    return x.permute(perm)


def _concat(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    given = [t for t in ins if t is not None]
    # ONNX allows empty 1-D inputs of any type (shape lists); torch.cat needs equal ranks
    parts = [t for t in given if t.numel() > 0 or t.ndim > 1] or given
    dtype = parts[0].dtype
    return torch.cat([t.to(dtype) for t in parts], dim=attrs["axis"])


def _gather(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, idx = ins
    axis = attrs.get("axis", 0) % x.ndim
    idx = torch.where(idx < 0, idx + x.shape[axis], idx).long()
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]))


def _slice(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x = ins[0]
    if opset < 10:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = attrs.get("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= x.ndim
        n = x.shape[axis]
        if step == 0:
            raise OnnxError("Slice with step 0.")
        start = start + n if start < 0 else start
        end = end + n if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), n), min(max(end, 0), n)
            x = x.narrow(axis, start, max(end - start, 0))[
                (slice(None),) * axis + (slice(None, None, step),)
            ] if step > 1 else x.narrow(axis, start, max(end - start, 0))  # fmt: skip
        else:
            start, end = min(max(start, -1), n - 1), min(max(end, -1), n - 1)
            idx = torch.arange(start, end, step, device=x.device)
            x = torch.index_select(x, axis, idx)
    return x


def _split(ins: list[Any], attrs: dict[str, Any], opset: int) -> tuple[Tensor, ...]:
    x = ins[0]
    axis = attrs.get("axis", 0) % x.ndim
    sizes = attrs.get("split") or (_ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None)
    if not sizes:
        k = attrs.get("num_outputs") or attrs.get("_n_outputs", 2)
        chunk = -(-x.shape[axis] // k)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(k)]
    return tuple(torch.split(x, sizes, dim=axis))


def _constant_of_shape(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    shape = _limit(_ints(ins[0]), "ConstantOfShape")
    value = attrs.get("value", torch.zeros(1))
    return torch.full(shape, value.reshape(-1)[0].item(), dtype=value.dtype)


def _expand(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, shape = ins[0], _ints(ins[1])
    out_shape = list(torch.broadcast_shapes(tuple(x.shape), tuple(shape)))
    _limit(out_shape, "Expand")
    return x.expand(out_shape)


def _tile(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, reps = ins[0], _ints(ins[1])
    _limit([s * r for s, r in zip(x.shape, reps)], "Tile")
    return x.repeat(reps)


def _range(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    start, limit, delta = (t.item() for t in ins)
    n = max(math.ceil((limit - start) / delta), 0) if delta else -1
    _limit([n], "Range")
    return torch.arange(start, limit, delta, dtype=ins[0].dtype)


def _cast(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    to = _TORCH_TYPES.get(attrs["to"])
    if to is None:
        raise OnnxError(f"Cast to the unsupported data type {attrs['to']}.")
    return ins[0].to(to)


def _softmax(fn: Callable[..., Tensor]) -> _Op:
    def op(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
        x = ins[0]
        if opset >= 13:
            return fn(x, dim=attrs.get("axis", -1))
        axis = attrs.get("axis", 1) % x.ndim  # before opset 13: over the flattened tail
        flat = x.reshape(math.prod(x.shape[:axis]), -1)
        return fn(flat, dim=1).reshape(x.shape)

    return op


def _gemm(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    a, b = ins[0], ins[1]
    if attrs.get("transA", 0):
        a = a.t()
    if attrs.get("transB", 0):
        b = b.t()
    out = attrs.get("alpha", 1.0) * (a @ b)
    if len(ins) > 2 and ins[2] is not None:
        out = out + attrs.get("beta", 1.0) * ins[2]
    return out


def _pads_for(x: Tensor, attrs: dict[str, Any], kernel: list[int], strides: list[int],
              dilations: list[int]) -> list[int]:  # fmt: skip
    """ONNX begin/end pads ``[b1, b2, ..., e1, e2, ...]`` for the spatial dims of ``x``."""
    k = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads_b, pads_e = [], []
        for i in range(k):
            n = x.shape[2 + i]
            out = -(-n // strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - n, 0)
            small, big = total // 2, total - total // 2
            pads_b.append(small if auto == "SAME_UPPER" else big)
            pads_e.append(big if auto == "SAME_UPPER" else small)
        return pads_b + pads_e
    if auto == "VALID":
        return [0] * (2 * k)
    return list(attrs.get("pads") or [0] * (2 * k))


def _padded_shape(x: Tensor, pads: list[int], op: str) -> list[int]:
    """The shape of ``x`` with ONNX ``pads`` on its trailing dims, within :data:`MAX_ELEMENTS`."""
    k = len(pads) // 2
    lead = list(x.shape[: x.ndim - k])
    return _limit([*lead, *(x.shape[x.ndim - k + i] + pads[i] + pads[k + i] for i in range(k))], op)


def _pad_input(x: Tensor, pads: list[int], value: float = 0.0) -> tuple[Tensor, list[int]]:
    """Apply asymmetric pads with F.pad; return the symmetric padding left for the op."""
    k = len(pads) // 2
    begin, end = pads[:k], pads[k:]
    if begin == end:
        return x, begin
    torch_pads: list[int] = []
    for i in reversed(range(k)):
        torch_pads += [begin[i], end[i]]
    return F.pad(x, torch_pads, value=value), [0] * k


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _conv(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    k = w.ndim - 2
    kernel = list(attrs.get("kernel_shape") or w.shape[2:])
    strides = list(attrs.get("strides") or [1] * k)
    dilations = list(attrs.get("dilations") or [1] * k)
    pads = _pads_for(x, attrs, kernel, strides, dilations)
    _padded_shape(x, pads, "Conv")
    x, padding = _pad_input(x, pads)
    return _CONV[k](x, w, b, strides, padding, dilations, attrs.get("group", 1))


def _conv_transpose(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    k = w.ndim - 2
    strides = list(attrs.get("strides") or [1] * k)
    dilations = list(attrs.get("dilations") or [1] * k)
    out_pad = list(attrs.get("output_padding") or [0] * k)
    auto = attrs.get("auto_pad", "NOTSET")
    sized = "output_shape" in attrs or auto in ("SAME_UPPER", "SAME_LOWER")
    if sized:
        # the pads that give the requested size (the specification's total_padding rule); a
        # size beyond the full output adds output padding at the end
        target = list(attrs.get("output_shape") or [])[-k:] or [
            x.shape[2 + i] * strides[i] for i in range(k)
        ]
        full = [
            strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (w.shape[2 + i] - 1) * dilations[i] + 1
            for i in range(k)
        ]
        total = [f - t for f, t in zip(full, target)]
        out_pad = [op - min(t, 0) for op, t in zip(out_pad, total)]
        total = [max(t, 0) for t in total]
    _limit(
        [x.shape[0], w.shape[1] * attrs.get("group", 1)]
        + [
            strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (w.shape[2 + i] - 1) * dilations[i] + 1
            for i in range(k)
        ],
        "ConvTranspose",
    )
    out = _CONV_T[k](x, w, b, strides, 0, out_pad, attrs.get("group", 1), dilations)
    if sized:
        if auto == "SAME_UPPER":
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
        else:
            pads = [t - t // 2 for t in total] + [t // 2 for t in total]
    else:
        pads = list(attrs.get("pads") or [0] * (2 * k))
    for i in range(k):  # crop the pads (begin, end) from each spatial dim
        n = out.shape[2 + i]
        out = out.narrow(2 + i, pads[i], n - pads[i] - pads[k + i])
    return out


def _batch_norm(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x, scale, bias, mean, var = ins[:5]
    if attrs.get("training_mode", 0):
        raise OnnxError("BatchNormalization in training mode is not supported.")
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, attrs.get("epsilon", 1e-5))


def _instance_norm(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    return F.instance_norm(ins[0], weight=ins[1], bias=ins[2], eps=attrs.get("epsilon", 1e-5))


def _layer_norm(ins: list[Any], attrs: dict[str, Any], opset: int) -> Any:
    x = ins[0]
    axis = attrs.get("axis", -1) % x.ndim
    shape = x.shape[axis:]
    bias = ins[2] if len(ins) > 2 else None
    scale = ins[1].expand(shape) if ins[1] is not None else None
    eps = attrs.get("epsilon", 1e-5)
    y = F.layer_norm(x, shape, scale, None if bias is None else bias.expand(shape), eps)
    if attrs["_n_outputs"] == 1:
        return y
    dims = tuple(range(axis, x.ndim))
    mean = x.mean(dim=dims, keepdim=True)
    inv_std = torch.rsqrt(x.var(dim=dims, unbiased=False, keepdim=True) + eps)
    return y, mean, inv_std


def _pool(kind: str) -> _Op:
    def op(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
        x = ins[0]
        if attrs["_n_outputs"] > 1:
            raise OnnxError(f"{kind.title()}Pool with an Indices output is not supported.")
        kernel = list(attrs["kernel_shape"])
        k = len(kernel)
        strides = list(attrs.get("strides") or [1] * k)
        dilations = list(attrs.get("dilations") or [1] * k)
        ceil = bool(attrs.get("ceil_mode", 0))
        pads = _pads_for(x, attrs, kernel, strides, dilations)
        _padded_shape(x, pads, f"{kind.title()}Pool")
        # torch pads symmetrically, at most half the (dilated) kernel: pad first otherwise
        simple = pads[:k] == pads[k:] and all(
            2 * p <= (n - 1) * d + 1 for p, n, d in zip(pads[:k], kernel, dilations)
        )
        if kind == "max":
            padding = pads[:k]
            if not simple:
                x, padding = _padded(x, pads, -math.inf), [0] * k
            pool: Any = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[k]
            return pool(x, kernel, strides, padding, dilations, ceil_mode=ceil)
        if any(d != 1 for d in dilations):
            raise OnnxError("AveragePool with dilations is not supported.")
        include = bool(attrs.get("count_include_pad", 0))
        avg: Any = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[k]
        if simple:
            return avg(x, kernel, strides, pads[:k], ceil_mode=ceil, count_include_pad=include)
        xp = _padded(x, pads, 0.0)
        out = avg(xp, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True)
        if include:
            return out
        ones = _padded(torch.ones_like(x[:1, :1]), pads, 0.0)
        return out / avg(ones, kernel, strides, 0, ceil_mode=ceil, count_include_pad=True)

    return op


def _padded(x: Tensor, pads: list[int], value: float) -> Tensor:
    """``x`` with the ONNX begin/end ``pads`` of its spatial dims applied."""
    k = len(pads) // 2
    torch_pads: list[int] = []
    for i in reversed(range(k)):
        torch_pads += [pads[i], pads[k + i]]
    return F.pad(x, torch_pads, value=value)


def _reduce(fn: Callable[..., Tensor]) -> _Op:
    def op(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
        x = ins[0]
        axes = _axes(ins, attrs)
        keep = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.ndim))
        return fn(x, dim=tuple(a % x.ndim for a in axes), keepdim=keep)

    return op


def _amax(x: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    return torch.amax(x, dim=dim, keepdim=keepdim)


def _amin(x: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    return torch.amin(x, dim=dim, keepdim=keepdim)


def _clip(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x = ins[0]
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("min")
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else attrs.get("max")
    if isinstance(lo, Tensor):
        lo = lo.item()
    if isinstance(hi, Tensor):
        hi = hi.item()
    return x if lo is None and hi is None else torch.clamp(x, lo, hi)


def _pad(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    x = ins[0]
    pads = list(attrs["pads"]) if "pads" in attrs else _ints(ins[1])
    value = attrs.get("value", 0.0)
    if len(ins) > 2 and ins[2] is not None:
        value = ins[2].item()
    if len(ins) > 3 and ins[3] is not None:
        raise OnnxError("Pad with axes is not supported.")
    mode = attrs.get("mode", "constant")
    k = len(pads) // 2
    _padded_shape(x, pads, "Pad")
    torch_pads: list[int] = []
    for i in reversed(range(k)):
        torch_pads += [pads[i], pads[k + i]]
    if mode == "constant":
        return F.pad(x, torch_pads, value=value)
    if mode in ("reflect", "edge"):
        spatial = [p for i, p in enumerate(torch_pads) if i < 2 * (k - 2)]
        if any(pads[:2]) or any(pads[k : k + 2]):
            raise OnnxError(f"Pad mode {mode!r} on batch or channel axes is not supported.")
        return F.pad(x, spatial, mode="reflect" if mode == "reflect" else "replicate")
    raise OnnxError(f"Pad mode {mode!r} is not supported.")


def _where(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    return torch.where(ins[0].bool(), *_broadcast_pair(ins[1], ins[2]))


def _variadic(fn: Callable[[Tensor, Tensor], Tensor]) -> _Op:
    def op(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
        out = ins[0]
        for t in ins[1:]:
            out = fn(out, t)
        return out

    return op


def _identity(ins: list[Any], attrs: dict[str, Any], opset: int) -> Any:
    return ins[0]


def _dropout(ins: list[Any], attrs: dict[str, Any], opset: int) -> Any:
    """Inference: the identity (and an all-true mask when asked for one)."""
    if len(ins) > 2 and ins[2] is not None and bool(ins[2]):
        raise OnnxError("Dropout in training mode (random) is not supported.")
    if attrs["_n_outputs"] > 1:
        return ins[0], torch.ones_like(ins[0], dtype=torch.bool)
    return ins[0]


def _hard_sigmoid(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    return torch.clamp(attrs.get("alpha", 0.2) * ins[0] + attrs.get("beta", 0.5), 0, 1)


def _gelu(ins: list[Any], attrs: dict[str, Any], opset: int) -> Tensor:
    return F.gelu(ins[0], approximate=attrs.get("approximate", "none"))


def _pow(a: Tensor, b: Tensor) -> Tensor:
    return torch.pow(a, b.to(a.dtype) if a.is_floating_point() else b)


OPERATORS: dict[str, _Op] = {
    # elementwise
    "Add": _binary(torch.add), "Sub": _binary(torch.sub), "Mul": _binary(torch.mul),
    "Div": _binary(_div), "Pow": _binary(_pow), "Neg": _unary(torch.neg),
    "Abs": _unary(torch.abs), "Sqrt": _unary(torch.sqrt), "Exp": _unary(torch.exp),
    "Log": _unary(torch.log), "Erf": _unary(torch.erf), "Reciprocal": _unary(torch.reciprocal),
    "Floor": _unary(torch.floor), "Ceil": _unary(torch.ceil), "Sin": _unary(torch.sin),
    "Cos": _unary(torch.cos), "Sign": _unary(torch.sign), "Tanh": _unary(torch.tanh),
    "Sigmoid": _unary(torch.sigmoid), "Relu": _unary(torch.relu),
    "Softplus": _unary(F.softplus), "Not": _unary(torch.logical_not),
    "LeakyRelu": lambda i, a, o: F.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Elu": lambda i, a, o: F.elu(i[0], a.get("alpha", 1.0)),
    "Selu": lambda i, a, o: a.get("gamma", 1.05070102214813232421875)
    * torch.where(i[0] > 0, i[0], a.get("alpha", 1.67326319217681884765625) * torch.expm1(i[0])),
    "HardSigmoid": _hard_sigmoid, "Gelu": _gelu, "Clip": _clip,
    "Max": _variadic(torch.maximum), "Min": _variadic(torch.minimum),
    "Sum": _variadic(torch.add),
    "Mean": lambda i, a, o: _variadic(torch.add)(i, a, o) / len(i),
    "Equal": _binary(torch.eq), "Less": _binary(torch.lt), "Greater": _binary(torch.gt),
    "LessOrEqual": _binary(torch.le), "GreaterOrEqual": _binary(torch.ge),
    "And": _binary(torch.logical_and), "Or": _binary(torch.logical_or),
    "Where": _where, "Cast": _cast, "Identity": _identity, "Dropout": _dropout,
    # shapes
    "Shape": lambda i, a, o: torch.tensor(i[0].shape, dtype=torch.int64)[
        a.get("start", 0) : a.get("end", None)
    ],
    "Size": lambda i, a, o: torch.tensor(i[0].numel(), dtype=torch.int64),
    "Constant": lambda i, a, o: a["value"],
    "ConstantOfShape": _constant_of_shape, "Gather": _gather, "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze, "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose,
    "Concat": _concat, "Slice": _slice, "Split": _split, "Expand": _expand, "Tile": _tile,
    "Range": _range, "Pad": _pad,
    # layers
    "MatMul": _binary(torch.matmul), "Gemm": _gemm, "Conv": _conv,
    "ConvTranspose": _conv_transpose, "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm, "LayerNormalization": _layer_norm,
    "Softmax": _softmax(torch.softmax), "LogSoftmax": _softmax(torch.log_softmax),
    "MaxPool": _pool("max"), "AveragePool": _pool("avg"),
    "GlobalAveragePool": lambda i, a, o: i[0].mean(dim=tuple(range(2, i[0].ndim)), keepdim=True),
    "GlobalMaxPool": lambda i, a, o: torch.amax(i[0], dim=tuple(range(2, i[0].ndim)), keepdim=True),
    "ReduceMean": _reduce(torch.mean), "ReduceSum": _reduce(torch.sum),
    "ReduceMax": _reduce(_amax), "ReduceMin": _reduce(_amin),
    "LSTM": lambda i, a, o: None, "GRU": lambda i, a, o: None,  # run by OnnxModule itself
}  # fmt: skip


#: The ONNX operators cdig converts (default domain), sorted.
ONNX_OPERATORS = tuple(sorted(OPERATORS))


def from_onnx(path: str | os.PathLike[str]) -> OnnxModule:
    """An ONNX model as a differentiable ``torch.nn.Module`` (data only: no code runs).

    Unlike :func:`cdig.models.load`, which returns an adapter for single-input models, this
    returns the module itself: ``forward(*inputs)`` takes the graph's inputs in order and
    returns its output, or a tuple of them, laid out as the graph declares (select and
    rearrange them with :func:`cdig.models.select` before explaining).

    Parameters
    ----------
    path : str or path
        An ``.onnx`` file (external data, if any, next to it).

    Returns
    -------
    OnnxModule

    Raises
    ------
    ValueError
        For unknown operators (named), external data outside the model's folder, weights
        whose declared shape does not match their bytes, a file that is not ONNX.

    Examples
    --------
    >>> import cdig
    >>> net = cdig.models.from_onnx("modelA_paper.onnx")  # doctest: +SKIP
    >>> probs = cdig.models.select(net, output=lambda o: o[1].permute(1, 0, 2))  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ONNX file not found: {p}")
    try:
        return convert(p)
    except OnnxError as err:
        raise OnnxError(f"{p} is refused: {err}") from err


# ---------------------------------------------------------------------- recurrent layers
_RNN_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Relu": torch.relu,
    "Softsign": F.softsign, "Softplus": F.softplus,
}  # fmt: skip


def _rnn_activations(node: _Node) -> list[str]:
    """The node's activation names, one group per direction (ONNX's defaults filled in)."""
    lstm = node.op == "LSTM"
    dirs = 2 if node.attrs.get("direction", "forward") == "bidirectional" else 1
    acts = (
        node.attrs.get("activations")
        or (["Sigmoid", "Tanh", "Tanh"] if lstm else ["Sigmoid", "Tanh"]) * dirs
    )
    return list(acts)


def _check_rnn(node: _Node) -> None:
    """Refuse, at conversion, what neither recurrent path computes."""
    a = node.attrs
    if a.get("direction", "forward") not in ("forward", "reverse", "bidirectional"):
        raise OnnxError(f"{node.op} direction {a.get('direction')!r} is not supported.")
    unknown = sorted(set(_rnn_activations(node)) - set(_RNN_ACTIVATIONS))
    if unknown:
        raise OnnxError(
            f"{node.op} with the activation(s) {', '.join(unknown)} is not supported (cdig "
            f"converts {', '.join(_RNN_ACTIVATIONS)})."
        )
    if "activation_alpha" in a or "activation_beta" in a:
        raise OnnxError(f"{node.op} with activation_alpha/beta is not supported.")


def _fast_rnn(node: _Node, init: dict[str, Tensor]) -> bool:
    """Whether torch's own LSTM/GRU computes the node (else it runs step by step)."""
    a = node.attrs
    lstm = node.op == "LSTM"
    dirs = 2 if a.get("direction", "forward") == "bidirectional" else 1
    defaults = (["Sigmoid", "Tanh", "Tanh"] if lstm else ["Sigmoid", "Tanh"]) * dirs
    weights_known = (
        all(
            not (len(node.inputs) > pos and node.inputs[pos]) or node.inputs[pos] in init
            for pos in (1, 2, 3)
        )
        and node.inputs[1] in init
        and node.inputs[2] in init
    )
    return (
        a.get("direction", "forward") != "reverse"
        and _rnn_activations(node) == defaults
        and a.get("clip") is None
        and not a.get("input_forget", 0)
        and not (lstm and len(node.inputs) > 7 and node.inputs[7])
        and (lstm or a.get("linear_before_reset", 0) == 1)
        and weights_known
    )


def _build_rnn(node: _Node, init: dict[str, Tensor]) -> torch.nn.Module:
    """A torch LSTM / GRU holding the node's weights (the cases :func:`_fast_rnn` accepts)."""
    a = node.attrs
    lstm = node.op == "LSTM"
    direction = a.get("direction", "forward")
    W, R = init[node.inputs[1]], init[node.inputs[2]]
    hidden = a.get("hidden_size") or R.shape[-1]
    dirs = 2 if direction == "bidirectional" else 1
    B = (
        init[node.inputs[3]]
        if len(node.inputs) > 3 and node.inputs[3]
        else torch.zeros(dirs, 2 * W.shape[1], dtype=W.dtype)
    )
    if W.shape[0] != dirs or R.shape != (dirs, W.shape[1], hidden):
        raise OnnxError(f"{node.op} weights of shapes {tuple(W.shape)}, {tuple(R.shape)}.")
    gates = 4 if lstm else 3
    # ONNX gate blocks -> torch's order
    order = [0, 2, 3, 1] if lstm else [1, 0, 2]
    cls = torch.nn.LSTM if lstm else torch.nn.GRU
    rnn = cls(W.shape[2], hidden, bidirectional=dirs == 2, dtype=W.dtype)

    def blocks(t: Tensor) -> Tensor:
        return torch.cat([t[g * hidden : (g + 1) * hidden] for g in order])

    with torch.no_grad():
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            getattr(rnn, f"weight_ih_l0{sfx}").copy_(blocks(W[d]))
            getattr(rnn, f"weight_hh_l0{sfx}").copy_(blocks(R[d]))
            getattr(rnn, f"bias_ih_l0{sfx}").copy_(blocks(B[d, : gates * hidden]))
            getattr(rnn, f"bias_hh_l0{sfx}").copy_(blocks(B[d, gates * hidden :]))
    for prm in rnn.parameters():
        prm.requires_grad_(False)
    return rnn


def _run_rnn(node: _Node, rnn: Any, ins: list[Any]) -> tuple[Tensor, ...]:
    lstm = node.op == "LSTM"
    x = ins[0]
    batch_major = bool(node.attrs.get("layout", 0))
    if batch_major:
        x = x.transpose(0, 1)
    if len(ins) > 4 and ins[4] is not None:
        lens = ins[4]
        if bool((lens != x.shape[0]).any()):
            raise OnnxError(f"{node.op} with sequence_lens shorter than the input.")
    dirs = 2 if rnn.bidirectional else 1
    hidden = rnn.hidden_size
    shape = (dirs, x.shape[1], hidden)

    def state(k: int) -> Tensor:
        t = ins[k] if len(ins) > k and ins[k] is not None else None
        if t is None:
            return torch.zeros(shape, dtype=x.dtype, device=x.device)
        t = t.transpose(0, 1) if batch_major else t
        return t.to(x.dtype)

    # cuDNN cannot take gradients of an RNN in eval mode: run it natively
    with torch.backends.cudnn.flags(enabled=False):
        if lstm:
            y, (h, c) = rnn(x, (state(5), state(6)))
        else:
            y, h = rnn(x, state(5))
    # torch (T, N, dirs*H) -> ONNX (T, dirs, N, H)
    y = y.reshape(y.shape[0], y.shape[1], dirs, hidden).permute(0, 2, 1, 3)
    if batch_major:
        y = y.permute(2, 0, 1, 3)
        h = h.transpose(0, 1)
        if lstm:
            c = c.transpose(0, 1)
    return (y, h, c) if lstm else (y, h)


def _loop_rnn(node: _Node, ins: list[Any]) -> tuple[Tensor, ...]:
    """An ONNX LSTM / GRU computed step by step, as its specification writes it.

    For what torch's own layers do not cover: weights computed in the graph, reverse
    direction, other activations, ``clip``, ``input_forget``, peepholes, and GRU's
    ``linear_before_reset=0``.
    """
    a = node.attrs
    lstm = node.op == "LSTM"
    gates = 4 if lstm else 3
    x, W, R = ins[0], ins[1], ins[2]
    batch_major = bool(a.get("layout", 0))
    if batch_major:
        x = x.transpose(0, 1)
    steps, n = x.shape[0], x.shape[1]
    direction = a.get("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    hidden = int(a.get("hidden_size") or R.shape[-1])
    if len(ins) > 4 and ins[4] is not None and bool((ins[4] != steps).any()):
        raise OnnxError(f"{node.op} with sequence_lens shorter than the input.")
    B = ins[3] if len(ins) > 3 and ins[3] is not None else None
    if B is None:
        B = torch.zeros(dirs, 2 * gates * hidden, dtype=x.dtype, device=x.device)
    P = ins[7] if lstm and len(ins) > 7 and ins[7] is not None else None
    acts = [_RNN_ACTIVATIONS[name] for name in _rnn_activations(node)]
    per = 3 if lstm else 2
    clip = a.get("clip")

    def pre(t: Tensor) -> Tensor:
        return t if clip is None else torch.clamp(t, -clip, clip)

    def init_state(k: int, d: int) -> Tensor:
        t = ins[k] if len(ins) > k and ins[k] is not None else None
        if t is None:
            return torch.zeros(n, hidden, dtype=x.dtype, device=x.device)
        t = t.transpose(0, 1) if batch_major else t
        return t[d].to(x.dtype)

    ys, hs, cs = [], [], []
    for d in range(dirs):
        f, g = acts[per * d], acts[per * d + 1]
        h_act = acts[per * d + 2] if lstm else None
        w, r = W[d], R[d]
        wb, rb = B[d, : gates * hidden], B[d, gates * hidden :]
        h = init_state(5, d)
        c = init_state(6, d) if lstm else h  # (GRU: unused)
        reverse = direction == "reverse" or d == 1
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        xw = x @ w.t() + wb  # (T, N, gates*H) for all steps at once
        out: list[Tensor] = [x.new_empty(0)] * steps
        for t in order:
            if lstm:
                z = xw[t] + h @ r.t() + rb
                zi, zo, zf, zc = z.split(hidden, dim=-1)
                if P is not None:
                    pi, po, pf = P[d].split(hidden)
                    zi, zf = zi + pi * c, zf + pf * c
                i_g = f(pre(zi))
                f_g = 1 - i_g if a.get("input_forget", 0) else f(pre(zf))
                c = f_g * c + i_g * g(pre(zc))
                if P is not None:
                    zo = zo + po * c
                h = f(pre(zo)) * h_act(c)  # type: ignore[misc]
            else:
                xz, xr, xh = xw[t].split(hidden, dim=-1)
                rz, rr, rh = r.split(hidden, dim=0)
                bz, br, bh = rb.split(hidden)
                zt = f(pre(xz + h @ rz.t() + bz))
                rt = f(pre(xr + h @ rr.t() + br))
                if a.get("linear_before_reset", 0):
                    ht = g(pre(xh + rt * (h @ rh.t() + bh)))
                else:
                    ht = g(pre(xh + (rt * h) @ rh.t() + bh))
                h = (1 - zt) * ht + zt * h
            out[t] = h
        ys.append(torch.stack(out))
        hs.append(h)
        if lstm:
            cs.append(c)
    y = torch.stack(ys, dim=1)  # (T, dirs, N, H)
    y_h = torch.stack(hs)
    y_c = torch.stack(cs) if lstm else None
    if batch_major:
        y = y.permute(2, 0, 1, 3)
        y_h = y_h.transpose(0, 1)
        y_c = y_c.transpose(0, 1) if y_c is not None else None
    return (y, y_h, y_c) if y_c is not None else (y, y_h)
