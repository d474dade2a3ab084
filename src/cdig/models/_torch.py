"""PyTorch models and the adapter interface shared by all frameworks."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from ._reach import reachable

__all__ = ["ModelAdapter", "TorchModel"]


_FOREIGN_HINT = (
    "If it is a TensorFlow or JAX function, wrap it so that cdig bridges it: "
    "cdig.models.wrap(model, framework='tensorflow') or framework='jax'."
)


def _foreign_failure(err: BaseException) -> bool:
    """Whether ``err`` looks like TensorFlow or JAX code choking on a torch tensor."""
    msg = str(err)
    if "numpy" in msg and "requires grad" in msg:  # np.asarray(tensor) inside the model
        return True
    if "torch.Tensor" in msg and "jax" in sys.modules:  # JAX hides its own frames
        return True
    tb = err.__traceback__
    while tb is not None:
        root = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if root in ("tensorflow", "jax", "jaxlib", "keras"):
            return True
        tb = tb.tb_next
    return False


def _output_names(out: Any) -> str:
    """``"; outputs: a, b"`` for a dict-like output (a HuggingFace ``ModelOutput``), else ``""``."""
    if isinstance(out, Mapping):
        return "; outputs: " + ", ".join(str(k) for k, v in out.items() if v is not None)
    return ""


class ModelAdapter:
    """A model seen as a torch function, with the dtype and device its inputs must have.

    Subclasses implement :meth:`__call__` and may override :meth:`inference` to put the
    model in inference mode for the duration of a call and restore it afterwards.
    """

    framework: str = "torch"

    def __call__(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        """The model's output for ``x``; ``args`` and ``kwargs`` are extra model arguments
        (``additional_forward_args``), which only PyTorch models take."""
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype | None:
        """Floating dtype the model computes in, or None when it does not say."""
        return None

    @property
    def device(self) -> torch.device | None:
        return None

    def dtype_and_device(self) -> tuple[torch.dtype | None, torch.device | None]:
        """:attr:`dtype` and :attr:`device` together (one look at the weights where the
        adapter can do both at once)."""
        return self.dtype, self.device

    def inference(self) -> contextlib.AbstractContextManager[None]:
        """Context in which the model runs in inference mode; restores the model after."""
        return contextlib.nullcontext()


#: Modes saved by the calls in progress: id(submodule) -> [calls, submodule, user's mode].
_ACTIVE: dict[int, list[Any]] = {}
_MODES_LOCK = threading.Lock()


class TorchModel(ModelAdapter):
    """A ``torch.nn.Module`` or a callable mapping tensors to tensors.

    During a call the module is put in ``eval()`` mode (dropout off, batch-norm statistics
    frozen) and every submodule's ``training`` flag is restored afterwards. A plain callable
    (``lambda x: model(x)[0]``, a bound method, a ``functools.partial``, an object with
    ``__call__``) gets the same for the modules it refers to (closure, defaults, globals it
    names, attributes, a few references deep), whose weights also give the
    inputs' dtype and device. Parameters are never touched: gradients are taken with
    :func:`torch.autograd.grad` with respect to the inputs only, so ``requires_grad`` flags and
    ``.grad`` fields stay as they were.
    """

    def __init__(self, model: Callable[[Tensor], Any]) -> None:
        if not callable(model):
            raise TypeError(
                f"model must be a torch.nn.Module or a callable; got {type(model).__name__}."
            )
        self.model = model
        self._found: tuple[list[torch.nn.Module], list[Tensor]] | None = None

    def __call__(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        try:
            out = self.model(x, *args, **kwargs)
        except (RuntimeError, TypeError, ValueError) as err:
            if not isinstance(self.model, torch.nn.Module) and _foreign_failure(err):
                first = (str(err).strip().splitlines() or [""])[0][:300]
                raise TypeError(
                    f"the model could not use a torch tensor ({type(err).__name__}: {first}). "
                    f"{_FOREIGN_HINT}"
                ) from err
            raise
        if not isinstance(out, Tensor):
            root = (type(out).__module__ or "").split(".")[0]
            hint = f" {_FOREIGN_HINT}" if root in ("tensorflow", "jax", "jaxlib") else ""
            raise TypeError(
                f"the model returned {type(out).__name__}; it must return one torch.Tensor "
                f"(for a model with several outputs, choose one with "
                f"cdig.models.select(model, output=NAME){_output_names(out)}).{hint}"
            )
        return out

    @property
    def modules(self) -> list[torch.nn.Module]:
        """The module itself, or the modules a plain callable refers to."""
        if isinstance(self.model, torch.nn.Module):
            return [self.model]
        if self._found is None:
            self._found = reachable(self.model)
        return self._found[0]

    def _tensors(self) -> Iterator[Tensor]:
        for module in self.modules:
            yield from module.parameters()
            yield from module.buffers()
        if not isinstance(self.model, torch.nn.Module) and not self.modules:
            assert self._found is not None  # set by self.modules
            yield from self._found[1]  # tensors a plain function closes over (weights)

    @property
    def dtype(self) -> torch.dtype | None:
        for t in self._tensors():
            if t.is_floating_point():
                return t.dtype
        return None

    @property
    def device(self) -> torch.device | None:
        for t in self._tensors():
            return t.device
        return None

    def dtype_and_device(self) -> tuple[torch.dtype | None, torch.device | None]:
        """:attr:`dtype` and :attr:`device` in one walk of the weights (the same answers)."""
        cls = type(self)
        if cls.dtype is not TorchModel.dtype or cls.device is not TorchModel.device:
            return self.dtype, self.device  # a subclass answers in its own way
        if isinstance(self.model, torch.nn.Module):
            found = _first_weights(self.model)
            if found is not None:
                return found
        device = None
        for t in self._tensors():
            if device is None:
                device = t.device
            if t.is_floating_point():
                return t.dtype, device
        return None, device

    def inference(self) -> contextlib.AbstractContextManager[None]:
        """Eval mode for the call; the user's mode back when the last concurrent call ends.

        Calls in several threads on one model share the switch: each submodule's mode is
        saved by the first call that enters and restored by the last one that leaves (a
        count per submodule, under one lock), so the model ends in the mode the user left
        it in. A model put back in training mode during the call (``model.train()`` in
        another thread) makes the call fail: its outputs would mix training-mode passes.
        """
        return _Inference(self.modules)


class _Inference:
    """The context of :meth:`TorchModel.inference` (a class: no generator per call)."""

    __slots__ = ("kept", "subs", "tops")

    def __init__(self, tops: list[torch.nn.Module]) -> None:
        self.tops = tops
        self.subs: dict[int, torch.nn.Module] = {}
        self.kept: set[int] = set()

    def __enter__(self) -> None:
        tops = self.tops
        with _MODES_LOCK:
            walks = [_tree(top) for top in tops]  # one walk of each tree per call
            subs = walks[0] if len(walks) == 1 else {k: m for w in walks for k, m in w.items()}
            training = False
            active = _ACTIVE
            for key, m in subs.items():
                entry = active.get(key)
                if entry is None:
                    active[key] = entry = [0, m, m.training]
                entry[0] += 1
                if m.training:
                    training = True
            self.subs = subs
            if training:
                for top, walk in zip(tops, walks):
                    if any(m.training for m in walk.values()):
                        top.eval()
                # kept in training mode by the model's own eval()
                self.kept = {key for key, m in subs.items() if m.training}

    def __exit__(self, *exc: object) -> None:
        switched = False
        kept = self.kept
        active = _ACTIVE
        with _MODES_LOCK:
            for key, m in self.subs.items():
                if m.training and key not in kept:
                    switched = True
                entry = active[key]
                entry[0] -= 1
                if entry[0] == 0:  # the last call out: the user's mode (or the one
                    del active[key]  # another thread set meanwhile)
                    mode = entry[2] or m.training
                    if m.training != mode:  # (Module.__setattr__ is slow: only changes)
                        m.training = mode
        if switched and exc[0] is None:  # (an error of the call itself goes on as it is)
            raise RuntimeError(
                "the model was put in training mode (model.train()) while cdig was explaining "
                "it, probably by another thread; the outputs would mix training-mode passes "
                "(dropout on, batch-norm updating), so this result is discarded. Do not train a "
                "model while explaining it: explain a copy (copy.deepcopy(model)) or wait for "
                "training to finish. The model's own mode has been restored."
            )


#: What :meth:`torch.nn.Module.parameters` and :meth:`~torch.nn.Module.buffers` walk through
#: (with ``named_modules``, and the modules' hashes for its memo): a class that overrides one
#: of them is walked by them (:func:`_first_weights`).
_WALK = (
    "parameters",
    "named_parameters",
    "buffers",
    "named_buffers",
    "_named_members",
    "named_modules",
)
_PLAIN_WALK = tuple(getattr(torch.nn.Module, name) for name in _WALK)
#: Module class -> whether it walks its weights as :class:`torch.nn.Module` does.
_PLAIN: dict[type, bool] = {}


def _plain(cls: type) -> bool:
    hit = _PLAIN.get(cls)
    if hit is None:
        if len(_PLAIN) > 1024:
            _PLAIN.clear()
        hit = _PLAIN[cls] = cls.__hash__ is object.__hash__ and all(
            getattr(cls, name) is f for name, f in zip(_WALK, _PLAIN_WALK, strict=True)
        )
    return hit


def _first_weights(top: torch.nn.Module) -> tuple[torch.dtype | None, torch.device | None] | None:
    """The dtype of the first floating tensor and the device of the first tensor among
    ``top.parameters()`` and then ``top.buffers()``, as :meth:`TorchModel.dtype_and_device`
    reads them, without their generators: each module's ``_parameters`` (then ``_buffers``)
    in the order of :meth:`~torch.nn.Module.named_modules` (pre-order, each module once), up
    to the first floating tensor. ``None`` (walk them) when a class changes that walk."""
    device = None
    order: list[torch.nn.Module] = []
    ids: set[int] = set()
    stack = [top]
    try:
        while stack:  # pre-order: each module's parameters, then its submodules'
            m = stack.pop()
            if id(m) in ids:
                continue
            plain = _PLAIN.get(type(m))  # (the cached answer without a call)
            if not (_plain(type(m)) if plain is None else plain):
                return None
            ids.add(id(m))
            order.append(m)
            for t in m._parameters.values():
                if t is not None:
                    if device is None:
                        device = t.device
                    if t.is_floating_point():
                        return t.dtype, device
            if m._modules:
                stack.extend(reversed([c for c in m._modules.values() if c is not None]))
        for m in order:  # then the buffers, in the same order
            for b in m._buffers.values():
                if b is not None:
                    if device is None:
                        device = b.device
                    if b.is_floating_point():
                        return b.dtype, device
    except AttributeError:  # a module without its dicts (no Module.__init__): walk them
        return None
    return None, device


def _tree(top: torch.nn.Module) -> dict[int, torch.nn.Module]:
    """``top`` and its submodules by ``id``: the modules ``top.eval()`` and ``top.train()``
    set (each module's ``_modules``, recursively; a module reached twice counts once), read
    without :meth:`~torch.nn.Module.modules`' names."""
    found = {id(top): top}
    stack = [top]
    while stack:
        for child in stack.pop()._modules.values():
            if child is not None and id(child) not in found:
                found[id(child)] = child
                stack.append(child)
    return found
