"""Which framework a model comes from, and the adapter for it."""

from __future__ import annotations

from typing import Any

from ._torch import ModelAdapter, TorchModel

__all__ = ["FRAMEWORKS", "detect_framework", "wrap"]

#: Values accepted by ``wrap(model, framework=...)``.
FRAMEWORKS = ("torch", "keras", "tensorflow", "jax")

# Top-level package of a class in the model's MRO -> framework. Detection reads module names
# only, so it never imports TensorFlow or JAX for a model that is not from them.
_ROOTS = {
    "keras": "keras",
    "tf_keras": "keras",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "jaxlib": "jax",
    "equinox": "jax",
    "flax": "jax",
    "haiku": "jax",
}

_OPTIONS = {
    "torch": (),
    "keras": ("dtype", "input_shape"),
    "tensorflow": ("dtype", "input_shape"),
    "jax": ("params", "dtype", "input_shape", "jit"),
}


def detect_framework(model: Any) -> str:
    """The framework of ``model``, from the modules of its class and base classes.

    Returns one of ``"keras"``, ``"tensorflow"``, ``"jax"`` or ``"torch"`` (the default,
    also for plain Python callables: a function that calls TensorFlow or JAX internally
    cannot be recognized and needs ``wrap(fn, framework=...)``).
    """
    cls = type(model)
    hit = _FRAMEWORK_OF.get(cls)
    if hit is None:
        if len(_FRAMEWORK_OF) > 256:
            _FRAMEWORK_OF.clear()
        hit = _FRAMEWORK_OF[cls] = _framework_of(cls)
    return hit


#: :func:`detect_framework` by class (read once per class).
_FRAMEWORK_OF: dict[type, str] = {}


def _framework_of(cls: type) -> str:
    found = [_ROOTS.get((c.__module__ or "").split(".")[0]) for c in cls.__mro__]
    for name in ("keras", "tensorflow", "jax"):  # Keras first: its classes extend tf's
        if name in found:
            return name
    return "torch"


def wrap(model: Any, framework: str | None = None, **options: Any) -> ModelAdapter:
    """Make ``model`` a differentiable torch function for the engine.

    Parameters
    ----------
    model : torch.nn.Module, keras.Model, tf.Module, JAX function, or callable
        Maps a batch in the user's layout, shape ``(n, ...)``, to outputs of shape ``(n,)``,
        ``(n, K)`` or ``(n, ...)``. A :class:`ModelAdapter` is returned unchanged.
    framework : {"torch", "keras", "tensorflow", "jax"}, optional
        Force the framework instead of detecting it from the model's class (needed for
        plain Python functions that call TensorFlow or JAX).
    **options
        Passed to the adapter: ``dtype`` and ``input_shape`` (Keras, TensorFlow, JAX);
        ``params`` and ``jit`` (JAX: ``fn(params, x)``, see :class:`JaxModel`).

    Returns
    -------
    ModelAdapter
        :class:`TorchModel`, :class:`KerasModel`, :class:`TensorFlowModel` or
        :class:`JaxModel`.

    Raises
    ------
    ValueError
        For an unknown ``framework``.
    TypeError
        For options the framework does not take.

    Examples
    --------
    >>> import torch, cdig
    >>> cdig.models.wrap(torch.nn.Linear(8, 1)).framework
    'torch'
    """
    if isinstance(model, ModelAdapter):
        if framework is not None or options:
            raise TypeError(
                f"model is already a {type(model).__name__}; pass the framework and options "
                "when wrapping, not again."
            )
        return model
    if framework is None:
        name = detect_framework(model)
    elif isinstance(framework, str) and framework.lower() in FRAMEWORKS:
        name = framework.lower()
    else:
        raise ValueError(
            f"framework={framework!r} is not supported; use one of {', '.join(FRAMEWORKS)} "
            "or None to detect it."
        )
    unknown = sorted(set(options) - set(_OPTIONS[name])) if options else []
    if unknown:
        allowed = ", ".join(_OPTIONS[name]) or "none"
        raise TypeError(
            f"option(s) {', '.join(unknown)} are not understood for {name} models; "
            f"{name} takes: {allowed}."
        )
    if name == "torch":
        return TorchModel(model)
    if name == "jax":
        from ._jax import JaxModel

        return JaxModel(model, **options)
    from ._tensorflow import TensorFlowModel, is_keras_layer

    if is_keras_layer(model):
        return _keras(model, options)
    return TensorFlowModel(model, **options)


def _keras(model: Any, options: dict[str, Any]) -> ModelAdapter:
    """Keras on the TensorFlow backend; other backends get a recipe that works for them."""
    from ._tensorflow import KerasModel

    backend = _keras_backend(model)
    if backend == "tensorflow":
        return KerasModel(model, **options)
    recipes = {
        "jax": (
            "wrap it as a JAX function: cdig.models.wrap(lambda p, x: model.stateless_call("
            "p[0], p[1], x, training=False)[0], framework='jax', params=([v.value for v in "
            "model.trainable_variables], [v.value for v in model.non_trainable_variables]))"
        ),
        "torch": (
            "it is a torch module: pass cdig.models.wrap(model, framework='torch') "
            "(Keras runs it in inference mode)"
        ),
    }
    raise ValueError(
        f"Keras models are bridged on the TensorFlow backend; this one runs on the "
        f"{backend!r} backend. " + recipes.get(backend, "Set KERAS_BACKEND=tensorflow.") + "."
    )


def _keras_backend(model: Any) -> str:
    roots = {(c.__module__ or "").split(".")[0] for c in type(model).__mro__}
    if "tf_keras" in roots:
        return "tensorflow"
    import keras

    backend: str = keras.backend.backend()
    return backend
