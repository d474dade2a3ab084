"""Shared machinery of the metrics: inputs, domain, ranking and batched perturbed evaluation.

Every metric follows the same steps: normalize the inputs once (``cdig._inputs``), find the
fitted domain, read the attribution as an array shaped like the domain's coefficients, rank
the coefficients of each sample, replace some of them by a substitute, map back with the
domain's inverse and evaluate the model in chunks, without gradients, in ``eval()`` mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .._checks import Seed, as_rng, check_choice
from .._inputs import as_baselines
from .._prepare import SCORES, Setup, check_probabilities, prepare
from ..attribution import Attribution
from ..domains import Domain

Ranking = Literal["absolute", "signed", "positive"]
Substitute = Literal["baseline", "zero", "mean"]

RANKINGS: tuple[str, ...] = ("absolute", "signed", "positive")
SUBSTITUTES: tuple[str, ...] = ("baseline", "zero", "mean")


@dataclass(frozen=True, eq=False)
class Perturbation:
    """How a metric perturbs coefficients and scores the model: validated on construction.

    Built by every metric before the model runs, so a misspelled option fails at once.

    Attributes
    ----------
    substitute : {"baseline", "zero", "mean"}
        What replaces a removed coefficient.
    ranking : {"absolute", "signed", "positive"}
        Rank by ``|a|``, by ``a``, or by ``max(a, 0)``.
    score : {"probability", "output"}
        Softmax probability of the outputs, or the raw outputs.
    baselines : None, float or array-like
        Time baseline of the ``"baseline"`` substitute.
    seed : None, int or numpy.random.Generator
        Seed of the random tie-breaking order (see :data:`cdig._checks.Seed`).
    """

    substitute: str
    ranking: str
    score: str
    baselines: Any = None
    seed: Seed = 0

    def __post_init__(self) -> None:
        check_choice(self.substitute, "substitute", SUBSTITUTES)
        check_choice(self.ranking, "ranking", RANKINGS)
        check_choice(self.score, "score", SCORES)
        as_rng(self.seed)  # a TypeError now for a seed that is no seed (nothing is drawn)

    def settings(self) -> dict[str, Any]:
        """The options a result records."""
        return {"substitute": self.substitute, "ranking": self.ranking, "score": self.score}


@dataclass(frozen=True, eq=False)
class Perturbed:
    """One batch ready to perturb: the setup, the ranks and the substitute coefficients.

    ``positions``: (B, M) rank of each coefficient (0 = most important);
    ``substitute``: (B, *coef) coefficients that replace removed ones.
    """

    setup: Setup
    protocol: Perturbation
    positions: np.ndarray
    substitute: Tensor

    def evaluate(
        self, counts: Sequence[int], mode: Mode, reduce: Callable[[Tensor, Tensor], Tensor]
    ) -> Tensor:
        """:func:`evaluate_perturbed` for this batch; shape (B, len(counts), ...)."""
        return evaluate_perturbed(self.setup, self.positions, counts, self.substitute, mode, reduce)


def prepare_perturbation(
    model: Any,
    inputs: Any,
    attribution: Any,
    domain: Any,
    protocol: Perturbation,
    *,
    time_axis: int,
    fs: float | None,
    internal_batch_size: int | None,
) -> Perturbed:
    """The shared preparation step of the perturbation metrics.

    Normalizes the inputs, fits the domain and evaluates the model (:func:`prepare`), reads
    the attribution, checks that ``score="probability"`` has classes to apply a softmax over,
    computes the substitute coefficients and ranks the coefficients of every sample.
    """
    setup = prepare(
        model, inputs, attribution, domain,
        time_axis=time_axis, fs=fs, internal_batch_size=internal_batch_size,
    )  # fmt: skip
    values = attribution_values(attribution, (setup.batch, *setup.coefficient_shape), setup.domain)
    if protocol.score == "probability":
        check_probabilities(setup.outputs)
    substitute = substitute_coefficients(setup, protocol.substitute, protocol.baselines)
    positions = rank_positions(values, protocol.ranking, protocol.seed)
    return Perturbed(setup, protocol, positions, substitute)


# ---------------------------------------------------------------------- validation
def check_fractions(fractions: Any, name: str = "fractions") -> np.ndarray:
    """A non-empty, finite 1-d float64 array of values in [0, 1]."""
    arr = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; give at least one fraction in [0, 1].")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        raise ValueError(
            f"{name} must lie in [0, 1] (fractions of the coefficients); got "
            f"{arr[bad][0]!r}. Pass e.g. numpy.arange(0, 1, 0.05)."
        )
    return arr


# ---------------------------------------------------------------------- attribution
def attribution_values(attribution: Any, shape: tuple[int, ...], dom: Domain) -> np.ndarray:
    """The attribution as a float64 array of exactly ``shape`` (batch, *coefficient_shape)."""
    if isinstance(attribution, Attribution):
        values = np.asarray(attribution.values)
    elif isinstance(attribution, Tensor):
        values = attribution.detach().cpu().numpy()
    else:
        try:
            values = np.asarray(attribution)
        except Exception as err:  # pragma: no cover - exotic objects
            raise TypeError(
                f"attribution must be a cdig.Attribution or an array; got {type(attribution)}."
            ) from err
    if np.iscomplexobj(values):
        raise TypeError(
            "attribution must be real (one relevance score per coefficient); got complex values."
        )
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise TypeError(f"attribution must hold numbers; got an array of dtype {values.dtype}.")
    if tuple(values.shape) != tuple(shape):
        raise ValueError(
            f"attribution has shape {tuple(values.shape)}, but the {type(dom).__name__} domain "
            f"has coefficients of shape {tuple(shape)} (batch, {', '.join(dom.dims)}) for these "
            "inputs; pass attributions computed in this domain for these inputs (e.g. "
            "cdig.explain(model, inputs, domain=...)), or the domain they were computed in."
        )
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("attribution contains NaN or infinite values.")
    return values


def default_target(target: Any, attribution: Any) -> Any:
    """``target``, or the output index an Attribution was computed for.

    A fixed index comes back as an int, per-sample classes (``"predicted"`` included) as the
    array of the classes explained, from :attr:`Attribution.target_index`.
    """
    if target is None and isinstance(attribution, Attribution):
        idx = attribution.target_index
        if idx is None or idx.ndim != 1:
            return None
        return int(idx[0]) if idx.size and (idx == idx[0]).all() else idx
    return target


# ---------------------------------------------------------------------- substitute
def substitute_coefficients(setup: Setup, substitute: Any, baselines: Any) -> Tensor:
    """Coefficients that replace removed ones, shape (B, *coef), same dtype as the input's."""
    X = setup.coefficients
    if isinstance(substitute, str):
        check_choice(substitute, "substitute", SUBSTITUTES)
        with torch.no_grad():
            if substitute == "zero":
                return torch.zeros_like(X)
            if substitute == "mean":
                mean = setup.x.mean(dim=-1, keepdim=True).expand_as(setup.x)  # (B, C, T)
                return setup.domain.forward(mean.contiguous(), setup.index).detach().to(X.dtype)
            xb = as_baselines(baselines, setup.x, setup.layout)  # (S, B, C, T)
            if xb.shape[0] != 1:
                raise ValueError(
                    f"baselines holds {xb.shape[0]} stacked baselines; the 'baseline' "
                    "substitute needs one (broadcastable to the inputs)."
                )
            return setup.domain.coefficient_baseline(xb[0], setup.index).detach().to(X.dtype)
    raise ValueError(
        f"substitute={substitute!r} is not understood; use one of {', '.join(SUBSTITUTES)}."
    )


# ---------------------------------------------------------------------- ranking
def rank_positions(values: np.ndarray, ranking: str, seed: Seed = 0) -> np.ndarray:
    """Rank of every coefficient of each sample, 0 = most important; shape (B, M).

    ``values`` has shape (B, *coef). Ties (e.g. all the zeros of the ``"positive"`` ranking)
    are broken in a random order drawn from ``seed`` (an int, a Generator or None), not by
    position, so that no frequency or time is systematically removed first.
    """
    check_choice(ranking, "ranking", RANKINGS)
    flat = values.reshape(values.shape[0], -1)
    if ranking == "absolute":
        key = np.abs(flat)
    elif ranking == "positive":
        key = np.maximum(flat, 0.0)
    else:
        key = flat
    tiebreak = as_rng(seed).random(flat.shape)
    order = np.lexsort((tiebreak, -key), axis=-1)  # (B, M), most important first
    positions = np.empty_like(order)
    np.put_along_axis(positions, order, np.arange(flat.shape[1])[None, :], axis=-1)
    return positions


def count(fraction: float, total: int) -> int:
    """Number of coefficients in a fraction of ``total``: ``floor(fraction * total)``."""
    return math.floor(fraction * total + 1e-9)


# ---------------------------------------------------------------------- evaluation
Mode = Literal["remove_top", "keep_top", "remove_bottom"]


def evaluate_perturbed(
    setup: Setup,
    positions: np.ndarray,
    counts: Sequence[int],
    substitute: Tensor,
    mode: Mode,
    reduce: Callable[[Tensor, Tensor], Tensor],
) -> Tensor:
    """Evaluate the model on every (sample, count) perturbation, in chunks.

    For sample ``b`` and count ``m``: ``"remove_top"`` replaces the ``m`` best-ranked
    coefficients by ``substitute[b]``, ``"keep_top"`` replaces all others, and
    ``"remove_bottom"`` replaces the ``m`` worst-ranked. A complex coefficient is replaced as a
    whole. ``reduce(outputs, rows)`` maps model outputs (n, ...) of samples ``rows`` (n,) to
    what the metric keeps, shape (n, ...). Returns shape (B, len(counts), ...).
    """
    X = setup.coefficients.reshape(setup.batch, -1)  # (B, M)
    S = substitute.reshape(setup.batch, -1)  # (B, M)
    n_coef = X.shape[1]
    pos = torch.as_tensor(positions, device=X.device)  # (B, M)
    m_t = torch.as_tensor(np.asarray(counts, dtype=np.int64), device=X.device)  # (Q,)
    n_q, total = len(counts), setup.batch * len(counts)
    pieces = []
    with setup.adapter.inference(), torch.no_grad():
        for lo in range(0, total, setup.chunk):
            e = torch.arange(lo, min(lo + setup.chunk, total), device=X.device)
            rows, q = e // n_q, e % n_q
            p, m = pos[rows], m_t[q][:, None]  # (n, M), (n, 1)
            if mode == "remove_top":
                replace = p < m
            elif mode == "keep_top":
                replace = p >= m
            else:
                replace = p >= n_coef - m
            Xp = torch.where(replace, S[rows], X[rows])  # (n, M)
            Xp = Xp.reshape(len(rows), *setup.coefficient_shape)  # (n, *coef)
            series = setup.domain.inverse(Xp, setup.index[rows])  # (n, C, T)
            out = setup.call(series)
            pieces.append(reduce(out.detach(), rows))
    stacked = torch.cat(pieces)  # (B * Q, ...)
    return stacked.reshape(setup.batch, n_q, *stacked.shape[1:])
