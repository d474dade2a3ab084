"""JAX functions through the bridge.

A JAX model is a function ``x -> y`` or ``(params, x) -> y`` of ``jax.numpy`` arrays. The
forward pass runs ``jax.jit(fn)``; with a gradient it runs ``jax.vjp`` under ``jax.jit``,
keeping the residuals, and the backward pass applies the returned VJP to torch's
``grad_output``. Compiled code is cached by JAX per function (and input shape), so wrapping
the same function again does not compile again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._optional import require
from ._bridge import VJP, BridgedModel, OutputError, explicit_dtype, torch_dtype

__all__ = ["JaxModel"]


@functools.cache
def _compiled() -> dict[str, Callable[..., Any]]:
    """jit-compiled helpers, built on first use; ``fn`` and ``with_params`` are static."""
    jax = require("jax", "JAX models")

    def call(fn: Callable[..., Any], with_params: bool, params: Any, x: Any) -> Any:
        y = fn(params, x) if with_params else fn(x)
        if not hasattr(y, "dtype") or not hasattr(y, "shape"):
            raise OutputError(
                f"the JAX function returned {type(y).__name__}; it must return one array "
                "(wrap a function with several outputs in one that selects one)."
            )
        return y

    def forward_vjp(fn: Callable[..., Any], with_params: bool, params: Any, x: Any) -> Any:
        return jax.vjp(lambda xx: call(fn, with_params, params, xx), x)

    def apply_vjp(vjp: Any, g: Any) -> Any:
        return vjp(g)[0]

    static = functools.partial(jax.jit, static_argnums=(0, 1))
    return {
        "forward": static(call),
        "forward_vjp": static(forward_vjp),
        "apply_vjp": jax.jit(apply_vjp),
        "forward_eager": call,
        "forward_vjp_eager": forward_vjp,
        "apply_vjp_eager": apply_vjp,
    }


class JaxModel(BridgedModel):
    """A JAX function seen as a differentiable torch function.

    Parameters
    ----------
    fn : callable
        ``fn(x)`` or, when ``params`` is given, ``fn(params, x)``; ``x`` is a
        ``jax.Array`` of the user's layout, shape ``(n, ...)``; returns one real array of
        shape ``(n,)``, ``(n, K)`` or ``(n, ...)``. Flax: ``JaxModel(module.apply,
        params=variables)``. Samples must not interact (row ``i`` of the output depends on
        row ``i`` of the input only), as for every model cdig explains.
    params : pytree, optional
        Parameters passed as the first argument. They are constants for cdig: gradients
        are taken with respect to ``x`` only, and ``params`` is never modified.
    dtype : str or torch.dtype, optional
        Floating dtype of the inputs. Default: the dtype of the floating leaves of
        ``params`` (float64 if any is float64), else JAX's default: float64 when 64-bit mode
        (``jax_enable_x64``) is on, float32 otherwise.
    input_shape : sequence of int or None, optional
        Expected input shape (``None`` for free axes), for an early error naming both
        shapes.
    jit : bool, default=True
        Compile forward and VJP with ``jax.jit``. ``False`` runs them eagerly (for
        functions with Python control flow on values).

    Notes
    -----
    Only real arrays cross the bridge: for a real input and a real output the VJP does not
    depend on the complex-gradient convention (JAX differentiates ``f(z)`` as a function of
    ``z``, PyTorch returns the conjugate Wirtinger form), so a function may use complex
    intermediates such as ``jnp.fft.rfft`` freely. Complex outputs are refused.

    float64 needs JAX's 64-bit mode (``jax.config.update("jax_enable_x64", True)`` or
    ``with jax.enable_x64(True):``); without it JAX silently computes in float32, so asking
    for float64 then raises a ``ValueError`` instead.

    Examples
    --------
    >>> import numpy as np, pytest, cdig
    >>> jnp = pytest.importorskip("jax.numpy")
    >>> w = {"w": jnp.linspace(-1.0, 1.0, 64)}
    >>> model = cdig.models.wrap(lambda p, x: jnp.tanh(x[:, 0, :] @ p["w"]),
    ...                          framework="jax", params=w)
    >>> attr = cdig.explain(model, np.random.default_rng(0).normal(size=(2, 1, 64)))
    >>> bool(attr.converged.all() and (attr.relative_delta <= 0.01).all()), attr.values.dtype
    (True, dtype('float32'))
    """

    framework = "jax"
    _keep_residuals = True

    def __init__(
        self,
        fn: Callable[..., Any],
        params: Any = None,
        *,
        dtype: Any = None,
        input_shape: Sequence[int | None] | None = None,
        jit: bool = True,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be a JAX function; got {type(fn).__name__}.")
        if not isinstance(jit, bool):
            raise TypeError(f"jit={jit!r} must be True or False.")
        self.jax = require("jax", "JAX models")
        super().__init__(input_shape)
        self.fn = fn
        self.params = params
        self.jit = jit
        self._dtype_arg = dtype
        self._with_params = params is not None
        try:
            hash(fn)
            self._fn = fn
        except TypeError:  # an unhashable callable (e.g. a pytree module): close over it
            self._fn = functools.partial(_call_object, fn)

    # ------------------------------------------------------------------ dtype
    @property
    def x64(self) -> bool:
        """Whether JAX's 64-bit mode is on (read at every call)."""
        return bool(self.jax.config.jax_enable_x64)

    @property
    def dtype(self) -> torch.dtype:
        if self._dtype_arg is not None:
            dtype = explicit_dtype(self._dtype_arg)
        else:
            found = {torch_dtype(leaf.dtype) for leaf in self._float_leaves()}
            if torch.float64 in found:
                dtype = torch.float64
            elif found:
                dtype = torch.float32
            else:
                dtype = torch.float64 if self.x64 else torch.float32
        if dtype == torch.float64 and not self.x64:
            raise ValueError(
                "float64 JAX inputs need JAX's 64-bit mode, which is off: call "
                "jax.config.update('jax_enable_x64', True) (or run inside "
                "`with jax.enable_x64(True):`), or pass dtype='float32'."
            )
        return dtype

    def _float_leaves(self) -> list[Any]:
        if not self._with_params:
            return []
        leaves = self.jax.tree_util.tree_leaves(self.params)
        return [
            leaf
            for leaf in leaves
            if hasattr(leaf, "dtype") and torch_dtype(np.dtype(leaf.dtype).name) is not None
        ]

    # ------------------------------------------------------------------ calls
    def _helpers(self) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
        h = _compiled()
        suffix = "" if self.jit else "_eager"
        return h["forward" + suffix], h["forward_vjp" + suffix], h["apply_vjp" + suffix]

    def _to_jax(self, x: np.ndarray) -> Any:
        if x.dtype == np.float64 and not self.x64:
            raise ValueError(
                "got float64 inputs while JAX's 64-bit mode is off (JAX would truncate them "
                "to float32); enable jax_enable_x64 or pass float32 inputs."
            )
        return self.jax.numpy.asarray(x)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        forward, _, _ = self._helpers()
        return np.asarray(forward(self._fn, self._with_params, self.params, self._to_jax(x)))

    def _forward_vjp(self, x: np.ndarray) -> tuple[np.ndarray, VJP]:
        if not self._keep_residuals:
            return super()._forward_vjp(x)
        _, forward_vjp, apply_vjp = self._helpers()
        y, vjp = forward_vjp(self._fn, self._with_params, self.params, self._to_jax(x))
        jnp = self.jax.numpy

        def backward(g: np.ndarray) -> np.ndarray:
            return np.asarray(apply_vjp(vjp, jnp.asarray(g, dtype=y.dtype)))

        return np.asarray(y), backward

    def _vjp(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        _, forward_vjp, apply_vjp = self._helpers()
        y, vjp = forward_vjp(self._fn, self._with_params, self.params, self._to_jax(x))
        return np.asarray(apply_vjp(vjp, self.jax.numpy.asarray(g, dtype=y.dtype)))


def _call_object(obj: Callable[..., Any], *args: Any) -> Any:
    return obj(*args)
