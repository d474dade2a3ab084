"""The result of an explanation: attributions with their meaning."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import check_array
from ._numerics import STATUS_DTYPE, STATUSES
from ._text import ArgumentError, ArgumentTypeError, Name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .domains import Domain

__all__ = ["Attribution"]

_MISSING = np.zeros(0)  # default of the convergence fields: filled in by __post_init__


@dataclass(frozen=True, eq=False)
class Attribution:
    """Cross-domain IG attributions of a batch, one score per coefficient.

    Attributes
    ----------
    values : ndarray of shape (batch, *coefficient_shape)
        One score per coefficient, in units of the model output. ``coefficient_shape`` is
        named by :attr:`dims`, e.g. ``(channels, n_frequencies)``. Channels come first
        whatever the input's layout: time-domain values are ``(batch, channels, time)``
        even for inputs given as ``(batch, time, channels)`` with ``time_axis=1``; see
        :meth:`values_in_input_layout`.
    delta : ndarray of shape (batch,), float64
        Completeness error ``values.sum() - (f(x) - f(x'))`` per sample.
    dims : tuple of str
        Name of each axis of ``values`` after the batch axis.
    coords : dict of str to ndarray
        Coordinates of the named axes (e.g. ``"frequency"`` in Hz) and extra labels.
    units : dict of str to str
        Unit of each coordinate.
    outputs : ndarray of shape (batch,)
        ``f(x)``: the explained model output (the target) for each input.
    baseline_outputs : ndarray of shape (batch,)
        ``f(x')`` at the effective time baseline (the mean over baselines if several).
    n_steps : ndarray of shape (batch,), int
        Path points per sample (differs between samples with ``n_steps="auto"``; the
        largest over baselines when there are several).
    domain : Domain
        The fitted domain.
    target : str
        What was explained (for display): ``"1"``, ``"predicted class"``, ``"output"`` ...
    target_index : ndarray of shape (batch,) or (batch, n_axes), or None
        The output index explained for each sample (the predicted class with
        ``target="predicted"``); ``None`` for callable targets and single-output models.
    settings : dict
        Method, baselines and other settings of the call; ``time_axis`` and ``input_ndim``
        record the layout of the explained inputs.
    error : ndarray of shape (batch,), float64
        Estimated relative error of the attribution vector, ``||A - A_exact|| / ||A||``
        (2-norm over the coefficients), from the difference of two nested rules that share
        their evaluations (``n_steps="auto"``). NaN for a fixed ``n_steps`` (no estimate;
        only ``delta`` checks it).
    converged : ndarray of shape (batch,), bool
        ``n_steps="auto"``: the sample met both the error and the completeness tolerance
        within its budget. A fixed ``n_steps``: ``|delta| <= rtol * |f(x) - f(x')| + atol``.
    n_evaluations : ndarray of shape (batch,), int
        Model evaluations spent on the sample's paths (summed over baselines).
    status : ndarray of shape (batch,), str
        Why the sample's integration stopped: ``"converged"`` (exactly where
        ``converged``), ``"floor"`` (the tolerance is met only up to the rounding level of
        the model's precision: ``f(x) - f(x')`` or the attributions' sum is at that level;
        :attr:`absolute_error` says what was reached), ``"max_steps"`` (``n_steps="auto"``
        spent its budget), ``"singular"`` (the output jumps next to the baseline, e.g. a
        model that normalises its input explained from zeros: use another baseline) or
        ``"n_steps"`` (a fixed ``n_steps`` missed the completeness tolerance). Results
        built without it (older versions) derive it from ``converged``.
    """

    values: np.ndarray
    delta: np.ndarray
    dims: tuple[str, ...]
    coords: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    outputs: np.ndarray
    baseline_outputs: np.ndarray
    n_steps: np.ndarray
    domain: Domain | None = None
    target: str = "output"
    settings: Mapping[str, Any] = field(default_factory=dict)
    target_index: np.ndarray | None = None
    error: np.ndarray = field(default_factory=lambda: _MISSING)
    converged: np.ndarray = field(default_factory=lambda: _MISSING)
    n_evaluations: np.ndarray = field(default_factory=lambda: _MISSING)
    status: np.ndarray = field(default_factory=lambda: _MISSING)

    def __post_init__(self) -> None:
        # results built without the convergence facts (older runs, hand-made results):
        # no error estimate, completeness as the only check, evaluations = path points
        if self.error is _MISSING:
            object.__setattr__(self, "error", np.full(self.batch_size, np.nan))
        if self.n_evaluations is _MISSING:
            object.__setattr__(self, "n_evaluations", np.asarray(self.n_steps, dtype=np.int64))
        if self.converged is _MISSING:
            rtol = float(self.settings.get("rtol", 0.01))
            object.__setattr__(self, "converged", self.relative_delta <= rtol)
        if self.status is _MISSING:
            failed = np.where(np.isnan(self.error), "n_steps", "max_steps")
            derived = np.where(np.asarray(self.converged, dtype=bool), "converged", failed)
            object.__setattr__(self, "status", derived.astype(STATUS_DTYPE))
        else:
            raw = np.asarray(self.status)  # checked before the cast (which truncates)
            unknown = sorted({str(v) for v in raw.ravel().tolist()} - set(STATUSES))
            status = raw.astype(STATUS_DTYPE) if not unknown else raw
            if status.shape != (self.batch_size,) or unknown:
                raise ValueError(
                    f"status must be one of {STATUSES} per sample, shape ({self.batch_size},); "
                    f"got shape {status.shape}" + (f" and {unknown}" if unknown else "") + "."
                )
            object.__setattr__(self, "status", status)

    @property
    def absolute_error(self) -> np.ndarray:
        """The estimated error of the attribution vector in units of the model output,
        ``error * ||values||`` per sample, shape ``(batch,)`` (NaN for a fixed ``n_steps``)."""
        norm = np.linalg.norm(self.values.reshape(self.batch_size, -1), axis=1)
        with np.errstate(invalid="ignore"):
            return np.where(self.error == 0, 0.0, self.error * norm)

    # ------------------------------------------------------------------ basics
    @property
    def batch_size(self) -> int:
        return int(self.values.shape[0])

    @property
    def total(self) -> np.ndarray:
        """Sum of attributions per sample, shape ``(batch,)``: ``f(x) - f(x') + delta``."""
        return self.values.reshape(self.batch_size, -1).sum(axis=1)

    @property
    def relative_delta(self) -> np.ndarray:
        """``|delta| / max(|f(x) - f(x')|, tiny)`` per sample."""
        diff = np.abs(self.outputs - self.baseline_outputs)
        return np.abs(self.delta) / np.maximum(diff, np.finfo(np.float64).tiny)

    def with_channel_names(self, names: Sequence[str] | None) -> Attribution:
        """The same attributions with named channels: ``coords["channel"]`` = ``names``.

        The names then appear in :meth:`top`, :meth:`to_xarray`, :meth:`to_pandas`, every
        figure and the report. ``None`` returns ``self``.

        Raises
        ------
        ValueError
            When the number of names is not the number of channels, or a name repeats.
        """
        if names is None:
            return self
        if isinstance(names, str) or not isinstance(names, (Sequence, np.ndarray)):
            raise ArgumentTypeError(
                Name("channel_names", names), " must be a list of strings, one per channel."
            )
        labels = [str(n) for n in names]
        if "channel" not in self.dims:
            return self
        n = self.values.shape[1 + self.dims.index("channel")]
        if len(labels) != n:
            raise ArgumentError(
                Name("channel_names"),
                f" has {len(labels)} names but the inputs have {n} channels; give one name per "
                "channel, in the inputs' channel order.",
            )
        if len(set(labels)) != n:
            raise ArgumentError(
                Name("channel_names", labels), " repeats a name; names must be unique."
            )
        return replace(self, coords={**self.coords, "channel": np.array(labels)})

    def sum_over(self, dim: str) -> Attribution:
        """Attributions summed over the axis ``dim`` (e.g. ``"channel"``); completeness kept."""
        axis = self._axis(dim)
        dims = tuple(d for d in self.dims if d != dim)
        coords = {k: v for k, v in self.coords.items() if k != dim}
        return replace(self, values=self.values.sum(axis=axis + 1), dims=dims, coords=coords)

    def _axis(self, dim: str) -> int:
        if dim not in self.dims:
            raise ValueError(
                f"dim={dim!r} is not an axis of these attributions; axes: {self.dims}."
            )
        return self.dims.index(dim)

    def group_by(self, label: str, dim: str | None = None) -> Attribution:
        """Sum coefficients that share a label, e.g. wavelet ``"band"`` -> one value per level.

        Parameters
        ----------
        label : str
            A coordinate holding one label per coefficient along ``dim``.
        dim : str, optional
            The axis ``label`` runs along; by default the one axis of the same length.

        Returns
        -------
        Attribution
            With ``dim`` replaced by ``label`` (labels in order of first appearance);
            completeness is kept.
        """
        if label not in self.coords:
            raise ValueError(f"label={label!r} is not a coordinate; have {sorted(self.coords)}.")
        lab = np.asarray(self.coords[label])
        if dim is None:
            sizes = self.values.shape[1:]
            match = [d for d, n in zip(self.dims, sizes) if n == len(lab) and d != label]
            if len(match) != 1:
                raise ValueError(f"cannot tell which axis {label!r} runs along; pass dim=.")
            dim = match[0]
        axis = self._axis(dim)
        _, first = np.unique(lab, return_index=True)
        names = lab[np.sort(first)]
        moved = np.moveaxis(self.values, axis + 1, -1)
        summed = np.stack([moved[..., lab == n].sum(axis=-1) for n in names], axis=-1)
        values = np.moveaxis(summed, -1, axis + 1)
        dims = tuple(label if d == dim else d for d in self.dims)
        coords = {
            k: v
            for k, v in self.coords.items()
            if k != dim and not (np.ndim(v) == 1 and len(v) == len(lab) and k != label)
        }
        coords[label] = names
        return replace(self, values=values, dims=dims, coords=coords)

    # ------------------------------------------------------------------ bands
    def bands(
        self,
        bands: Mapping[str, tuple[float, float]],
        dim: str = "frequency",
        other: str | None = "other",
    ) -> Attribution:
        """Sum attributions over coordinate ranges, e.g. EEG frequency bands.

        Parameters
        ----------
        bands : mapping of name to (low, high)
            Half-open ranges ``low <= coordinate < high`` in the unit of ``dim``
            (Hz when the domain has ``fs``), except the highest band, which includes its
            upper edge: ``(8, 16)`` at ``fs=32`` holds the Nyquist bin, 16 Hz. Ranges must
            not overlap.
        dim : str, default="frequency"
            The coordinate to band over.
        other : str or None, default="other"
            Name of an extra band collecting coefficients no range covers (added only when
            there are any), so that the bands always sum to ``f(x) - f(x') + delta``.
            ``None`` drops them.

        Returns
        -------
        Attribution
            With ``dim`` replaced by ``"band"``; coords ``band``, ``band_low``,
            ``band_high``.

        Examples
        --------
        >>> attr.bands({"delta": (0.5, 4), "theta": (4, 8)})  # doctest: +SKIP
        """
        axis = self._axis(dim)
        coord = np.asarray(self.coords[dim], dtype=np.float64)
        if not isinstance(bands, Mapping) or not bands:
            raise ValueError("bands must be a non-empty mapping of name -> (low, high).")
        names, masks, lows, highs = [], [], [], []
        covered = np.zeros(coord.shape, dtype=bool)
        edges = {}
        for name, rng in bands.items():
            try:
                lo, hi = (float(v) for v in rng)
            except (TypeError, ValueError):
                raise ValueError(f"band {name!r}: expected (low, high), got {rng!r}.") from None
            if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
                raise ValueError(f"band {name!r}: need finite low < high, got ({lo}, {hi}).")
            edges[name] = (lo, hi)
        top = max(hi for _, hi in edges.values())
        for name, (lo, hi) in edges.items():
            mask = (coord >= lo) & ((coord <= hi) if hi == top else (coord < hi))
            if (mask & covered).any():
                raise ValueError(f"band {name!r} ({lo}, {hi}) overlaps an earlier band.")
            covered |= mask
            names.append(str(name))
            masks.append(mask)
            lows.append(lo)
            highs.append(hi)
        if other is not None and not covered.all():
            names.append(other)
            masks.append(~covered)
            lows.append(float("nan"))
            highs.append(float("nan"))
        moved = np.moveaxis(self.values, axis + 1, -1)
        summed = np.stack([moved[..., m].sum(axis=-1) for m in masks], axis=-1)
        values = np.moveaxis(summed, -1, axis + 1)
        dims = tuple("band" if d == dim else d for d in self.dims)
        coords = {k: v for k, v in self.coords.items() if k != dim}
        coords.update(band=np.array(names), band_low=np.array(lows), band_high=np.array(highs))
        units = {k: v for k, v in self.units.items() if k != dim}
        units.update(band_low=self.units.get(dim, ""), band_high=self.units.get(dim, ""))
        return replace(self, values=values, dims=dims, coords=coords, units=units)

    def values_in_input_layout(self) -> np.ndarray:
        """:attr:`values` laid out like the explained inputs, as Captum returns them.

        For inputs ``(batch, time, channels)`` (``time_axis=1``) the channel axis moves
        last: time-domain values become ``(batch, time, channels)`` and Fourier values
        ``(batch, frequency, channels)``. For inputs ``(batch, time)`` the channel axis of
        size one is dropped. Inputs ``(batch, channels, time)`` give :attr:`values` as they
        are.

        Returns
        -------
        ndarray
            A view of :attr:`values` where possible.

        Raises
        ------
        ValueError
            When the first coefficient axis is not ``"channel"`` (ICA, PCA: one axis per
            component), which has no counterpart in the input's layout.
        """
        time_axis = self.settings.get("time_axis", 2)
        ndim = self.settings.get("input_ndim", 3)
        if (ndim, time_axis) == (3, 2):
            return self.values
        if not self.dims or self.dims[0] != "channel":
            raise ValueError(
                f"attributions over {self.dims} have no input layout (their first axis is not "
                "'channel'); use .values, laid out as (batch, *dims)."
            )
        if ndim == 2:
            return self.values[:, 0]
        return np.moveaxis(self.values, 1, -1)

    # ------------------------------------------------------------------ interoperability
    def _coord_axes(self) -> dict[str, int]:
        """Each 1-d coordinate -> the axis of :attr:`values` (after the batch) it labels.

        A coordinate named like an axis labels that axis; any other (a wavelet
        coefficient's ``band`` or ``time``) labels the one axis of its length, the last such
        axis if several have it (coefficient axes come after ``channel``).
        """
        shape = self.values.shape[1:]
        out: dict[str, int] = {}
        for name, value in self.coords.items():
            if np.ndim(value) != 1:
                continue
            if name in self.dims:
                if len(value) == shape[self.dims.index(name)]:
                    out[name] = self.dims.index(name)
                continue
            match = [i for i, n in enumerate(shape) if n == len(value)]
            if match:
                out[name] = match[-1]
        return out

    def to_xarray(self) -> Any:
        """The attributions as an ``xarray.DataArray`` with named axes and coordinates.

        Returns
        -------
        xarray.DataArray
            Named ``"attribution"``, dims ``("sample", *dims)``; every coordinate of
            :attr:`coords` on its axis, with its unit in ``.attrs["units"]``; per sample the
            coordinates ``output`` (``f(x)``), ``baseline_output`` (``f(x')``), ``delta``
            and, when known, ``target_index``. ``attrs`` hold ``domain`` and ``target``.

        Raises
        ------
        ImportError
            When xarray is not installed (``pip install cdig[interop]``).
        """
        from ._optional import require

        xr = require("xarray", "Attribution.to_xarray()")
        dims = ("sample", *self.dims)
        coords: dict[str, Any] = {"sample": np.arange(self.batch_size)}
        for name, axis in self._coord_axes().items():
            coords[name] = (dims[axis + 1], np.asarray(self.coords[name]))
        coords["output"] = ("sample", self.outputs)
        coords["baseline_output"] = ("sample", self.baseline_outputs)
        coords["delta"] = ("sample", self.delta)
        if self.target_index is not None and np.ndim(self.target_index) == 1:
            coords["target_index"] = ("sample", np.asarray(self.target_index))
        name = type(self.domain).__name__ if self.domain is not None else ""
        da = xr.DataArray(
            self.values,
            dims=dims,
            coords=coords,
            name="attribution",
            attrs={"domain": name, "target": self.target},
        )
        for coord, unit in self.units.items():
            if coord in da.coords and unit:
                da.coords[coord].attrs["units"] = unit
        return da

    def to_pandas(self) -> Any:
        """The attributions as a long table, one row per (sample, coefficient).

        Returns
        -------
        pandas.DataFrame
            Columns ``sample``, one per axis in :attr:`dims` (its coordinate value, e.g. the
            frequency in Hz, or the index along the axis when it has no coordinate), one
            per other coordinate (a wavelet coefficient's ``band`` and ``time``), and
            ``value``. Rows are in the order of ``values.ravel()``; units are in
            ``df.attrs["units"]``.

        Raises
        ------
        ImportError
            When pandas is not installed (``pip install cdig[interop]``).
        """
        from ._optional import require

        pd = require("pandas", "Attribution.to_pandas()")
        index = np.indices(self.values.shape).reshape(self.values.ndim, -1)
        columns: dict[str, np.ndarray] = {"sample": index[0]}
        axes = self._coord_axes()
        for axis, dim in enumerate(self.dims):
            c = self.coords.get(dim)
            columns[dim] = np.asarray(c)[index[axis + 1]] if dim in axes else index[axis + 1]
        for name, axis in axes.items():
            if name not in self.dims:
                columns[name] = np.asarray(self.coords[name])[index[axis + 1]]
        columns["value"] = self.values.ravel()
        df = pd.DataFrame(columns)
        df.attrs["units"] = dict(self.units)
        return df

    # ------------------------------------------------------------------ reading
    def top(self, k: int = 5, sample: int = 0, absolute: bool = True) -> list[dict[str, Any]]:
        """The ``k`` largest attributions of one sample with their coordinates.

        Returns
        -------
        list of dict
            Largest first (by absolute value when ``absolute``): ``{"value": float, <dim>:
            coordinate (or index), ...}`` plus every other label of the coefficient, e.g. a
            wavelet coefficient's ``band``, ``level``, ``band_low``, ``band_high`` (Hz) and
            ``time``. Coordinates are rounded to 12 significant digits (``0.6``, not
            ``0.6000000000000001``). :func:`cdig.report.describe_coefficient` turns a row
            into words.
        """
        if not 0 <= sample < self.batch_size:
            raise ValueError(f"sample={sample} is out of range for a batch of {self.batch_size}.")
        v = self.values[sample]
        key = np.abs(v) if absolute else v
        order = np.argsort(key, axis=None)[::-1][: max(0, int(k))]
        extra = {n: a for n, a in self._coord_axes().items() if n not in self.dims}
        rows = []
        for flat in order:
            idx = np.unravel_index(flat, v.shape)
            row: dict[str, Any] = {"value": float(v[idx])}
            for d, i in zip(self.dims, idx):
                c = self.coords.get(d)
                row[d] = _clean(c[i].item()) if c is not None and c.ndim == 1 else int(i)
            for name, axis in extra.items():
                row[name] = _clean(np.asarray(self.coords[name])[idx[axis]].item())
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ serialized form
    def to_dict(self) -> dict[str, Any]:
        """The result as a plain dict: numpy arrays and JSON-able metadata.

        The one serialized form of a result: the command line's ``--json`` writes it (arrays
        as lists), dataset runs store its arrays in their shards and its metadata in their
        manifest, and :meth:`from_dict` reads any of them back.

        Returns
        -------
        dict
            Per-sample arrays (:data:`SAMPLE_FIELDS`): ``values`` of shape
            ``(batch, *coefficient_shape)``, ``delta``, ``outputs``, ``baseline_outputs``,
            ``error`` (float64), ``n_steps``, ``n_evaluations`` (int64), ``converged``
            (bool), ``status`` (str), each ``(batch,)``, and ``target_index``
            (``(batch,)``, ``(batch, n_axes)`` or None); metadata: ``dims`` (list of str),
            ``coords`` (dict of arrays), ``units``, ``target`` (str), ``domain`` (the
            domain's class name, or None) and ``settings`` (dict).
        """
        out: dict[str, Any] = {"values": np.asarray(self.values)}
        for name, dtype in _FIELD_DTYPES.items():
            value = getattr(self, name)
            out[name] = None if value is None else np.asarray(value, dtype=dtype)
        out.update(
            dims=list(self.dims),
            coords={k: np.asarray(v) for k, v in self.coords.items()},
            units=dict(self.units),
            target=self.target,
            domain=type(self.domain).__name__ if self.domain is not None else None,
            settings=dict(self.settings),
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], domain: Domain | None = None) -> Attribution:
        """The result that :meth:`to_dict` gave (or its JSON form, lists for arrays).

        Parameters
        ----------
        data : mapping
            As returned by :meth:`to_dict`; ``error``, ``converged``, ``n_evaluations``,
            ``status``,
            ``target_index``, ``coords``, ``units``, ``target`` and ``settings`` may be
            missing (results written by older versions). A coordinate may also be given as
            ``{"dtype", "shape", "values"}`` (the form dataset runs store).
        domain : Domain, optional
            The fitted domain, when the caller has it (a dict does not hold one).

        Returns
        -------
        Attribution
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"an Attribution dict must be a mapping; got {type(data).__name__}.")
        missing = [k for k in ("values", "delta", "dims", "outputs", "baseline_outputs", "n_steps")
                   if k not in data]  # fmt: skip
        if missing:
            raise ValueError(f"an Attribution dict needs {missing}; got keys {sorted(data)}.")
        values = data["values"]  # arrays keep their dtype; JSON lists are float64
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
            check_array(values, "values", "float", ndim=_VALUES_NDIM)
        else:
            values = check_array(values, "values", "float", ndim=_VALUES_NDIM)
        batch = int(values.shape[0])
        dims = data["dims"]
        if not isinstance(dims, (list, tuple)) or not all(isinstance(d, str) for d in dims):
            raise TypeError(f"dims must be a list of axis names; got {dims!r:.80}.")
        if len(dims) != values.ndim - 1:
            raise ValueError(
                f"dims {list(dims)} name {len(dims)} axes; values of shape {values.shape} have "
                f"{values.ndim - 1} after the sample axis."
            )
        kwargs: dict[str, Any] = {
            "values": values,
            "error": _MISSING,
            "converged": _MISSING,
            "n_evaluations": _MISSING,
            "status": _MISSING,
        }
        for name, (kind, finite, low, trailing) in _FIELD_RULES.items():
            if data.get(name) is None:
                if name in _REQUIRED:
                    raise ValueError(f"{name} is null; an Attribution dict needs it.")
                continue
            shape = None if trailing else (batch,)
            kwargs[name] = check_array(
                data[name], name, kind, shape=shape, ndim=(1, 2), finite=finite, low=low
            )
            if trailing and kwargs[name].shape[0] != batch:
                raise ValueError(
                    f"{name} has {kwargs[name].shape[0]} rows; values have {batch} samples."
                )
        coords = data.get("coords") or {}
        units = data.get("units") or {}
        settings = data.get("settings") or {}
        for key, value, what in (("coords", coords, "arrays"), ("units", units, "strings"),
                                 ("settings", settings, "values")):  # fmt: skip
            if not isinstance(value, Mapping):
                raise TypeError(f"{key} must be a mapping of names to {what}.")
        if not all(isinstance(u, str) for u in units.values()):
            raise TypeError("units must map names to strings.")
        target = data.get("target", "output")
        if not isinstance(target, str):
            raise TypeError(f"target must be a string; got {type(target).__name__}.")
        return cls(
            dims=tuple(dims),
            coords={k: coord_array(v, f"coords[{k!r}]") for k, v in coords.items()},
            units=dict(units),
            domain=domain,
            target=target,
            settings=dict(settings),
            **kwargs,
        )

    def plot(self, sample: int = 0, **kwargs: Any) -> Figure:
        """Figure of the attributions of one sample (see :mod:`cdig.plot`).

        ``inputs=`` (the explained inputs) adds the input to the figure; ``ax=`` draws into
        your own axes; other keywords go to the figure of the domain's kind.
        """
        from .plot import plot_attribution  # on use: matplotlib only when a figure is asked for

        return plot_attribution(self, sample=sample, **kwargs)

    def __repr__(self) -> str:
        name = type(self.domain).__name__ if self.domain is not None else "?"
        return (
            f"Attribution(domain={name}, values{tuple(self.values.shape)} over {self.dims}, "
            f"target={self.target}, max|delta|={float(np.max(np.abs(self.delta))):.3g})"
        )


#: The per-sample arrays of a result, in :meth:`Attribution.to_dict` (``values`` first).
SAMPLE_FIELDS = (
    "values",
    "delta",
    "outputs",
    "baseline_outputs",
    "n_steps",
    "error",
    "converged",
    "n_evaluations",
    "target_index",
    "status",
)
#: How :meth:`Attribution.from_dict` checks each per-sample field besides ``values``:
#: name -> (kind, finite, smallest value, more axes allowed after the sample axis). One line
#: per field; a field added to the result needs one line here and one in _FIELD_DTYPES.
_FIELD_RULES: dict[str, tuple[str, bool, float | None, bool]] = {
    "delta": ("float", True, None, False),
    "outputs": ("float", True, None, False),
    "baseline_outputs": ("float", True, None, False),
    "n_steps": ("int", True, 0, False),
    "error": ("float", False, 0.0, False),  # NaN: not estimated (a fixed n_steps)
    "converged": ("bool", True, None, False),
    "n_evaluations": ("int", True, 0, False),
    "target_index": ("int", True, None, True),  # (batch,) or (batch, n_axes)
    "status": ("str", True, None, False),  # one of STATUSES, checked by __post_init__
}
_REQUIRED = ("delta", "outputs", "baseline_outputs", "n_steps")
_VALUES_NDIM = (1, 2, 3, 4, 5, 6)

# dtypes of the fields read back by from_dict (values keep theirs; converged: bool)
_FIELD_DTYPES: dict[str, Any] = {
    "delta": np.float64,
    "outputs": np.float64,
    "baseline_outputs": np.float64,
    "n_steps": np.int64,
    "error": np.float64,
    "n_evaluations": np.int64,
    "target_index": np.int64,
    "converged": bool,
    "status": STATUS_DTYPE,
}


def stack_targets(
    attrs: Sequence[Attribution], axis: str, coords: np.ndarray, unit: str, target: str
) -> Attribution:
    """The results of several targets (same inputs, same fitted domain) as one result.

    Parameters
    ----------
    attrs : sequence of Attribution
        One per target, in the order of ``coords``; values of shape ``(batch, *coef)``.
    axis : str
        The new leading coefficient axis (``"horizon"``).
    coords : ndarray of int, shape (n_targets,)
        Its coordinate (the steps).
    unit : str
        Its unit (``"step"``).
    target : str
        What the stacked result explains.

    Returns
    -------
    Attribution
        ``values`` of shape ``(batch, n_targets, *coef)``, dims ``(axis, *dims)``.
        ``outputs``, ``baseline_outputs``, ``delta`` and ``n_evaluations`` are sums over the
        targets (so completeness reads as usual); ``n_steps`` and ``error`` the largest,
        ``converged`` true only when every target converged, ``status`` the gravest. The
        per-target ``outputs``, ``baseline_outputs`` and ``delta`` (each ``(batch,
        n_targets)``) and ``"steps"`` (``coords``) are in ``settings[axis]``.
    """
    first = attrs[0]
    steps = np.asarray(coords, dtype=np.int64)
    outputs = np.stack([a.outputs for a in attrs], axis=1)  # (B, S)
    base = np.stack([a.baseline_outputs for a in attrs], axis=1)
    delta = np.stack([a.delta for a in attrs], axis=1)
    settings = dict(first.settings)
    settings[axis] = {
        "steps": steps,
        "outputs": outputs,
        "baseline_outputs": base,
        "delta": delta,
    }
    return replace(
        first,
        values=np.stack([a.values for a in attrs], axis=1),
        delta=delta.sum(axis=1),
        dims=(axis, *first.dims),
        coords={**first.coords, axis: steps},
        units={**first.units, axis: unit},
        outputs=outputs.sum(axis=1),
        baseline_outputs=base.sum(axis=1),
        n_steps=np.max(np.stack([a.n_steps for a in attrs], axis=1), axis=1),
        # every target is integrated on its own: the worst one speaks for the sample
        error=np.max(np.stack([a.error for a in attrs], axis=1), axis=1),
        converged=np.all(np.stack([a.converged for a in attrs], axis=1), axis=1),
        status=_worst_status(np.stack([a.status for a in attrs], axis=1)),
        n_evaluations=np.sum(np.stack([a.n_evaluations for a in attrs], axis=1), axis=1),
        target=target,
        target_index=None,
        settings=settings,
    )


def _worst_status(status: np.ndarray) -> np.ndarray:
    """Per sample (rows of ``status``, one column per target) the status that speaks for it:
    ``"converged"`` only when every target is; else the gravest reason among them."""
    out = np.full(status.shape[0], "converged", dtype=status.dtype)
    for name in ("floor", "n_steps", "max_steps", "singular"):  # later ones win
        out = np.where((status == name).any(axis=1), name, out)
    return out


def coord_array(value: Any, what: str = "coordinate") -> np.ndarray:
    """A coordinate array, also from the ``{"dtype", "shape", "values"}`` form of runs.

    Checked before anything is allocated: numbers, booleans or short text only (no Python
    objects, records or sub-arrays such as ``"(50000000,)f8"``), elements of at most
    :data:`MAX_COORD_ITEMSIZE` bytes, and a ``shape`` that holds exactly the values given.
    """
    if isinstance(value, Mapping) and {"dtype", "shape", "values"} <= set(value):
        dtype = _coord_dtype(value["dtype"], what)
        shape, values = value["shape"], value["values"]
        if not isinstance(shape, (list, tuple)) or not all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in shape
        ):
            raise ValueError(f"{what}: shape {shape!r:.60} must be a list of non-negative lengths.")
        if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != math.prod(shape):
            n = len(values) if isinstance(values, (list, tuple, np.ndarray)) else "no"
            raise ValueError(
                f"{what}: shape {list(shape)} needs {math.prod(shape)} values; got {n}."
            )
        try:
            arr = np.asarray(values, dtype=dtype)
        except (ValueError, TypeError, OverflowError) as err:
            raise ValueError(f"{what}: values are not of dtype {dtype.str} ({err}).") from None
        return arr.reshape(shape)
    arr = np.asarray(value)
    _coord_dtype(arr.dtype, what)
    return arr


#: Largest element of a coordinate, in bytes (a label of 1024 characters).
MAX_COORD_ITEMSIZE = 4096


def _coord_dtype(dtype: Any, what: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as err:
        raise ValueError(f"{what}: {dtype!r:.60} is not a numpy dtype ({err}).") from None
    if dt.hasobject or dt.fields is not None or dt.subdtype is not None or dt.kind not in "biufUS":
        raise ValueError(
            f"{what} has dtype {dt.str!r}; coordinates are numbers, booleans or text (no "
            "Python objects, records or sub-arrays)."
        )
    if dt.itemsize > MAX_COORD_ITEMSIZE:
        raise ValueError(
            f"{what} has dtype {dt.str!r} of {dt.itemsize:,} bytes per element; at most "
            f"{MAX_COORD_ITEMSIZE} are allowed."
        )
    return dt


def coord_json(value: Any) -> dict[str, Any]:
    """A coordinate as ``{"dtype", "shape", "values"}`` (complex and objects as text)."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr) or arr.dtype == object:
        arr = arr.astype(str)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "values": arr.ravel().tolist()}


def jsonable(obj: Any) -> Any:
    """numpy and tuples -> JSON types; NaN and infinities -> null (for ``json.dumps``)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _clean(value: Any) -> Any:
    """A float without binary noise (12 significant digits); anything else as it is."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.12g}")
    return value
