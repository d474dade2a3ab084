"""Validators of plain arguments, shared by every layer.

Each raises early with a message that names the argument, what was wrong and how to fix it;
the plain-value checks raise :class:`cdig._text.ArgumentError` (a ``ValueError``) or
:class:`cdig._text.ArgumentTypeError` (a ``TypeError``), whose ``argument`` is the name.
Array validation (series, baselines) lives in :mod:`cdig._inputs`, targets in
:mod:`cdig.targets`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._text import ArgumentError, ArgumentTypeError, Name

__all__ = [
    "check_array",
    "check_choice",
    "check_index_list",
    "check_int",
    "check_optional_int",
    "check_sample",
    "Seed",
    "as_rng",
]

#: What every ``seed=`` of cdig accepts (as scikit-learn's ``random_state``): ``None`` (fresh
#: entropy), a non-negative ``int`` (the same draws every call) or a
#: :class:`numpy.random.Generator` (drawn from, so that its state advances).
Seed = int | np.random.Generator | None


def check_int(
    value: Any, name: str, *, low: int = 1, high: int | None = None, error: type = ValueError
) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (``high=None``: no upper bound).

    Booleans and non-integral numbers are refused (``2.0`` is not a count).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = "a positive integer" if low == 1 else "an integer"
        cls = ArgumentTypeError if issubclass(error, TypeError) else ArgumentError
        raise cls(Name(name, value), f" must be {kind}; got {type(value).__name__}.")
    number = int(value)
    if number < low or (high is not None and number > high):
        if high is not None:
            what = f"at least {low} and at most {high}"
        else:
            what = "a positive integer" if low == 1 else f"at least {low}"
        raise ArgumentError(Name(name, value), f" must be {what}.")
    return number


def check_optional_int(
    value: Any, name: str, *, low: int = 1, high: int | None = None, error: type = ValueError
) -> int | None:
    """As :func:`check_int`, with ``None`` passed through."""
    return None if value is None else check_int(value, name, low=low, high=high, error=error)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` when it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError(
            Name(name, value), f" is not understood; use one of {', '.join(choices)}."
        )
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
    kind = type(value)
    # (a float or an int passes as it is; other numbers through the abstract classes)
    if (
        kind is not float
        and kind is not int
        and (isinstance(value, bool) or not isinstance(value, numbers.Real))
    ):
        raise ArgumentTypeError(
            Name(name, value), f" must be a real number; got {type(value).__name__}."
        )
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
        raise ArgumentError(Name(name, value), f" must be finite{where}.")
    return number


#: Element kinds of :func:`check_array`: accepted numpy kinds and the target dtype.
_ARRAY_KINDS: dict[str, tuple[str, Any]] = {
    "float": ("fiu", np.float64),
    "int": ("iu", np.int64),
    "bool": ("b", np.bool_),
    "str": ("U", np.str_),
}


def check_array(
    value: Any,
    name: str,
    kind: str,
    *,
    shape: tuple[int | None, ...] | None = None,
    ndim: tuple[int, ...] | None = None,
    finite: bool = True,
    low: float | None = None,
) -> np.ndarray:
    """A stored or transmitted array (a result read back) validated before it is used.

    Parameters
    ----------
    value : array-like
        A numpy array or (from JSON) nested lists; JSON ``null`` is ``None``.
    name : str
        The field, for messages.
    kind : {"float", "int", "bool", "str"}
        What the elements must be: real numbers (floats or integers), integers (integral
        values within int64), booleans (``true``/``false``, not strings or numbers),
        strings.
    shape : tuple, optional
        Required shape, ``None`` for a free axis.
    ndim : tuple of int, optional
        Allowed numbers of axes (when ``shape`` is not given).
    finite : bool, default=True
        Refuse NaN and infinities (``False``: NaN and ``null`` allowed, infinities not).
    low : float, optional
        Smallest allowed value.

    Returns
    -------
    ndarray
        float64, int64, bool or str.
    """
    accepted, dtype = _ARRAY_KINDS[kind]
    if isinstance(value, (str, bytes, Mapping)):
        raise TypeError(f"{name} must be an array of {kind}s; got {type(value).__name__}.")
    try:
        raw = np.asarray(value) if isinstance(value, np.ndarray) else np.array(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} is not a regular array of {kind}s ({err}).") from None
    if raw.dtype == object and kind == "float" and not finite:
        try:  # JSON null for NaN (an error not estimated)
            raw = np.array([np.nan if v is None else v for v in raw.ravel()]).reshape(raw.shape)
        except (ValueError, TypeError):
            pass
    if raw.dtype.kind not in accepted or raw.dtype.fields is not None:
        nulls = " (null or NaN is not allowed here)" if raw.dtype == object else ""
        raise TypeError(f"{name} must hold {kind}s; got an array of dtype {raw.dtype}{nulls}.")
    want = shape if shape is not None else None
    if want is not None:
        if len(raw.shape) != len(want) or any(
            w is not None and w != k for w, k in zip(want, raw.shape)
        ):
            shown = tuple("any" if w is None else w for w in want)
            raise ValueError(f"{name} has shape {raw.shape}; it must have shape {shown}.")
    elif ndim is not None and raw.ndim not in ndim:
        raise ValueError(f"{name} has {raw.ndim} axes; it must have {' or '.join(map(str, ndim))}.")
    if kind == "float" and raw.size:
        bad = np.isinf(raw) if not finite else ~np.isfinite(raw)
        if bad.any():
            raise ValueError(
                f"{name} holds {'infinite' if not finite else 'non-finite (NaN, inf or null)'} "
                f"values at {np.flatnonzero(bad.ravel())[:5].tolist()}; a result must not."
            )
    out = raw.astype(dtype, copy=False)
    if low is not None and out.size:
        below = out < low  # NaN compares False
        if below.any():
            raise ValueError(
                f"{name} holds {out[below].ravel()[0]!r}; every value must be >= {low:g}."
            )
    return out


def as_rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """The generator of a ``seed=`` argument (see :data:`Seed`); the one place that reads it.

    An ``int`` gives ``numpy.random.default_rng(seed)``; a Generator is returned as is (its
    state advances as it is drawn from); ``None`` draws fresh entropy.
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise TypeError(
            f"{name}={seed!r} must be None, a non-negative integer or a numpy.random.Generator."
        )
    return np.random.default_rng(int(seed))
