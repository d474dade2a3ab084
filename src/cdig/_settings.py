"""The integration settings: validated once at the boundary, frozen, shared by every layer.

:func:`cdig.explain`, :class:`cdig.CrossDomainIG`, :func:`cdig.explain_dataset` (and the
job it sends to its workers) and the ``cdig`` command build one :class:`Settings` from their
arguments and hand it down; nothing below re-validates them. The parameters' documentation
lives here once too (:data:`PARAMETERS`) and is filled into the public docstrings by
:func:`fill_doc`.
"""

from __future__ import annotations

import numbers
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from . import quadrature
from ._checks import check_int, check_optional_int, check_real
from ._text import ArgumentError, ArgumentTypeError, Name

__all__ = ["MAX_STEPS", "N_STEPS", "PARAMETERS", "RTOL", "Settings", "fill_doc"]

#: Default tolerance: relative error of the attribution vector (estimated) and relative
#: completeness error, ``|delta| / |f(x) - f(x')|``. ``n_steps="auto"`` refines until both
#: are below it; a fixed ``n_steps`` is flagged (:class:`CompletenessWarning`) above it.
RTOL = 1e-2
#: Default evaluation budget of ``n_steps="auto"``: path points per sample and baseline.
MAX_STEPS = 512
#: Default number of steps.
N_STEPS: Literal["auto"] = "auto"
#: Path points of the first mesh of ``n_steps="auto"``: the least ``max_steps``.
MIN_MAX_STEPS = 17
#: Largest integer ``n_steps``: 16384 Gauss-Legendre nodes (the benchmarks' reference rule) take
#: about two seconds to compute.
MAX_N_STEPS = 16_384

#: The integration rules of an integer ``n_steps`` (keys of :data:`cdig.quadrature.RULES`).
Method = Literal[
    "gausslegendre",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
]
Steps = int | Literal["auto"]


@dataclass(frozen=True)
class Settings:
    """How to integrate; validated when built.

    Parameters
    ----------
    n_steps, method, internal_batch_size, rtol, atol, max_steps, time_axis, progress
        As in :meth:`cdig.CrossDomainIG.explain` (see :data:`PARAMETERS`).

    Raises
    ------
    ValueError, TypeError
        For invalid values, naming the argument and the fix.
    """

    n_steps: Steps = N_STEPS
    method: Method | None = None  # as given: None means the default rule of an integer n_steps
    internal_batch_size: int | None = None
    rtol: float = RTOL
    atol: float = 0.0
    max_steps: int = MAX_STEPS
    time_axis: int = -1
    progress: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "internal_batch_size",
            check_optional_int(self.internal_batch_size, "internal_batch_size"),
        )
        for name in ("rtol", "atol"):
            check_real(getattr(self, name), name, low=0.0)
        axis = self.time_axis  # (an int passes as it is: no abstract class asked)
        if type(axis) is not int and (
            isinstance(axis, bool) or not isinstance(axis, numbers.Integral)
        ):
            raise ArgumentTypeError(
                Name("time_axis", self.time_axis), " must be an integer axis index."
            )
        if not isinstance(self.progress, bool):
            raise ArgumentTypeError(Name("progress", self.progress), " must be True or False.")
        if self.n_steps == "auto":
            self._check_auto()
            return
        if isinstance(self.n_steps, str):
            raise ArgumentError(
                Name("n_steps", self.n_steps), " must be 'auto' or an integer >= 1."
            )
        if (
            type(self.n_steps) is not int
            and (isinstance(self.n_steps, bool) or not isinstance(self.n_steps, numbers.Integral))
        ) or self.n_steps < 1:
            raise ArgumentError(
                Name("n_steps", self.n_steps), " must be an integer >= 1 or 'auto'."
            )
        if self.n_steps > MAX_N_STEPS:
            raise ArgumentError(
                Name("n_steps", self.n_steps),
                f" is more than {MAX_N_STEPS} path points per sample (the rule's nodes alone "
                "would take minutes to gigabytes); integrated gradients converge long before. "
                "Pass ",
                Name("n_steps", "auto"),
                f", which stops at the tolerance, or an integer up to {MAX_N_STEPS}.",
            )
        quadrature.get_rule(self.rule)

    def _check_auto(self) -> None:
        if self.method is not None:
            raise ArgumentError(
                Name("method", self.method),
                " applies to an integer ",
                Name("n_steps"),
                "; ",
                Name("n_steps", "auto"),
                " uses its own nested rule. Drop ",
                Name("method"),
                ", or pass an integer ",
                Name("n_steps"),
                ".",
            )
        if self.rtol == 0 and self.atol == 0:
            raise ArgumentError(
                Name("n_steps", "auto"), " needs ", Name("rtol"), " > 0 or ", Name("atol"), " > 0."
            )
        try:
            check_int(self.max_steps, "max_steps", low=MIN_MAX_STEPS)
        except (TypeError, ValueError):
            raise ArgumentError(
                Name("max_steps", self.max_steps),
                f" must be an integer >= {MIN_MAX_STEPS} (the first mesh of ",
                Name("n_steps", "auto"),
                " has 17 path points).",
            ) from None

    @property
    def auto(self) -> bool:
        """Whether the integral is adaptive (``n_steps="auto"``)."""
        return self.n_steps == "auto"

    @property
    def rule(self) -> str:
        """``"adaptive"``, or the quadrature rule of an integer ``n_steps``."""
        if self.auto:
            return "adaptive"
        return "gausslegendre" if self.method is None else self.method

    def as_dict(self) -> dict[str, Any]:
        """The settings that decide the numbers, as JSON-able values (no ``progress``)."""
        out = asdict(self)
        del out["progress"]
        out["n_steps"] = self.n_steps if self.auto else int(self.n_steps)
        return out

    def record(self) -> dict[str, Any]:
        """What an :class:`cdig.Attribution` records in its ``settings``."""
        return {
            "method": self.rule,
            "n_steps": self.n_steps,
            "rtol": self.rtol,
            "atol": self.atol,
            "max_steps": self.max_steps,
        }


#: The documentation of the settings, filled into every public signature that takes them.
PARAMETERS = """\
n_steps : "auto" or int, default="auto"
    ``"auto"``: adaptive per sample (the user guide's "How accurate is my
    explanation" page has the details and measurements): the path is refined
    where the gradient changes fast, every evaluation is kept, until the estimated
    error of the attribution vector is at most ``rtol * ||A|| + atol`` **and**
    ``|delta| <= rtol * |f(x) - f(x')| + atol``, or ``max_steps`` evaluations are
    spent (then a :class:`ConvergenceWarning` names the samples). A converged sample
    has at least 33 evaluations (no sample is accepted on its first 17 points); a
    sample whose output jumps next to the baseline stops early, and one whose
    tolerance is below the model's rounding is named as such: ``attr.status`` says
    why each sample stopped. An integer: that many path points of the rule ``method``
    for every sample, as in Captum.
method : str, optional
    Integration rule of an integer ``n_steps``, one of
    :data:`cdig.quadrature.METHODS`; default ``"gausslegendre"``. Not used with
    ``n_steps="auto"``, which has its own nested rule.
internal_batch_size : int, optional
    Model evaluations per forward pass; default: the largest power of two (up to 256)
    whose evaluations hold at most 256 MiB (the activations autograd saves, measured on
    the first call, plus four input-sized tensors each), each such block evaluated in
    model calls of at most 16 MiB (at least 8 evaluations; the CPU's cache) and summed
    as one block. Memory: peak resident memory is
    about ``K * X + min(store, 64 MiB) + 32 MiB + chunk x per-evaluation bytes`` for ``X``
    bytes of input per group of rows (``K`` is about 30 with ``n_steps="auto"``); the
    adaptive store of path gradients beyond 64 MiB goes to an unlinked temporary file
    (``TMPDIR``), so memory does not grow with ``max_steps`` (``docs/accuracy.md``,
    "Memory").
rtol : float, default=0.01
    Relative tolerance: of ``n_steps="auto"``, and above which a fixed ``n_steps``
    result is flagged (:class:`CompletenessWarning`).
atol : float, default=0.0
    Absolute tolerance, in units of the model output.
max_steps : int, default=512
    Evaluation budget of ``n_steps="auto"`` per sample and baseline (at least 17)."""

#: ``progress`` (of the single-batch entry points).
PROGRESS = """\
progress : bool, default=False
    Show a progress bar (``tqdm``) over the model evaluations."""

#: ``target`` and ``baselines`` (of :func:`cdig.explain` and ``CrossDomainIG.explain``).
TARGET_BASELINES = """\
target : int, tuple, sequence of int, "predicted", callable, or Horizon, optional
    Which output to explain. An int: that column of outputs ``(batch, K)``; a
    tuple: one index per axis after the batch, for outputs ``(batch, H, ...)``; a
    sequence of ``batch`` ints: one class per sample; ``"predicted"``: each sample's
    arg-max class; a callable ``outputs -> (batch,)`` (e.g. a softmax probability);
    a :class:`cdig.Horizon` for forecasters, a :class:`cdig.TimeColumns` for a class
    vector per time column (``"each"`` gives one attribution per step, stacked on a
    leading ``"horizon"`` axis, the domains fitted once for all steps). ``None`` (the
    default) for models with one output per sample.
baselines : None, float, or array-like, default=None
    Where the path starts. ``None``: zeros. A number: a constant series. An array
    broadcastable to ``inputs``: one baseline. An array with one extra leading axis
    ``(n_baselines, *inputs.shape)``: several, attributions averaged over them
    (:mod:`cdig.baselines` makes the common ones). The coefficient baseline is the
    domain's transform of it."""

#: ``additional_forward_args`` (of the single-batch entry points).
FORWARD_ARGS = """\
additional_forward_args : dict, tuple or value, optional
    Extra model inputs with one row per sample (Captum's convention), e.g. a
    HuggingFace forecaster's ``past_time_features``, ``past_observed_mask`` and
    ``future_time_features``. A dict passes them by keyword, a tuple (or one value)
    positionally after the input: ``model(x, *args, **kwargs)``. Every tensor or array
    must have the batch as its first axis; each path point gets its own sample's
    row, so they are repeated along the path. Numbers, strings and ``None`` pass
    unchanged. PyTorch models only (and ``cdig.models.select`` around them)."""

_F = TypeVar("_F", bound=Callable[..., Any])


def fill_doc(**blocks: str) -> Callable[[_F], _F]:
    """Replace each docstring line that is exactly ``{name}`` by ``blocks[name]``, indented.

    One text per parameter group, the same in every signature that takes the group.
    """

    def decorate(fn: _F) -> _F:
        doc = fn.__doc__ or ""
        lines = []
        for line in doc.splitlines():
            key = line.strip()
            if key.startswith("{") and key.endswith("}") and key[1:-1] in blocks:
                indent = line[: len(line) - len(line.lstrip())]
                lines.append(textwrap.indent(blocks[key[1:-1]], indent))
            else:
                lines.append(line)
        fn.__doc__ = "\n".join(lines)
        return fn

    return decorate
