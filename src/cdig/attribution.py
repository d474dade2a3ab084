"""The result of an explanation: attributions with their meaning."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ._checks import check_array
from ._layout import InputLayout, plain_float, plain_int
from ._numerics import STATUS_DTYPE, STATUSES
from ._text import ArgumentError, ArgumentTypeError, Name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .domains import Domain

__all__ = ["Attribution", "IGFacts", "InputLayout", "Integration", "PerTarget", "Peer", "ig_facts"]

_MISSING = np.zeros(0)  # default of the convergence fields: filled in by __post_init__

#: The statuses a result may hold (checked by :class:`Attribution`).
_STATUS_SET = frozenset(STATUSES)


@dataclass(frozen=True)
class Integration:
    """How a result was integrated: the record of the call's :class:`cdig.Settings`.

    Attributes
    ----------
    method : str
        The rule: ``"adaptive"`` (``n_steps="auto"``) or the quadrature rule of an integer
        ``n_steps``.
    n_steps : int or "auto"
    rtol, atol : float
        The tolerances (``atol`` in units of the model output).
    max_steps : int
        Evaluation budget of ``n_steps="auto"`` per sample and baseline.
    n_baselines : int, default=1
        Baselines averaged over.
    pass_kind : {"time", "coefficients"} or None
        Where the gradient was integrated: along the time-domain path (shared by every
        linear domain of the call) or along the domain's own coefficient path.
    shared_with : tuple of str
        The other domains (labels) of the call that shared the same pass.
    """

    method: str
    n_steps: int | str
    rtol: float = 0.01
    atol: float = 0.0
    max_steps: int = 512
    n_baselines: int = 1
    pass_kind: str | None = None
    shared_with: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-able values, with the keys results have always used (the
        pass as ``"pass"``)."""
        return {
            "method": self.method,
            "n_steps": self.n_steps,
            "rtol": self.rtol,
            "atol": self.atol,
            "max_steps": self.max_steps,
            "n_baselines": self.n_baselines,
            "pass": self.pass_kind,
            "shared_with": list(self.shared_with),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Integration | None:
        """The record :meth:`as_dict` gave; None when it names neither ``method`` nor
        ``n_steps`` (hand-made results). Other keys are not kept."""
        if not isinstance(data, Mapping):
            raise TypeError(f"settings must be a mapping of names to values; got {data!r:.60}.")
        if "method" not in data and "n_steps" not in data:
            return None
        method = data.get("method", "unknown")
        if not isinstance(method, str):
            raise TypeError(f"settings method must be a string; got {method!r:.60}.")
        n_steps = data.get("n_steps", "auto")
        if n_steps != "auto":
            n_steps = plain_int(n_steps, "settings n_steps")
        pass_kind = data.get("pass")
        if pass_kind is not None and not isinstance(pass_kind, str):
            raise TypeError(f"settings pass must be a string or null; got {pass_kind!r:.60}.")
        shared = data.get("shared_with", ())
        if not isinstance(shared, (list, tuple)) or not all(isinstance(s, str) for s in shared):
            raise TypeError(f"settings shared_with must be a list of labels; got {shared!r:.60}.")
        return cls(
            method=method,
            n_steps=n_steps,
            rtol=plain_float(data.get("rtol", 0.01), "settings rtol"),
            atol=plain_float(data.get("atol", 0.0), "settings atol"),
            max_steps=plain_int(data.get("max_steps", 512), "settings max_steps"),
            n_baselines=plain_int(data.get("n_baselines", 1), "settings n_baselines"),
            pass_kind=pass_kind,
            shared_with=tuple(shared),
        )


@dataclass(frozen=True, eq=False)
class PerTarget:
    """The per-target facts of a result that stacks several targets on one axis
    (``Horizon("each")``, ``TimeColumns``): what each target's own call would have given.

    Attributes
    ----------
    dim : str
        The stacked axis of :attr:`Attribution.values` (``"horizon"``).
    steps : ndarray of int64, shape (n_targets,)
        Its coordinate (the steps).
    outputs, baseline_outputs, delta : ndarray of float64, shape (batch, n_targets)
        ``f(x)``, ``f(x')`` and the completeness error of each target; the result's own
        ``outputs``, ``baseline_outputs`` and ``delta`` are their sums over the targets.
    """

    dim: str
    steps: np.ndarray
    outputs: np.ndarray
    baseline_outputs: np.ndarray
    delta: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """``{"dim", "steps", "outputs", "baseline_outputs", "delta"}``, arrays as numpy."""
        return {
            "dim": self.dim,
            "steps": np.asarray(self.steps, dtype=np.int64),
            "outputs": np.asarray(self.outputs, dtype=np.float64),
            "baseline_outputs": np.asarray(self.baseline_outputs, dtype=np.float64),
            "delta": np.asarray(self.delta, dtype=np.float64),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], dim: str, batch: int) -> PerTarget:
        """Checked before anything is allocated: ``steps`` integers, the arrays finite and of
        shape ``(batch, len(steps))``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"per_target must be a mapping; got {type(data).__name__}.")
        name = data.get("dim", dim)
        if not isinstance(name, str):
            raise TypeError(f"per_target dim must be an axis name; got {name!r:.60}.")
        steps = check_array(data.get("steps"), "per_target steps", "int", ndim=(1,))
        arrays = {
            key: check_array(data.get(key), f"per_target {key}", "float", shape=(batch, len(steps)))
            for key in ("outputs", "baseline_outputs", "delta")
        }
        return cls(dim=name, steps=steps, **arrays)


#: The names :attr:`Peer.name` takes, one per explainer of :mod:`cdig.peers`.
PEER_NAMES = (
    "gradient",
    "gradient_x_input",
    "freqrise",
    "virtual_inspection",
    "timing",
    "flextime",
)


@dataclass(frozen=True)
class Peer:
    """Which peer explainer (:mod:`cdig.peers`) computed a result, and with what options.

    A result that has one is not Integrated Gradients: it has no completeness error, no
    baseline, no path and no convergence certificate, so those fields of the
    :class:`Attribution` are None.

    Attributes
    ----------
    name : str
        One of :data:`PEER_NAMES`: ``"gradient"``, ``"gradient_x_input"``, ``"freqrise"``,
        ``"virtual_inspection"``, ``"timing"`` or ``"flextime"``.
    options : dict of str to JSON-able values
        The options of the call that shape the values (``n_masks``, ``seed``, ``score`` ...);
        a seed given as a ``numpy.random.Generator`` is recorded as the text
        ``"Generator"`` (its state is not kept).
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in PEER_NAMES:
            raise ValueError(f"peer name {self.name!r:.60} is not one of {PEER_NAMES}.")
        if not isinstance(self.options, Mapping) or not all(
            isinstance(k, str) for k in self.options
        ):
            raise TypeError(f"peer options must map names to values; got {self.options!r:.80}.")
        bad = [k for k, v in self.options.items() if not _json_scalar(v)]
        if bad:
            raise TypeError(
                f"peer options {bad} must be numbers, booleans, text or None (JSON values)."
            )

    def as_dict(self) -> dict[str, Any]:
        """``{"name", "options"}``, JSON-able."""
        return {"name": self.name, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Peer:
        """The record :meth:`as_dict` gave."""
        if not isinstance(data, Mapping):
            raise TypeError(f"peer must be a mapping; got {type(data).__name__}.")
        name = data.get("name")
        if not isinstance(name, str):
            raise TypeError(f"peer name must be a string; got {name!r:.60}.")
        return cls(name=name, options=dict(data.get("options") or {}))


def _json_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    return isinstance(value, float) and math.isfinite(value)


@dataclass(frozen=True, eq=False)
class Attribution:
    """Cross-domain IG attributions of a batch, one score per coefficient.

    The peer explainers of :mod:`cdig.peers` return the same class with :attr:`peer` set;
    the fields that only Integrated Gradients has (``delta``, ``baseline_outputs``,
    ``n_steps``, ``settings``, ``error``, ``converged``, ``status``, ``per_target``) are
    None for them, and :attr:`relative_delta` and :attr:`absolute_error` raise.

    Attributes
    ----------
    values : ndarray of shape (batch, *coefficient_shape)
        One score per coefficient, in units of the model output. ``coefficient_shape`` is
        named by :attr:`dims`, e.g. ``(channels, n_frequencies)``. Channels come first
        whatever the input's layout: time-domain values are ``(batch, channels, time)``
        even for inputs given as ``(batch, time, channels)`` with ``time_axis=1``; see
        :meth:`values_in_input_layout`.
    delta : ndarray of shape (batch,), float64, or None
        Completeness error ``values.sum() - (f(x) - f(x'))`` per sample; None for a peer.
    dims : tuple of str
        Name of each axis of ``values`` after the batch axis.
    coords : dict of str to ndarray
        Coordinates of the named axes (e.g. ``"frequency"`` in Hz) and extra labels; each
        labels the axes :attr:`coord_dims` names, and has their lengths as its shape.
    units : dict of str to str
        Unit of each coordinate.
    outputs : ndarray of shape (batch,), or None
        ``f(x)``: the explained model output (the target) for each input. For a peer, the
        score it explains (the target's softmax probability for ``score="probability"``);
        None when no model was run (:func:`cdig.peers.virtual_inspection` of an array).
    baseline_outputs : ndarray of shape (batch,), or None
        ``f(x')`` at the effective time baseline (the mean over baselines if several); None
        for a peer.
    n_steps : ndarray of shape (batch,), int, or None
        Path points per sample (differs between samples with ``n_steps="auto"``; the
        largest over baselines when there are several); None for a peer.
    domain : Domain
        The fitted domain.
    target : str
        What was explained (for display): ``"1"``, ``"predicted class"``, ``"output"`` ...
    target_index : ndarray of shape (batch,) or (batch, n_axes), or None
        The output index explained for each sample (the predicted class with
        ``target="predicted"``); ``None`` for callable targets and single-output models.
    settings : Integration or None
        How the result was integrated (rule, ``n_steps``, tolerances, baselines, pass);
        None for results built by hand.
    layout : InputLayout
        The layout (and sampling rate) of the explained inputs; default ``(batch, channels,
        time)``.
    coord_dims : dict of str to tuple of str
        The axes each coordinate labels, as xarray binds them: a coordinate named like an
        axis labels that axis (it may be left out here); any other (a wavelet
        coefficient's ``band`` or ``time``) must be given. Checked when built: every axis
        named exists and the coordinate's shape is their lengths.
    per_target : PerTarget or None
        For several targets stacked on one axis (``Horizon("each")``): each target's
        ``outputs``, ``baseline_outputs`` and ``delta``.
    error : ndarray of shape (batch,), float64, or None
        Estimated relative error of the attribution vector, ``||A - A_exact|| / ||A||``
        (2-norm over the coefficients), from the difference of two nested rules that share
        their evaluations (``n_steps="auto"``). NaN for a fixed ``n_steps`` (no estimate;
        only ``delta`` checks it). None for a peer.
    converged : ndarray of shape (batch,), bool, or None
        ``n_steps="auto"``: the sample met both the error and the completeness tolerance
        within its budget. A fixed ``n_steps``: ``|delta| <= rtol * |f(x) - f(x')| + atol``.
        None for a peer: it certifies nothing.
    n_evaluations : ndarray of shape (batch,), int
        Model evaluations spent on the sample's paths (summed over baselines); for a peer,
        the model evaluations (forward passes, with or without a gradient) it spent on the
        sample.
    status : ndarray of shape (batch,), str, or None
        Why the sample's integration stopped: ``"converged"`` (exactly where
        ``converged``), ``"floor"`` (the tolerance cannot be certified at the model's
        precision: it lies below the rounding level of the outputs, or a float32 model's
        measured gradient noise keeps the error above it within the budget;
        :attr:`absolute_error` says what was reached; raising ``max_steps`` does not help),
        ``"max_steps"`` (``n_steps="auto"`` spent its budget), ``"singular"`` (the output
        jumps next to the baseline, e.g. a model that normalises its input explained from
        zeros: use another baseline) or
        ``"n_steps"`` (a fixed ``n_steps`` missed the completeness tolerance). Results
        built without it (older versions) derive it from ``converged``. None for a peer.
    peer : Peer or None
        The peer explainer (:mod:`cdig.peers`) that computed the values, with its options;
        None for Cross-domain IG.
    """

    values: np.ndarray
    delta: np.ndarray | None
    dims: tuple[str, ...]
    coords: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    outputs: np.ndarray | None
    baseline_outputs: np.ndarray | None
    n_steps: np.ndarray | None
    domain: Domain | None = None
    target: str = "output"
    settings: Integration | None = None
    target_index: np.ndarray | None = None
    error: np.ndarray | None = field(default_factory=lambda: _MISSING)
    converged: np.ndarray | None = field(default_factory=lambda: _MISSING)
    n_evaluations: np.ndarray = field(default_factory=lambda: _MISSING)
    status: np.ndarray | None = field(default_factory=lambda: _MISSING)
    layout: InputLayout = field(default_factory=InputLayout)
    coord_dims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    per_target: PerTarget | None = None
    peer: Peer | None = None

    def __post_init__(self) -> None:
        self._bind_coords()
        if self.peer is not None:
            self._check_peer()
            return
        missing = [k for k in _REQUIRED if getattr(self, k) is None]
        if missing:
            raise ValueError(
                f"an Integrated Gradients result needs {missing}; a result of another "
                "explainer names it: peer=cdig.attribution.Peer(name, options)."
            )
        for name in ("error", "converged", "status"):  # None, as left out: derived below
            if getattr(self, name) is None:
                object.__setattr__(self, name, _MISSING)
        if self.per_target is not None:
            pt = self.per_target
            n = self.values.shape[1 + self.dims.index(pt.dim)] if pt.dim in self.dims else -1
            want = (self.batch_size, n)
            if np.shape(pt.steps) != (n,) or any(
                np.shape(a) != want for a in (pt.outputs, pt.baseline_outputs, pt.delta)
            ):
                raise ValueError(
                    f"per_target must run along an axis of {self.dims} with arrays of shape "
                    f"{want}; got dim {pt.dim!r}."
                )
        # results built without the convergence facts (older runs, hand-made results):
        # no error estimate, completeness as the only check, evaluations = path points
        if self.error is _MISSING:
            object.__setattr__(self, "error", np.full(self.batch_size, np.nan))
        if self.n_evaluations is _MISSING:
            object.__setattr__(self, "n_evaluations", np.asarray(self.n_steps, dtype=np.int64))
        if self.converged is _MISSING:
            rtol = self.settings.rtol if self.settings is not None else 0.01
            object.__setattr__(self, "converged", self.relative_delta <= rtol)
        if self.status is _MISSING:
            failed = np.where(np.isnan(np.asarray(self.error)), "n_steps", "max_steps")
            derived = np.where(np.asarray(self.converged, dtype=bool), "converged", failed)
            object.__setattr__(self, "status", derived.astype(STATUS_DTYPE))
        else:
            raw = np.asarray(self.status)  # checked before the cast (which truncates)
            unknown = sorted({str(v) for v in raw.ravel().tolist()} - _STATUS_SET)
            status = raw.astype(STATUS_DTYPE) if not unknown else raw
            if status.shape != (self.batch_size,) or unknown:
                raise ValueError(
                    f"status must be one of {STATUSES} per sample, shape ({self.batch_size},); "
                    f"got shape {status.shape}" + (f" and {unknown}" if unknown else "") + "."
                )
            object.__setattr__(self, "status", status)

    def _check_peer(self) -> None:
        """A peer's result: none of the facts of Integrated Gradients, its evaluations given."""
        assert self.peer is not None
        given = [k for k in _IG_ONLY if getattr(self, k) is not None
                 and getattr(self, k) is not _MISSING]  # fmt: skip
        if given:
            raise ValueError(
                f"a result of the peer explainer {self.peer.name!r} cannot have {given}: only "
                "Integrated Gradients has them; leave them None."
            )
        for name in ("error", "converged", "status"):
            object.__setattr__(self, name, None)
        if self.n_evaluations is _MISSING:
            raise ValueError(
                f"a result of the peer explainer {self.peer.name!r} needs n_evaluations, the "
                "model evaluations it spent per sample."
            )
        for name in ("outputs", "n_evaluations"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != (self.batch_size,):
                raise ValueError(
                    f"{name} must have shape ({self.batch_size},); got {np.shape(value)}."
                )

    @property
    def explainer(self) -> str:
        """What computed the values: ``"cross_domain_ig"``, or the peer's name
        (``"freqrise"``, ``"timing"`` ...; see :class:`Peer`)."""
        return "cross_domain_ig" if self.peer is None else self.peer.name

    def _not_applicable(self, what: str) -> ValueError:
        name = self.peer.name if self.peer is not None else "?"
        return ValueError(
            f"{what} is a fact of Integrated Gradients (completeness, error estimate); this "
            f"result comes from the peer explainer {name!r}, which has none."
        )

    def _bind_coords(self) -> None:
        """Complete and check :attr:`coord_dims`: every coordinate bound to named axes."""
        sizes = dict(zip(self.dims, self.values.shape[1:]))
        given = dict(self.coord_dims)
        if not given.keys() <= set(self.coords):  # (the names sorted only for the message)
            extra = sorted(set(given) - set(self.coords))
            raise ValueError(f"coord_dims names {extra}, which are not coordinates.")
        bound: dict[str, tuple[str, ...]] = {}
        for name, value in self.coords.items():
            dims = given.get(name)
            if dims is None:
                if name not in sizes:
                    raise ValueError(
                        f"coordinate {name!r} is not an axis of {self.dims}; say which axes it "
                        f"labels: coord_dims={{{name!r}: (axis, ...)}}."
                    )
                dims = (name,)
            dims = (dims,) if isinstance(dims, str) else tuple(dims)
            unknown = [d for d in dims if d not in sizes]
            want = tuple([sizes.get(d, -1) for d in dims])
            shape = value.shape if isinstance(value, np.ndarray) else np.shape(value)
            if unknown or shape != want:
                raise ValueError(
                    f"coordinate {name!r} of shape {np.shape(value)} cannot label the axes "
                    f"{dims} of sizes {want} (axes {sizes}); fix its coord_dims or its length."
                )
            bound[name] = dims
        object.__setattr__(self, "coord_dims", bound)

    @property
    def absolute_error(self) -> np.ndarray:
        """The estimated error of the attribution vector in units of the model output,
        ``error * ||values||`` per sample, shape ``(batch,)`` (NaN for a fixed ``n_steps``).

        Raises
        ------
        ValueError
            For a peer's result (:attr:`peer`), which has no error estimate.
        """
        if self.error is None:
            raise self._not_applicable("absolute_error")
        norm = np.linalg.norm(self.values.reshape(self.batch_size, -1), axis=1)
        with np.errstate(invalid="ignore"):
            return np.where(self.error == 0, 0.0, self.error * norm)

    # ------------------------------------------------------------------ basics
    @property
    def batch_size(self) -> int:
        return int(self.values.shape[0])

    @property
    def total(self) -> np.ndarray:
        """Sum of attributions per sample, shape ``(batch,)``: ``f(x) - f(x') + delta`` for
        Integrated Gradients."""
        return self.values.reshape(self.batch_size, -1).sum(axis=1)

    @property
    def relative_delta(self) -> np.ndarray:
        """``|delta| / max(|f(x) - f(x')|, tiny)`` per sample.

        Raises
        ------
        ValueError
            For a peer's result (:attr:`peer`), which has no completeness error.
        """
        if self.delta is None or self.outputs is None or self.baseline_outputs is None:
            raise self._not_applicable("relative_delta")
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
        keep = [k for k in self.coords if dim not in self.coord_dims[k]]
        per_target = self.per_target if self.per_target and self.per_target.dim != dim else None
        return replace(
            self,
            values=self.values.sum(axis=axis + 1),
            dims=dims,
            coords={k: self.coords[k] for k in keep},
            coord_dims={k: self.coord_dims[k] for k in keep},
            per_target=per_target,
        )

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
            The axis ``label`` runs along; by default the one axis it is bound to
            (:attr:`coord_dims`).

        Returns
        -------
        Attribution
            With ``dim`` replaced by ``label`` (labels in order of first appearance);
            completeness is kept.
        """
        if label not in self.coords:
            raise ValueError(f"label={label!r} is not a coordinate; have {sorted(self.coords)}.")
        lab = np.asarray(self.coords[label])
        bound = self.coord_dims[label]
        if dim is None:
            if len(bound) != 1:
                raise ValueError(f"label {label!r} spans the axes {bound}; pass dim=.")
            dim = bound[0]
        self._axis(dim)  # an unknown dim fails here, before the label checks
        if bound != (dim,):
            raise ValueError(
                f"label {label!r} labels the axes {bound}, not {dim!r}; pass a label of {dim!r}."
            )
        _, first = np.unique(lab, return_index=True)
        names = lab[np.sort(first)]
        return self._summed_into(dim, label, [lab == n for n in names], {label: names})

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
        self._axis(dim)  # an unknown dim fails here, before the bands are read
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
        units = {k: v for k, v in self.units.items() if k != dim}
        units.update(band_low=self.units.get(dim, ""), band_high=self.units.get(dim, ""))
        labels = {"band": np.array(names), "band_low": np.array(lows), "band_high": np.array(highs)}
        return self._summed_into(dim, "band", masks, labels, units)

    def _summed_into(
        self,
        dim: str,
        new_dim: str,
        masks: Sequence[np.ndarray],
        labels: dict[str, np.ndarray],
        units: dict[str, str] | None = None,
    ) -> Attribution:
        """Axis ``dim`` summed over each of ``masks`` into a new axis ``new_dim``, labelled by
        ``labels`` (each bound to ``new_dim``); the other coordinates, and the per-target
        facts unless they lie on ``dim``, are kept. Completeness holds as before."""
        axis = self._axis(dim)
        moved = np.moveaxis(self.values, axis + 1, -1)
        summed = np.stack([moved[..., m].sum(axis=-1) for m in masks], axis=-1)
        keep = [k for k in self.coords if dim not in self.coord_dims[k]]
        per_target = self.per_target if self.per_target and self.per_target.dim != dim else None
        return replace(
            self,
            values=np.moveaxis(summed, -1, axis + 1),
            dims=tuple(new_dim if d == dim else d for d in self.dims),
            coords={**{k: self.coords[k] for k in keep}, **labels},
            coord_dims={**{k: self.coord_dims[k] for k in keep}, **{k: (new_dim,) for k in labels}},
            units=self.units if units is None else units,
            per_target=per_target,
        )

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
        if self.layout.canonical:
            return self.values
        if not self.dims or self.dims[0] != "channel":
            raise ValueError(
                f"attributions over {self.dims} have no input layout (their first axis is not "
                "'channel'); use .values, laid out as (batch, *dims)."
            )
        return self.layout.to_input(self.values)

    # ------------------------------------------------------------------ interoperability
    def to_xarray(self) -> Any:
        """The attributions as an ``xarray.DataArray`` with named axes and coordinates.

        Returns
        -------
        xarray.DataArray
            Named ``"attribution"``, dims ``("sample", *dims)``; every coordinate of
            :attr:`coords` on the axes :attr:`coord_dims` binds it to, with its unit in
            ``.attrs["units"]``; per sample the coordinates ``output`` (``f(x)``),
            ``baseline_output`` (``f(x')``), ``delta`` and, when known, ``target_index``
            (a peer's result: ``output`` when it has one, never the other two);
            for stacked targets (:attr:`per_target`) ``target_output``,
            ``target_baseline_output`` and ``target_delta`` per sample and target. ``attrs``
            hold ``domain``, ``target`` and ``explainer`` (:attr:`explainer`). The arrays are
            the result's own, not copies.

        Raises
        ------
        ImportError
            When xarray is not installed (``pip install cdig[interop]``).
        """
        from ._optional import require

        xr = require("xarray", "Attribution.to_xarray()")
        dims = ("sample", *self.dims)
        coords: dict[str, Any] = {"sample": np.arange(self.batch_size)}
        for name, bound in self.coord_dims.items():
            coords[name] = (bound, np.asarray(self.coords[name]))
        per_sample = (("output", self.outputs), ("baseline_output", self.baseline_outputs),
                      ("delta", self.delta))  # fmt: skip
        for key, value in per_sample:  # a peer has no baseline output nor delta
            if value is not None:
                coords[key] = ("sample", value)
        if self.per_target is not None:  # each target's own facts, on the stacked axis
            pt = ("sample", self.per_target.dim)
            coords["target_output"] = (pt, self.per_target.outputs)
            coords["target_baseline_output"] = (pt, self.per_target.baseline_outputs)
            coords["target_delta"] = (pt, self.per_target.delta)
        if self.target_index is not None and np.ndim(self.target_index) == 1:
            coords["target_index"] = ("sample", np.asarray(self.target_index))
        name = type(self.domain).__name__ if self.domain is not None else ""
        da = xr.DataArray(
            self.values,
            dims=dims,
            coords=coords,
            name="attribution",
            attrs={"domain": name, "target": self.target, "explainer": self.explainer},
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
        where = {d: index[i + 1] for i, d in enumerate(self.dims)}
        for dim in self.dims:
            c = self.coords.get(dim)
            columns[dim] = np.asarray(c)[where[dim]] if c is not None else where[dim]
        for name, bound in self.coord_dims.items():
            if name not in self.dims:
                columns[name] = np.asarray(self.coords[name])[tuple(where[d] for d in bound)]
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
        extra = {n: b for n, b in self.coord_dims.items() if n not in self.dims}
        rows = []
        for flat in order:
            idx = np.unravel_index(flat, v.shape)
            at = dict(zip(self.dims, idx))
            row: dict[str, Any] = {"value": float(v[idx])}
            for d, i in at.items():
                c = self.coords.get(d)
                row[d] = _clean(np.asarray(c)[i].item()) if c is not None else int(i)
            for name, bound in extra.items():
                label = np.asarray(self.coords[name])[tuple(at[d] for d in bound)]
                row[name] = _clean(label.item())
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
            domain's class name, or None), ``settings`` (:meth:`Integration.as_dict`, empty
            for hand-made results), ``layout`` (:meth:`InputLayout.as_dict`),
            ``coord_dims`` (dict of lists of axis names), ``per_target``
            (:meth:`PerTarget.as_dict`, or None) and ``peer`` (:meth:`Peer.as_dict`, or None;
            with a peer, the fields only Integrated Gradients has are None).
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
            settings=self.settings.as_dict() if self.settings is not None else {},
            layout=self.layout.as_dict(),
            coord_dims={k: list(v) for k, v in self.coord_dims.items()},
            per_target=self.per_target.as_dict() if self.per_target is not None else None,
            peer=self.peer.as_dict() if self.peer is not None else None,
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], domain: Domain | None = None) -> Attribution:
        """The result that :meth:`to_dict` gave (or its JSON form, lists for arrays).

        Parameters
        ----------
        data : mapping
            As returned by :meth:`to_dict` (``delta``, ``outputs``, ``baseline_outputs`` and
            ``n_steps`` required unless ``peer`` names a peer explainer); ``error``,
            ``converged``, ``n_evaluations``, ``status``, ``target_index``, ``coords``,
            ``units``, ``target``, ``settings``, ``layout``, ``coord_dims``, ``per_target``
            and ``peer`` may be missing (results written by older versions). A coordinate
            may also be given as ``{"dtype", "shape", "values"}`` (the form dataset runs
            store). Files written before the layout had
            its own field (0.1.0 development versions: ``time_axis``, ``input_ndim``, ``fs``
            and ``horizon`` inside ``settings``, no ``coord_dims``) still read: the layout
            and the per-step arrays come from ``settings``, and a label that is not named
            like an axis is bound to the last axis of its length, the rule those versions
            read them with (refused, naming the label, when no axis has its length).
        domain : Domain, optional
            The fitted domain, when the caller has it (a dict does not hold one).

        Returns
        -------
        Attribution
        """
        return build_from_dict(cls, data, domain, check_values=True)

    def plot(self, sample: int = 0, **kwargs: Any) -> Figure:
        """Figure of the attributions of one sample (see :mod:`cdig.plot`).

        ``inputs=`` (the explained inputs) adds the input to the figure; ``ax=`` draws into
        your own axes; other keywords go to the figure of the domain's kind.
        """
        from .plot import plot_attribution  # on use: matplotlib only when a figure is asked for

        return plot_attribution(self, sample=sample, **kwargs)

    def __repr__(self) -> str:
        name = type(self.domain).__name__ if self.domain is not None else "?"
        last = (
            f"max|delta|={float(np.max(np.abs(self.delta))):.3g}"
            if self.delta is not None
            else f"explainer={self.explainer}"
        )
        return (
            f"Attribution(domain={name}, values{tuple(self.values.shape)} over {self.dims}, "
            f"target={self.target}, {last})"
        )


def build_from_dict(
    cls: type[Attribution], data: Mapping[str, Any], domain: Domain | None, check_values: bool
) -> Attribution:
    """:meth:`Attribution.from_dict`; ``check_values=False`` keeps ``values`` as given (a
    memory-mapped shard whose checksum was verified) without reading it for NaN."""
    if not isinstance(data, Mapping):
        raise TypeError(f"an Attribution dict must be a mapping; got {type(data).__name__}.")
    peer = data.get("peer")
    peer = Peer.from_dict(peer) if peer is not None else None
    needed = ("values", "dims") if peer is not None else ("values", "dims", *_REQUIRED)
    missing = [k for k in needed if k not in data]
    if missing:
        raise ValueError(f"an Attribution dict needs {missing}; got keys {sorted(data)}.")
    values = data["values"]  # arrays keep their dtype; JSON lists are float64
    if isinstance(values, np.ndarray) and values.dtype.kind in "f" and not check_values:
        if values.ndim not in _VALUES_NDIM:
            raise ValueError(f"values has {values.ndim} axes; it must have 1 to 6.")
    elif isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
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
            if name in _REQUIRED and peer is None:
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
    coord_arrays = {k: coord_array(v, f"coords[{k!r}]") for k, v in coords.items()}
    legacy = "layout" not in data  # settings held the layout and the per-step arrays
    layout: Any = data["layout"] if not legacy else settings
    kwargs["layout"] = InputLayout.from_dict(layout)
    per_target = data.get("per_target") if not legacy else settings.get("horizon")
    if per_target is not None:
        kwargs["per_target"] = PerTarget.from_dict(per_target, "horizon", batch)
    if "coord_dims" in data:
        kwargs["coord_dims"] = _coord_dims(data["coord_dims"])
    else:
        kwargs["coord_dims"] = legacy_coord_dims(coord_arrays, dims, values.shape[1:])
    if peer is not None:
        for name in ("delta", "outputs", "baseline_outputs", "n_steps"):
            kwargs.setdefault(name, None)
        kwargs["peer"] = peer
    return cls(
        dims=tuple(dims),
        coords=coord_arrays,
        units=dict(units),
        domain=domain,
        target=target,
        settings=Integration.from_dict(settings),
        **kwargs,
    )


class IGFacts(NamedTuple):
    """The per-sample facts only Integrated Gradients has, each of shape ``(batch,)``, typed
    as present (:func:`ig_facts`): for the code that reads a result of :func:`cdig.explain`."""

    delta: np.ndarray
    outputs: np.ndarray
    baseline_outputs: np.ndarray
    n_steps: np.ndarray
    error: np.ndarray
    converged: np.ndarray
    status: np.ndarray


def ig_facts(attr: Attribution, what: str = "this") -> IGFacts:
    """The Integrated Gradients facts of ``attr``, typed as present (``attr.delta`` and the
    others are ``ndarray | None`` since a peer's result has none).

    Parameters
    ----------
    attr : Attribution
        A result of :func:`cdig.explain` (or read back with :meth:`Attribution.from_dict`).
    what : str, default="this"
        The reader, named in the error (``"cdig.report"``).

    Returns
    -------
    IGFacts
        ``delta``, ``outputs``, ``baseline_outputs``, ``n_steps``, ``error``, ``converged``
        and ``status``, the result's own arrays (not copies).

    Raises
    ------
    ValueError
        For the result of a peer explainer (:attr:`Attribution.peer`), naming it.
    """
    facts = (attr.delta, attr.outputs, attr.baseline_outputs, attr.n_steps, attr.error,
             attr.converged, attr.status)  # fmt: skip
    if attr.peer is not None or any(f is None for f in facts):
        raise attr._not_applicable(what)
    return IGFacts(*facts)  # type: ignore[arg-type]  # all present, checked above


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
#: The fields a peer's result (:attr:`Attribution.peer`) cannot have.
_IG_ONLY = ("delta", "baseline_outputs", "n_steps", "settings", "per_target", "error",
            "converged", "status")  # fmt: skip
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
        n_targets)``) and the steps (``coords``) are in :attr:`Attribution.per_target`.
    """
    first = attrs[0]
    facts = [ig_facts(a, "stack_targets") for a in attrs]
    steps = np.asarray(coords, dtype=np.int64)
    outputs = np.stack([f.outputs for f in facts], axis=1)  # (B, S)
    base = np.stack([f.baseline_outputs for f in facts], axis=1)
    delta = np.stack([f.delta for f in facts], axis=1)
    return replace(
        first,
        values=np.stack([a.values for a in attrs], axis=1),
        delta=delta.sum(axis=1),
        dims=(axis, *first.dims),
        coords={**first.coords, axis: steps},
        coord_dims={**first.coord_dims, axis: (axis,)},
        units={**first.units, axis: unit},
        outputs=outputs.sum(axis=1),
        baseline_outputs=base.sum(axis=1),
        n_steps=np.max(np.stack([f.n_steps for f in facts], axis=1), axis=1),
        # every target is integrated on its own: the worst one speaks for the sample
        error=np.max(np.stack([f.error for f in facts], axis=1), axis=1),
        converged=np.all(np.stack([f.converged for f in facts], axis=1), axis=1),
        status=_worst_status(np.stack([f.status for f in facts], axis=1)),
        n_evaluations=np.sum(np.stack([a.n_evaluations for a in attrs], axis=1), axis=1),
        target=target,
        target_index=None,
        per_target=PerTarget(axis, steps, outputs, base, delta),
    )


def _coord_dims(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (list, tuple)) and all(isinstance(d, str) for d in v)
        for k, v in value.items()
    ):
        raise TypeError(f"coord_dims must map coordinate names to lists of axis names; got "
                        f"{value!r:.80}.")  # fmt: skip
    return {k: tuple(v) for k, v in value.items()}


def legacy_coord_dims(
    coords: Mapping[str, np.ndarray], dims: Sequence[str], shape: tuple[int, ...]
) -> dict[str, tuple[str, ...]]:
    """The binding of a file written without ``coord_dims``: a coordinate named like an axis
    labels it; any other 1-d label the last axis of its length (the rule of those versions)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, value in coords.items():
        if name in dims:
            continue
        match = [d for d, n in zip(dims, shape) if np.ndim(value) == 1 and n == len(value)]
        if not match:
            raise ValueError(
                f"coords[{name!r}] of shape {np.shape(value)} labels no axis of {list(dims)} "
                f"(sizes {list(shape)}); this file has no coord_dims to say which."
            )
        out[name] = (match[-1],)
    return out


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
