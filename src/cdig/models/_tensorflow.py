"""Keras and TensorFlow models through the bridge.

Forward and VJP each run as one compiled ``tf.function`` (graph mode), traced once per
input shape without the batch axis and dtype, and cached per model for as long as the
model lives, so repeated :func:`cdig.explain` calls on one model do not trace again.
The VJP recomputes the forward pass inside its graph. On the KID-PPG network this is
faster than keeping an eager ``GradientTape`` from the forward call: the tape took 1.6x to
2.1x as long (``benchmarks/bridge.py``).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._optional import require
from ._bridge import BridgedModel, OutputError, explicit_dtype, torch_dtype

__all__ = ["KerasModel", "TensorFlowModel", "is_keras_layer", "keras_dtype"]

# model -> {(kind, tail shape, dtype): concrete function}; entries vanish with the model.
_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _roots(obj: Any) -> set[str]:
    return {(c.__module__ or "").split(".")[0] for c in type(obj).__mro__}


def is_keras_layer(model: Any) -> bool:
    """Whether ``model`` is a Keras layer or model (Keras 3, tf.keras or tf_keras)."""
    return bool(_roots(model) & {"keras", "tf_keras"})


def _accepts_training(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "training" in params


class TensorFlowModel(BridgedModel):
    """A TensorFlow model (``tf.Module``, ``tf.function`` or a callable of TF ops).

    Parameters
    ----------
    model : callable
        Maps a ``tf.Tensor`` of the user's layout, shape ``(n, ...)``, to one real tensor of
        shape ``(n,)``, ``(n, K)`` or ``(n, ...)``. When its call signature has a
        ``training`` argument, it is called with ``training=False`` (inference mode).
    dtype : str or torch.dtype, optional
        Floating dtype of the inputs. Default: a ``tf.function``'s input signature, else
        the dtype of the module's first floating variable, else the inputs' own dtype.
    input_shape : sequence of int or None, optional
        Expected input shape (``None`` for free axes, e.g. ``(None, 256, 1)``), for an early
        error naming both shapes. Default: a ``tf.function``'s input signature, if any.

    Notes
    -----
    Gradients are taken with respect to the inputs only (``tf.GradientTape`` watching the
    input, not the variables); the model's variables are never written.
    """

    framework = "tensorflow"

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        dtype: Any = None,
        input_shape: Sequence[int | None] | None = None,
    ) -> None:
        if not callable(model):
            raise TypeError(
                f"model must be a TensorFlow callable (tf.Module, tf.function, keras.Model); "
                f"got {type(model).__name__}."
            )
        self.tf = require("tensorflow", "TensorFlow models")
        self.model = model
        self._dtype_arg = dtype
        signature = getattr(model, "input_signature", None)
        self._signature = signature[0] if signature else None
        if input_shape is None and self._signature is not None:
            input_shape = tuple(self._signature.shape.as_list())
        super().__init__(input_shape)
        self._input_errors = (ValueError, TypeError, self.tf.errors.InvalidArgumentError)
        self._kwargs = {"training": False} if _accepts_training(model) else {}

    # ------------------------------------------------------------------ dtype
    @property
    def dtype(self) -> torch.dtype | None:
        if self._dtype_arg is not None:
            return explicit_dtype(self._dtype_arg)
        if self._signature is not None:
            return torch_dtype(self._signature.dtype.name)
        return self._variable_dtype()

    def _variable_dtype(self) -> torch.dtype | None:
        for v in getattr(self.model, "variables", ()) or ():
            if v.dtype.is_floating:
                return torch_dtype(v.dtype.name)
        return None

    # ------------------------------------------------------------------ compiled calls
    def _function(self, kind: str, x: np.ndarray) -> Any:
        """The concrete ``tf.function`` of ``kind`` for inputs shaped like ``x``."""
        key = (kind, x.shape[1:], x.dtype.str, tuple(sorted(self._kwargs.items())))
        try:
            cache = _CACHE.setdefault(self.model, {})
        except TypeError:  # not weak-referenceable or not hashable: cache on the adapter
            cache = self.__dict__.setdefault("_own_cache", {})
        if key not in cache:
            cache[key] = self._trace(kind, x)
        return cache[key]

    def _trace(self, kind: str, x: np.ndarray) -> Any:
        tf = self.tf
        try:
            ref: Callable[[], Any] = weakref.ref(self.model)
        except TypeError:
            model = self.model
            ref = lambda: model  # noqa: E731
        kwargs = dict(self._kwargs)
        spec = tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))

        def forward(xt: Any) -> Any:
            return _single(ref()(xt, **kwargs), tf)

        def vjp(xt: Any, g: Any) -> Any:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(xt)
                y = forward(xt)
            return tape.gradient(
                y,
                xt,
                output_gradients=tf.cast(g, y.dtype),
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )

        if kind == "forward":
            return tf.function(forward, autograph=False).get_concrete_function(spec)
        vjp_fn = tf.function(vjp, autograph=False)
        return vjp_fn.get_concrete_function(spec, tf.TensorSpec(None, tf.float64))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        fn = self._function("forward", x)
        return fn(self.tf.convert_to_tensor(x)).numpy()

    def _vjp(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        fn = self._function("vjp", x)
        return fn(
            self.tf.convert_to_tensor(x), self.tf.convert_to_tensor(g, self.tf.float64)
        ).numpy()


class KerasModel(TensorFlowModel):
    """A Keras model or layer on the TensorFlow backend (Keras 3, ``tf.keras``, ``tf_keras``).

    Called with ``training=False``: dropout is off and batch normalization uses its moving
    statistics. The input dtype is the dtype of the model's ``Input`` (else its compute
    dtype); float16 and bfloat16 models receive float32 inputs, which Keras casts.
    The expected input shape is read from the model, so a wrong shape fails early with
    both shapes named.

    Parameters
    ----------
    model : keras.Model or keras.layers.Layer
        With one input tensor and one output tensor.
    dtype : str or torch.dtype, optional
        Override the input dtype.
    input_shape : sequence of int or None, optional
        Override the expected input shape.
    """

    framework = "keras"

    def __init__(
        self,
        model: Any,
        *,
        dtype: Any = None,
        input_shape: Sequence[int | None] | None = None,
    ) -> None:
        n_in = _keras_inputs(model)
        if n_in is not None and len(n_in) != 1:
            raise TypeError(
                f"the Keras model has {len(n_in)} inputs; cdig explains models of one input "
                "tensor. Wrap it in a function of one input (fixing the others) and pass "
                "cdig.models.wrap(fn, framework='tensorflow')."
            )
        if input_shape is None and n_in:
            input_shape = n_in[0][0]
        super().__init__(model, dtype=dtype, input_shape=input_shape)
        self._kwargs = {"training": False}

    @property
    def dtype(self) -> torch.dtype | None:
        if self._dtype_arg is not None:
            return explicit_dtype(self._dtype_arg)
        return keras_dtype(self.model) or self._variable_dtype()


def keras_dtype(model: Any) -> torch.dtype | None:
    """Input dtype of a Keras model: its ``Input``'s dtype, else its compute dtype."""
    inputs = _keras_inputs(model)
    for name in (inputs[0][1] if inputs else None, getattr(model, "compute_dtype", None)):
        if name is not None and torch_dtype(name) is not None:
            return torch_dtype(name)
    return None


def _keras_inputs(model: Any) -> list[tuple[tuple[int | None, ...], str]] | None:
    """``[(shape, dtype)]`` of a Keras model's symbolic inputs, or None when not declared."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    out = []
    for t in inputs:
        shape = tuple(None if s is None else int(s) for s in tuple(t.shape))
        dtype = getattr(t.dtype, "name", t.dtype)
        out.append((shape, str(dtype)))
    return out


def _single(y: Any, tf: Any) -> Any:
    if isinstance(y, (list, tuple)) and len(y) == 1:
        y = y[0]
    if isinstance(y, dict) and len(y) == 1:
        y = next(iter(y.values()))
    if not tf.is_tensor(y):
        raise OutputError(
            f"the model returned {type(y).__name__}; it must return one tensor (wrap a model "
            "with several outputs in a function that selects one)."
        )
    return y
