"""Small numeric helpers shared by the integrators."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["accumulator_dtype", "re_mul"]


def accumulator_dtype(t: Tensor) -> torch.dtype:
    """float64 (complex128 for complex ``t``) where the device has it; MPS keeps ``t.dtype``."""
    if t.device.type == "mps":
        return t.dtype
    return torch.complex128 if t.is_complex() else torch.float64


def re_mul(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise ``Re[a * conj(b)]`` in float64: the attribution of a coefficient change
    ``a`` with path gradient ``b`` (PyTorch's convention ``df/dRe + i df/dIm``)."""
    if a.is_complex() or b.is_complex():
        ra = torch.view_as_real(a.to(torch.complex128))
        rb = torch.view_as_real(b.to(torch.complex128))
        return (ra * rb).sum(dim=-1)
    return a.double() * b.double()
