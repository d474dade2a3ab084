"""Faithfulness metrics in any domain: deletion and insertion curves, CPD and CPP.

Each metric perturbs the coefficients of a domain in the order an attribution ranks them,
maps the result back to time with the domain's inverse and watches the model's output. A
faithful attribution ranks first the coefficients the model actually relies on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .._checks import Seed, as_rng, check_choice, check_int
from .._prepare import Score
from ..targets import TargetSpec, as_target, resolve_target, select_target
from ._common import (
    Mode,
    Perturbation,
    Perturbed,
    Ranking,
    Substitute,
    check_fractions,
    count,
    default_target,
    prepare,
    prepare_perturbation,
)

__all__ = [
    "FLEXTIME_INSERTION",
    "FREQRISE_DELETION",
    "Cumulative",
    "Curve",
    "cpd",
    "cpp",
    "deletion",
    "insertion",
    "random_reference",
]

#: Settings of the deletion AUC used by FreqRISE on rFFT coefficients.
FREQRISE_DELETION: Mapping[str, Any] = MappingProxyType(
    {
        "fractions": np.round(np.arange(0.0, 1.0, 0.05), 2),
        "ranking": "positive",
        "substitute": "zero",
        "score": "probability",
    }
)
#: Settings of the insertion score used by FLEXtime: keep the top 10 %, zero the rest.
FLEXTIME_INSERTION: Mapping[str, Any] = MappingProxyType(
    {"fractions": (0.1,), "ranking": "signed", "substitute": "zero", "score": "probability"}
)


#: The two perturbation curves, and the two cumulative metrics.
CurveKind = Literal["deletion", "insertion"]
CumulativeKind = Literal["cpd", "cpp"]


@dataclass(frozen=True, eq=False)
class Curve:
    """A deletion or insertion curve per sample.

    Attributes
    ----------
    kind : {"deletion", "insertion"}
    fractions : ndarray of shape (n_fractions,)
        Fractions ``q`` of the coefficients removed (deletion) or kept (insertion).
    scores : ndarray of shape (batch, n_fractions)
        Score (target probability or raw output) after each perturbation.
    auc : ndarray of shape (batch,)
        Trapezoid-rule area under ``scores`` over ``fractions`` (0 for a single fraction).
    settings : dict
    """

    kind: CurveKind
    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> np.ndarray:
        """One number per sample, shape (batch,): the AUC, or the score at a single fraction."""
        return self.auc if len(self.fractions) > 1 else self.scores[:, 0]

    def __repr__(self) -> str:
        return (
            f"Curve({self.kind}, {len(self.fractions)} fractions, batch={self.scores.shape[0]}, "
            f"mean score={float(np.mean(self.score)):.4g})"
        )


@dataclass(frozen=True, eq=False)
class Cumulative:
    """Cumulative prediction difference (CPD) or preservation (CPP) per sample.

    Attributes
    ----------
    kind : {"cpd", "cpp"}
    values : ndarray of shape (batch,)
        The metric per sample: sum over steps of the per-step change.
    steps : ndarray of shape (batch, n_perturbation_steps)
        Change of the prediction at each step ``k = 1 .. K``.
    settings : dict
    """

    kind: CumulativeKind
    values: np.ndarray
    steps: np.ndarray
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> np.ndarray:
        """The metric per sample, shape (batch,) (same as :attr:`values`)."""
        return self.values

    def __repr__(self) -> str:
        return (
            f"Cumulative({self.kind}, K={self.steps.shape[1]}, batch={self.values.shape[0]}, "
            f"mean={float(np.mean(self.values)):.4g})"
        )


# ---------------------------------------------------------------------- curves
def deletion(
    model: Any,
    inputs: Any,
    attribution: Any,
    domain: Any = None,
    *,
    target: Any = None,
    fractions: Any = None,
    substitute: Substitute = "baseline",
    ranking: Ranking = "absolute",
    score: Score = "probability",
    baselines: Any = None,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
    seed: Seed = 0,
) -> Curve:
    """Deletion curve: remove the top-ranked fraction ``q`` of coefficients, for each ``q``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        As in :func:`cdig.explain`; run in ``eval()`` mode and restored afterwards.
    inputs : array-like of shape (batch, channels, time)
        Or the layout given by ``time_axis``.
    attribution : Attribution or array-like of shape (batch, *coefficient_shape)
        One real score per coefficient of ``domain``.
    domain : str or Domain, optional
        The domain of the attribution; default: ``attribution.domain``. A name or an unfitted
        domain is fitted on ``inputs``; a fitted one is used as is.
    target : int, sequence of int, "predicted", or callable, optional
        Which output to score, as in :func:`cdig.explain`. Default: the Attribution's own
        target when it was a fixed index; pass per-sample targets (``"predicted"``) again.
    fractions : array-like of float in [0, 1], default=numpy.linspace(0, 1, 21)
        The grid of ``q``; ``floor(q * M)`` of the ``M`` coefficients are removed.
    substitute : {"baseline", "zero", "mean"}, default="baseline"
        What replaces a removed coefficient: the domain's coefficient baseline of
        ``baselines`` (zeros by default), zero, or the coefficient of the per-sample time
        mean.
    ranking : {"absolute", "signed", "positive"}, default="absolute"
        Rank by ``|a|``, by ``a``, or by ``max(a, 0)`` (negative relevance set to 0). Ties are
        broken in a random order drawn from ``seed``.
    score : {"probability", "output"}, default="probability"
        Softmax probability of the target, or the raw target output.
    baselines : None, float or array-like, optional
        Time baseline of the ``"baseline"`` substitute (as in :func:`cdig.explain`, one only).
    fs : float, optional
        Sampling rate for a domain given by name.
    time_axis : int, default=-1
    internal_batch_size : int, optional
        Model evaluations per forward pass.
    seed : None, int or numpy.random.Generator, default=0
        Seed of the tie-breaking order: the same int gives the same order; a Generator is
        drawn from; None draws fresh entropy.

    Returns
    -------
    Curve
        ``scores`` of shape (batch, n_fractions) and ``auc`` of shape (batch,); lower is
        better for deletion.

    Raises
    ------
    ValueError
        An attribution whose shape differs from the domain's coefficients, fractions outside
        [0, 1], an unknown ``substitute``, ``ranking`` or ``score``.

    Notes
    -----
    With coefficients :math:`X` ranked by the attribution and substitute :math:`S`, the
    perturbed input at fraction :math:`q` is :math:`T^{-1}(X')` with :math:`X'_i = S_i` for
    the :math:`\\lfloor qM \\rfloor` best-ranked :math:`i` and :math:`X'_i = X_i` otherwise.
    A complex coefficient is replaced as a whole; in a onesided Fourier domain that removes
    the conjugate pair, so the perturbed series stays real. Ranking is per sample over all
    coefficients, channels included. The AUC is the trapezoid rule over :math:`q`.

    Examples
    --------
    >>> import torch, cdig
    >>> from cdig.metrics import deletion
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 3))
    >>> x = torch.randn(4, 1, 32)
    >>> attr = cdig.explain(model, x, domain="fourier", target="predicted")
    >>> curve = deletion(model, x, attr, target="predicted", fractions=[0.0, 0.5, 1.0],
    ...                  substitute="zero")
    >>> curve.scores.shape, curve.auc.shape
    ((4, 3), (4,))
    """
    grid = check_fractions(np.linspace(0.0, 1.0, 21) if fractions is None else fractions)
    protocol = Perturbation(substitute, ranking, score, baselines, seed)
    run = prepare_perturbation(
        model, inputs, attribution, domain, protocol,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    return _curve("deletion", run, default_target(target, attribution), grid)


def insertion(
    model: Any,
    inputs: Any,
    attribution: Any,
    domain: Any = None,
    *,
    target: Any = None,
    fractions: Any = None,
    substitute: Substitute = "baseline",
    ranking: Ranking = "absolute",
    score: Score = "probability",
    baselines: Any = None,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
    seed: Seed = 0,
) -> Curve:
    """Insertion curve: keep only the top-ranked fraction ``q``, replace all other coefficients.

    Parameters are those of :func:`deletion`. Higher is better. At ``q = 1`` the input is
    reconstructed exactly and the score is that of ``f(x)``; at ``q = 0`` it is the score of
    the substitute alone. FLEXtime's insertion score is
    ``insertion(..., **cdig.metrics.FLEXTIME_INSERTION).score`` (top 10 % of rFFT
    coefficients kept, the rest zeroed, true-class probability).

    Returns
    -------
    Curve
    """
    grid = check_fractions(np.linspace(0.0, 1.0, 21) if fractions is None else fractions)
    protocol = Perturbation(substitute, ranking, score, baselines, seed)
    run = prepare_perturbation(
        model, inputs, attribution, domain, protocol,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    return _curve("insertion", run, default_target(target, attribution), grid)


def _curve(kind: CurveKind, run: Perturbed, target: Any, grid: np.ndarray) -> Curve:
    """The deletion (``kind="deletion"``) or insertion curve of a prepared batch."""
    setup, score = run.setup, run.protocol.score
    spec = resolve_target(as_target(target), setup.outputs)
    counts = [count(q, setup.n_coefficients) for q in grid]
    mode: Mode = "remove_top" if kind == "deletion" else "keep_top"
    scores_np = run.evaluate(counts, mode, _target_score(spec, score)).double().cpu().numpy()
    auc = np.trapezoid(scores_np, grid, axis=1) if len(grid) > 1 else np.zeros(setup.batch)
    settings = {
        "domain": type(setup.domain).__name__,
        **run.protocol.settings(),
        "target": spec.describe(),
        "n_coefficients": setup.n_coefficients,
        "counts": counts,
    }
    return Curve(kind, grid, scores_np, np.asarray(auc, dtype=np.float64), settings)


def _target_score(spec: TargetSpec, score: str) -> Callable[[Tensor, Tensor], Tensor]:
    def reduce(outputs: Tensor, rows: Tensor) -> Tensor:
        if score == "probability":
            outputs = torch.softmax(outputs.double(), dim=1)
        return select_target(spec, outputs, rows).double()

    return reduce


# ---------------------------------------------------------------------- CPD / CPP
def cpd(
    model: Any,
    inputs: Any,
    attribution: Any,
    domain: Any = None,
    *,
    fraction: float = 0.1,
    n_perturbation_steps: int | None = None,
    substitute: Substitute = "zero",
    ranking: Ranking = "absolute",
    score: Score = "probability",
    class_reduction: Literal["mean", "sum"] = "mean",
    baselines: Any = None,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
    seed: Seed = 0,
) -> Cumulative:
    """Cumulative prediction difference: remove the top-ranked coefficients one at a time.

    Parameters
    ----------
    model, inputs, attribution, domain, substitute, ranking, baselines, fs, time_axis, \
internal_batch_size, seed
        As in :func:`deletion` (default substitute here: ``"zero"``; ``"mean"`` is the
        coefficient of the per-sample time mean).
    fraction : float in (0, 1], default=0.1
        ``K = int(fraction * M)`` perturbation steps for ``M`` coefficients (step ``k``
        replaces the ``k`` top-ranked coefficients).
    n_perturbation_steps : int, optional
        Use exactly ``K = n_perturbation_steps`` steps instead (at most ``M``). Not the
        integration steps ``n_steps`` of :func:`cdig.explain`.
    score : {"probability", "output"}, default="probability"
        Softmax probabilities of all classes, or the raw outputs.
    class_reduction : {"mean", "sum"}, default="mean"
        Average or add the per-class changes. TIMING's released code adds them, which for
        two classes doubles the value.

    Returns
    -------
    Cumulative
        ``values`` of shape (batch,); higher is better.

    Raises
    ------
    ValueError
        As :func:`deletion`, and when ``K = 0`` (too few coefficients for ``fraction``).

    Notes
    -----
    With :math:`p^{(k)}` the prediction after replacing the top-:math:`k` coefficients
    (:math:`p^{(0)}` the prediction for the input itself),

    .. math::  \\mathrm{CPD} = \\sum_{k=1}^{K} \\frac{1}{C} \\sum_{c=1}^{C}
               \\big|p_c^{(k-1)} - p_c^{(k)}\\big| .

    Summing step-wise changes means that positive and negative evidence do not cancel, so a
    signed attribution such as IG is rewarded for finding both (Jang et al., TIMING, 2025).
    The batch metric is the mean of ``values`` over samples.

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> x = torch.randn(3, 1, 64)
    >>> attr = cdig.explain(model, x, domain="fourier", target="predicted")
    >>> cdig.metrics.cpd(model, x, attr).steps.shape  # K = int(0.1 * 33) = 3
    (3, 3)
    """
    check_choice(class_reduction, "class_reduction", ("mean", "sum"))
    _check_cumulative_steps(fraction, n_perturbation_steps)
    protocol = Perturbation(substitute, ranking, score, baselines, seed)
    run = prepare_perturbation(
        model, inputs, attribution, domain, protocol,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    return _cumulative("cpd", run, fraction, n_perturbation_steps, class_reduction)


def cpp(
    model: Any,
    inputs: Any,
    attribution: Any,
    domain: Any = None,
    *,
    fraction: float = 0.1,
    n_perturbation_steps: int | None = None,
    substitute: Substitute = "zero",
    ranking: Ranking = "absolute",
    score: Score = "probability",
    class_reduction: Literal["mean", "sum"] = "mean",
    baselines: Any = None,
    fs: float | None = None,
    time_axis: int = -1,
    internal_batch_size: int | None = None,
    seed: Seed = 0,
) -> Cumulative:
    """Cumulative prediction preservation: like :func:`cpd` with the bottom-ranked coefficients.

    At step :math:`k` the :math:`k` lowest-ranked coefficients are replaced; lower is better
    (removing what the attribution calls unimportant should not move the prediction).
    Parameters and return value are those of :func:`cpd`.
    """
    check_choice(class_reduction, "class_reduction", ("mean", "sum"))
    _check_cumulative_steps(fraction, n_perturbation_steps)
    protocol = Perturbation(substitute, ranking, score, baselines, seed)
    run = prepare_perturbation(
        model, inputs, attribution, domain, protocol,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    return _cumulative("cpp", run, fraction, n_perturbation_steps, class_reduction)


def _check_cumulative_steps(fraction: float, n_perturbation_steps: int | None) -> None:
    if n_perturbation_steps is None:
        check_fractions([fraction], "fraction")
    else:
        check_int(n_perturbation_steps, "n_perturbation_steps")


def _cumulative(
    kind: CumulativeKind,
    run: Perturbed,
    fraction: float,
    n_perturbation_steps: int | None,
    class_reduction: Literal["mean", "sum"],
) -> Cumulative:
    """CPD (``kind="cpd"``) or CPP of a prepared batch."""
    setup = run.setup
    n_coef = setup.n_coefficients
    K = _n_cumulative_steps(float(fraction), n_perturbation_steps, n_coef)
    mode: Mode = "remove_top" if kind == "cpd" else "remove_bottom"
    preds = run.evaluate(list(range(K + 1)), mode, _all_scores(run.protocol.score))
    preds = preds.reshape(setup.batch, K + 1, -1)  # (B, K + 1, n_outputs)
    change = (preds[:, :-1] - preds[:, 1:]).abs()  # (B, K, n_outputs)
    per_step = change.mean(dim=-1) if class_reduction == "mean" else change.sum(dim=-1)
    steps = per_step.cpu().numpy()  # (B, K)
    settings = {
        "domain": type(setup.domain).__name__,
        **run.protocol.settings(),
        "class_reduction": class_reduction,
        "n_coefficients": n_coef,
        "n_perturbation_steps": K,
    }
    return Cumulative(kind, steps.sum(axis=1), steps, settings)


def _n_cumulative_steps(fraction: float, n_perturbation_steps: int | None, n_coef: int) -> int:
    if n_perturbation_steps is not None:
        if n_perturbation_steps > n_coef:
            raise ValueError(
                f"n_perturbation_steps={n_perturbation_steps} exceeds the {n_coef} coefficients "
                f"of the domain; use at most {n_coef}."
            )
        return int(n_perturbation_steps)
    K = int(fraction * n_coef)
    if K == 0:
        raise ValueError(
            f"fraction={fraction} of {n_coef} coefficients gives K = int({fraction} * {n_coef})"
            " = 0 steps; raise fraction or pass n_perturbation_steps."
        )
    return K


def _all_scores(score: str) -> Callable[[Tensor, Tensor], Tensor]:
    def reduce(outputs: Tensor, rows: Tensor) -> Tensor:
        out = outputs.double().reshape(outputs.shape[0], -1)
        return torch.softmax(out, dim=1) if score == "probability" else out

    return reduce


# ---------------------------------------------------------------------- random reference
_METRICS: dict[str, Callable[..., Any]] = {
    "deletion": deletion,
    "insertion": insertion,
    "cpd": cpd,
    "cpp": cpp,
}


def random_reference(
    metric: str | Callable[..., Any],
    model: Any,
    inputs: Any,
    domain: Any,
    *,
    n_seeds: int = 5,
    seed: Seed = 0,
    fs: float | None = None,
    time_axis: int = -1,
    **kwargs: Any,
) -> Curve | Cumulative:
    """A metric for random rankings, averaged over ``n_seeds`` seeds.

    Parameters
    ----------
    metric : {"deletion", "insertion", "cpd", "cpp"} or one of those functions
    model, inputs
        As in the metric.
    domain : str, Domain, or Attribution
        The domain to rank coefficients in (an Attribution stands for its domain).
    n_seeds : int, default=5
        Independent random rankings (uniform random scores per coefficient).
    seed : None, int or numpy.random.Generator, default=0
        An int seeds the first ranking and the others use ``seed + 1, ...``; from a
        Generator (or None: fresh entropy) ``n_seeds`` int seeds are drawn.
    **kwargs
        Passed to the metric (``target``, ``substitute``, ``fractions``, ...).

    Returns
    -------
    Curve or Cumulative
        Of the metric's type, with every array averaged over the seeds;
        ``settings["per_seed"]`` holds the per-seed mean scores, shape (n_seeds,).
    """
    fn = _METRICS.get(metric) if isinstance(metric, str) else metric
    if fn is None or fn not in _METRICS.values():
        raise ValueError(
            f"metric={metric!r} is not understood; use one of {', '.join(_METRICS)} or one of "
            "those functions from cdig.metrics."
        )
    n_seeds = check_int(n_seeds, "n_seeds")
    seeds = _seeds(seed, n_seeds)  # a seed that is no seed fails before the model runs
    # the metric's options, validated before the model runs
    options = {k: kwargs[k] for k in ("substitute", "ranking", "score") if k in kwargs}
    Perturbation(**{"substitute": "zero", "ranking": "absolute", "score": "output", **options})
    from ..attribution import Attribution

    if isinstance(domain, Attribution):
        if fn in (deletion, insertion) and kwargs.get("target") is None:
            kwargs["target"] = default_target(None, domain)
        domain = domain.domain
    setup = prepare(
        model, inputs, None, domain,
        time_axis=time_axis, fs=fs, internal_batch_size=kwargs.get("internal_batch_size"),
    )  # fmt: skip
    shape = (setup.batch, *setup.coefficient_shape)
    results = []
    for s in seeds:
        values = as_rng(s).random(shape)  # an int: the same draws as its tie-break order
        results.append(fn(model, inputs, values, setup.domain, fs=fs, time_axis=time_axis,
                          seed=s, **kwargs))  # fmt: skip
    return _average(results)


def _seeds(seed: Seed, n: int) -> list[int]:
    """One seed per random ranking: ``seed, seed + 1, ...`` for an int, else drawn."""
    if seed is None or isinstance(seed, np.random.Generator):  # n int seeds drawn from it
        return [int(s) for s in as_rng(seed).integers(0, 2**63 - 1, size=n)]
    as_rng(seed)  # the TypeError of a seed that is no seed
    return list(range(int(seed), int(seed) + n))


def _average(results: list[Any]) -> Any:
    first = results[0]
    per_seed = np.array([float(np.mean(r.score)) for r in results])
    settings = {**first.settings, "n_seeds": len(results), "per_seed": per_seed, "random": True}
    if isinstance(first, Curve):
        return replace(
            first,
            scores=np.mean([r.scores for r in results], axis=0),
            auc=np.mean([r.auc for r in results], axis=0),
            settings=settings,
        )
    return replace(
        first,
        values=np.mean([r.values for r in results], axis=0),
        steps=np.mean([r.steps for r in results], axis=0),
        settings=settings,
    )
