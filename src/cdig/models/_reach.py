"""Torch modules and tensors a plain callable reaches: what a ``lambda`` around a model uses.

``lambda x: model(past_values=x).prediction_outputs`` hides ``model`` from the engine, which
would then call it in whatever mode the user left it (training mode keeps dropout active and
batch-norm mixing the samples of a batch). :func:`reachable` walks what the callable refers
to, without calling anything or reading properties, so that those modules get the same
treatment as a module passed directly (eval mode during the call, restored after) and so
that the inputs get the weights' dtype and device.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
from torch import Tensor

__all__ = ["global_names", "reachable"]

#: How deep references are followed from the callable (callable -> closure -> object ...).
MAX_DEPTH = 4
#: Objects visited at most (the walk stops quietly beyond).
MAX_VISITS = 2000
#: Items looked at per list, tuple, set or dict.
MAX_ITEMS = 64

_SKIP = (str, bytes, bytearray, int, float, complex, bool, type(None), types.ModuleType, type)


def reachable(fn: Any) -> tuple[list[torch.nn.Module], list[Tensor]]:
    """Modules and tensors referred to by ``fn``.

    Followed, up to :data:`MAX_DEPTH` references deep: closure cells, default arguments and
    the global names a function's code uses; ``__self__`` and ``__func__`` of bound methods;
    the function, arguments and keywords of :func:`functools.partial`; the instance
    attributes (``__dict__``) of other objects; items of lists, tuples, sets and dicts.
    Modules are not entered (their own submodules, parameters and buffers are theirs).

    Parameters
    ----------
    fn : object
        Usually a callable that is not itself a ``torch.nn.Module``.

    Returns
    -------
    modules : list of torch.nn.Module
        In the order found (outermost first), without duplicates.
    tensors : list of Tensor
        Tensors found outside modules.
    """
    modules: list[torch.nn.Module] = []
    tensors: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(fn, 0)]
    while stack and len(seen) < MAX_VISITS:
        obj, depth = stack.pop(0)  # breadth first: closest references first
        if isinstance(obj, _SKIP) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            modules.append(obj)
            continue
        if isinstance(obj, Tensor):
            tensors.append(obj)
            continue
        if depth >= MAX_DEPTH:
            continue
        stack.extend((child, depth + 1) for child in _children(obj))
    return modules, tensors


def _children(obj: Any) -> list[Any]:
    """What ``obj`` refers to, without calling user code (no properties, no ``__getattr__``)."""
    if isinstance(obj, types.FunctionType):
        out: list[Any] = []
        for cell in obj.__closure__ or ():
            try:
                out.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        out.extend(obj.__defaults__ or ())
        out.extend((obj.__kwdefaults__ or {}).values())
        glob = obj.__globals__
        out.extend(glob[name] for name in global_names(obj.__code__) if name in glob)
        return out
    if isinstance(obj, types.MethodType):
        return [obj.__self__, obj.__func__]
    if isinstance(obj, functools.partial):
        return [obj.func, *obj.args, *obj.keywords.values()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)[:MAX_ITEMS]
    if isinstance(obj, dict):
        return list(obj.values())[:MAX_ITEMS]
    if isinstance(obj, (types.BuiltinFunctionType, types.CodeType)):
        return []
    try:  # instance attributes only: class attributes and properties are not followed
        state = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return []
    return list(state.values())[:MAX_ITEMS] if isinstance(state, dict) else []


def global_names(code: types.CodeType) -> list[str]:
    """Names a function's code (and the functions defined in it) may read as globals."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(global_names(const))
    return names
