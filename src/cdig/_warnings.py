"""cdig's warnings, issued once per call and pointing at the user's line.

The warning classes carry what they report as attributes (``samples``, ``rtol``, ...), so
that the command line can phrase them with its own option names.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._numerics import completeness_flagged
from ._text import KEYWORD, Name, Part, in_words, python_words

if TYPE_CHECKING:  # pragma: no cover
    from ._settings import Settings
    from .attribution import Attribution
    from .runs import DatasetRun

__all__ = [
    "CompletenessWarning",
    "ConstantOutputWarning",
    "ConvergenceWarning",
    "warn",
    "warn_unconverged_results",
    "warn_unconverged_run",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class _Report(UserWarning):
    """A warning whose facts are attributes as well as words."""

    def __init__(self, message: str | tuple[Part, ...], **facts: Any) -> None:
        # a message naming parameters is a tuple of text and Name parts (cdig._text)
        self.parts = (message,) if isinstance(message, str) else tuple(message)
        super().__init__(in_words(self, python_words))
        self.__dict__.update(facts)


class CompletenessWarning(_Report):
    """The completeness error of a fixed-step attribution exceeds the tolerance.

    Attributes
    ----------
    samples : list of int
        Sample indices whose ``|delta| > rtol * |f(x) - f(x')| + atol``.
    rtol : float
        The tolerance that was exceeded.
    worst : float
        The largest relative completeness error among them.
    n_steps : int
        The fixed number of path points that was used.
    domains : list of str
        The domains concerned.
    """

    samples: list[int]
    rtol: float
    worst: float
    n_steps: int
    domains: list[str]


class ConvergenceWarning(_Report):
    """The adaptive integral (``n_steps="auto"``) did not certify some samples.

    Attributes
    ----------
    samples : list of int
        Sample indices that are not ``converged`` (any status but ``"converged"``).
    rtol : float
        The tolerance asked for.
    worst : float
        The largest relative error (estimate or completeness) among the samples that spent
        their budget (status ``"max_steps"``); NaN when there are none.
    max_steps : int
        The evaluation budget per sample and baseline.
    domains : list of str
        The domains concerned.
    singular : list of int
        Samples whose path is singular at the baseline (status ``"singular"``).
    floor : list of int
        Samples whose tolerance is below the rounding level of the model's precision, or
        whose error estimate is at the measured rounding noise of its gradients (status
        ``"floor"``).
    floor_accuracy : float
        The largest absolute error reached among the ``floor`` samples (output units).
    """

    samples: list[int]
    rtol: float
    worst: float
    max_steps: int
    domains: list[str]
    singular: list[int]
    floor: list[int]
    floor_accuracy: float


class ConstantOutputWarning(_Report):
    """The explained output is exactly the same at the input and at the baseline, and every
    attribution is exactly zero: the result is trivially complete and explains nothing.

    Attributes
    ----------
    samples : list of int
        Sample indices concerned.
    domains : list of str
        The domains concerned.
    """

    samples: list[int]
    domains: list[str]


def warn_constant_outputs(results: Mapping[str, Attribution]) -> None:
    """One warning naming the samples whose output did not move along the path at all.

    ``f(x) == f(x')`` exactly and all attributions exactly zero: a constant or saturated
    output, a target the input does not reach, or an input equal to its baseline. Such a
    sample counts as converged (zero is the exact integral), so it is named here instead of
    passing silently.
    """
    bad: dict[str, np.ndarray] = {}
    for label, attr in results.items():
        # (ndarray.any() and .all() without their Python wrappers)
        if not np.logical_or.reduce(np.asarray(attr.outputs == attr.baseline_outputs), axis=None):
            continue  # the output moved for every sample
        flat = attr.values.reshape(attr.batch_size, -1)
        same = (attr.outputs == attr.baseline_outputs) & ~np.any(flat != 0, axis=1)
        if same.any():
            bad[label] = np.flatnonzero(same)
    if not bad:
        return
    samples = sorted(set(np.concatenate(list(bad.values())).tolist()))
    warn(
        ConstantOutputWarning(
            (
                "the explained output is exactly the same at the input and at the baseline, "
                f"and every attribution is exactly zero, for samples {sample_list(samples)} "
                f"({', '.join(sorted(bad))}): the output does not change along the path (a "
                "constant or saturated output, a target the input does not reach, or an input "
                "equal to its baseline). Zero is then exact but explains nothing; check ",
                Name("target", KEYWORD),
                " and ",
                Name("baselines", KEYWORD),
                ".",
            ),
            samples=samples,
            domains=sorted(bad),
        )
    )


def _user_stacklevel() -> int:
    """Stack level of the first frame outside the cdig package (for ``warnings.warn``)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE_DIR + os.sep
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn(warning: Warning | str, category: type[Warning] = UserWarning) -> None:
    """Issue ``warning`` (or the message ``warning`` of ``category``) at the user's line.

    The line is the first frame outside the cdig package, however deep in cdig the warning
    arises (a domain fitted by ``cdig.explain``, a figure drawn by ``Attribution.plot``).
    """
    if isinstance(warning, Warning):
        warnings.warn(warning, stacklevel=_user_stacklevel())
    else:
        warnings.warn(warning, category, stacklevel=_user_stacklevel())


def sample_list(samples: Sequence[int], limit: int = 10) -> str:
    """``[0, 3, 7]`` or ``[0, 3, ... (25 in all)]`` for messages."""
    items = [int(s) for s in samples]
    if len(items) <= limit:
        return str(items)
    return "[" + ", ".join(map(str, items[:limit])) + f", ... ({len(items)} in all)]"


# ---------------------------------------------------------------------- not certified
def warn_unconverged_results(results: Mapping[str, Attribution], settings: Settings) -> None:
    """One warning per call naming the samples not certified, over all domains.

    ``n_steps="auto"``: the samples that are not ``converged`` (:class:`ConvergenceWarning`),
    each named with its reason (budget spent, singular path, rounding floor). A fixed
    ``n_steps``: those whose completeness test failed above the rounding floor
    (:class:`CompletenessWarning`).
    """
    if settings.auto:
        _warn_auto(results, settings)
        return
    bad: dict[str, np.ndarray] = {}
    for label, attr in results.items():
        assert attr.delta is not None and attr.converged is not None  # an IG result
        if np.logical_and.reduce(np.asarray(attr.converged), axis=None):
            continue  # nothing failed, nothing to report
        idx = np.flatnonzero(completeness_flagged(attr.delta, attr.converged))
        if idx.size:
            bad[label] = idx
    if not bad:
        return
    worst = 0.0
    for label, idx in bad.items():
        worst = max(worst, float(np.nanmax(results[label].relative_delta[idx])))
    where = f" ({', '.join(sorted(bad))})" if len(results) > 1 else ""
    _warn_incomplete(bad, worst, settings, f"samples {{samples}}{where}", run=False)


def _warn_auto(
    results: Mapping[str, Attribution],
    settings: Settings,
    rows: Mapping[str, np.ndarray] | None = None,
    n_samples: int = 0,
) -> None:
    """The :class:`ConvergenceWarning` of ``n_steps="auto"`` results, by status.

    ``rows``: per domain, the sample number of each row of its result (a dataset run hands
    in only its uncertified samples); None: the rows are the samples. With ``rows`` the
    advice speaks of the run (a new ``out=`` folder, ``run.status(domain)``) and the
    count of budget-spent samples of its ``n_samples``.
    """
    from ._numerics import SINGULAR_WIDTH

    by: dict[str, set[int]] = {"max_steps": set(), "singular": set(), "floor": set()}
    domains: set[str] = set()
    worst, accuracy = float("nan"), 0.0
    budget_bad: dict[str, np.ndarray] = {}
    for label, attr in results.items():
        assert attr.converged is not None and attr.error is not None and attr.delta is not None
        status = np.asarray(attr.status)
        if not (~attr.converged).any():
            continue
        domains.add(label)
        # a sample not converged without another reason spent its budget
        over = np.flatnonzero(~attr.converged & ~np.isin(status, ("singular", "floor")))
        number = np.arange(len(status)) if rows is None else np.asarray(rows[label])
        for name in ("singular", "floor"):
            by[name].update(number[status == name].tolist())
        by["max_steps"].update(number[over].tolist())
        if over.size:
            budget_bad[label] = over
            rel = np.maximum(attr.relative_delta[over], attr.error[over])
            worst = float(np.nanmax([worst, *rel]))
        fl = np.flatnonzero(status == "floor")
        if fl.size:
            accuracy = max(
                accuracy, float(np.max(np.maximum(attr.absolute_error[fl], np.abs(attr.delta[fl]))))
            )
    samples = sorted(set().union(*by.values()))
    if not samples:
        return
    where = f" ({', '.join(sorted(domains))})" if len(results) > 1 else ""
    parts = []
    which_spent = f"samples {sample_list(sorted(by['max_steps']))}"
    if rows is not None:
        which_spent = f"{len(by['max_steps'])} of {n_samples} samples: " + which_spent[8:]
    if by["max_steps"]:
        parts.append(
            f"n_steps='auto' did not reach rtol={settings.rtol:g} within max_steps="
            f"{settings.max_steps} evaluations for {which_spent}"
            f"{where}; largest relative error {worst:.3g}. "
            + (
                "Raise max_steps, or loosen rtol/atol."
                if rows is None
                else "Raise max_steps, or loosen rtol/atol (a new `out=` folder)."
            )
        )
    if by["singular"]:
        parts.append(
            f"The path of samples {sample_list(sorted(by['singular']))}{where} is singular at "
            f"the baseline: more than half of f(x) - f(x') happens within alpha < "
            f"{SINGULAR_WIDTH:.2g} of it, the output being constant along the rest of the path "
            "(a model that normalises or z-scores its input, explained from a zero or constant "
            "baseline, sees the same input everywhere but at the baseline). No max_steps can "
            "fix this, so they were stopped early; their attributions describe that jump, not "
            "the input. Use a baseline the model does not see as degenerate, e.g. "
            "cdig.baselines.phase_randomized(x, ...) (same amplitude spectrum, random phases), "
            "cdig.baselines.training_samples(...) or cdig.baselines.noise(...)."
        )
    if by["floor"]:
        parts.append(
            f"For samples {sample_list(sorted(by['floor']))}{where} rtol={settings.rtol:g} is "
            "below the rounding level of the model's precision: f(x) - f(x') is tiny, the "
            "attributions cancel heavily, or the error estimate is at the measured rounding "
            "noise of the model's gradients, which more evaluations reduce only as "
            "1/sqrt(evaluations) (so these samples were stopped early). The tolerance cannot "
            f"be certified; the attributions are accurate to about {accuracy:.2g} in units of "
            "the output (attr.absolute_error). Loosen rtol, explain an output that changes "
            "more, or run the model in float64."
        )
    parts.append(
        "attr.status and attr.error tell which samples to trust and why."
        if rows is None
        else "run.status(domain) and run.error(domain) tell which samples to trust and why."
    )
    warn(
        ConvergenceWarning(
            " ".join(parts),
            samples=samples,
            rtol=settings.rtol,
            worst=worst,
            max_steps=settings.max_steps,
            domains=sorted(domains),
            singular=sorted(by["singular"]),
            floor=sorted(by["floor"]),
            floor_accuracy=accuracy,
        )
    )


def warn_unconverged_run(run: DatasetRun, settings: Settings) -> None:
    """One warning for a whole dataset run, naming the samples that are not certified."""
    bad = {label: run.unconverged(label) for label in run.domains}
    bad = {k: v for k, v in bad.items() if v.size}
    if not bad:
        return
    if settings.auto:  # by status, as one call's warning: only the uncertified rows are read
        results = {k: run.attribution(k, v) for k, v in bad.items()}
        _warn_auto(results, settings, rows=bad, n_samples=run.n_samples)
        return
    n_bad = len(set(np.concatenate(list(bad.values())).tolist()))
    where = ", ".join(f"{k}: {v.size}" for k, v in bad.items())
    which = f"{n_bad} of {run.n_samples} samples ({where}): {{samples}}"
    _warn_incomplete(bad, float("nan"), settings, which, run=True)


def _warn_incomplete(
    bad: Mapping[str, np.ndarray], worst: float, settings: Settings, which: str, *, run: bool
) -> None:
    """The :class:`CompletenessWarning` of a fixed ``n_steps`` for ``bad`` (domain -> sample
    indices); ``which`` names them."""
    samples = sorted(set(np.concatenate(list(bad.values())).tolist()))
    which = which.format(samples=sample_list(samples))
    advice = " (a new `out=` folder)." if run else " (adaptive, the default) or more steps."
    largest = "" if run else f"; largest relative delta {worst:.3g}"
    warn(
        CompletenessWarning(
            (
                "completeness error above ",
                Name("rtol", settings.rtol),
                " of f(x) - f(x') with ",
                Name("n_steps", settings.n_steps),
                f" for {which}{largest}. Use ",
                Name("n_steps", "auto"),
                advice,
            ),
            n_steps=settings.n_steps,
            samples=samples,
            rtol=settings.rtol,
            worst=worst,
            domains=sorted(bad),
        )
    )
