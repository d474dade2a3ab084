"""Helpers shared by the domains fitted per sample (ICA, PCA, seasonal-trend)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .._checks import check_optional_int
from .._warnings import warn
from ._base import Domain

__all__ = [
    "PerSampleDomain",
    "check_count",
    "gather",
    "relative_error",
    "rows_of",
    "warn_ignored_baseline",
]


def rows_of(index: Tensor | None, n_rows: int, n_samples: int, owner: str) -> Tensor:
    """The fitted sample of each of ``n_rows`` rows, as a long tensor of shape ``(n_rows,)``.

    ``index=None`` means row ``i`` is sample ``i``, which needs ``n_rows == n_samples``.
    """
    if index is None:
        if n_rows != n_samples:
            raise ValueError(
                f"{owner} was fitted on {n_samples} samples but got {n_rows} rows without "
                "index=; pass index (LongTensor of shape (n,)) naming the fitted sample of "
                "each row."
            )
        return torch.arange(n_rows)
    index = torch.as_tensor(index).reshape(-1).long().cpu()
    if index.shape[0] != n_rows:
        raise ValueError(
            f"{owner}: index has {index.shape[0]} entries for {n_rows} rows; give one per row."
        )
    if n_rows and (int(index.min()) < 0 or int(index.max()) >= n_samples):
        raise ValueError(
            f"{owner}: index must lie in [0, {n_samples}) (the fitted samples); got values "
            f"from {int(index.min())} to {int(index.max())}."
        )
    return index


class PerSampleDomain(Domain):
    """Base of the domains fitted sample by sample: it owns the row-to-sample logic.

    ``forward``, ``inverse`` and ``coefficient_baseline`` of such a domain take
    ``index`` (LongTensor of shape ``(n,)``), the fitted sample of each row; :meth:`_rows`
    checks it once, with the same messages for every domain.
    """

    def _rows(self, index: Tensor | None, n_rows: int) -> Tensor:
        """The fitted sample of each of ``n_rows`` rows, checked; long tensor on the CPU."""
        self._check_fitted()
        return rows_of(index, n_rows, self.n_samples_, type(self).__name__)


def gather(state: Tensor, rows: Tensor, like: Tensor) -> Tensor:
    """``state[rows]`` on the device and in the (real) dtype of ``like``."""
    real = like.real.dtype if like.is_complex() else like.dtype
    return state[rows].to(device=like.device, dtype=real)


def check_count(value: object, name: str, upper: int | None = None) -> int | None:
    """Validate an optional positive integer such as ``n_components``."""
    return check_optional_int(value, name, high=upper, error=TypeError)


def relative_error(rec: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-sample ``max|rec - x| / max|x|`` for arrays of shape (batch, ...), float64."""
    batch = x.shape[0]
    err = np.abs(rec - x).reshape(batch, -1).max(axis=1)
    scale = np.abs(x).reshape(batch, -1).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), err)
    return np.where(np.isfinite(out), out, np.inf)


def warn_ignored_baseline(owner: str, xb: Tensor, effective: Tensor, how: str) -> None:
    """Warn when a user's time baseline ``xb`` differs from the domain's fixed start.

    An all-zero ``xb`` is what the engine passes for ``baselines=None``, so it never warns.
    ``effective`` broadcasts against ``xb`` (n, channels, time); ``how`` says where the path
    starts.
    """
    if not bool(xb.any()):
        return
    scale = max(1.0, float(xb.abs().max()))
    tol = 1e3 * torch.finfo(xb.dtype).eps * scale
    if bool(((xb - effective).abs() > tol).any()):
        warn(
            f"{owner} ignores baselines=: its integration path starts at fixed coefficients "
            f"({how}), and f(x') is evaluated there. Leave baselines at None to silence this."
        )
