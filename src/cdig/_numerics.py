"""Small numeric helpers shared by the integrators."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "COMPLETENESS_FLOOR",
    "SINGULAR_WIDTH",
    "STATUSES",
    "STATUS_DTYPE",
    "accumulator_dtype",
    "completeness_flagged",
    "completeness_ok",
    "re_mul",
    "status_codes",
    "status_names",
]

#: A completeness error ``|delta|`` at or below this is rounding of the model outputs, never
#: reported as a failure (in units of the model output).
COMPLETENESS_FLOOR = 1e-6

#: Why a sample's integration stopped (:attr:`cdig.Attribution.status`): ``"converged"`` (the
#: tolerances are met by the reported numbers), ``"floor"`` (not certifiable at the
#: model's precision: a tolerance below the outputs' rounding, or measured gradient noise),
#: ``"max_steps"`` (``n_steps="auto"``: budget spent),
#: ``"singular"`` (the output jumps next to the baseline) and ``"n_steps"`` (a fixed
#: ``n_steps`` whose completeness error exceeds the tolerance).
STATUSES = ("converged", "floor", "max_steps", "singular", "n_steps")
STATUS_DTYPE = "<U9"
#: A row whose output changes by more than half of ``f(x) - f(x')`` within
#: ``alpha < SINGULAR_WIDTH`` of the baseline is singular there (stopped, named).
SINGULAR_WIDTH = 2.0**-12


def status_codes(status: np.ndarray) -> np.ndarray:
    """``status`` (names of :data:`STATUSES`) as int8 codes, their index in it (how a
    dataset run stores them: a plain numeric array, no text in its shard files)."""
    status = np.asarray(status)
    codes = np.full(status.shape, -1, dtype=np.int8)
    for i, name in enumerate(STATUSES):
        codes[status == name] = i
    if (codes < 0).any():
        unknown = sorted(set(status[codes < 0].tolist()))
        raise ValueError(f"status must hold names of {STATUSES}; got {unknown}.")
    return codes


def status_names(codes: np.ndarray, what: str = "status") -> np.ndarray:
    """The inverse of :func:`status_codes`; ``what`` names the array in the error raised for
    a code outside ``0..len(STATUSES) - 1``."""
    codes = np.asarray(codes)
    inside = codes.dtype.kind in "iu" and bool(((codes >= 0) & (codes < len(STATUSES))).all())
    if not inside:
        raise ValueError(
            f"{what}: status codes must be integers 0..{len(STATUSES) - 1} ({STATUSES}); the "
            "file was damaged or edited."
        )
    return np.asarray(STATUSES, dtype=STATUS_DTYPE)[codes.astype(np.intp)]


def accumulator_dtype(t: Tensor) -> torch.dtype:
    """float64 (complex128 for complex ``t``) where the device has it; MPS keeps ``t.dtype``."""
    if t.is_mps:
        return t.dtype
    return torch.complex128 if t.is_complex() else torch.float64


def re_mul(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise ``Re[a * conj(b)]`` in float64: the attribution of a coefficient change
    ``a`` with path gradient ``b`` (PyTorch's convention ``df/dRe + i df/dIm``)."""
    if a.is_complex() or b.is_complex():
        # (no conversion where the dtype is complex128 already: the same tensor, one
        # dispatch less; the dtype as a keyword: torch parses a positional one slowly)
        c128 = torch.complex128
        ra = torch.view_as_real(a if a.dtype == c128 else a.to(dtype=c128))
        rb = torch.view_as_real(b if b.dtype == c128 else b.to(dtype=c128))
        prod = ra * rb
        return prod[..., 0] + prod[..., 1]  # the same bits as .sum(dim=-1), faster
    return a.double() * b.double()


def completeness_ok(
    delta: np.ndarray, diff: np.ndarray, rtol: float, atol: float | np.ndarray = 0.0
) -> np.ndarray:
    """The completeness test of a result: ``|delta| <= rtol * |f(x) - f(x')| + atol``.

    ``delta`` and ``diff`` (``f(x) - f(x')``) are float64 arrays of shape ``(batch,)``,
    ``atol`` a number or such an array; returns a bool array of that shape.
    """
    bound = rtol * np.abs(diff)
    # (adding a zero atol changes no bound: one array operation less; an array atol, such
    # as atol + floor, is added)
    if not isinstance(atol, (int, float)) or atol:
        bound = bound + atol
    return np.asarray(np.abs(delta) <= bound)


def completeness_flagged(delta: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The samples to report: failed (``~ok``) and ``|delta|`` above :data:`COMPLETENESS_FLOOR`."""
    return np.asarray(~ok & (np.abs(delta) > COMPLETENESS_FLOOR))
