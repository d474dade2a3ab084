"""Readers of the series files the command line takes: ``.npy``, ``.npz`` and ``.csv``.

Private on purpose: the conventions here (a CSV table is one series, rows = time by default;
a 1-d array is one single-channel series; ``single`` adds a batch axis) are the command
line's input contract, documented with its options; Python users hand arrays to
:func:`cdig.explain` directly. Files are read without unpickling (``allow_pickle=False``).

Failures are ordinary exceptions (:class:`FileNotFoundError`, :class:`ValueError`) whose
messages name the file as ``name`` (the command line passes ``"INPUT"``); the keywords of
:func:`read_series` they mention (``key=``, ``single=True``, ``time_axis=1``) are
:class:`cdig._text.Name` parts, which the command line spells as its options.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._npy import read_npy, read_npz
from ._text import KEYWORD, ArgumentError, Name, first_line

__all__ = [
    "canonical_layout",
    "check_outputs",
    "model_layout",
    "read_array",
    "read_series",
    "same_file",
]


def read_series(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    layout: str = "time-channels",
    time_axis: int = -1,
    single: bool = False,
    name: str = "input",
) -> np.ndarray:
    """Read series from ``.npy``, ``.npz`` or ``.csv``, laid out for the model.

    Parameters
    ----------
    path : str or path
    key : str, optional
        Array name in an ``.npz`` file (needed when it holds several).
    layout : {"time-channels", "channels-time"}, default="time-channels"
        Orientation of a ``.csv`` table (one series; rows = time by default).
    time_axis : {-1, 1, 2}, default=-1
        Axis of time in the model's input.
    single : bool, default=False
        The array is one series without a batch axis; one is added.
    name : str, default="input"
        How error messages name the file.

    Returns
    -------
    ndarray
        In the model's layout: ``(batch, channels, time)`` (``time_axis`` -1 or 2) or
        ``(batch, time, channels)`` (``time_axis=1``); 2-d arrays ``(batch, time)`` stay as
        they are. A 1-d array or a CSV table is one series (batch of 1).

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        For an unsupported suffix, a file that cannot be read without unpickling, non-numeric
        data, an ambiguous or unknown ``key``, or an array of unusable shape.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        table = _read_csv(p, name)  # (rows, columns)
        series = table.T if layout == "time-channels" else table  # (channels, time)
        return model_layout(series[None], time_axis)
    if suffix == ".npy":
        arr = _read_npy(p, name)
    elif suffix == ".npz":
        arr = _read_npz(p, key, name)
    else:
        raise ValueError(f"{name} {p} has an unsupported type {suffix!r}; use .npy, .npz or .csv.")
    _check_real(arr, p, name)
    if arr.ndim == 1:
        series = arr[None, None, :]  # one single-channel series, (1, 1, T)
        return model_layout(series, time_axis)
    if single:
        arr = arr[None]
    if arr.ndim not in (2, 3):
        raise ArgumentError(
            f"{name} {p} holds an array of shape {arr.shape}; expected (batch, channels, time), "
            "(batch, time, channels) with ",
            Name("time_axis", 1),
            ", (batch, time), or one series (time,) (use ",
            Name("single", True),
            " for one multichannel series without a batch axis).",
            argument="path",
        )
    return arr


def read_array(path: str | os.PathLike[str], *, name: str = "array") -> np.ndarray:
    """A real numeric array from an ``.npy`` file, read without unpickling.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        When the file holds Python objects or non-numeric data.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    arr = _read_npy(p, name)
    _check_real(arr, p, name)
    return arr


def model_layout(canonical: np.ndarray, time_axis: int) -> np.ndarray:
    """(batch, channels, time) -> the model's layout."""
    return np.ascontiguousarray(canonical.transpose(0, 2, 1) if time_axis == 1 else canonical)


def canonical_layout(x: np.ndarray, time_axis: int) -> np.ndarray:
    """The model's layout -> (batch, channels, time) (a view): the inverse of
    :func:`model_layout`, with ``(batch, time)`` as one channel."""
    if x.ndim == 2:
        return x[:, None, :]
    return x.transpose(0, 2, 1) if time_axis == 1 else x


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` are one file (also through links, '..' or hard links)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return pa.samefile(pb)
        return pa.resolve() == pb.resolve()
    except OSError:
        return False


def check_outputs(
    outputs: Mapping[str, tuple[str | None, str]],
    inputs: Mapping[str, str],
    *,
    force: bool = False,
) -> None:
    """Refuse, before any work, output files that would overwrite an input or an existing file.

    Parameters
    ----------
    outputs : mapping
        How messages name each output (e.g. ``"--json"``) -> its path (``None``: not
        written) and an example file name for it (``"results.json"``).
    inputs : mapping
        How messages name each input file (e.g. ``"MODEL"``) -> its path; never overwritten.
    force : bool, default=False
        Allow overwriting an existing output file (never an input).

    Raises
    ------
    ValueError
        For an output that is a folder, an input file, the same file as another output, or
        (without ``force``) an existing file.
    """
    written: dict[str, str] = {}
    for option, (value, example) in outputs.items():
        if not value:
            continue
        if Path(value).is_dir():
            raise ValueError(
                f"{option} {value} is a folder; give the file to write, e.g. "
                f"{option} {Path(value) / example}."
            )
        for what, other in inputs.items():
            if same_file(value, other):
                raise ValueError(
                    f"{option} {value} is the {what} file {other}; cdig never overwrites its "
                    "inputs. Choose another output file."
                )
        for opt, other in written.items():
            if same_file(value, other):
                raise ValueError(
                    f"{opt} {other} and {option} {value} name the same file; give two files."
                )
        if Path(value).exists() and not force:
            raise ArgumentError(
                f"{option} {value} exists; pass ",
                Name("force", True),
                " to overwrite it, or choose a new file.",
            )
        written[option] = value


def _check_real(arr: np.ndarray, p: Path, name: str) -> None:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} {p} holds {arr.dtype} data; cdig needs real numbers.")
    if 0 in arr.shape:
        raise ValueError(
            f"{name} {p} holds an empty array of shape {arr.shape}; every axis (batch, channels, "
            "time) needs at least one entry."
        )


def _read_npy(p: Path, name: str) -> np.ndarray:
    """The header checked before allocating (:func:`cdig._npy.read_npy`)."""
    try:
        return read_npy(p, what=f"{name} {p}")
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise
        raise ValueError(
            f"{name} {p} cannot be read without unpickling Python objects ({first_line(err)}); "
            "save a numeric array with numpy.save."
        ) from err


def _read_npz(p: Path, key: str | None, name: str) -> np.ndarray:
    try:
        arr, _ = read_npz(p, key, what=f"{name} {p}")
    except KeyError as err:
        names = ", ".join(err.args[0])
        if key is None:
            raise ArgumentError(
                f"{name} {p} holds the arrays {names}; choose one with ",
                Name("key", KEYWORD),
                ".",
            ) from None
        raise ArgumentError(Name("key", key), f" is not in {p}; it holds {names}.") from None
    return arr


def _read_csv(p: Path, name: str) -> np.ndarray:
    with p.open(encoding="utf-8") as fh:
        first = fh.readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    try:
        table = np.loadtxt(p, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{name} {p} is not a numeric CSV table: {first_line(err)}") from err
    if table.size == 0:
        raise ValueError(f"{name} {p} has no data rows.")
    return table
