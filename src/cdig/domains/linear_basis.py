"""A domain from any invertible basis of the time axis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._base import Domain, register

__all__ = ["LinearBasis"]


@register
class LinearBasis(Domain):
    """Coefficients in an arbitrary basis of the time axis: ``x = B @ X`` per channel.

    Parameters
    ----------
    matrix : array-like of shape (n_times, n_times)
        The basis ``B``, one basis vector per column, real and invertible. numpy or torch.
    max_condition : float, default=1e10
        Largest accepted condition number of ``B`` (2-norm). Round trips lose about
        ``cond(B) * eps`` of relative precision.

    Notes
    -----
    ``forward(x) = B^{-1} x`` (with :math:`B^{-1}` computed once at fit, in float64) and
    ``inverse(X) = B X``, along the time axis of every channel. The inverse is linear, so
    this domain shares the engine's time pass; attribution :math:`i` is the contribution of
    basis vector :math:`b_i`, scaled by its coefficient, to :math:`f(x) - f(x')`.
    ``domain="linear_basis"`` cannot work by name: construct the object.

    Coefficient array shape: ``(batch, channels, n_times)``, real.

    Examples
    --------
    >>> import numpy as np, torch
    >>> B = np.triu(np.ones((4, 4)))  # cumulative sums from the end
    >>> dom = LinearBasis(B).fit(torch.zeros(1, 1, 4, dtype=torch.float64))
    >>> dom.forward(torch.tensor([[[4.0, 3.0, 2.0, 1.0]]], dtype=torch.float64))
    tensor([[[1., 1., 1., 1.]]], dtype=torch.float64)
    """

    name = "linear_basis"

    def __init__(self, matrix: Any = None, max_condition: float = 1e10) -> None:
        self.matrix = matrix
        self.max_condition = max_condition

    def _check_params(self, n_times: int) -> None:
        if self.matrix is None:
            raise ValueError(
                "domain='linear_basis' needs a basis matrix: pass the object "
                "cdig.domains.LinearBasis(matrix) instead of the name."
            )
        B = _as_matrix(self.matrix)
        if B.ndim != 2 or B.shape != (n_times, n_times):
            raise ValueError(
                f"matrix has shape {B.shape} but the series have {n_times} samples; it must be "
                f"square, ({n_times}, {n_times}), one basis vector per column."
            )
        if not np.isfinite(B).all():
            raise ValueError("matrix has non-finite entries (nan or inf).")
        mc = self.max_condition
        if isinstance(mc, bool) or not isinstance(mc, (int, float)) or not mc >= 1:
            raise ValueError(f"max_condition={mc!r} must be a number >= 1.")
        cond = float(np.linalg.cond(B))
        if not math.isfinite(cond) or cond > mc:
            raise ValueError(
                f"matrix is singular or ill-conditioned: condition number {cond:.3g} > "
                f"max_condition={mc:.3g}; its columns must be linearly independent (use a "
                "well-conditioned basis, or raise max_condition at the cost of precision)."
            )

    def _fit(self, x: Tensor) -> None:
        B = _as_matrix(self.matrix)
        self.basis_ = torch.as_tensor(B)  # (T, T) float64
        self.basis_inverse_ = torch.as_tensor(np.linalg.inv(B))  # (T, T) float64

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        return x @ self.basis_inverse_.to(x).T  # (n, C, T): X = B^-1 x per channel

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        self._check_fitted()
        return X @ self.basis_.to(X).T  # (n, C, T): x = B X per channel

    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "basis")

    def _coords(self) -> dict[str, np.ndarray]:
        return {"basis": np.arange(self.n_times_)}

    @property
    def units(self) -> dict[str, str]:
        return {"basis": "index"}

    def __repr__(self) -> str:
        shape = getattr(self.matrix, "shape", None)
        matrix = f"<matrix of shape {tuple(shape)}>" if shape is not None else repr(self.matrix)
        return f"LinearBasis(matrix={matrix}, max_condition={self.max_condition!r})"


def _as_matrix(matrix: Any) -> np.ndarray:
    if isinstance(matrix, Tensor):
        matrix = matrix.detach().cpu().numpy()
    arr = np.asarray(matrix)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"matrix must be a real numeric array of shape (n_times, n_times); got dtype "
            f"{arr.dtype}."
        )
    return arr.astype(np.float64)
