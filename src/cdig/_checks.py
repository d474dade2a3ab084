"""Validators of plain arguments, shared by every layer.

Each raises early with a message that names the argument, what was wrong and how to fix it.
Array validation (series, baselines, targets) lives in :mod:`cdig._inputs`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "check_choice",
    "check_index_list",
    "check_int",
    "check_optional_int",
    "check_sample",
]


def check_int(
    value: Any, name: str, *, low: int = 1, high: int | None = None, error: type = ValueError
) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (``high=None``: no upper bound).

    Booleans and non-integral numbers are refused (``2.0`` is not a count).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = "a positive integer" if low == 1 else "an integer"
        raise error(f"{name}={value!r} must be {kind}; got {type(value).__name__}.")
    number = int(value)
    if number < low or (high is not None and number > high):
        if high is not None:
            what = f"at least {low} and at most {high}"
        else:
            what = "a positive integer" if low == 1 else f"at least {low}"
        raise ValueError(f"{name}={value!r} must be {what}.")
    return number


def check_optional_int(
    value: Any, name: str, *, low: int = 1, high: int | None = None, error: type = ValueError
) -> int | None:
    """As :func:`check_int`, with ``None`` passed through."""
    return None if value is None else check_int(value, name, low=low, high=high, error=error)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` when it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r} is not understood; use one of {', '.join(choices)}.")
    return value


def check_index_list(values: Any, name: str, size: int, *, what: str = "batch") -> list[int]:
    """``values`` (an int or an iterable of ints) as a list of indices into ``size`` items.

    Duplicates are kept in their order of first appearance once; an empty list is refused.
    """
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, Iterable) or isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be an integer or a list of integers; got {values!r}.")
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= int(v) < size:
            raise ValueError(
                f"{name} contains {v!r}; each must be an integer in 0..{size - 1} "
                f"({what} of {size})."
            )
        out.append(int(v))
    if not out:
        raise ValueError(f"{name} is empty; give at least one index, e.g. {name}=[0].")
    return list(dict.fromkeys(out))


def check_sample(sample: Any, batch: int) -> int:
    """``sample`` as an index into a batch of ``batch`` samples (one sample of a result)."""
    if isinstance(sample, bool) or not isinstance(sample, numbers.Integral):
        raise TypeError(f"sample={sample!r} must be an integer index into the batch.")
    if not 0 <= int(sample) < batch:
        raise ValueError(
            f"sample={sample} is out of range for a batch of {batch}; use 0..{batch - 1}."
        )
    return int(sample)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval from ``low`` to ``high``.

    ``open_low`` / ``open_high`` exclude the end point (``low=0, open_low=True``: positive).
    Booleans are refused; a non-number raises ``TypeError``, a value out of range or not
    finite ``ValueError``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be a real number; got {type(value).__name__}.")
    number = float(value)
    below = low is not None and (number <= low if open_low else number < low)
    above = high is not None and (number >= high if open_high else number > high)
    if not math.isfinite(number) or below or above:
        if low is not None and high is not None and open_low and open_high:
            where = f" and strictly between {low:g} and {high:g}"
        else:
            parts = []
            if low is not None:
                parts.append(f"{'>' if open_low else '>='} {low:g}")
            if high is not None:
                parts.append(f"{'<' if open_high else '<='} {high:g}")
            where = "".join(f" and {p}" for p in parts)
        raise ValueError(f"{name}={value!r} must be finite{where}.")
    return number
