"""What a dataset run's fingerprint reads: every value reachable from the model and settings.

A run resumes only when the fingerprint of the second call equals the first's, so the
fingerprint must change with anything that changes a number. :class:`StateHash` walks an
object graph without calling user code (no properties, no ``__getattr__``, no ``__call__``)
and feeds a SHA-256 with:

* tensors and arrays: dtype, shape and bytes (parameters, buffers persistent or not, plain
  tensor attributes, arrays a function closes over); a tensor seen twice (tied weights) is
  read once and referred to by the label of its first sighting;
* numbers, strings, bytes, ``None``, dtypes and devices: their ``repr``;
* lists, tuples, sets and dicts: their items (dict keys included, sets in sorted order);
* ``torch.nn.Module``: every submodule's parameters, buffers, forward hooks and own
  attributes (those a bare ``torch.nn.Module()`` does not have, e.g. a temperature);
* functions: bytecode and constants, default arguments, closure cells and the global names
  the code reads; bound methods: the instance and the function; ``functools.partial``: the
  function, arguments and keywords; other objects: their class and instance attributes;
* code of the user's own classes (``forward``, ``__call__``, a custom domain's methods); code
  installed as a package (torch, numpy, cdig, the standard library, anything in
  ``site-packages``) is named, not read: its version decides it.

What it cannot see inside is recorded in :attr:`StateHash.blind`: a callable implemented in
C that is not a plain builtin (a compiled JAX function, an extension object), a tensor whose
bytes cannot be read (``meta`` device), or a graph larger than :data:`MAX_OBJECTS`. A run
whose fingerprint has such blind spots resumes only with an explicit ``fingerprint=`` key.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
import weakref
from typing import Any

import numpy as np
import torch

from ..models._reach import global_names

__all__ = ["MAX_DEPTH", "MAX_OBJECTS", "StateHash", "is_library"]

#: Objects (containers, instances, functions, modules) visited at most per walk; beyond it
#: the rest is a blind spot.
MAX_OBJECTS = 50_000
#: References followed in depth at most (a linked structure deeper than this is a blind spot).
MAX_DEPTH = 100

_SIMPLE = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, range)
_LIBRARIES = frozenset(
    {
        "torch",
        "numpy",
        "scipy",
        "cdig",
        "jax",
        "jaxlib",
        "keras",
        "tensorflow",
        "pywt",
        "sklearn",
        "statsmodels",
        "einops",
        "transformers",
        "_pytest",
        "pytest",
    }
)
# attributes every torch.nn.Module has (its machinery): not settings of the model
_MODULE_BASE = frozenset(vars(torch.nn.Module())) | {"training"}
_HOOKS = ("_forward_pre_hooks", "_forward_hooks")


@functools.lru_cache(maxsize=1024)
def is_library(module_name: str | None) -> bool:
    """Whether code of the module ``module_name`` is installed code (named, not read)."""
    if not module_name:
        return True
    top = module_name.split(".")[0]
    if top in _LIBRARIES or top in sys.stdlib_module_names or top == "builtins":
        return True
    mod = sys.modules.get(module_name)
    path = str(getattr(mod, "__file__", "") or "")
    return "site-packages" in path or "dist-packages" in path


class StateHash:
    """A SHA-256 of everything reachable from some objects (see the module docstring).

    Examples
    --------
    >>> s = StateHash()
    >>> s.feed("model", model)  # doctest: +SKIP
    >>> s.hexdigest(), s.blind  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._seen: dict[int, str] = {}
        self._alive: list[Any] = []  # keeps visited objects alive so that ids stay unique
        self._classes: set[type] = set()
        self._count = 0
        self._depth = 0
        self.blind: list[str] = []

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def _put(self, *parts: str) -> None:
        self._h.update("\x1f".join(parts).encode())
        self._h.update(b"\x1e")

    def _blind(self, label: str, why: str) -> None:
        if len(self.blind) < 20:
            shown = label if len(label) <= 120 else f"{label[:57]}...{label[-60:]}"
            self.blind.append(f"{shown} ({why})")
        self._put(label, "blind", why)

    # ------------------------------------------------------------------ the walk
    def feed(self, label: str, obj: Any) -> None:
        """Hash ``obj`` under ``label`` (a path such as ``model.fc.temperature``)."""
        if isinstance(obj, _SIMPLE):
            self._put(label, type(obj).__name__, repr(obj))
            return
        if isinstance(obj, np.generic):
            self._put(label, obj.dtype.str, repr(obj.item()))
            return
        key = id(obj)
        if key in self._seen:
            self._put(label, "ref", self._seen[key])
            return
        self._seen[key] = label
        self._alive.append(obj)
        self._count += 1
        if self._count > MAX_OBJECTS:
            if self._count == MAX_OBJECTS + 1:
                self._blind(label, f"more than {MAX_OBJECTS} objects are reachable")
            return
        if self._depth >= MAX_DEPTH:
            self._blind(label, f"nested more than {MAX_DEPTH} references deep")
            return
        self._depth += 1
        try:
            self._dispatch(label, obj)
        finally:
            self._depth -= 1

    def _dispatch(self, label: str, obj: Any) -> None:
        if isinstance(obj, (torch.Tensor, np.ndarray)):
            self._array(label, obj)
        elif isinstance(obj, torch.nn.Module):
            self._module(label, obj)
        elif type(obj).__module__.startswith("torch.fx"):  # graphs: code in the structure
            self._put(label, "fx", _qualified(type(obj)))
        elif isinstance(obj, types.FunctionType):
            self._function(label, obj)
        elif isinstance(obj, types.MethodType):
            self.feed(f"{label}.__self__", obj.__self__)
            self.feed(f"{label}.__func__", obj.__func__)
        elif isinstance(obj, functools.partial):
            self.feed(f"{label}.func", obj.func)
            self.feed(f"{label}.args", obj.args)
            self.feed(f"{label}.keywords", obj.keywords)
        elif isinstance(obj, (list, tuple)):
            self._put(label, type(obj).__name__, str(len(obj)))
            for i, v in enumerate(obj):
                self.feed(f"{label}[{i}]", v)
        elif isinstance(obj, (set, frozenset)):
            self._put(label, type(obj).__name__, str(len(obj)))
            for v in sorted(obj, key=repr):
                self.feed(f"{label}{{}}", v)
        elif isinstance(obj, dict):
            self._put(label, "dict", str(len(obj)))
            for k, v in obj.items():
                self.feed(f"{label}<key>", k)
                self.feed(f"{label}[{k!r}]", v)
        elif isinstance(obj, types.ModuleType):
            self._put(label, "module", obj.__name__)
        elif isinstance(obj, type):
            self._class(label, obj)
        elif isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType, np.ufunc)):
            owner = getattr(obj, "__self__", None)
            name = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', obj)}"
            self._put(label, "builtin", name)
            if owner is not None and not isinstance(owner, types.ModuleType):
                self.feed(f"{label}.__self__", owner)
        elif isinstance(obj, types.CodeType):
            self._code(obj)
        elif _foreign_array(obj):  # a JAX or TensorFlow array: its values
            try:
                self._array(label, np.asarray(obj))
            except (TypeError, ValueError, RuntimeError) as err:
                self._blind(label, f"its values cannot be read: {type(err).__name__}")
        elif isinstance(obj, weakref.ref):
            self.feed(f"{label}()", obj())
        elif _stdlib(type(obj)) and not callable(obj):  # a logger, a lock: by their type
            self._put(label, "stdlib", f"{type(obj).__module__}.{type(obj).__qualname__}")
        else:
            self._object(label, obj)

    def _array(self, label: str, t: Any) -> None:
        try:
            if isinstance(t, torch.Tensor):
                t = t.detach()
                if t.is_sparse:
                    t = t.to_dense()
                if t.is_conj():
                    t = t.resolve_conj()
                a = t.cpu().contiguous()
                self._put(label, "tensor", str(a.dtype), str(tuple(a.shape)))
                self._h.update(a.reshape(-1).view(torch.uint8).numpy().tobytes())
            else:
                a = np.ascontiguousarray(t)
                if a.dtype.hasobject:
                    self._put(label, "object-array", str(a.shape))
                    for i, v in enumerate(a.ravel().tolist()):
                        self.feed(f"{label}[{i}]", v)
                    return
                self._put(label, "array", a.dtype.str, str(a.shape))
                self._h.update(a.tobytes())
        except (RuntimeError, NotImplementedError, TypeError, ValueError) as err:
            self._blind(label, f"its values cannot be read: {type(err).__name__}")

    def _module(self, label: str, m: torch.nn.Module) -> None:
        cls = type(m)
        self._put(label, "module", f"{cls.__module__}.{cls.__qualname__}")
        self._class(f"{label}.<class>", cls)
        if isinstance(m, torch.jit.ScriptModule):  # its code is in the structure digest
            for name, t in m.state_dict(keep_vars=True).items():
                self.feed(f"{label}.{name}", t)
            for name, t in m.named_buffers():
                self.feed(f"{label}.{name}", t)
            return
        state = vars(m)
        for name, p in state.get("_parameters", {}).items():
            self.feed(f"{label}.{name}", p)
        for name, b in state.get("_buffers", {}).items():  # non-persistent ones too
            self.feed(f"{label}.{name}", b)
        for hooks in _HOOKS:  # handles' keys are process counters: only the functions
            self.feed(f"{label}.{hooks}", list(state.get(hooks, {}).values()))
        for name in sorted(k for k in state if k not in _MODULE_BASE):
            self.feed(f"{label}.{name}", state[name])
        for name, sub in state.get("_modules", {}).items():
            self.feed(f"{label}.{name}", sub)

    def _function(self, label: str, fn: types.FunctionType) -> None:
        where = f"{fn.__module__}.{fn.__qualname__}"
        if is_library(fn.__module__):
            self._put(label, "function", where)
            return
        self._put(label, "function", where)
        self._code(fn.__code__)
        self.feed(f"{label}.__defaults__", fn.__defaults__)
        self.feed(f"{label}.__kwdefaults__", fn.__kwdefaults__)
        for i, cell in enumerate(fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.feed(f"{label}.<closure {fn.__code__.co_freevars[i]}>", value)
        glob = fn.__globals__
        for name in sorted(set(global_names(fn.__code__))):
            if name in glob:
                self.feed(f"{label}.<global {name}>", glob[name])

    def _code(self, code: types.CodeType) -> None:
        """Bytecode, names and constants, nested code objects included (no addresses)."""
        self._h.update(code.co_code)
        self._put(repr(code.co_names), repr(code.co_varnames))
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                self._code(c)
            else:
                self._put(repr(c))

    def _class(self, label: str, cls: type) -> None:
        self._put(label, "class", f"{cls.__module__}.{cls.__qualname__}")
        if cls in self._classes:
            return
        self._classes.add(cls)
        for klass in cls.__mro__:
            if is_library(klass.__module__):
                continue
            for name in sorted(vars(klass)):
                attr = vars(klass)[name]
                fn = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
                if isinstance(fn, types.FunctionType):
                    self._put(f"{klass.__qualname__}.{name}")
                    self._code(fn.__code__)
                    for i, cell in enumerate(fn.__closure__ or ()):
                        try:
                            value = cell.cell_contents
                        except ValueError:
                            continue
                        if not isinstance(value, type):  # __class__ cell of super()
                            self.feed(f"{klass.__qualname__}.{name}.<closure {i}>", value)
                elif isinstance(attr, _SIMPLE) and not name.startswith("__"):
                    self.feed(f"{klass.__qualname__}.{name}", attr)

    def _object(self, label: str, obj: Any) -> None:
        cls = type(obj)
        self._class(f"{label}.<class>", cls)
        try:
            state = object.__getattribute__(obj, "__dict__")
        except AttributeError:
            state = None
        slots = [s for k in cls.__mro__ for s in vars(k).get("__slots__", ()) or ()]
        if isinstance(slots, str):  # pragma: no cover - __slots__ = "name"
            slots = [slots]
        for name in slots:
            try:
                self.feed(f"{label}.{name}", object.__getattribute__(obj, name))
            except AttributeError:
                continue
        if isinstance(state, dict):
            for name in sorted(state, key=str):
                self.feed(f"{label}.{name}", state[name])
        call = next((vars(k)["__call__"] for k in cls.__mro__ if "__call__" in vars(k)), None)
        python_call = isinstance(call, types.FunctionType)
        if callable(obj) and not python_call and not is_library(cls.__module__):
            python_call = True  # a user class: its code was read by _class
        if callable(obj) and not python_call:
            wrapped = state.get("__wrapped__") if isinstance(state, dict) else None
            if wrapped is None:
                try:
                    wrapped = object.__getattribute__(obj, "__wrapped__")
                except AttributeError:
                    wrapped = None
            if isinstance(wrapped, types.FunctionType):
                self.feed(f"{label}.__wrapped__", wrapped)
            else:
                self._blind(
                    label, f"a {cls.__module__}.{cls.__qualname__} whose code cdig cannot read"
                )
        elif state is None and not slots:
            self._put(label, "opaque", f"{cls.__module__}.{cls.__qualname__}")


def _foreign_array(obj: Any) -> bool:
    """An array of JAX or TensorFlow (read through its ``__array__``: library code)."""
    top = (type(obj).__module__ or "").split(".")[0]
    return top in ("jax", "jaxlib", "tensorflow") and hasattr(type(obj), "__array__")


def _qualified(cls: type) -> str:
    name = cls.__qualname__
    return name if name.startswith(f"{cls.__module__}.") else f"{cls.__module__}.{name}"


#: Standard-library modules whose objects are machinery (loggers, locks, queues, files): they
#: count by their type, not by their (large, changing) state.
_MACHINERY = frozenset(
    {"logging", "threading", "multiprocessing", "concurrent", "asyncio", "socket", "io",
     "_io", "subprocess", "queue", "_thread", "selectors", "ssl", "sqlite3", "tempfile"}
)  # fmt: skip


def _stdlib(cls: type) -> bool:
    """A standard-library machinery class (a logger, a lock): counted by its type."""
    return (cls.__module__ or "").split(".")[0] in _MACHINERY
