"""Reading ``.npy`` and ``.npz`` files without trusting what they declare.

An ``.npy`` header states a dtype and a shape; :func:`numpy.load` allocates what it states
before reading a byte of data, so a 200-byte file declaring 1e15 elements asks for
petabytes, and a 2 MB ``.npz`` of compressed zeros inflates to gigabytes. Here every header
is read first and checked before anything is allocated:

* the dtype is plain numbers (booleans, integers, floats, complex), never Python objects,
  records or sub-arrays (``"(50000000,)f8"`` would be 400 MB per element);
* an ``.npy`` file holds exactly the bytes its header declares (a longer declaration is a
  damaged or hostile file);
* an ``.npz`` member inflates to at most :data:`MAX_INFLATION` times its compressed size
  once it is above :data:`INFLATION_FLOOR` bytes (a zip bomb is refused before inflating);
* a damaged zip archive is a :class:`ValueError` naming the file.

Big-endian arrays are converted to the machine's byte order (torch only takes native order).
Nothing is unpickled (``allow_pickle=False``).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["INFLATION_FLOOR", "MAX_INFLATION", "check_dtype", "read_npy", "read_npz"]

#: Largest ratio of an ``.npz`` member's declared size to its compressed size ...
MAX_INFLATION = 100
#: ... once its declared size is above this many bytes (small members may compress well).
INFLATION_FLOOR = 64 * 2**20


def check_dtype(dtype: Any, what: str, kinds: str = "biufc") -> np.dtype:
    """``dtype`` as a plain dtype of one of the numpy ``kinds`` (default: numbers), or a
    ``ValueError`` naming ``what`` (``"US"`` adds text, e.g. the labels of a run)."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as err:
        raise ValueError(f"{what}: {dtype!r} is not a numpy dtype ({err}).") from None
    if dt.hasobject:
        raise ValueError(
            f"{what} holds Python objects (dtype {dt.str!r}), which cannot be read without "
            "unpickling; save a numeric array with numpy.save."
        )
    if dt.fields is not None or dt.subdtype is not None or dt.kind not in kinds:
        raise ValueError(
            f"{what} holds {dt} data; only plain numbers are read (booleans, integers, "
            "floats, complex): no Python objects, records or sub-arrays. Save a numeric array "
            "with numpy.save."
        )
    return dt


def _header(
    fh: IO[bytes], what: str, kinds: str = "biufc"
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and data offset of the ``.npy`` stream ``fh``."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as err:
        raise ValueError(f"{what} is not a valid .npy array ({err}).") from None
    check_dtype(dtype, what, kinds)
    if any(int(n) < 0 for n in shape):
        raise ValueError(f"{what} declares the shape {shape}, which has a negative length.")
    return tuple(int(n) for n in shape), bool(fortran), np.dtype(dtype), fh.tell()


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    n = 1
    for k in shape:
        n *= k
    return n * dtype.itemsize


def _native(arr: np.ndarray) -> np.ndarray:
    """``arr`` in the machine's byte order (torch takes no other)."""
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def read_npy(
    path: str | os.PathLike[str], what: str | None = None, mmap: bool = False, kinds: str = "biufc"
) -> np.ndarray:
    """The array in the ``.npy`` file ``path``, its header checked before allocating.

    Parameters
    ----------
    path : str or path
    what : str, optional
        How messages name the file (default: its path).
    mmap : bool, default=False
        Memory-map it read-only instead of reading it (native byte order only).
    kinds : str, default="biufc"
        numpy kinds accepted (``"US"`` adds text).

    Returns
    -------
    ndarray
        In the machine's byte order (a big-endian file is converted, unless ``mmap``).

    Raises
    ------
    ValueError
        For a damaged header, a dtype that is not plain numbers, or a header declaring
        more data than the file holds.
    """
    p = Path(path)
    what = what or f"{str(p)!r}"
    with open(p, "rb") as fh:
        shape, _, dtype, offset = _header(fh, what, kinds)
    size = p.stat().st_size - offset
    need = _nbytes(shape, dtype)
    if need != size:
        raise ValueError(
            f"{what} declares an array of shape {shape} and dtype {dtype.str!r} ({need:,} bytes) "
            f"but holds {size:,} bytes of data; the file is damaged or truncated. Save it again "
            "with numpy.save."
        )
    arr = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    return arr if mmap else _native(np.asarray(arr))


def read_npz(
    path: str | os.PathLike[str], key: str | None, what: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """One array of the ``.npz`` archive ``path`` and the names it holds.

    ``key`` chooses the array (``None``: the only one; a ``KeyError`` lists the names when
    there are several or ``key`` is not there). Each member's header is checked, and its
    declared size against its compressed size, before it is inflated.

    Raises
    ------
    ValueError
        For a damaged archive, a member that is not a plain numeric ``.npy``, or a member
        that would inflate more than :data:`MAX_INFLATION` times (a zip bomb).
    KeyError
        When ``key`` is missing, or not given for an archive of several arrays.
    """
    p = Path(path)
    what = what or f"{str(p)!r}"
    try:
        with zipfile.ZipFile(p) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            names = list(members)
            if key is None and len(names) != 1:
                raise KeyError(names)
            key = names[0] if key is None else key
            if key not in members:
                raise KeyError(names)
            info = zf.getinfo(members[key])
            label = f"array {key!r} of {what}"
            with zf.open(info) as fh:
                shape, fortran, dtype, offset = _header(fh, label)
                need = _nbytes(shape, dtype)
                if need != info.file_size - offset:
                    raise ValueError(
                        f"{label} declares {need:,} bytes of data but the archive records "
                        f"{info.file_size - offset:,}; the file is damaged."
                    )
                if need > INFLATION_FLOOR and need > MAX_INFLATION * max(info.compress_size, 1):
                    raise ValueError(
                        f"{label} would inflate from {info.compress_size:,} compressed bytes to "
                        f"{need:,} bytes (more than {MAX_INFLATION}x); refusing a possible zip "
                        "bomb. Save the array uncompressed (numpy.save to .npy, or numpy.savez)."
                    )
                data = _read_exactly(fh, need, label)
            arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
            return _native(arr), names
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise ValueError(
            f"{what} is not a readable .npz archive ({type(err).__name__}: {err}); the file is "
            "damaged or not a numpy archive. Save it again with numpy.savez."
        ) from None


def _read_exactly(fh: IO[bytes], n: int, what: str) -> bytearray:
    """``n`` bytes of ``fh`` into one writable buffer (no second copy)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not k:
            raise ValueError(f"{what} ends after {got:,} of {n:,} bytes; the file is damaged.")
        got += k
    return buf
