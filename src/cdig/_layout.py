"""How the user laid out a batch of series: the one layout object of cdig.

Inside cdig every series batch is ``(batch, channels, time)``. :class:`InputLayout` records
how the user's arrays map to it (and their sampling rate), and owns every conversion: series
tensors to and from the canonical layout (the engine calls the model in the user's own
layout) and a result's coefficient arrays to and from the inputs' layout (figures and
:meth:`cdig.Attribution.values_in_input_layout`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = ["InputLayout", "plain_float", "plain_int"]

_CANONICAL_LAYOUTS = ((3, 2), (3, 1), (2, 1))


@dataclass(frozen=True)
class InputLayout:
    """How the explained inputs were laid out, and their sampling rate.

    The one source of every conversion between cdig's canonical layout (channels before
    time) and the user's: the engine's series tensors (:meth:`to_canonical`,
    :meth:`to_user`) and a result's coefficient arrays (:meth:`to_input`, :meth:`from_input`:
    :meth:`Attribution.values_in_input_layout` and the figures that take the inputs as they
    were explained).

    Attributes
    ----------
    ndim : {3, 2}, default=3
        Dimensions of the explained inputs: 3 for ``(batch, channels, time)`` or ``(batch,
        time, channels)``, 2 for ``(batch, time)`` (one channel).
    time_axis : {2, 1}, default=2
        The inputs' time axis, non-negative: 2 for ``(batch, channels, time)``; 1 for
        ``(batch, time, channels)`` and for ``(batch, time)``.
    fs : float or None, default=None
        Sampling rate of the inputs in Hz, when it was given.
    """

    ndim: int = 3
    time_axis: int = 2
    fs: float | None = None

    def __post_init__(self) -> None:
        pair = (self.ndim, self.time_axis)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            raise TypeError(f"layout ndim and time_axis must be integers; got {pair!r:.80}.")
        if pair not in _CANONICAL_LAYOUTS:
            raise ValueError(
                f"layout (ndim={self.ndim}, time_axis={self.time_axis}) is not one of "
                f"{list(_CANONICAL_LAYOUTS)}: (batch, channels, time), (batch, time, channels) "
                "or (batch, time)."
            )
        if self.fs is not None:
            if isinstance(self.fs, bool) or not isinstance(self.fs, (int, float)):
                raise TypeError(f"layout fs must be a number of Hz or None; got {self.fs!r:.60}.")
            if not (math.isfinite(self.fs) and self.fs > 0):
                raise ValueError(f"layout fs={self.fs!r} must be a finite rate > 0 Hz or None.")

    @property
    def canonical(self) -> bool:
        """Whether the inputs were ``(batch, channels, time)``, the result's own layout."""
        return (self.ndim, self.time_axis) == (3, 2)

    # ------------------------------------------------------------ series tensors (engine)
    def to_canonical(self, t: Tensor) -> Tensor:
        """A series batch in this layout -> ``(batch, channels, time)``; leading extra axes
        are kept (``(..., batch, time)`` -> ``(..., batch, 1, time)``)."""
        if self.ndim == 2:
            return t.unsqueeze(-2)
        if self.time_axis == 1:
            return t.transpose(-1, -2)  # (..., batch, time, ch) -> (..., batch, ch, time)
        return t

    def to_user(self, t: Tensor) -> Tensor:
        """``(..., n, channels, time)`` -> this layout, for calling the model."""
        if self.ndim == 2:
            return t.squeeze(-2)
        if self.time_axis == 1:
            return t.transpose(-1, -2)
        return t

    # ------------------------------------------------------------ result arrays
    def to_input(self, values: np.ndarray) -> np.ndarray:
        """``(batch, channels, *rest)`` -> the inputs' layout (a view): channels last for
        ``(batch, time, channels)``, dropped (of size one) for ``(batch, time)``."""
        if self.canonical:
            return values
        if self.ndim == 2:
            return values[:, 0]
        return np.moveaxis(values, 1, -1)

    def from_input(self, arr: np.ndarray, batch: int, n_channels: int | None) -> np.ndarray:
        """Inputs in this layout -> channels before time (a view).

        ``arr`` may be the batch as explained, or one sample: ``(time, channels)`` for inputs
        ``(batch, time, channels)``; inputs ``(batch, time)`` of a batch of one may be passed
        as one series ``(time,)``. An array already ``(..., channels, time)`` is kept.
        """
        if self.ndim == 2 and arr.ndim == 2 and arr.shape[0] == batch and batch > 1:
            return arr[:, None, :]  # (batch, time) -> (batch, 1, time)
        if self.ndim == 3 and self.time_axis == 1 and arr.ndim in (2, 3):
            already = n_channels is not None and arr.shape[-2] == n_channels != arr.shape[-1]
            if not already:
                return np.swapaxes(arr, -1, -2)
        return arr

    def as_dict(self) -> dict[str, Any]:
        """``{"input_ndim", "time_axis", "fs"}``, as results record it."""
        return {"input_ndim": self.ndim, "time_axis": self.time_axis, "fs": self.fs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputLayout:
        """The layout :meth:`as_dict` gave (missing keys: the defaults)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"layout must be a mapping; got {type(data).__name__}.")
        fs = data.get("fs")
        return cls(
            ndim=plain_int(data.get("input_ndim", 3), "layout input_ndim"),
            time_axis=plain_int(data.get("time_axis", 2), "layout time_axis"),
            fs=None if fs is None else plain_float(fs, "layout fs"),
        )


def plain_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer; got {value!r:.60}.")
    return int(value)


def plain_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number; got {value!r:.60}.")
    if not math.isfinite(float(value)):
        raise ValueError(f"{what} must be finite; got {value!r}.")
    return float(value)
