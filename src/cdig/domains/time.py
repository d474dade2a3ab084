"""The time domain: the identity transform, i.e. ordinary Integrated Gradients."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ._base import Domain, check_fs, register

__all__ = ["Time"]


@register
class Time(Domain):
    """Identity transform: one coefficient per time sample.

    Parameters
    ----------
    fs : float, optional
        Sampling rate in Hz; coordinates are in seconds when given, sample indices otherwise.

    Notes
    -----
    Attributions equal Integrated Gradients on the input (Sundararajan et al., 2017).
    Coefficient array shape: ``(batch, channels, time)``.
    """

    per_channel = True
    name = "time"
    _rows_apart = True  # the identity (h25-rest)

    def __init__(self, fs: float | None = None) -> None:
        self.fs = fs

    def _check_params(self, n_times: int) -> None:
        check_fs(self.fs)

    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        return x

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        return X

    def inverse_vjp(self, X: Tensor, G: Tensor, index: Tensor | None = None) -> Tensor:
        return G  # the inverse is the identity

    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "time")

    def _coords(self) -> dict[str, np.ndarray]:
        t = np.arange(self.n_times_, dtype=np.float64)
        return {"time": t / self.fs if self.fs else t}

    @property
    def units(self) -> dict[str, str]:
        return {"time": "s" if self.fs else "sample"}
