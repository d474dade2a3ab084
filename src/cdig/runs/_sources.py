"""Turn what users call "data" into one stream of fixed-size numpy batches.

Accepted: a numpy array (a ``np.memmap`` or ``np.load(..., mmap_mode="r")`` included) or torch
tensor of shape ``(n_samples, *sample_shape)``, a path to a ``.npy`` file (memory-mapped), a
map-style ``torch.utils.data.Dataset``, a ``DataLoader``, or any iterable of batches ``x`` or
``(x, y, ...)``. Whatever the input, samples come out in order, cut into batches of exactly
``shard_size`` (the last one may be shorter), so that shard ``k`` always holds samples
``k * shard_size .. (k + 1) * shard_size - 1``. Only one batch (plus at most one user batch)
is held in memory at a time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._npy import read_npy

__all__ = ["Batch", "Source", "as_source"]


@dataclass
class Batch:
    """Samples ``start .. start + len(x) - 1`` of the data.

    Attributes
    ----------
    start : int
        Index of the first sample in the whole dataset.
    x : ndarray of shape (n, *sample_shape)
        The inputs, in the user's layout and dtype.
    y : ndarray of shape (n, ...) or None
        Labels, when the data carry them.
    """

    start: int
    x: np.ndarray
    y: np.ndarray | None

    @property
    def stop(self) -> int:
        return self.start + len(self.x)

    def digest(self) -> str:
        """SHA-256 of inputs and labels (shape, dtype and bytes): detects changed data on resume."""
        h = hashlib.sha256()
        for arr in (self.x, self.y):
            if arr is None:
                h.update(b"none")
                continue
            a = np.ascontiguousarray(arr)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()


class Source:
    """A dataset as a re-iterable stream of ``(x, y)`` chunks of any size.

    Attributes
    ----------
    n_samples : int or None
        Number of samples when known up front (arrays, map-style datasets).
    kind : str
        What the user passed, for messages.
    """

    def __init__(self, chunks: Iterable[tuple[Any, Any]], n_samples: int | None, kind: str) -> None:
        self._chunks = chunks
        self.n_samples = n_samples
        self.kind = kind

    def batches(self, shard_size: int) -> Iterator[Batch]:
        """Samples in order, as batches of exactly ``shard_size`` (the last may be shorter)."""
        buf_x: list[np.ndarray] = []
        buf_y: list[np.ndarray] = []
        have = 0
        pos = 0  # index of the next sample to come from the source
        start = 0  # index of the first buffered sample
        sample_shape: tuple[int, ...] | None = None
        dtype: np.dtype | None = None
        labeled: bool | None = None
        for chunk_x, chunk_y in self._chunks:
            x = _as_array(chunk_x, "inputs", pos)
            if x.ndim < 2:
                raise ValueError(
                    f"inputs: the batch starting at sample {pos} has shape {x.shape}; batches "
                    "must have shape (batch, channels, time) or (batch, time)."
                )
            if sample_shape is None:
                sample_shape, dtype = x.shape[1:], x.dtype
            _check_consistent(x, pos, sample_shape, dtype)
            y = None if chunk_y is None else _as_array(chunk_y, "labels", pos, numeric=False)
            if labeled is None:
                labeled = y is not None
            if (y is not None) != labeled:
                now, before = ("has", "lack") if y is not None else ("lacks", "have")
                raise ValueError(
                    f"inputs: the batch starting at sample {pos} {now} labels while earlier "
                    f"batches {before} them; yield (x, y) for every batch or x alone for every "
                    "batch."
                )
            if y is not None and (y.ndim == 0 or len(y) != len(x)):
                raise ValueError(
                    f"inputs: the batch starting at sample {pos} has {len(x)} inputs but labels of "
                    f"shape {y.shape}; give one label per sample."
                )
            pos += len(x)
            buf_x.append(x)
            if y is not None:
                buf_y.append(y)
            have += len(x)
            while have >= shard_size:
                bx, buf_x = _take(buf_x, shard_size)
                by = None
                if labeled:
                    by, buf_y = _take(buf_y, shard_size)
                yield Batch(start, bx, by)
                start += shard_size
                have -= shard_size
        if have:
            bx, _ = _take(buf_x, have)
            yield Batch(start, bx, _take(buf_y, have)[0] if labeled else None)
        elif pos == 0:
            raise ValueError("inputs holds no samples; pass at least one series.")


def _take(parts: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The first ``n`` rows of the concatenation of ``parts``, and the rest (as parts)."""
    out, rest, need = [], [], n
    for i, p in enumerate(parts):
        if need == 0:
            rest = parts[i:]
            break
        if len(p) <= need:
            out.append(p)
            need -= len(p)
        else:
            out.append(p[:need])
            rest = [p[need:], *parts[i + 1 :]]
            need = 0
            break
    batch = out[0] if len(out) == 1 else np.concatenate(out)
    if not batch.flags.writeable:  # a view of a read-only memory map: copy this batch only
        batch = batch.copy()
    return batch, rest


def _as_array(value: Any, name: str, pos: int, numeric: bool = True) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(
            f"{name}: the batch starting at sample {pos} is not a numeric array (got an object "
            "array: samples of different shapes or types?); give arrays of one shape."
        )
    if numeric and not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
        raise TypeError(
            f"{name}: the batch starting at sample {pos} has dtype {arr.dtype}; it must hold "
            "real numbers."
        )
    if not arr.dtype.isnative:  # a big-endian file: torch takes the machine's order only
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _check_consistent(
    x: np.ndarray, pos: int, sample_shape: tuple[int, ...], dtype: np.dtype | None
) -> None:
    if x.shape[1:] != sample_shape:
        raise ValueError(
            f"inputs: samples {pos}..{pos + len(x) - 1} have shape {x.shape[1:]}, but earlier "
            f"samples have shape {sample_shape}; every sample must have the same shape "
            "(crop or pad them, or explain groups of equal length in separate runs)."
        )
    if x.dtype != dtype:
        raise TypeError(
            f"inputs: samples {pos}..{pos + len(x) - 1} have dtype {x.dtype}, but earlier samples "
            f"have {dtype}; give every batch the same dtype."
        )
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            raise ValueError(
                f"inputs: sample {pos + int(np.flatnonzero(bad)[0])} contains NaN or infinite "
                "values; clean or impute them first."
            )


# ---------------------------------------------------------------------- the kinds of data
def as_source(data: Any, labels: Any = None) -> Source:
    """Wrap ``data`` (and optional ``labels`` for array data) as a :class:`Source`."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.suffix != ".npy" or not path.is_file():
            raise ValueError(
                f"inputs={str(data)!r} is not an existing .npy file; pass an array, a .npy path, "
                "a torch Dataset/DataLoader or an iterable of batches."
            )
        data = read_npy(path, what=f"inputs={str(data)!r}", mmap=True)  # header checked first
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return _array_source(data, labels)
    if labels is not None:
        raise ValueError(
            "labels= is only for array data; a Dataset, DataLoader or iterable gives labels "
            "itself as the second element of each item or batch."
        )
    from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

    if isinstance(data, DataLoader):
        if isinstance(data.sampler, RandomSampler):
            raise ValueError(
                "inputs is a DataLoader with shuffle=True, which yields samples in a new order on "
                "every pass; results could not be matched to samples or resumed. Pass "
                "shuffle=False, or the Dataset itself."
            )
        n = None
        if not isinstance(data.dataset, IterableDataset) and not data.drop_last:
            try:
                n = len(data.dataset)  # type: ignore[arg-type]
            except TypeError:
                n = None
        return Source(_split_items(data, batched=True), n, "DataLoader")
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        return Source(_MapDataset(data), len(data), "Dataset")  # type: ignore[arg-type]
    if isinstance(data, Iterable) and not isinstance(data, (dict, bytes)):
        n = len(data) if isinstance(data, IterableDataset) and hasattr(data, "__len__") else None
        return Source(
            _split_items(data, batched=not isinstance(data, IterableDataset)), n, "iterable"
        )
    raise TypeError(
        f"inputs of type {type(data).__name__} is not supported; pass a numpy array or tensor of "
        "shape (n_samples, channels, time), a .npy path, a torch Dataset or DataLoader, or an "
        "iterable of batches x or (x, y)."
    )


def _array_source(data: np.ndarray | torch.Tensor, labels: Any) -> Source:
    if data.ndim not in (2, 3):
        raise ValueError(
            f"inputs has shape {tuple(data.shape)}; arrays must have shape (n_samples, channels, "
            "time), (n_samples, time, channels) with time_axis=1, or (n_samples, time)."
        )
    n = int(data.shape[0])
    y = None
    if labels is not None:
        y = (
            labels.detach().cpu().numpy()
            if isinstance(labels, torch.Tensor)
            else np.asarray(labels)
        )
        if y.ndim == 0 or len(y) != n:
            raise ValueError(
                f"labels has shape {y.shape}; give one label per sample ({n} of them)."
            )

    class _Chunks:
        def __iter__(self) -> Iterator[tuple[Any, Any]]:
            step = 4096
            for lo in range(0, n, step):
                yield data[lo : lo + step], (None if y is None else y[lo : lo + step])

    return Source(_Chunks(), n, "array")


class _MapDataset:
    """Items ``ds[i]`` (``x`` or ``(x, y, ...)``) stacked into chunks, checked one by one."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        n, step = len(self.ds), 256
        shape: tuple[int, ...] | None = None
        for lo in range(0, n, step):
            xs, ys = [], []
            for i in range(lo, min(lo + step, n)):
                x, y = _split(self.ds[i])
                x = _as_array(x, "inputs", i)
                if shape is None:
                    shape = x.shape
                if x.shape != shape:
                    raise ValueError(
                        f"inputs: sample {i} has shape {x.shape}, but earlier samples have shape "
                        f"{shape}; every sample must have the same shape."
                    )
                xs.append(x)
                if y is not None:
                    ys.append(np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y))
            if ys and len(ys) != len(xs):
                raise ValueError(
                    f"inputs: some items in samples {lo}..{lo + len(xs) - 1} lack labels."
                )
            yield np.stack(xs), (np.stack(ys) if ys else None)


def _split(item: Any) -> tuple[Any, Any]:
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("inputs yielded an empty tuple; yield x or (x, y).")
        return item[0], (item[1] if len(item) > 1 else None)
    if isinstance(item, dict):
        raise TypeError(
            "inputs yielded a dict; yield x or (x, y) (wrap the loader to select them)."
        )
    return item, None


class _split_items:
    """Batches (or, for iterable datasets, single items) as ``(x, y)`` pairs."""

    def __init__(self, data: Iterable[Any], batched: bool) -> None:
        self.data, self.batched = data, batched

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for item in self.data:
            x, y = _split(item)
            if not self.batched:  # one sample per item: add the batch axis
                x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)[None]
                y = (
                    None
                    if y is None
                    else np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)[None]
                )
            yield x, y
