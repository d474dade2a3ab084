"""Reading a finished run: lazy per-sample attributions and dataset-wide summaries.

Nothing here loads the whole run: :class:`ShardedArray` reads only the shards that hold the
requested samples, and :meth:`DatasetRun.summary` streams shard by shard, merging per-group
means and variances with the pairwise update of Chan, Golub and LeVeque (exact in float64 and
independent of how the data were cut into shards up to rounding).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._numerics import completeness_flagged, completeness_ok, status_names
from ..attribution import Attribution, build_from_dict, coord_array, legacy_coord_dims
from ._store import (
    CorruptShardError,
    check_manifest,
    load_shard_file,
    read_manifest,
    read_shard_meta,
    shard_dir,
    verify_shard_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DatasetRun", "RunSummary", "ShardedArray", "open_run"]

GroupBy = Literal["auto", "target", "label", "prediction"] | None


def open_run(path: str | Path) -> DatasetRun:
    """Open the finished run in ``path`` (the ``out=`` folder of :func:`cdig.explain_dataset`).

    Examples
    --------
    >>> run = cdig.open_run("runs/forda")  # doctest: +SKIP
    >>> run.open("fourier")[:10].shape  # doctest: +SKIP
    (10, 1, 251)
    """
    return DatasetRun(path)


class ShardedArray:
    """The attributions of one domain for all samples, read from disk on indexing.

    Behaves like a read-only array of shape ``(n_samples, *coefficient_shape)``: ``a[i]``,
    ``a[120:130]``, ``a[[3, 7]]``, ``a[mask]`` and ``a[:, 0]`` read only the shards involved
    (memory-mapped) and return numpy arrays. ``np.asarray(a)`` loads everything.
    """

    def __init__(self, run: DatasetRun, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._run = run
        self._name = name
        self.shape = (run.n_samples, *shape)
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        scalar = isinstance(first, (int, np.integer))
        if scalar:
            i = int(first)
            if not -len(self) <= i < len(self):
                raise IndexError(f"sample {i} is out of range for a run of {len(self)} samples.")
            idx = np.array([i % len(self)])
        else:
            idx = sample_indices(first, len(self))
        out = self._rows(idx)
        if scalar:
            return out[0][rest] if rest else out[0]
        return out[(slice(None), *rest)] if rest else out

    def shard(self, index: int) -> np.ndarray:
        """Shard ``index`` as a read-only memory map, shape ``(n, *coefficient_shape)``,
        checked against the manifest (its checksum verified on first read)."""
        arr = self._run._load(int(index), self._name, mmap=True)
        if arr.shape[1:] != self.shape[1:] or arr.dtype != self.dtype:
            raise CorruptShardError(
                f"shard {int(index)} holds {self._name} of shape {arr.shape[1:]} and dtype "
                f"{arr.dtype}; the manifest says {self.shape[1:]} and {self.dtype}. The run "
                "folder is damaged or was edited; recompute it in an empty `out=` folder."
            )
        return arr

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        shard = idx // self._run.shard_size
        parts = []
        for s in np.unique(shard):  # read (memory-mapped) and checked before allocating
            parts.append((np.flatnonzero(shard == s), self.shard(int(s))))
        out = np.empty((len(idx), *self.shape[1:]), dtype=self.dtype)
        for where, arr in parts:
            out[where] = arr[idx[where] - int(shard[where[0]]) * self._run.shard_size]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def iter_shards(self) -> Iterator[np.ndarray]:
        """The values shard by shard (``shard_size`` samples each), in order."""
        for s in range(self._run.n_shards):
            yield self._run._load(s, self._name)

    def __repr__(self) -> str:
        return f"ShardedArray({self._name!r}, shape={self.shape}, dtype={self.dtype})"


@dataclass(frozen=True, eq=False)
class RunSummary:
    """Per-group statistics of the attributions of a whole dataset.

    Attributes
    ----------
    domain : str
    by : str or None
        What the samples are grouped by (``"target"``, ``"label"``, ``"prediction"``,
        ``"custom"``) or ``None`` (one group, ``"all"``).
    groups : ndarray of shape (n_groups,)
        The group keys (class indices), sorted.
    counts : ndarray of shape (n_groups,), int
    mean : ndarray of shape (n_groups, *shape)
        Mean attribution per coefficient, float64.
    std : ndarray of shape (n_groups, *shape)
        Sample standard deviation (``ddof=1``) across the group's samples; NaN for groups of
        one sample.
    mean_abs : ndarray of shape (n_groups, *shape)
        Mean absolute attribution.
    dims, coords, units
        The meaning of the axes after the group axis, as in :class:`cdig.Attribution`.
    """

    domain: str
    by: str | None
    groups: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    mean_abs: np.ndarray
    dims: tuple[str, ...]
    coords: Mapping[str, np.ndarray]
    units: Mapping[str, str] = field(default_factory=dict)

    @property
    def sem(self) -> np.ndarray:
        """Standard error of the mean, ``std / sqrt(count)``."""
        shape = (-1,) + (1,) * (self.mean.ndim - 1)
        return self.std / np.sqrt(self.counts.reshape(shape))

    def plot(self, spread: Literal["std", "sem"] | None = "std", ax: Axes | None = None) -> Figure:
        """Class-wise mean attribution along the one remaining axis, with a spread band.

        See :func:`cdig.runs.plot_summary`.
        """
        from ._plot import plot_summary

        return plot_summary(self, spread=spread, ax=ax)

    def __repr__(self) -> str:
        return (
            f"RunSummary(domain={self.domain!r}, by={self.by!r}, groups={self.groups.tolist()}, "
            f"counts={self.counts.tolist()}, shape={self.mean.shape[1:]} over {self.dims})"
        )


class DatasetRun:
    """A finished dataset run on disk (see ``docs/datasets.md`` for the format).

    Parameters
    ----------
    path : str or Path
        The ``out=`` folder of :func:`cdig.explain_dataset`.

    Attributes
    ----------
    path : Path
    manifest : dict
        The parsed ``manifest.json``.
    domains : tuple of str
        Domain labels, in the order they were requested.
    n_samples, shard_size, n_shards : int
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if not self.manifest.get("complete"):
            raise ValueError(
                f"the run in {str(self.path)!r} is not finished; rerun explain_dataset with the "
                "same arguments to complete it (finished shards are kept)."
            )
        check_manifest(self.manifest, self.path / "manifest.json", finished=True)
        self.domains: tuple[str, ...] = tuple(self.manifest["settings"]["explain"]["domain_labels"])
        self.n_samples = int(self.manifest["n_samples"])
        self.shard_size = int(self.manifest["shard_size"])
        self.n_shards = int(self.manifest["n_shards"])
        self._columns: dict[str, np.ndarray] = {}
        self._metas: dict[int, dict[str, Any]] = {}
        self._verified: set[tuple[int, str]] = set()

    def _load(self, index: int, name: str, mmap: bool = False) -> np.ndarray:
        """One array of one shard, its checksums verified the first time it is read.

        The shard's ``shard.json`` must be the one the manifest recorded when the run finished
        (older runs have no such record) and describe this shard; the file must match the
        SHA-256 in it. Raises :class:`cdig.runs.CorruptShardError` naming the shard otherwise.
        """
        folder = shard_dir(self.path, index)
        meta = self._metas.get(index)
        if meta is None:
            recorded = (self.manifest.get("shards") or {}).get(folder.name)
            meta = read_shard_meta(folder, index, recorded, start=index * self.shard_size)
            held = int(meta["stop"]) - int(meta["start"])
            want = min(self.shard_size, self.n_samples - index * self.shard_size)
            if held != want:
                raise CorruptShardError(
                    f"shard {str(folder)!r} holds {held} samples; the manifest's n_samples="
                    f"{self.n_samples} and shard_size={self.shard_size} need {want}. The run "
                    "folder is damaged or was edited; recompute it in an empty `out=` folder."
                )
            self._metas[index] = meta
        if (index, name) not in self._verified:
            verify_shard_file(folder, meta, name)
            self._verified.add((index, name))
        return load_shard_file(folder, name, mmap=mmap)

    # -------------------------------------------------------------- per domain
    def _domain(self, domain: str) -> dict[str, Any]:
        if domain not in self.domains:
            raise ValueError(f"domain={domain!r} is not in this run; it has {list(self.domains)}.")
        info: dict[str, Any] = self.manifest["domains"][domain]
        return info

    def open(self, domain: str) -> ShardedArray:
        """The attributions of ``domain``: a lazy array of shape ``(n_samples, *coefficients)``."""
        info = self._domain(domain)
        return ShardedArray(self, f"{domain}.values", tuple(info["shape"]), np.dtype(info["dtype"]))

    def dims(self, domain: str) -> tuple[str, ...]:
        return tuple(self._domain(domain)["dims"])

    def coords(self, domain: str) -> dict[str, np.ndarray]:
        return {k: coord_array(v) for k, v in self._domain(domain)["coords"].items()}

    def coord_dims(self, domain: str) -> dict[str, tuple[str, ...]]:
        """The axes each coordinate of ``domain`` labels (:attr:`cdig.Attribution.coord_dims`)."""
        info = self._domain(domain)
        if "coord_dims" in info:
            return {k: tuple(v) for k, v in info["coord_dims"].items()}
        return legacy_coord_dims(self.coords(domain), info["dims"], tuple(info["shape"]))

    def units(self, domain: str) -> dict[str, str]:
        return dict(self._domain(domain)["units"])

    def delta(self, domain: str) -> np.ndarray:
        """Completeness error per sample, shape ``(n_samples,)``."""
        self._domain(domain)
        return self._column(f"{domain}.delta")

    def baseline_outputs(self, domain: str) -> np.ndarray:
        """``f(x')`` per sample at the domain's effective time baseline, shape ``(n_samples,)``."""
        self._domain(domain)
        return self._column(f"{domain}.baseline_outputs")

    def n_steps(self, domain: str) -> np.ndarray:
        """Path points per sample, shape ``(n_samples,)``."""
        self._domain(domain)
        return self._column(f"{domain}.n_steps")

    def n_evaluations(self, domain: str) -> np.ndarray:
        """Model evaluations spent per sample (over its baselines), shape ``(n_samples,)``."""
        self._domain(domain)
        if not self._stored(f"{domain}.n_evaluations"):  # runs written before 0.1.0
            return self.n_steps(domain)
        return self._column(f"{domain}.n_evaluations")

    def error(self, domain: str) -> np.ndarray:
        """Estimated relative error of each sample's attribution vector (NaN: not estimated,
        a fixed ``n_steps``), shape ``(n_samples,)``; see :attr:`cdig.Attribution.error`."""
        self._domain(domain)
        if not self._stored(f"{domain}.error"):
            return np.full(self.n_samples, np.nan)
        return self._column(f"{domain}.error")

    def converged(self, domain: str) -> np.ndarray:
        """Whether each sample met the run's tolerance, shape ``(n_samples,)``, bool; see
        :attr:`cdig.Attribution.converged`."""
        self._domain(domain)
        if not self._stored(f"{domain}.converged"):
            rtol = float(self.manifest.get("settings", {}).get("rtol", 0.05))
            return ~np.isin(np.arange(self.n_samples), self.completeness(domain, rtol))
        return self._column(f"{domain}.converged").astype(bool)

    def status(self, domain: str) -> np.ndarray:
        """Why each sample's integration stopped, shape ``(n_samples,)``, str: one of
        ``"converged"``, ``"floor"``, ``"max_steps"``, ``"singular"``, ``"n_steps"``; see
        :attr:`cdig.Attribution.status`. Runs written before it was stored derive it from
        :meth:`converged` and :meth:`error` (``"max_steps"`` or ``"n_steps"``)."""
        self._domain(domain)
        if self._stored(f"{domain}.status"):
            return status_names(self._column(f"{domain}.status"), f"{domain}.status")
        failed = np.where(np.isnan(self.error(domain)), "n_steps", "max_steps")
        return np.where(self.converged(domain), "converged", failed)

    def unconverged(self, domain: str) -> np.ndarray:
        """Indices of the samples whose attributions are not certified (``~converged``)."""
        return np.flatnonzero(~self.converged(domain))

    def _stored(self, name: str) -> bool:
        """Whether the shards hold the file ``name`` (runs of older versions may not)."""
        return self.n_shards == 0 or any(
            p.name.startswith(name + ".") for p in shard_dir(self.path, 0).iterdir()
        )

    # -------------------------------------------------------------- per sample
    @property
    def outputs(self) -> np.ndarray:
        """``f(x)``: the explained output per sample, shape ``(n_samples,)``."""
        return self._column("outputs")

    @property
    def targets(self) -> np.ndarray | None:
        """Class index explained per sample (per-sample targets only), else None."""
        return self._column("targets") if self._has("targets") else None

    @property
    def predictions(self) -> np.ndarray | None:
        """Arg-max class of the model output per sample (classifiers only), else None."""
        return self._column("predictions") if self._has("predictions") else None

    @property
    def labels(self) -> np.ndarray | None:
        """Labels given with the data, else None."""
        return self._column("labels") if self._has("labels") else None

    def _has(self, name: str) -> bool:
        return name in self.manifest.get("columns", [])

    def _column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            parts = [self._load(s, name) for s in range(self.n_shards)]
            self._columns[name] = np.concatenate(parts)
        return self._columns[name]

    def attribution(self, domain: str, samples: Any = slice(None)) -> Attribution:
        """The attributions of some samples as a :class:`cdig.Attribution` (``domain`` is None).

        Consecutive samples within one shard (an int, or a slice of step 1 that does not
        cross a shard boundary) give ``values`` that are a read-only view of the shard's
        memory-mapped file: nothing of it is read into memory until touched. Other
        selections read and copy their rows. :meth:`attributions` gives every shard so.

        Parameters
        ----------
        samples : int, slice, or array of indices / booleans, default=all
        """
        idx = sample_indices(samples, self.n_samples)
        view = self._shard_view(domain, idx)
        return self._attribution(domain, idx, self.open(domain)[idx] if view is None else view)

    def attributions(self, domain: str) -> Iterator[Attribution]:
        """The attributions of ``domain`` shard by shard, in order, each an
        :class:`cdig.Attribution` of ``shard_size`` samples (the last may hold fewer) whose
        ``values`` are a read-only view of the memory-mapped shard file (read when touched).
        """
        for s in range(self.n_shards):
            idx = np.arange(s * self.shard_size, min((s + 1) * self.shard_size, self.n_samples))
            view = self._shard_view(domain, idx)
            assert view is not None  # one shard's samples
            yield self._attribution(domain, idx, view)

    def _shard_view(self, domain: str, idx: np.ndarray) -> np.ndarray | None:
        """``values`` of the consecutive samples ``idx`` of one shard, memory-mapped; None
        when they are not consecutive within one shard."""
        if len(idx) == 0 or np.any(np.diff(idx) != 1):
            return None
        s = int(idx[0]) // self.shard_size
        if int(idx[-1]) // self.shard_size != s:
            return None
        arr = self.open(domain).shard(s)
        lo = int(idx[0]) - s * self.shard_size
        return arr[lo : lo + len(idx)]

    def _attribution(self, domain: str, idx: np.ndarray, values: np.ndarray) -> Attribution:
        info = self._domain(domain)
        index = self.target_index
        data = {
            "values": values,
            "delta": self.delta(domain)[idx],
            "outputs": self.outputs[idx],
            "baseline_outputs": self.baseline_outputs(domain)[idx],
            "n_steps": self.n_steps(domain)[idx],
            "error": self.error(domain)[idx],
            "converged": self.converged(domain)[idx],
            "status": self.status(domain)[idx],
            "n_evaluations": self.n_evaluations(domain)[idx],
            "target_index": None if index is None else index[idx],
            **info,  # dims, coords, units, target, settings, layout, coord_dims: as written
        }
        if "layout" not in info:  # runs written before the result had typed fields
            data["settings"] = self._legacy_settings(info)
        # the shard's checksum was verified when it was opened: its values are not re-read
        return build_from_dict(Attribution, data, None, check_values=False)

    def _legacy_settings(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """The settings and layout of a run written before results recorded them, from its
        manifest (time axis, sample shape, integration settings)."""
        explain = self.manifest["settings"]["explain"]
        n_steps, method = explain.get("n_steps", "auto"), explain.get("method")
        ndim = len(self.manifest["settings"].get("data", {}).get("sample_shape", [0, 0])) + 1
        ndim = ndim if ndim in (2, 3) else 3
        time_axis = int(explain.get("time_axis", -1)) % ndim
        return {
            "method": "adaptive" if n_steps == "auto" else (method or "gausslegendre"),
            "n_steps": n_steps,
            **{k: explain[k] for k in ("rtol", "atol", "max_steps") if k in explain},
            "pass": info.get("pass"),
            "shared_with": list(info.get("shared_with") or []),
            "input_ndim": ndim,
            "time_axis": time_axis if (ndim, time_axis) in ((3, 2), (3, 1), (2, 1)) else ndim - 1,
        }

    @property
    def target_index(self) -> np.ndarray | None:
        """The output index explained for each sample, as :attr:`cdig.Attribution.target_index`.

        The class per sample for per-sample targets (``"predicted"``, ``"label"``, an array),
        the index repeated for a fixed index, else None. Shape ``(n_samples,)``, or
        ``(n_samples, n_axes)`` for an index into several output axes.
        """
        if self.targets is not None:
            return self.targets
        target = self.manifest["settings"]["explain"].get("target", {})
        value = target.get("value")
        if target.get("kind") != "index" or not isinstance(value, list) or not value:
            return None
        index = np.asarray(value, dtype=np.int64)
        if index.size == 1:
            return np.full(self.n_samples, index[0])
        return np.tile(index, (self.n_samples, 1))

    def completeness(self, domain: str, rtol: float = 0.05) -> np.ndarray:
        """Indices of samples whose relative completeness error exceeds ``rtol``.

        The rule of :attr:`cdig.Attribution.converged` for a fixed ``n_steps``
        (``|delta| > rtol * |f(x) - f(x')|``), above the rounding floor of 1e-6 (relative to
        the output's magnitude).
        """
        delta = self.delta(domain)
        ok = completeness_ok(delta, self.outputs - self.baseline_outputs(domain), rtol)
        return np.flatnonzero(completeness_flagged(delta, ok))

    # -------------------------------------------------------------- global views
    def summary(
        self,
        domain: str,
        by: GroupBy | np.ndarray = "auto",
        keep: str | tuple[str, ...] | None = None,
        bands: Mapping[str, tuple[float, float]] | None = None,
        band_dim: str = "frequency",
        group_by: str | None = None,
    ) -> RunSummary:
        """Mean, spread and mean absolute attribution per coefficient, per class.

        Streams over the shards; memory holds one shard and the running statistics.

        Parameters
        ----------
        domain : str
        by : {"auto", "target", "label", "prediction"}, array of shape (n_samples,), or None
            Grouping. ``"auto"``: the explained class when targets are per sample (e.g.
            ``target="predicted"``), else the labels when the data had them, else one group.
        keep : str or tuple of str, optional
            Axes to keep; every other axis is summed per sample *before* the statistics
            (so ``keep="frequency"`` gives the spread of each frequency's total over channels
            and time). Default: keep all.
        bands : mapping of name to (low, high), optional
            First sum each sample's attributions into bands along ``band_dim``
            (:meth:`cdig.Attribution.bands`); the bands then replace that axis.
        band_dim : str, default="frequency"
        group_by : str, optional
            First sum each sample's coefficients that share this label
            (:meth:`cdig.Attribution.group_by`), e.g. ``"band"`` for wavelet levels.

        Returns
        -------
        RunSummary
        """
        key_name, keys = self._group_keys(by)
        dims, coords, units = self.dims(domain), self.coords(domain), self.units(domain)
        coord_dims = self.coord_dims(domain)
        keep_t = (keep,) if isinstance(keep, str) else keep
        stats: dict[Any, list[np.ndarray | int]] = {}
        values = self.open(domain)
        for s, chunk in enumerate(values.iter_shards()):
            lo = s * self.shard_size
            attr = Attribution(
                values=np.asarray(chunk, dtype=np.float64),
                delta=np.zeros(len(chunk)),
                dims=dims,
                coords=coords,
                coord_dims=coord_dims,
                units=units,
                outputs=np.zeros(len(chunk)),
                baseline_outputs=np.zeros(len(chunk)),
                n_steps=np.zeros(len(chunk), dtype=np.int64),
            )
            if bands is not None:
                attr = attr.bands(bands, dim=band_dim)
            if group_by is not None:
                attr = attr.group_by(group_by)
            if keep_t is not None:
                for d in keep_t:
                    attr._axis(d)  # raises a clear error for unknown axes
                for d in [d for d in attr.dims if d not in keep_t]:
                    attr = attr.sum_over(d)
            v = attr.values
            k = keys[lo : lo + len(v)]
            for g in _unique(k):
                _merge(stats, g, v[k == g])
        return _finish(domain, key_name, stats, attr.dims, attr.coords, attr.units)

    def _group_keys(self, by: Any) -> tuple[str | None, np.ndarray]:
        if isinstance(by, (np.ndarray, list, tuple)):
            keys = np.asarray(by)
            if keys.shape != (self.n_samples,):
                raise ValueError(
                    f"by has shape {keys.shape}; give one group key per sample ({self.n_samples})."
                )
            return "custom", keys
        if by == "auto":
            by = (
                "target"
                if self.targets is not None
                else ("label" if self.labels is not None else None)
            )
        if by is None:
            return None, np.full(self.n_samples, "all")
        choices = {"target": self.targets, "label": self.labels, "prediction": self.predictions}
        if by not in choices:
            raise ValueError(
                f"by={by!r} is not understood; use 'auto', 'target', 'label', 'prediction', "
                "None, or an array of one group key per sample."
            )
        found = choices[by]
        if found is None:
            why = {
                "target": "the target was not one class per sample",
                "label": "the data had no labels",
                "prediction": "the model output is not (batch, n_classes)",
            }[by]
            raise ValueError(f"by={by!r}: this run has no {by}s ({why}); use another grouping.")
        if found.ndim != 1:
            raise ValueError(
                f"by={by!r}: the {by}s have shape {found.shape}; grouping needs one value per "
                "sample."
            )
        return by, found

    def plot(
        self,
        domain: str,
        dim: str | None = None,
        by: GroupBy | np.ndarray = "auto",
        spread: Literal["std", "sem"] | None = "std",
        ax: Axes | None = None,
    ) -> Figure:
        """Class-wise mean attribution along ``dim`` (default ``"frequency"`` when present).

        Each sample's attributions are first summed over every other axis, so the band shows
        the spread of per-sample totals at each coordinate. Wavelet coefficients are summed
        per band (``cA5``, ``cD5`` ... ``cD1``) unless ``dim="coefficient"``.
        """
        dims = self.dims(domain)
        coords = self.coords(domain)
        if dim is None and "band" in coords and "band" not in dims:
            summary = self.summary(domain, by=by, group_by="band", keep="band")
            low, high = coords.get("band_low"), coords.get("band_high")
            if low is not None and high is not None:  # name each band's frequency range
                unit = self.units(domain).get("band_low", "")
                first = {str(b): i for i, b in reversed(list(enumerate(coords["band"])))}
                names = [
                    f"{b}\n{low[first[str(b)]]:.3g}–{high[first[str(b)]]:.3g} {unit}".rstrip()
                    for b in summary.coords["band"]
                ]
                summary = replace(summary, coords={**summary.coords, "band": np.array(names)})
            return summary.plot(spread=spread, ax=ax)
        if dim is None:
            dim = "frequency" if "frequency" in dims else dims[-1]
        return self.summary(domain, by=by, keep=dim).plot(spread=spread, ax=ax)

    def __repr__(self) -> str:
        return (
            f"DatasetRun({str(self.path)!r}, n_samples={self.n_samples}, "
            f"domains={list(self.domains)})"
        )


def sample_indices(key: Any, n: int) -> np.ndarray:
    """Sample numbers selected by ``key`` (slice, integers, booleans) among ``n``, without
    building ``arange(n)``: ``run[:3]`` costs three indices whatever ``n`` says."""
    if isinstance(key, slice):
        return np.arange(*key.indices(n))
    arr = np.asarray(key)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(
                f"a boolean mask of shape {arr.shape} cannot select among {n} samples."
            )
        return np.flatnonzero(arr)
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise IndexError(
            f"cannot select samples with {key!r:.60}: use an integer, a slice, integers or a "
            "boolean mask."
        )
    idx = np.atleast_1d(arr).astype(np.int64)
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"sample {int(idx[bad][0])} is out of range for a run of {n} samples.")
    return idx % n if n else idx


def _unique(keys: np.ndarray) -> list[Any]:
    return [k.item() if isinstance(k, np.generic) else k for k in np.unique(keys)]


def _merge(stats: dict[Any, list[Any]], g: Any, v: np.ndarray) -> None:
    """Fold the rows ``v`` (n, ...) into the running (count, mean, M2, sum|.|) of group ``g``."""
    n_b = len(v)
    mean_b = v.mean(axis=0)
    m2_b = ((v - mean_b) ** 2).sum(axis=0)
    abs_b = np.abs(v).sum(axis=0)
    if g not in stats:
        stats[g] = [n_b, mean_b, m2_b, abs_b]
        return
    n_a, mean_a, m2_a, abs_a = stats[g]
    n = n_a + n_b
    d = mean_b - mean_a
    stats[g] = [n, mean_a + d * (n_b / n), m2_a + m2_b + d**2 * (n_a * n_b / n), abs_a + abs_b]


def _finish(
    domain: str,
    by: str | None,
    stats: dict[Any, list[Any]],
    dims: tuple[str, ...],
    coords: Mapping[str, np.ndarray],
    units: Mapping[str, str],
) -> RunSummary:
    groups = sorted(stats)
    counts = np.array([stats[g][0] for g in groups], dtype=np.int64)
    mean = np.stack([stats[g][1] for g in groups])
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.stack(
            [
                stats[g][2] / (stats[g][0] - 1) if stats[g][0] > 1 else stats[g][2] * np.nan
                for g in groups
            ]
        )
    mean_abs = np.stack([stats[g][3] / stats[g][0] for g in groups])
    return RunSummary(
        domain=domain,
        by=by,
        groups=np.array(groups),
        counts=counts,
        mean=mean,
        std=np.sqrt(var),
        mean_abs=mean_abs,
        dims=tuple(dims),
        coords=dict(coords),
        units=dict(units),
    )
