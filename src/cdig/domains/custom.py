"""A domain from your own pair of torch functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import Domain, register

__all__ = ["Custom"]

Transform = Callable[[Tensor], Tensor]


@register
class Custom(Domain):
    """Any invertible transform given as two torch functions.

    Parameters
    ----------
    forward : callable
        ``forward(x) -> X``: maps a tensor of shape (n, channels, time) to coefficients of
        shape (n, ...), real or complex. Called on detached inputs only.
    inverse : callable
        ``inverse(X) -> x``: the exact inverse, differentiable in torch (gradients flow
        through it), returning shape (n, channels, time).
    linear : bool, default=False
        ``True`` if ``inverse`` is (real-)affine; it is then checked at fit and the domain
        shares the engine's time pass. ``False`` integrates in the coefficients.
    coords : mapping of str to array-like or (str, array-like), optional
        Coordinates of the coefficient axes (and extra per-coefficient labels), each 1-D
        with the length of one axis. Default: indices ``0 .. n-1`` for every axis. A label
        not named like an axis is given with its axis as xarray takes it, ``{"tag":
        ("coefficient", values)}``; given alone, it labels the last axis of its length.
    dims : sequence of str, optional
        Names of the coefficient axes after the batch axis. Default: ``("channel",
        "coefficient")`` for coefficients of shape (n, channels, m), else ``coefficient_1``,
        ``coefficient_2``, ...
    units : mapping of str to str, optional
        Unit of each coordinate.

    Notes
    -----
    :meth:`fit` evaluates ``inverse(forward(x))`` once on the data and raises if it does not
    reproduce ``x`` (relative error above ``1e4`` machine epsilons; see
    :meth:`Domain.check_invertible`), because completeness rests on exact reconstruction.
    With ``linear=True`` it also checks that ``inverse`` is affine along a random direction.
    ``domain="custom"`` cannot work by name: construct the object.

    Examples
    --------
    >>> import torch
    >>> dom = Custom(lambda x: 2 * x, lambda X: X / 2, linear=True)
    >>> dom.fit(torch.randn(3, 1, 8)).dims
    ('channel', 'coefficient')
    """

    name = "custom"
    _param_attributes: ClassVar[Mapping[str, str]] = {
        "forward": "forward_fn",
        "inverse": "inverse_fn",
        "coords": "coords_arg",
        "dims": "dims_arg",
        "units": "units_arg",
    }

    def __init__(
        self,
        forward: Transform | None = None,
        inverse: Transform | None = None,
        linear: bool = False,
        coords: Mapping[str, Any] | None = None,
        dims: Sequence[str] | None = None,
        units: Mapping[str, str] | None = None,
    ) -> None:
        self.forward_fn = forward
        self.inverse_fn = inverse
        self.linear = linear  # type: ignore[misc]
        self.coords_arg = coords
        self.dims_arg = dims
        self.units_arg = units

    # ------------------------------------------------------------------ fitting
    def _check_params(self, n_times: int) -> None:
        if self.forward_fn is None or self.inverse_fn is None:
            raise ValueError(
                "domain='custom' needs your transform: pass the object "
                "cdig.domains.Custom(forward, inverse) instead of the name."
            )
        for arg, fn in (("forward", self.forward_fn), ("inverse", self.inverse_fn)):
            if not callable(fn):
                raise TypeError(f"{arg} must be a callable on torch tensors; got {fn!r}.")
        if not isinstance(self.linear, bool):
            raise TypeError(f"linear={self.linear!r} must be True or False.")

    def _fit(self, x: Tensor) -> None:
        with torch.no_grad():
            X = self.forward(x)
            if not isinstance(X, Tensor) or X.ndim < 2 or X.shape[0] != x.shape[0]:
                shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
                raise ValueError(
                    f"forward must return a tensor of shape (n, ...) with n = {x.shape[0]} rows "
                    f"for x of shape {tuple(x.shape)}; got {shape}."
                )
            rec = self.inverse(X)
            if not isinstance(rec, Tensor) or rec.shape != x.shape:
                shape = tuple(rec.shape) if isinstance(rec, Tensor) else type(rec).__name__
                raise ValueError(
                    f"inverse must return a tensor of the input's shape {tuple(x.shape)}; "
                    f"got {shape}."
                )
        self.coefficient_shape_ = tuple(int(s) for s in X.shape[1:])
        self.is_complex = X.is_complex()  # type: ignore[misc]
        self.dims_ = self._resolve_dims()
        self.coords_, self.coord_dims_ = self._resolve_coords()
        self.check_invertible(x)
        if self.linear:
            self._check_affine(X)

    def _resolve_dims(self) -> tuple[str, ...]:
        shape = self.coefficient_shape_
        if self.dims_arg is None:
            if len(shape) == 2 and shape[0] == self.n_channels_:
                return ("channel", "coefficient")
            if len(shape) == 1:
                return ("coefficient",)
            return tuple(f"coefficient_{i + 1}" for i in range(len(shape)))
        dims = tuple(self.dims_arg) if not isinstance(self.dims_arg, str) else (self.dims_arg,)
        if len(dims) != len(shape) or len(set(dims)) != len(dims):
            raise ValueError(
                f"dims={self.dims_arg!r} must name each of the {len(shape)} coefficient axes "
                f"(coefficient shape {shape}) once."
            )
        return tuple(str(d) for d in dims)

    def _resolve_coords(self) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]:
        sizes = dict(zip(self.dims_, self.coefficient_shape_))
        coords: dict[str, np.ndarray] = {d: np.arange(n) for d, n in sizes.items()}
        bound: dict[str, tuple[str, ...]] = {d: (d,) for d in sizes}
        for key, value in (self.coords_arg or {}).items():
            axis = None
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
                axis, value = value  # xarray's (dim, values)
                if axis not in sizes:
                    raise ValueError(
                        f"coords[{key!r}] names the axis {axis!r}; the axes are {list(sizes)}."
                    )
            arr = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value)
            if axis is None:
                axis = key if key in sizes else None
            want = (sizes[axis],) if axis is not None else None
            ok = arr.ndim == 1 and (
                arr.shape == want or (want is None and len(arr) in sizes.values())
            )
            if not ok:
                raise ValueError(
                    f"coords[{key!r}] has shape {arr.shape}; it must be 1-D with the length of "
                    f"{'axis ' + repr(axis) if want else 'one coefficient axis'} "
                    f"(axis sizes {sizes})."
                )
            if axis is None:  # a label given without its axis: the last axis of its length
                axis = [d for d, n in sizes.items() if n == len(arr)][-1]
            coords[str(key)] = arr.copy()
            bound[str(key)] = (axis,)
        return coords, bound

    def _check_affine(self, X: Tensor) -> None:
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(X.shape, generator=gen, dtype=X.dtype).to(X.device)
        other = X + noise * max(1.0, float(X.abs().max()))
        with torch.no_grad():
            a, b = self.inverse(X), self.inverse(other)
            mid = self.inverse(0.3 * X + 0.7 * other)
        err = float((mid - (0.3 * a + 0.7 * b)).abs().max())
        scale = max(1.0, float(a.abs().max()), float(b.abs().max()))
        if err > 1e4 * torch.finfo(mid.dtype).eps * scale:
            raise ValueError(
                f"linear=True but inverse is not affine (error {err / scale:.3g} relative at "
                "a point between two coefficient arrays); pass linear=False."
            )

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        if self.forward_fn is None:
            self._check_params(x.shape[-1])
        return self.forward_fn(x)  # type: ignore[misc]

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        if self.inverse_fn is None:
            self._check_params(0)
        return self.inverse_fn(X)  # type: ignore[misc]

    # ------------------------------------------------------------------ meaning
    @property
    def dims(self) -> tuple[str, ...]:
        self._check_fitted()
        return self.dims_

    @property
    def coords(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {k: v.copy() for k, v in self.coords_.items()}

    @property
    def coord_dims(self) -> dict[str, tuple[str, ...]]:
        """Each coordinate's axis: its own for one named like an axis, the one given as
        ``(axis, values)``, else the last axis of the label's length."""
        self._check_fitted()
        return dict(self.coord_dims_)

    @property
    def units(self) -> dict[str, str]:
        return dict(self.units_arg or {})

    def __repr__(self) -> str:
        fwd = getattr(self.forward_fn, "__name__", repr(self.forward_fn))
        inv = getattr(self.inverse_fn, "__name__", repr(self.inverse_fn))
        return f"Custom(forward={fwd}, inverse={inv}, linear={self.linear})"
