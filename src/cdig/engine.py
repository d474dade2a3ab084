"""The integrator: Cross-domain Integrated Gradients, batched and exact.

For a domain ``T`` with inverse ``T^-1``, coefficients ``X = T(x)`` and ``X' = T(x')``, the
attribution of coefficient ``i`` is

.. math::  A_i = \\mathrm{Re}\\Big[(X_i - X'_i)\\,\\overline{\\textstyle\\sum_k w_k\\,
           \\nabla_{X_i} f(T^{-1}(X' + \\alpha_k (X - X')))}\\Big]

with quadrature positions ``alpha_k`` and weights ``w_k`` from :mod:`cdig.quadrature`, and
PyTorch's complex gradient convention (``df/dRe + i df/dIm``), which makes this plain IG on
real and imaginary parts summed. Completeness, ``sum(A) = f(x) - f(x')`` up to quadrature
error, holds because ``T^-1`` reconstructs ``x`` exactly.

Two ways to integrate, chosen per domain:

* **time pass** (linear domains): when ``T^-1`` is affine, the straight coefficient path is the
  straight time path from ``x'_t = T^-1(X')`` to ``x``. One pass accumulates the weighted time
  gradient ``G``; each domain's gradient is then one vector-Jacobian product
  ``J_{T^-1}^T G``. Every linear domain with the same time baseline shares that pass.
* **coefficient pass** (non-linear domains, or ``linear_shortcut=False``): gradients are taken
  with respect to the coefficients through ``T^-1`` at every path point.

All (sample, path point) pairs are evaluated in chunks of at most ``internal_batch_size``
model evaluations, so memory is bounded for any ``n_steps``.
"""

from __future__ import annotations

import cmath
import functools
import itertools
import math
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

import numpy as np
import torch
from torch import Tensor

from . import quadrature
from ._adaptive import (
    LONG_ROW_BYTES,
    AdaptiveResult,
    _release_freed_memory,
    attribution_norms,
    block_bytes,
    consistent_error,
    integrate_adaptive,
)
from ._evaluate import evaluate
from ._guards import (
    LOW_PRECISION,
    NonFiniteError,
    all_finite,
    check_outputs_finite,
    first_bad,
    float64_if_needed,
    guarded_call,
    path_error,
    work_dtype,
)
from ._inputs import as_baselines, as_forward_args, as_series, resolve_domains
from ._numerics import (
    STATUS_DTYPE,
    accumulator_dtype,
    completeness_flagged,
    completeness_ok,
    re_mul,
)
from ._progress import evaluation_bar
from ._settings import (
    FORWARD_ARGS,
    MAX_STEPS,
    N_STEPS,
    PARAMETERS,
    PROGRESS,
    RTOL,
    TARGET_BASELINES,
    Method,
    Settings,
    fill_doc,
)
from ._warnings import (
    CompletenessWarning,
    ConvergenceWarning,
    warn_constant_outputs,
    warn_unconverged_results,
)
from .attribution import Attribution, InputLayout, Integration, ig_facts, stack_targets
from .domains import Domain
from .models import wrap
from .targets import TargetAxis, TargetSpec, as_target, resolve_targets, select_target

__all__ = [
    "CrossDomainIG",
    "CompletenessWarning",
    "ConvergenceWarning",
    "NonFiniteError",
    "activation_bytes",
    "auto_batch_size",
]

DomainArg = str | Domain
DomainsArg = DomainArg | Sequence[DomainArg] | Mapping[str, DomainArg]
#: What :meth:`CrossDomainIG.attribute` returns: an array, or one per domain label.
Values = np.ndarray | dict[str, np.ndarray]


#: Memory per chunk (saved activations and input-sized tensors) that the default
#: ``internal_batch_size`` stays under, bytes.
CHUNK_BYTES = 256 * 2**20
#: Largest default chunk of forward passes without a graph (metrics), in evaluations.
MAX_CHUNK = 512
#: Largest default chunk of gradient evaluations: larger chunks leave the CPU's caches (a
#: small conv net's backward at 2048 evaluations per call ran 3.5x slower than at 256, a
#: GELU transformer's no faster; ``benchmarks/README.md``, section 9).
MAX_GRAD_CHUNK = 256
#: What one default model call of the path holds (saved activations and input-sized
#: tensors) when the sums' block (``internal_batch_size``'s default) would hold more: such a
#: block is evaluated in several model calls of at most this many bytes (a power of two of
#: evaluations; its gradients are summed as one block, so the sums do not change). A wide
#: conv net (T = 2048) ran 2.6x slower at 256 evaluations per call (210 MB) than at 16-32,
#: whose activations fit the CPU's 32 MB last-level cache; a GELU transformer (T = 96) was
#: fastest at 64-256 and 1.2x slower at 32 (8 MiB would give it 32, 16 MiB gives 64);
#: ``benchmarks/README.md``, section 9.
CALL_BYTES = 16 * 2**20
#: Input-sized tensors held per evaluation besides the activations (the path point, its
#: gradient, the model's input and its gradient in the time domain).
INPUT_COPIES = 4


def auto_batch_size(eval_bytes: int, n_evaluations: int) -> int:
    """Default ``internal_batch_size``: model evaluations per forward pass.

    Parameters
    ----------
    eval_bytes : int
        Bytes that one model evaluation holds: what autograd saves for the backward pass
        (measured, see :func:`activation_bytes`) plus :data:`INPUT_COPIES` input-sized
        tensors.
    n_evaluations : int
        Evaluations still to do; the chunk is never larger.

    Notes
    -----
    The largest power of two between 1 and :data:`MAX_GRAD_CHUNK` whose evaluations hold at most
    :data:`CHUNK_BYTES` (256 MiB): the chunk is bounded by memory, and otherwise as large as
    possible up to :data:`MAX_GRAD_CHUNK` (256), since every model call has a fixed cost
    (Python, dispatch, many small operators) that small chunks pay again and again: a GELU
    transformer at T = 96 took 140 s with chunks of 8 and 6 s with 1024 on this project's
    CPU (``benchmarks/speed.py``, the transformer row). Beyond 256 the work leaves the
    caches: 32 samples of a small conv net at 64 steps took 94 ms at 2048 evaluations per
    call and 27 ms at 256 (one thread), and the transformer was no faster at 1024 than at
    256.
    """
    return int(min(_memory_chunk(eval_bytes), MAX_GRAD_CHUNK, max(1, n_evaluations)))


@functools.lru_cache(maxsize=256)
def _memory_chunk(eval_bytes: int, budget: int = CHUNK_BYTES) -> int:
    """The largest power of two of evaluations of ``eval_bytes`` each within ``budget``
    bytes (at least 1); cached, since every call asks it again."""
    return 2 ** int(np.floor(np.log2(max(1.0, budget / max(1, eval_bytes)))))


#: Fewest evaluations per default model call of the path (see :meth:`_Run.calls_for`).
_CALL_MIN = 8
#: Largest default model call (saved activations and input-sized tensors, bytes) whose size
#: is measured (:func:`_measure_calls`): below it a call's fixed cost and the allocator's
#: handling of its activations decide, not the caches. glibc's default ``malloc`` returns a
#: freed block of a few hundred KiB to the system and faults it in again on the next call:
#: a tiny conv net's 64 evaluations cost 1.6x two calls of 32 with it, and 0.75x with
#: freed memory kept (``benchmarks/README.md``, section 9). Which one a process sees
#: depends on its allocator and its history, so it is measured, once per model and shape.
MEASURE_BYTES = 4 * 2**20
#: Whether the default call size of small models is measured (``False``: set by
#: :data:`CALL_BYTES` alone).
MEASURE_CALLS = True
#: A smaller call is taken only when it is at least this much faster than the default.
_MEASURE_MARGIN = 0.9
#: Every this many paths of a measured call size, one runs at another size that gives the
#: same bits, which is timed again (:meth:`_CallSize.next_size`).
_EXPLORE_EVERY = 32
#: The size in use is judged by the fastest of its last this many paths.
_WINDOW = 8

#: What depends only on the model object (and the input's shape, dtype and device): the
#: default chunk's activation bytes and the measured call size, kept per model by identity
#: (``id`` and a weak reference, so that an entry goes with its model and is never another
#: object's) for every explainer of it: :func:`cdig.explain` builds a new explainer per call.
_MODEL_FACTS: dict[int, tuple[Any, dict[tuple[Any, ...], Any]]] = {}


def _model_facts(model: Any) -> dict[tuple[Any, ...], Any] | None:
    """The cache of ``model`` (see :data:`_MODEL_FACTS`); ``None`` when the model cannot be
    weakly referenced (then nothing is kept beyond its explainer)."""
    key = id(model)
    hit = _MODEL_FACTS.get(key)
    if hit is not None and hit[0]() is model:
        return hit[1]
    try:
        ref = weakref.ref(model, functools.partial(_drop_facts, key))
    except TypeError:
        return None
    facts: dict[tuple[Any, ...], Any] = {}
    _MODEL_FACTS[key] = (ref, facts)
    return facts


def _equal(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> bool:
    return torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def _drop_facts(key: int, _ref: Any = None) -> None:
    hit = _MODEL_FACTS.get(key)
    if hit is not None and hit[0]() is None:  # not a new model that took the same id
        del _MODEL_FACTS[key]


class _CallSize:
    """The measured call size of one model, point shape and default call.

    ``measured`` holds, for every size whose outputs and gradients are bitwise those of the
    default (the first), the seconds per evaluation of its model calls as
    :func:`_measure_calls` timed them, back to back: they pick the first :attr:`size` (the
    fastest, when below :data:`_MEASURE_MARGIN` times the default's) and nothing after,
    since a path's blocks, timed whole inside a call (points, sums and frees included,
    after whatever the process ran in between), cost more per evaluation than calls in a
    row: the two are not compared. ``times`` holds what sizes are judged by from then on,
    for the sizes that ran on a path: of the size in use, the fastest of its last
    :data:`_WINDOW` paths (noise only adds to a thread's CPU time, so the fastest of several
    is what the size costs in this process's state, and rises within a window when that
    state changes); of a size tried again, the slower of the try's two paths. Another size
    replaces :attr:`size` only when its time is below :data:`_MEASURE_MARGIN` times that
    of :attr:`size`: a size tried must beat the best recent path of the size in use on its
    worse path, so one noisy spell does not move the call to a slower size, while a
    process whose allocator changed its state (glibc moves its thresholds with the blocks
    freed) moves to the size that is fastest now. Every :data:`_EXPLORE_EVERY`-th path
    starts two paths at one of the other sizes (:meth:`next_size`).
    """

    def __init__(self, times: dict[int, float]) -> None:
        self.measured = times
        self.times: dict[int, float] = {}
        self.recent: dict[int, list[float]] = {c: [] for c in times}
        default = next(iter(times))
        fastest = min(times, key=lambda c: times[c])
        self.size = fastest if times[fastest] < _MEASURE_MARGIN * times[default] else default
        self._paths = 0  # paths so far, and the last path that ran at each size
        self._used = dict.fromkeys(times, 0)
        self._trying: int | None = None  # a size tried again, before its second path

    def _pick(self) -> None:
        times = self.times
        now = times.get(self.size)
        if now is None or len(times) < 2:  # (no other size timed: nothing to pick)
            return
        fastest = min(times, key=times.__getitem__)
        if times[fastest] < _MEASURE_MARGIN * now:
            self.size = fastest

    def next_size(self) -> int:
        """The call size of the next path: :attr:`size`, and from every
        :data:`_EXPLORE_EVERY`-th path on, for two paths, the other size that ran longest
        ago, so that its time is measured again (a size whose calls were slow for a while,
        or that never ran on a path, is tried again: all give the same bits)."""
        self._paths += 1
        size = self.size
        if self._trying is not None:  # the second path of a try
            size, self._trying = self._trying, None
        elif len(self.recent) > 1 and not self._paths % _EXPLORE_EVERY:
            # the other size that ran longest ago, for two paths: its old times are stale,
            # and it is judged by these two (the slower: one alone could be a lucky one)
            size = min((c for c in self.recent if c != self.size), key=self._used.__getitem__)
            self.recent[size].clear()
            self._trying = size
        self._used[size] = self._paths
        return size

    def observe(self, size: int, seconds_per_evaluation: float) -> None:
        """Record the blocks of one path at ``size``: seconds per evaluation."""
        recent = self.recent.get(size)
        if recent is None:
            return
        recent.append(seconds_per_evaluation)
        del recent[:-_WINDOW]
        if size == self._trying:  # the first of a try's two paths: judged after both
            return
        # the size in use: its fastest recent path; a try: the slower of its two paths
        self.times[size] = min(recent) if size == self.size else max(recent)
        self._pick()


def _clock() -> Callable[[], float]:
    """What times the model calls of a measured call size: this thread's CPU time when
    torch computes on it alone (one thread: what the calls cost, whatever else the
    machine runs), else wall time."""
    return time.thread_time if torch.get_num_threads() == 1 else time.perf_counter


#: ``choose(func, points, rows)``: the call size of a path (:meth:`_Run.chooser`).
_Chooser = Callable[[Callable[..., Tensor], Tensor, Tensor], "_CallSize | None"]


def _measure_calls(
    func: Callable[[Tensor, Tensor], Tensor],
    points: Tensor,
    rows: Tensor,
    sizes: Sequence[int],
    repeats: int = 2,
) -> _CallSize:
    """The sizes among ``sizes`` (evaluations per model call; ``sizes[0] == len(points)``,
    the default) at which the gradients and outputs of ``points`` (n, ...) are bitwise
    those of one call of all of them, each timed: a :class:`_CallSize`.

    Each size is timed ``repeats`` times, interleaved, on the same points (the best time
    counts); a smaller size is picked only when its time is below :data:`_MEASURE_MARGIN`
    times the default's.
    A size whose outputs or gradients differ in any bit (a model whose rows depend on the
    batch, or whose kernels round differently at another batch size) is never taken, so
    the choice changes no result; nor is a size at which the model raises. The points'
    gradients are not used otherwise, and torch's random state is restored after (a
    model that draws random numbers has outputs that differ between calls: never split).
    """
    n = len(points)

    def run(c: int) -> tuple[Tensor, Tensor]:
        pieces = [
            _output_gradient(func, points[lo : lo + c].detach(), rows[lo : lo + c])
            for lo in range(0, n, c)
        ]
        return torch.cat([q[0].detach() for q in pieces]), torch.cat([q[2] for q in pieces])

    def calls(c: int) -> None:  # as the path calls the model: each call's tensors freed
        for lo in range(0, n, c):
            _output_gradient(func, points[lo : lo + c].detach(), rows[lo : lo + c])

    clock = _clock()
    state = torch.get_rng_state()  # a model that draws random numbers draws the same after
    try:
        y0, g0 = run(n)
        same = [sizes[0]]
        for c in sizes[1:]:
            try:
                if _equal(run(c), (y0, g0)):
                    same.append(c)
            except Exception:  # a model that takes only some batch sizes: not this one
                continue
        del y0, g0
        best = dict.fromkeys(same, float("inf"))
        for _ in range(repeats if len(same) > 1 else 0):
            for c in same:
                # timed right after an untimed run of the same size: the allocator's state
                # after calls of that size, as in a call that makes them one after another
                calls(c)
                t0 = clock()
                calls(c)
                best[c] = min(best[c], clock() - t0)
    finally:
        torch.set_rng_state(state)
    return _CallSize({c: t / n for c, t in best.items()})


def activation_bytes(call: Callable[[Tensor], Tensor], x: Tensor) -> int:
    """Bytes autograd saves per model evaluation at inputs shaped like ``x[:1]``.

    Measured with :func:`torch.autograd.graph.saved_tensors_hooks` on a probe of one and of
    two copies of ``x[:1]``; the difference excludes what does not grow with the batch
    (weights saved for the backward pass).
    """
    sizes = []
    for n in (1, 2):
        total = 0

        def pack(t: Tensor) -> Any:
            # a weak reference only: returning ``t`` itself lets the graph hold its own output
            # (a reference cycle through autograd that ``gc`` cannot break: a leak per call)
            nonlocal total
            total += t.numel() * t.element_size()
            return weakref.ref(t)

        probe = x[:1].detach().expand(n, *x.shape[1:]).clone().requires_grad_(True)
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, _unpack):
            call(probe)
        sizes.append(total)
    return max(1, sizes[1] - sizes[0])


def _unpack(ref: Any) -> Tensor:
    """Saved tensors of the probe, for models that differentiate inside their forward."""
    t = ref()
    if t is None:  # pragma: no cover - only if a model differentiates a freed tensor
        raise RuntimeError("activation_bytes: a saved tensor was freed before its use.")
    return t


@dataclass(frozen=True)
class _Run:
    """The settings of one call with what the call adds: the progress bar and chunk size."""

    settings: Settings
    progress: Any = None  # a tqdm bar, or None
    eval_bytes: int = 0  # saved activations per model evaluation (default chunk size)
    layout: InputLayout = field(default_factory=InputLayout)  # of the user's inputs
    # the model's cache (_model_facts) and what, besides the points' shape, dtype and
    # device, sets how the model is called (None: the call size is not measured)
    facts: dict[tuple[Any, ...], Any] | None = None
    call_key: tuple[Any, ...] | None = None

    def chunk_for(self, n_evaluations: int) -> int:
        """``internal_batch_size`` or the default for ``n_evaluations`` evaluations."""
        return self.settings.internal_batch_size or auto_batch_size(self.eval_bytes, n_evaluations)

    def calls_for(self, n_evaluations: int, chunk: int | None = None) -> int:
        """Evaluations per model call: ``internal_batch_size`` when given, else the default
        chunk bounded by :data:`CALL_BYTES` (at least 8 evaluations: one alone can take
        another code path in a model, rounding differently). ``chunk``: ``chunk_for`` of
        the same evaluations, when known."""
        if chunk is None:
            chunk = self.chunk_for(n_evaluations)
        if self.settings.internal_batch_size:
            return chunk
        return min(chunk, max(_CALL_MIN, _memory_chunk(self.eval_bytes, CALL_BYTES)))

    def chooser(self, calls: int) -> _Chooser | None:
        """How a time pass of default calls of ``calls`` evaluations picks its call size:
        ``chooser(func, points, rows)`` measures it on the first ``calls`` points of the
        path (:func:`_measure_calls`, among ``calls``, ``calls / 2`` and ``calls / 4``, at
        least :data:`_CALL_MIN`) once per model, point shape, dtype, device and number of
        threads, from the second such path on (the first returns None: ``calls``), and
        returns the kept :class:`_CallSize` after (which the path's calls update); the
        chooser is ``None`` when nothing is measured (a chunk given, a large model, a call with
        per-sample arguments, a model without a cache; and on other devices than the CPU,
        where the allocator differs and a timing would need device syncs)."""
        facts, call_key = self.facts, self.call_key
        if (
            not MEASURE_CALLS
            or self.settings.internal_batch_size
            or facts is None
            or call_key is None
            or calls < 2 * _CALL_MIN
            or calls * self.eval_bytes > MEASURE_BYTES
        ):
            return None
        assert facts is not None
        sizes = [c for c in (calls, calls // 2, calls // 4) if c >= _CALL_MIN]

        def choose(func: Callable[..., Tensor], points: Tensor, rows: Tensor) -> _CallSize | None:
            # torch's threads too: a kernel may split its work by batch size differently
            # with another number of them (then the bits are checked again)
            key = ("calls", tuple(points.shape[1:]), points.dtype, points.device, *call_key)
            key += (calls, torch.get_num_threads())
            hit = facts.get(key)
            if hit is None:
                # measured from the second path of its kind on: a model explained once
                # (a new lambda per call, a one-off) never pays for the measurement
                seen = ("seen", *key)
                if seen not in facts:
                    facts[seen] = True
                    return None
                hit = facts[key] = _measure_calls(func, points[:calls], rows[:calls], sizes)
            return hit

        return choose


#: The steps of a pass not integrated yet (shared, read-only: every pass replaces it).
_NO_STEPS = np.zeros(0, dtype=np.int64)
_NO_STEPS.setflags(write=False)


@dataclass
class _Pass:
    """One path integral shared by one or more domains."""

    kind: Literal["time", "coefficients"]
    # (label, fitted domain, coefficient baseline; None: forward(start), mapped a few
    # channels at a time where used, for a long recording's time pass)
    domains: list[tuple[str, Domain, Tensor | None]]
    start: Tensor  # (R, ...) path start (time baseline or coefficient baseline)
    end: Tensor  # (R, ...) path end
    time_baseline: Tensor  # (R, C, T)
    gradient: Tensor | None = None  # (R, ...) weighted path-gradient sum
    steps: np.ndarray = field(default_factory=lambda: _NO_STEPS)  # (read-only; replaced)
    # n_steps="auto": Boole - Simpson per row (R, ...), and whether each row converged
    error_gradient: Tensor | None = None
    converged: np.ndarray | None = None
    adaptive: AdaptiveResult | None = None  # status, floor and rss per row
    # default coefficient baselines not computed yet: index into ``domains`` -> (xb, rows)
    # of ``dom.coefficient_baseline(xb, rows)``; filled on first use (:meth:`fill_baselines`)
    deferred: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)

    def fill_baselines(self) -> None:
        """Compute the deferred coefficient baselines into ``domains`` (once: the copies of
        a planned pass share ``domains`` and ``deferred``, so every target reads them)."""
        if self.deferred:
            for j, (xb, rows) in self.deferred.items():
                label, dom, _ = self.domains[j]
                self.domains[j] = (label, dom, _detached(dom.coefficient_baseline(xb, rows)))
            self.deferred.clear()

    def copy(self) -> _Pass:
        """A shallow copy (as ``dataclasses.replace(self)``, without its ``__init__``)."""
        new = object.__new__(_Pass)
        new.__dict__.update(self.__dict__)
        return new


class CrossDomainIG:
    """Cross-domain Integrated Gradients for a model and one or more domains.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps a tensor of shape ``(batch, channels, time)`` (or the layout given by
        ``time_axis``) to outputs of shape ``(batch,)``, ``(batch, K)`` or ``(batch, ...)``.
        Modules run in ``eval()`` mode during a call and are restored after.
    domain : str, Domain, sequence or mapping of them, default="time"
        Where to attribute. Several domains share integration passes where possible.
    time_axis : int, default=-1
        Axis of time in the inputs: -1 for ``(batch, channels, time)`` or ``(batch, time)``,
        1 for ``(batch, time, channels)``. The model always receives this layout.
    fs : float, optional
        Sampling rate in Hz, passed to domains given by name.
    linear_shortcut : bool, default=True
        Integrate linear domains once in time and map gradients through each inverse.
        ``False`` integrates every domain in its own coefficients (slower; same result).

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> ig = cdig.CrossDomainIG(model, cdig.domains.Fourier(fs=32.0))
    >>> values, delta = ig.attribute(torch.randn(3, 1, 64), target=0,
    ...                              return_convergence_delta=True)
    >>> values.shape
    (3, 1, 33)
    """

    def __init__(
        self,
        model: Any,
        domain: DomainsArg = "time",
        *,
        time_axis: int = -1,
        fs: float | None = None,
        linear_shortcut: bool = True,
    ) -> None:
        self.model = model
        self.domain = domain
        self.time_axis = time_axis
        self.fs = fs
        self.linear_shortcut = linear_shortcut

    # ------------------------------------------------------------------ public
    @overload
    def attribute(
        self,
        inputs: Any,
        baselines: Any = ...,
        target: Any = ...,
        n_steps: int | Literal["auto"] = ...,
        method: Method | None = ...,
        internal_batch_size: int | None = ...,
        return_convergence_delta: Literal[False] = ...,
        *,
        rtol: float = ...,
        atol: float = ...,
        max_steps: int = ...,
        additional_forward_args: Any = ...,
    ) -> Values: ...

    @overload
    def attribute(
        self,
        inputs: Any,
        baselines: Any,
        target: Any,
        n_steps: int | Literal["auto"],
        method: Method | None,
        internal_batch_size: int | None,
        return_convergence_delta: Literal[True],
        *,
        rtol: float = ...,
        atol: float = ...,
        max_steps: int = ...,
        additional_forward_args: Any = ...,
    ) -> tuple[Values, Values]: ...

    @overload
    def attribute(
        self,
        inputs: Any,
        baselines: Any = ...,
        target: Any = ...,
        n_steps: int | Literal["auto"] = ...,
        method: Method | None = ...,
        internal_batch_size: int | None = ...,
        *,
        return_convergence_delta: Literal[True],
        rtol: float = ...,
        atol: float = ...,
        max_steps: int = ...,
        additional_forward_args: Any = ...,
    ) -> tuple[Values, Values]: ...

    def attribute(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        n_steps: int | Literal["auto"] = N_STEPS,
        method: Method | None = None,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        *,
        rtol: float = RTOL,
        atol: float = 0.0,
        max_steps: int = MAX_STEPS,
        additional_forward_args: Any = None,
    ) -> Values | tuple[Values, Values]:
        """Captum-style call: attributions as numpy arrays.

        Returns ``values`` of shape ``(batch, *coefficient_shape)`` (or a dict of them, one
        per domain, when several domains were given), plus ``delta`` of shape ``(batch,)``
        (or a dict) when ``return_convergence_delta``. See :meth:`explain` for the
        parameters.
        """
        settings = Settings(
            n_steps, method, internal_batch_size, rtol, atol, max_steps, self.time_axis
        )
        res = self.run(
            inputs,
            baselines,
            target,
            settings=settings,
            additional_forward_args=additional_forward_args,
        )
        if isinstance(res, Attribution):
            return (res.values, ig_facts(res).delta) if return_convergence_delta else res.values
        values = {k: a.values for k, a in res.items()}
        if return_convergence_delta:
            return values, {k: ig_facts(a).delta for k, a in res.items()}
        return values

    @fill_doc(
        settings=PARAMETERS,
        progress=PROGRESS,
        forward_args=FORWARD_ARGS,
        target_baselines=TARGET_BASELINES,
    )
    def explain(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        n_steps: int | Literal["auto"] = N_STEPS,
        method: Method | None = None,
        internal_batch_size: int | None = None,
        rtol: float = RTOL,
        atol: float = 0.0,
        max_steps: int = MAX_STEPS,
        progress: bool = False,
        additional_forward_args: Any = None,
    ) -> Attribution | dict[str, Attribution]:
        """Explain ``inputs``; returns an :class:`Attribution` (a dict of them for several domains).

        Parameters
        ----------
        inputs : array-like of shape (batch, channels, time)
            Or the layout given by ``time_axis``; numpy or torch, real, finite.
        {target_baselines}
        {settings}
        {progress}
        {forward_args}

        Returns
        -------
        Attribution or dict of str to Attribution
            With ``error`` (the estimated relative error of the attribution vector; NaN for
            a fixed ``n_steps``), ``converged`` and ``n_evaluations`` per sample.

        Raises
        ------
        ValueError, TypeError
            For invalid inputs, before the integration starts.

        Warns
        -----
        ConvergenceWarning
            ``n_steps="auto"``: some samples did not meet ``rtol`` within ``max_steps``
            (one warning per call, naming them).
        CompletenessWarning
            A fixed ``n_steps``: some samples' ``|delta|`` exceeds
            ``rtol * |f(x) - f(x')| + atol`` (one warning per call, naming them).
        """
        settings = Settings(
            n_steps, method, internal_batch_size, rtol, atol, max_steps, self.time_axis, progress
        )
        return self.run(
            inputs,
            baselines,
            target,
            settings=settings,
            additional_forward_args=additional_forward_args,
        )

    @fill_doc(forward_args=FORWARD_ARGS, target_baselines=TARGET_BASELINES)
    def run(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        *,
        settings: Settings | None = None,
        additional_forward_args: Any = None,
    ) -> Attribution | dict[str, Attribution]:
        """Explain ``inputs`` with settings validated already: the entry every caller uses.

        :meth:`explain`, :meth:`attribute`, :func:`cdig.explain`, dataset runs and the
        ``cdig`` command build one :class:`cdig.Settings` from their arguments and
        call this method; it validates the inputs, baselines and target, fits the domains
        once, integrates every target, and builds the results. Several targets
        (``Horizon("each")``, ``TimeColumns("each")``) share the fitted domains and the
        model's outputs at the inputs and baselines; their results are stacked on a
        leading ``"horizon"`` axis (fields as in :func:`cdig.explain_horizon`).

        Parameters
        ----------
        inputs : array-like of shape (batch, channels, time)
            Or the layout given by ``time_axis``; numpy or torch, real, finite.
        {target_baselines}
        settings : cdig.Settings, optional
            How to integrate (``n_steps``, ``method``, ``internal_batch_size``, ``rtol``,
            ``atol``, ``max_steps``, ``time_axis``, ``progress``), validated when built.
            Default ``Settings(time_axis=self.time_axis)``; its ``time_axis`` must be the
            explainer's.
        {forward_args}

        Returns
        -------
        Attribution or dict of str to Attribution
            As :meth:`explain`.

        Raises
        ------
        ValueError, TypeError
            For invalid inputs, before the integration starts.
        """
        if settings is None:
            settings = Settings(time_axis=self.time_axis)
        elif not isinstance(settings, Settings):
            raise TypeError(
                f"settings must be a cdig Settings object; got {type(settings).__name__}. Use "
                "CrossDomainIG.explain to pass the integration settings as arguments."
            )
        elif settings.time_axis != self.time_axis:
            raise ValueError(
                f"settings.time_axis={settings.time_axis} differs from the explainer's "
                f"time_axis={self.time_axis}; build the settings with the same time axis."
            )
        adapter = wrap(self.model)
        model_dtype, device = adapter.dtype_and_device()  # one walk of the weights
        time_axis = settings.time_axis
        x, layout = as_series(inputs, time_axis, work_dtype(model_dtype), device)
        if model_dtype is None and x.dtype in LOW_PRECISION:  # a function given half inputs
            model_dtype, x = x.dtype, x.float()
        if model_dtype is None:  # a function whose weights cdig cannot see
            x = float64_if_needed(adapter, layout, x)
        extra = as_forward_args(
            additional_forward_args, x.shape[0], model_dtype, device, adapter.framework
        )
        if baselines is None and x.numel() and _long_row(x):
            # a long recording's default zeros: one zero seen everywhere (a stride-0 view,
            # the same numbers), not an input-sized tensor held through the integral
            xb = x.new_zeros(()).expand(1, *x.shape)
        else:
            xb = as_baselines(baselines, x, layout)  # (S, B, C, T)
        spec = as_target(target)
        named = resolve_domains(self.domain, self.fs)
        fitted = [(label, d.clone().fit(x)) for label, d in named]

        low = model_dtype if model_dtype in LOW_PRECISION else None  # else: no casts
        call = guarded_call(adapter, layout, time_axis, low, extra)

        def probe(xc: Tensor) -> Tensor:  # copies of x[:1]: rows of sample 0
            return call(xc, torch.zeros(xc.shape[0], dtype=torch.long, device=xc.device))

        # the input's layout travels with the result (plots take x in it; values_in_input_layout)
        fs = None if self.fs is None else float(self.fs)
        where = layout if fs is None else InputLayout(layout.ndim, layout.time_axis, fs)
        # how the model is called besides the points (None: per-sample arguments, whose
        # model calls are not measured or shared between explainers)
        call_key = None if extra is not None else (layout.ndim, layout.time_axis, low)
        facts = _model_facts(self.model)

        def integrate(bar: Any) -> tuple[list[dict[str, Attribution]], TargetAxis | None]:
            eval_bytes = 0 if settings.internal_batch_size else self._eval_bytes(probe, x, call_key)
            run = _Run(settings, bar, eval_bytes, where, facts, call_key)
            return self._run(call, x, xb, spec, fitted, run)

        if settings.progress or not torch.is_grad_enabled():
            with evaluation_bar(settings.progress) as bar, adapter.inference():
                with torch.enable_grad():
                    per_target, axis = integrate(bar)
        else:  # no bar and grad on already: eval mode is the only context
            with adapter.inference():
                per_target, axis = integrate(None)
        every: list[dict[str, Attribution]] = []
        for results in per_target:  # judged per target, as one call each would be
            ordered = {label: results[label] for label, _ in named}
            warn_unconverged_results(ordered, settings)
            warn_constant_outputs(ordered)
            every.append(ordered)
        if axis is None:
            ordered = every[0]
        else:  # several targets: one result per domain, stacked on the target axis
            ordered = {
                label: stack_targets(
                    [r[label] for r in every], axis.name, axis.coords, axis.unit, axis.target
                )
                for label, _ in named
            }
        if isinstance(self.domain, (str, Domain)):
            return ordered[named[0][0]]
        return ordered

    def _eval_bytes(
        self, call: Callable[[Tensor], Tensor], x: Tensor, call_key: tuple[Any, ...] | None = None
    ) -> int:
        """:func:`activation_bytes` of the model, cached per input shape, dtype and device.

        The cache belongs to the model object: replacing ``self.model`` starts a new one.
        With ``call_key`` (how the model is called: layout, cast; see :meth:`run`) the answer
        is also kept with the model (:data:`_MODEL_FACTS`), for every explainer of it.
        """
        key = (tuple(x.shape[1:]), x.dtype, x.device)  # (a device is hashable: no str())
        owner, cache = self.__dict__.get("_eval_bytes_cache", (None, {}))
        if owner is not self.model:
            cache = {}
            self.__dict__["_eval_bytes_cache"] = (self.model, cache)
        if key not in cache:
            facts = None if call_key is None else _model_facts(self.model)
            shared = ("eval_bytes", *key, *call_key) if call_key is not None else ()
            hit = None if facts is None else facts.get(shared)
            if hit is None:
                sample = x[:1].numel() * x.element_size()
                hit = activation_bytes(call, x) + INPUT_COPIES * sample
                if facts is not None:
                    facts[shared] = hit
            cache[key] = hit
        return cache[key]

    def _run(
        self,
        call: Callable[..., Tensor],
        x: Tensor,
        xb: Tensor,
        spec: TargetSpec,
        fitted: list[tuple[str, Domain]],
        run: _Run,
    ) -> tuple[list[dict[str, Attribution]], TargetAxis | None]:
        """Plan the passes, evaluate the end points, integrate every target, build the results.

        Returns the results of each target (one for a single target) and, for several, the
        axis to stack them on. The domains' passes are planned and the end points evaluated
        once; every target is integrated on fresh copies of the planned passes.
        """
        n_base, batch = xb.shape[0], x.shape[0]
        rows_b = _samples_of(n_base * batch, batch, x.device)  # row -> sample
        xb_rows = xb.reshape(n_base * batch, *x.shape[1:])  # (S*B, C, T)
        # one baseline: the rows are the samples, so x itself (no input-sized copy)
        passes = self._plan(fitted, x if n_base == 1 else x[rows_b], xb_rows, rows_b)
        # f(x) and every pass's f(x'_t): (B + P*S*B, ...), one batched evaluation without
        # graphs. (Riding along in the first path chunk saves a model call but breaks its
        # power-of-two size, which costs more on CPUs than the call: benchmarks/README.md.)
        ends = torch.cat([x, *(p.time_baseline for p in passes)])
        n_ends = ends.shape[0]  # (len() of a tensor is a Python method of torch's)
        owner = _samples_of(n_ends, batch, x.device)
        out = evaluate(call, ends, run.chunk_for(n_ends), owner)
        del ends  # input-sized: not held while the targets are integrated
        for p in passes:
            if p.kind == "coefficients" and _long_row(p.time_baseline):
                # a long recording: T^-1(X0) was needed for f(x') only (its dtype is read
                # later), so an input-sized tensor is not held through the integral
                p.time_baseline = p.time_baseline.new_empty(0)
        specs, axis = resolve_targets(spec, out[:batch])
        if run.progress is not None:
            steps = 0 if run.settings.auto else int(run.settings.n_steps)
            run.progress.reset(total=len(specs) * len(passes) * n_base * batch * steps)
        per_target = [
            self._integrate_target(call, out, owner, passes, s, rows_b, n_base, run) for s in specs
        ]
        return per_target, axis

    def _integrate_target(
        self,
        call: Callable[..., Tensor],
        out: Tensor,
        owner: Tensor,
        planned: list[_Pass],
        spec: TargetSpec,
        rows_b: Tensor,
        n_base: int,
        run: _Run,
    ) -> dict[str, Attribution]:
        """Integrate one resolved target along the planned passes: one result per domain.

        ``out`` holds the model's outputs at the inputs and at every pass's time baseline
        (``owner``: the sample of each row); ``planned`` is not changed but for its
        deferred coefficient baselines, filled in on first use (:meth:`_Pass.fill_baselines`).
        """
        batch = rows_b.shape[0] // n_base
        passes = [p.copy() for p in planned]  # each target fills its own copies
        selected = select_target(spec, out, owner)
        # both ends read to the host at once, in float64 (exact): the finite check reads
        # them, and the results take f(x) and f(x') from them
        host = _detached(selected).to(device="cpu", dtype=torch.float64).numpy()
        # one read for both ends; then which
        if not np.logical_and.reduce(np.isfinite(host)):  # (.all() without its wrapper)
            check_outputs_finite(selected[:batch], owner[:batch], "inputs", 1.0)
            check_outputs_finite(selected[batch:], owner[batch:], "baseline", 0.0)
        auto = run.settings.auto
        # the ends on the device are read by the adaptive loop's tolerances and the mean
        # over several baselines only (a fixed rule with one baseline takes the host copy)
        fbs = selected[batch:].split(n_base * batch) if auto or n_base > 1 else ()

        # one output index of (n, K) outputs: outputs.select(1, i), as select_target takes it
        index = spec.value[0] if spec.kind == "index" and len(spec.value) == 1 else None

        def f(xc: Tensor, rows: Tensor) -> Tensor:
            samples = rows if n_base == 1 else rows_b[rows]  # one baseline: rows are samples
            out = call(xc, samples)
            if index is not None and out.ndim == 2:
                return out.select(1, index)
            return select_target(spec, out, samples)

        # (S*B,): f(x) of each row's sample, for the adaptive loop's tolerances
        fx_rows = None
        if auto:
            fx_rows = selected[:batch] if n_base == 1 else selected[:batch][rows_b]
        results: dict[str, Attribution] = {}
        for i, p in enumerate(passes):
            func = f if p.kind == "time" else _through_inverse(f, p.domains[0][1], rows_b)
            # the adaptive loop's tolerances (a fixed rule uses neither)
            target_diff = scale = None
            if fx_rows is not None:
                target_diff = fx_rows - fbs[i]
                scale = fx_rows.double().abs() + fbs[i].double().abs()
            if auto:  # the adaptive loop's measures map its sums with them
                p.fill_baselines()
            try:
                _integrate(p, func, target_diff, scale, rows_b, run)
            except _PathNonFinite as err:  # it carries the failing call's points and rows
                raise err.on_path(err.points, err.rows, p.start, p.end, rows_b) from None
            p.fill_baselines()  # (a fixed rule's: after its model calls)
            gradient, error_gradient = p.gradient, p.error_gradient
            assert gradient is not None
            for j, (label, dom, X0) in enumerate(p.domains):
                last = j == len(p.domains) - 1  # then the pass's sums are freed as used
                # the error estimate first, reduced to its norm and sum per sample (the
                # certificate needs no more), so that it is freed before the values exist
                errors = (
                    None
                    if error_gradient is None
                    else _attribution_stats(p, dom, X0, rows_b, error_gradient, n_base, batch)
                )
                if last:
                    p.error_gradient = error_gradient = None
                values = _attributions(p, dom, X0, rows_b, gradient)  # (S*B, *coef), f64
                if last:
                    p.gradient = None
                    del gradient
                if n_base == 1:  # f(x') of the pass from the host copy
                    fb_np = host[batch * (i + 1) : batch * (i + 2)].copy()
                else:  # the mean over baselines, as torch takes it
                    fb_np = _baseline_mean(fbs[i].detach().double(), n_base, batch).cpu().numpy()
                results[label] = self._result(
                    label, values, errors, dom, host[:batch].copy(), fb_np, p, n_base, spec, run
                )
        return results

    # ------------------------------------------------------------------ helpers
    def _plan(
        self, fitted: list[tuple[str, Domain]], x_rows: Tensor, xb_rows: Tensor, rows_b: Tensor
    ) -> list[_Pass]:
        """Group domains into integration passes."""
        passes: list[_Pass] = []
        for label, dom in fitted:
            # effective time baseline (S*B, C, T): T^-1(X0), which is xb itself when X0 is
            # the default forward(xb) (the round trip is exact; no need to compute it)
            default_start = type(dom).coefficient_baseline is Domain.coefficient_baseline
            X0: Tensor | None = None
            tb = xb_rows
            if not default_start:
                X0 = dom.coefficient_baseline(xb_rows, rows_b).detach()
                tb = dom.inverse(X0, rows_b).detach()
            if dom.linear and self.linear_shortcut:
                for p in passes:
                    if p.kind == "time" and (p.time_baseline is tb or _same(p.time_baseline, tb)):
                        break
                else:
                    p = _Pass("time", [], tb, x_rows, tb)
                    passes.append(p)
                # a long recording's default X0 = forward(xb) is mapped where it is used, a
                # few channels at a time (the same numbers: the transforms are per channel)
                lazy = p.start is xb_rows and _channel_blocks(p, dom) is not None
                if X0 is None and not lazy:
                    # the default X0 = forward(xb), computed where it is first used: after
                    # the model calls of a fixed rule (the same numbers; the end points' and
                    # the path's model calls follow one another without a transform between)
                    p.deferred[len(p.domains)] = (xb_rows, rows_b)
                p.domains.append((label, dom, X0))
            else:
                if X0 is None:
                    X0 = dom.coefficient_baseline(xb_rows, rows_b).detach()
                X = dom.forward(x_rows, rows_b).detach()
                passes.append(_Pass("coefficients", [(label, dom, X0)], X0, X, tb))
        return passes

    def _result(
        self,
        label: str,
        values: Tensor,
        errors: tuple[np.ndarray, np.ndarray, int] | None,
        dom: Domain,
        fx_np: np.ndarray,
        fb_np: np.ndarray,
        p: _Pass,
        n_base: int,
        spec: TargetSpec,
        run: _Run,
    ) -> Attribution:
        """One domain's result. ``fx_np`` (batch,) holds f(x) and ``fb_np`` (batch,) f(x')
        (the mean over baselines), float64 arrays the result keeps."""
        batch, settings = fx_np.shape[0], run.settings
        vals = values if n_base == 1 else _baseline_mean(values, n_base, batch)
        # a difference of two float64 numbers is the same in numpy as in torch: no small
        # device operations for f(x) - f(x')
        diff = fx_np - fb_np
        delta_np = _host(vals.reshape(batch, -1).sum(dim=1)) - diff
        # the values' non-finite guard, fused: a NaN or infinity among a sample's values
        # reaches its delta (read here anyway); only then are the values themselves checked
        # (finite values whose sum overflows keep their infinite delta, as before)
        if not np.logical_and.reduce(np.isfinite(delta_np)) and not bool(
            torch.isfinite(values).all()
        ):
            raise NonFiniteError(
                f"{label}: the attributions overflowed (NaN or infinite values) although "
                "the model was finite on the path; rescale the inputs or the model."
            )
        # one baseline: the steps are the samples' (a copy each, as max / sum over it give)
        one_row = n_base == 1 and p.steps.dtype == np.int64
        steps = p.steps if one_row else p.steps.reshape(n_base, batch)
        if errors is None:  # a fixed rule: no error estimate, completeness is the only check
            error = np.full(batch, np.nan)
            converged = completeness_ok(delta_np, diff, settings.rtol, settings.atol)
            status = fixed_status(delta_np, converged)
        else:
            assert p.adaptive is not None
            # h22-cost: the loop's root-sum-square measured in this domain
            j = next(i for i, (_, d, _) in enumerate(p.domains) if d is dom)
            error_np, status = certify(
                _row_stats(vals)[0],
                errors,
                delta_np,
                diff,
                p.adaptive.for_domain(j),
                n_base,
                settings.rtol,
                settings.atol,
            )
            error = np.asarray(error_np, dtype=np.float64)
            converged = status == "converged"
        dims, coords = dom.dims, dom.coords
        coord_dims: Mapping[str, tuple[str, ...]]
        if type(dom).coord_dims is Domain.coord_dims and all(name in dims for name in coords):
            coord_dims = {name: (name,) for name in coords}  # what it gives, coords read once
        else:
            coord_dims = dom.coord_dims
        return Attribution(
            values=_host(vals.to(dtype=p.time_baseline.dtype)),
            delta=delta_np,
            dims=dims,
            coords=coords,
            units=dom.units,
            layout=run.layout,
            outputs=fx_np,
            baseline_outputs=fb_np,
            n_steps=p.steps.copy() if one_row else steps.max(axis=0),
            domain=dom,
            target=spec.describe(),
            target_index=spec.indices(batch),
            error=error,
            converged=np.asarray(converged, dtype=bool),
            n_evaluations=p.steps.copy() if one_row else steps.sum(axis=0),
            status=status,
            coord_dims=coord_dims,
            settings=Integration(
                method=settings.rule,
                n_steps="auto" if settings.auto else int(settings.n_steps),
                rtol=float(settings.rtol),
                atol=float(settings.atol),
                max_steps=int(settings.max_steps),
                n_baselines=n_base,
                pass_kind=p.kind,
                shared_with=tuple(lbl for lbl, d, _ in p.domains if d is not dom),
            ),
        )


def _same(a: Tensor, b: Tensor) -> bool:
    scale = max(1.0, float(a.abs().max()), float(b.abs().max()))
    tol = 1e3 * torch.finfo(a.dtype).eps * scale
    return a.shape == b.shape and bool(((a - b).abs() <= tol).all())


# ---------------------------------------------------------------------- integration
def _through_inverse(
    f: Callable[[Tensor, Tensor], Tensor], dom: Domain, rows_b: Tensor
) -> Callable[[Tensor, Tensor], Tensor]:
    def g(points: Tensor, rows: Tensor) -> Tensor:
        series = dom.inverse(points, rows_b[rows])
        if series.requires_grad and _long_row(series):
            # a long recording: what the model's backward pass freed is handed back before
            # the inverse's backward allocates its own (the gradient is not changed)
            series.register_hook(_hand_back)
        return f(series, rows)

    return g


def _hand_back(grad: Tensor) -> None:
    """A gradient hook that hands the memory freed so far back to the system."""
    _release_freed_memory()


def _path_gradient(
    func: Callable[[Tensor, Tensor], Tensor],
    start: Tensor,
    end: Tensor,
    alphas: np.ndarray,
    weights: np.ndarray,
    chunk: int,
    bar: Any = None,
    calls: int | None = None,
    choose: _Chooser | None = None,
) -> Tensor:
    """``sum_k w_k * grad func(start + alpha_k (end - start))`` per row.

    ``start``, ``end``: (R, ...). ``func(points, rows) -> (n,)`` gets path points of shape
    (n, ...) and the row each belongs to. Evaluations are ordered row-major
    (row r, step k) -> r * K + k, in blocks of whole rows (``chunk // K`` rows) or, when a
    row has more than ``chunk`` steps, of ``chunk`` steps of one row; each block's points
    are one broadcast multiply-add and its weighted sum one matrix product (in the model's
    precision, at least float32; the sum over blocks is float64), so the cost beyond the
    model is a few tensor operations per block. ``calls`` (default ``chunk``) bounds the
    evaluations per model call: a larger block is evaluated in several calls and its
    gradients summed as one block, so the sums are those of ``chunk`` (for a model whose
    output for a row does not depend on the other rows of its batch). ``choose`` (see
    :meth:`_Run.chooser`) may lower ``calls`` from the first block's points, to a size
    whose gradients are bitwise those of ``calls``; the model calls' time is then reported
    back to it (:meth:`_CallSize.observe`).

    Raises :class:`_PathNonFinite` when an output or a gradient is NaN or infinite: the
    blocks' sums are read once at the end, and only if they are not finite are the blocks
    evaluated again with the exact check, which names the failing evaluations.
    """
    n_rows, n_k = start.shape[0], len(alphas)
    dev = start.device
    diff = end - start
    acc, red, row_of, a_v, w_3 = _path_constants(alphas, weights, start)
    # (one block of every row and step, the usual case, without the generator)
    blocks = (
        [(0, n_rows, 0, n_k)] if 0 < n_rows * n_k <= chunk else list(_blocks(n_rows, n_k, chunk))
    )
    one = len(blocks) == 1  # then the block's sum is the result, converted (no buffer)
    grad = None if one else torch.empty(start.shape, dtype=acc, device=dev)
    grad_flat = None if grad is None else grad.view(n_rows, -1)
    shape = start.shape[1:]
    # (R, 1, ...), (1, K, 1...) and (R, 1, ...) views, sliced per block only where a block
    # does not span them (one block of every row and step: no slices at all); one row
    # broadcasts as (1, ...) the same way (no views)
    if n_rows == 1:
        start_u, diff_u = start, diff
    else:
        start_u, diff_u = start.unsqueeze(1), diff.unsqueeze(1)

    def block(r0: int, r1: int, k0: int, k1: int) -> tuple[Tensor, Tensor]:
        m, nk = r1 - r0, k1 - k0
        rows_all, steps_all = m == n_rows, nk == n_k
        points = torch.addcmul(
            start_u if rows_all else start_u[r0:r1],
            a_v if steps_all else a_v[:, k0:k1],
            diff_u if rows_all else diff_u[r0:r1],
        ).reshape(m * nk, *shape)
        if rows_all and steps_all:
            return points, row_of
        return points, row_of[r0 * n_k + k0 : (r1 - 1) * n_k + k1]

    # the non-finite guard, fused: a NaN or infinity among a block's outputs reaches their
    # sum (which the backward pass needs anyway) and one among its gradients reaches the
    # weighted sum (every weight of a fixed rule is non-zero, and 0 * inf is NaN too); the
    # sums of all blocks are added up on the device and read once per pass, not per block;
    # on the CPU, where a read is no device sync, each sum is read as it comes and added
    # as a Python number (no 0-d tensors to add; float64, so it overflows less often:
    # an overflow of finite sums only sends the blocks to the exact check, which passes)
    probe: Tensor | None = None
    host_sums = dev.type == "cpu"
    probe_h: complex = 0.0
    calls = chunk if calls is None else max(1, min(calls, chunk))
    sized: _CallSize | None = None  # a measured call size, told the blocks' time
    clock = _clock()
    timed, evaluated = 0.0, 0
    for r0, r1, k0, k1 in blocks:
        # a block is timed whole (its points, model calls, sums and frees): where the
        # allocator's work lands depends on the call size, not only inside the model calls
        t0 = clock()
        m, nk = r1 - r0, k1 - k0
        points, rows = block(r0, r1, k0, k1)
        n_points = points.shape[0]
        if choose is not None and n_points >= calls:  # the first full call's points
            sized, choose = choose(func, points, rows), None
            if sized is not None:
                calls = sized.next_size()
                t0 = clock()  # (not the measurement)
        if n_points <= calls:
            _, total, g = _output_gradient(func, points, rows)
            totals = [total]
        else:  # several model calls, one block of sums
            pieces = []
            for lo in range(0, n_points, calls):  # a loop: profiles name this caller
                pieces.append(
                    _output_gradient(func, points[lo : lo + calls], rows[lo : lo + calls])
                )
            totals = [piece[1] for piece in pieces]
            g = torch.cat([piece[2] for piece in pieces])
            del pieces
        w_b = w_3 if nk == n_k else w_3[:, :, k0:k1]
        if m > 1:
            w_b = w_b.expand(m, 1, nk)
        # (m, 1, n): viewed as (m, n) where a buffer of several blocks takes it
        part = torch.bmm(w_b, (g if g.dtype == red else g.to(dtype=red)).reshape(m, nk, -1))
        del points, g  # input-sized: freed before the sum is accumulated
        if host_sums:
            for total in totals:
                probe_h += total.item()
            probe_h += part.sum().item()
        else:
            total = totals[0].detach()
            for t in totals[1:]:  # a 0-d sum for the guard (no stack)
                total = total + t.detach()
            probe = total + part.sum() if probe is None else probe + total + part.sum()
        del totals
        if grad_flat is None:
            grad = part.to(dtype=acc).view(start.shape)  # the same values as the copy below
        elif k0 == 0:
            grad_flat[r0:r1] = part.view(m, -1)
        else:
            grad_flat[r0:r1] += part.view(m, -1)
        del part
        if sized is not None:
            timed, evaluated = timed + clock() - t0, evaluated + n_points
        if bar is not None:
            bar.update(m * nk)
    if sized is not None and evaluated:
        sized.observe(calls, timed / evaluated)
    if probe is not None:
        probe_h = probe.item()  # one read (a 0-d tensor)
    if not cmath.isfinite(probe_h):
        # something was NaN or infinite, or finite sums overflowed: redo the blocks with the
        # exact check, which names the first failing evaluations (or finds none: an overflow)
        for r0, r1, k0, k1 in blocks:
            _gradient(func, *block(r0, r1, k0, k1))
    assert grad is not None  # internal invariant: at least one block
    return grad


#: (id(alphas), id(weights), dtype, device, rows, dims) -> (alphas, weights, constants)
_PATH_CONSTANTS: dict[
    tuple[Any, ...],
    tuple[np.ndarray, np.ndarray, tuple[torch.dtype, torch.dtype, Tensor, Tensor, Tensor]],
] = {}


def _path_constants(
    alphas: np.ndarray, weights: np.ndarray, start: Tensor
) -> tuple[torch.dtype, torch.dtype, Tensor, Tensor, Tensor]:
    """What :func:`_path_gradient` needs besides the path's ends, for ``start`` (R, ...):
    the accumulator dtype, the dtype of a block's weighted sum, the row of each evaluation
    (R * K,), the positions as (1, K, 1...) and the weights as (1, 1, K); cached while the
    rule's arrays are alive (held here: an id is not reused while cached); only read."""
    key = (id(alphas), id(weights), start.dtype, start.device, start.shape[0], start.dim())
    hit = _PATH_CONSTANTS.get(key)
    if hit is not None and hit[0] is alphas and hit[1] is weights:
        return hit[2]
    dev, n_rows, n_k = start.device, start.shape[0], len(alphas)
    real = start.real.dtype if start.is_complex() else start.dtype
    acc = accumulator_dtype(start)
    # each block's weighted sum runs in the model's precision (at least float32): one matmul,
    # no float64 copy of the gradients; blocks are accumulated in float64
    red = torch.promote_types(start.dtype, torch.float32)
    row_of = _rows_of(n_rows, n_k, dev)  # evaluation -> row
    a_v = _constant(alphas, real, dev, (1, -1) + (1,) * (start.dim() - 1))  # (1, K, 1...)
    # the weights as (1, 1, K): torch.matmul(w, g) of a (K,) w and an (m, K, n) g is this
    # bmm of w expanded to (m, 1, K) (the same kernel and operands: the same bits), without
    # matmul's views
    w_3 = _constant(weights, red, dev, (1, 1, -1))
    if len(_PATH_CONSTANTS) > 16:
        _PATH_CONSTANTS.clear()
    value = (acc, red, row_of, a_v, w_3)
    _PATH_CONSTANTS[key] = (alphas, weights, value)
    return value


def _output_gradient(
    func: Callable[[Tensor, Tensor], Tensor], points: Tensor, rows: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``func(points, rows)`` (n,), its sum and the sum's gradient, unchecked (the sum is
    the backward pass's root: detach it before computing with it)."""
    points.requires_grad_(True)
    y = func(points, rows)
    if not y.requires_grad:
        raise ValueError(
            "the model's output does not depend differentiably on its input (no "
            "gradient flows back); check that the forward pass does not detach, use "
            "numpy, or run under torch.no_grad()."
        )
    total = y.sum()
    g = _grad_of_sum(total, points)
    if g is None:
        raise ValueError("the model's output does not depend on its input (no gradient).")
    return y, total, g


def _grad_of_sum(total: Tensor, points: Tensor) -> Tensor | None:
    """``torch.autograd.grad(total, points, allow_unused=True)[0]`` for a 0-d ``total``.

    For a real floating ``total`` of plain tensors (no ``__torch_function__`` subclass or
    mode), the autograd engine's call that :func:`torch.autograd.grad` makes, with the
    gradient of ``total`` that it would create (a one), without its argument handling
    (about 15 us per call on a CPU, 2-4 % of a one-sample call of a small model); the
    public function otherwise, and on a torch without that call.
    """
    if (
        _RUN_BACKWARD is None
        or not total.dtype.is_floating_point
        or torch.overrides.has_torch_function((total, points))
    ):
        return torch.autograd.grad(total, points, allow_unused=True)[0]
    ones = (torch.ones_like(total),)
    return _RUN_BACKWARD((total,), ones, False, False, (points,), True, accumulate_grad=False)[0]


#: What :func:`torch.autograd.grad` calls (torch >= 2.3; None before: the public function).
_RUN_BACKWARD: Callable[..., tuple[Tensor, ...]] | None = getattr(
    torch.autograd.graph, "_engine_run_backward", None
)


def _gradient(
    func: Callable[[Tensor, Tensor], Tensor], points: Tensor, rows: Tensor, check: bool = True
) -> Tensor:
    """Gradient of ``func(points, rows).sum()`` with respect to ``points`` (n, ...).

    ``check``: raise :class:`NonFiniteError` (via :class:`_PathNonFinite`) when an output or
    a gradient is not finite.
    """
    return _gradient_and_output(func, points, rows, check)[0]


def _gradient_and_output(
    func: Callable[[Tensor, Tensor], Tensor], points: Tensor, rows: Tensor, check: bool = True
) -> tuple[Tensor, Tensor]:
    """:func:`_gradient` and the outputs ``func(points, rows)`` (n,), detached.

    The adaptive integrator uses the outputs for its local completeness test and turns
    ``check`` off: it checks every point's output and gradient (off the baseline, where it
    replaces a singular point by an open rule) with its round's one read of the device.
    """
    y, _, g = _output_gradient(func, points, rows)
    if check:
        try:
            _check_path_finite(y, g, rows)
        except _PathNonFinite as err:
            # the failing call's points travel with the error (no reference is kept to the
            # points of calls that succeed: each is an input-sized tensor)
            err.points, err.rows = points.detach(), rows
            raise
    return g, y.detach()


class _PathNonFinite(NonFiniteError):
    """Raised on the path; :meth:`on_path` restates it with samples and path positions."""

    def __init__(self, what: str, positions: Tensor, rows: Tensor) -> None:
        self.what, self.positions = what, positions
        self.points, self.rows = torch.empty(0), rows  # set by the call that failed
        rows_at = rows[positions].tolist()
        alphas = [float("nan")] * len(rows_at)
        err = path_error(what, rows_at, alphas, "path rows (sample = row % batch)")
        super().__init__(str(err), err.samples, err.alphas)

    def on_path(
        self, points: Tensor, rows: Tensor, start: Tensor, end: Tensor, rows_b: Tensor
    ) -> NonFiniteError:
        """The error naming samples and alphas.

        ``points`` (n, ...) and ``rows`` (n,) are the evaluations of the failing call, on the
        straight path from ``start`` to ``end`` (R, ...); ``rows_b`` maps rows to samples.
        """
        pos = self.positions.to(rows.device)
        r = rows[pos]
        diff = _re_view(end[r] - start[r]).reshape(len(pos), -1)
        step = _re_view(points[pos].detach() - start[r]).reshape(len(pos), -1)
        norm = (diff * diff).sum(dim=1)
        alphas = ((step * diff).sum(dim=1) / norm.clamp_min(torch.finfo(norm.dtype).tiny)).tolist()
        return path_error(self.what, rows_b[r].tolist(), alphas, "samples")


def _re_view(t: Tensor) -> Tensor:
    """Real tensor of ``t``'s real and imaginary parts (``t`` itself when real), float64."""
    return torch.view_as_real(t.to(torch.complex128)) if t.is_complex() else t.double()


def _check_path_finite(y: Tensor, g: Tensor, rows: Tensor) -> None:
    """Raise when path outputs ``y`` (n,) or gradients ``g`` (n, ...) are not all finite.

    Call it right after ``func(points, rows)`` and its gradient, ``rows`` being the rows
    given to ``func``: :meth:`CrossDomainIG._run` names the samples and the path positions
    from that call. One device sync per call; the details are only computed on failure.
    """
    # h25-adapt: numpy's check on the CPU (13 us for 256 x 256 floats against 150 us for
    # torch's isfinite().all() pair), the same answer
    if all_finite(y) and all_finite(g):
        return
    what, positions = first_bad(y, g)
    raise _PathNonFinite(what, positions, rows)


_CONSTANTS: dict[tuple[Any, ...], tuple[np.ndarray, Tensor]] = {}


def _constant(
    arr: np.ndarray, dtype: torch.dtype, device: torch.device, shape: tuple[int, ...] = ()
) -> Tensor:
    """``arr`` as a tensor (viewed as ``shape`` when given), cached while ``arr`` (a cached
    quadrature rule) is alive; it is only read."""
    key = (id(arr), dtype, device, shape)
    hit = _CONSTANTS.get(key)
    if hit is not None and hit[0] is arr:
        return hit[1]
    if len(_CONSTANTS) > 256:
        _CONSTANTS.clear()
    t = torch.tensor(arr, dtype=dtype, device=device)
    if shape:
        t = t.view(shape)
    _CONSTANTS[key] = (arr, t)
    return t


_INDEX_CACHE: dict[tuple[str, int, int, torch.device], Tensor] = {}


def _cached_index(key: tuple[str, int, int, torch.device], make: Callable[[], Tensor]) -> Tensor:
    """``make()``, cached under ``key`` (index tensors that are only read)."""
    hit = _INDEX_CACHE.get(key)
    if hit is None:
        if len(_INDEX_CACHE) > 128:
            _INDEX_CACHE.clear()
        hit = _INDEX_CACHE[key] = make()
    return hit


def _rows_of(n_rows: int, n_k: int, device: torch.device) -> Tensor:
    """``arange(n_rows).repeat_interleave(n_k)``: the row of each evaluation (row-major),
    cached (it is only read)."""
    return _cached_index(
        ("rows", n_rows, n_k, device),
        lambda: torch.arange(n_rows, device=device).repeat_interleave(n_k),
    )


def _samples_of(n: int, batch: int, device: torch.device) -> Tensor:
    """``arange(n) % batch``: the sample of each of ``n`` rows laid out baseline-major,
    cached (it is only read)."""

    def make() -> Tensor:
        t = torch.arange(n, device=device)
        return t if n <= batch else t % batch

    return _cached_index(("samples", n, batch, device), make)


def _blocks(n_rows: int, n_k: int, chunk: int) -> Iterator[tuple[int, int, int, int]]:
    """(r0, r1, k0, k1) blocks of at most ``chunk`` evaluations, in row-major order."""
    if chunk >= n_k:
        step = chunk // n_k
        for r0 in range(0, n_rows, step):
            yield r0, min(r0 + step, n_rows), 0, n_k
        return
    for r in range(n_rows):
        for k0 in range(0, n_k, chunk):
            yield r, r + 1, k0, min(k0 + chunk, n_k)


def _integrate(
    p: _Pass,
    func: Callable[[Tensor, Tensor], Tensor],
    target_diff: Tensor | None,
    scale: Tensor | None,
    rows_b: Tensor,
    run: _Run,
) -> None:
    """Fill ``p.gradient`` and ``p.steps`` (with ``auto`` also the error and convergence).

    ``target_diff`` holds the (R,) differences f(x) - f(x'_t) that the attributions must sum
    to, ``scale`` the (R,) ``|f(x)| + |f(x'_t)|`` (rounding floor of the tolerances); both
    are used by ``n_steps="auto"`` only (None for a fixed rule).
    """
    n_rows, bar, settings = p.start.shape[0], run.progress, run.settings
    if not settings.auto:
        n_steps = int(settings.n_steps)
        alphas, weights = quadrature.rule(settings.rule, n_steps)
        chunk = run.chunk_for(n_rows * n_steps)
        calls = run.calls_for(n_rows * n_steps, chunk)
        choose = run.chooser(calls) if p.kind == "time" else None
        p.gradient = _path_gradient(
            func, p.start, p.end, alphas, weights, chunk, bar, calls, choose
        )
        p.steps = _fixed_steps(n_rows, n_steps)
        return

    def progress(n: int) -> None:
        bar.total += n
        bar.update(n)

    # each round's points go to the store one by one: the model calls' size is free
    chunk_for: Callable[[int], int] = run.calls_for
    if settings.internal_batch_size is None and _long_row(p.start):
        # a long recording: one evaluation per model call (its points and gradients are
        # input-sized); a model may round one evaluation differently from a batch of them
        # (an FFT of one series), so results may differ from a larger chunk's in last bits
        chunk_for = _one
    assert target_diff is not None and scale is not None  # given for n_steps="auto"

    def gradient_at(points: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        # unchecked: the loop checks every point's output and gradient in its round's one
        # read of the device (``non_finite``), not each model call (h25-adapt)
        return _gradient_and_output(func, points, rows, check=False)

    def non_finite(what: str, rows: np.ndarray, alphas: np.ndarray) -> Exception:
        samples = rows_b[torch.as_tensor(rows, device=rows_b.device)].tolist()
        return path_error(what, samples, alphas.tolist(), "samples")

    res = integrate_adaptive(
        gradient_at,
        p.start,
        p.end,
        target_diff,
        scale,
        rtol=settings.rtol,
        atol=settings.atol,
        max_steps=settings.max_steps,
        chunk_for=chunk_for,
        on_evaluations=None if bar is None else progress,
        measures=[_measure_norms(p, dom, X0, rows_b) for _, dom, X0 in p.domains],
        non_finite=non_finite,
    )
    p.gradient, p.error_gradient = res.gradient, res.error_gradient
    # the pass keeps the loop's per-row numbers, not a second reference to its sums (the
    # results free those as they are mapped: 4 input-sized float64 arrays for float32)
    empty = res.gradient.new_empty(0)
    p.steps, p.converged = res.steps, res.converged
    p.adaptive = replace(res, gradient=empty, error_gradient=empty)


_STEPS: dict[tuple[int, int], np.ndarray] = {}


def _fixed_steps(n_rows: int, n_steps: int) -> np.ndarray:
    """``np.full(n_rows, n_steps, dtype=np.int64)``, cached and read-only (a pass's steps are
    only read: every result takes copies or reductions of them)."""
    hit = _STEPS.get((n_rows, n_steps))
    if hit is None:
        if len(_STEPS) > 64:
            _STEPS.clear()
        hit = _STEPS[n_rows, n_steps] = np.full(n_rows, n_steps, dtype=np.int64)
        hit.setflags(write=False)
    return hit


def _baseline_mean(t: Tensor, n_base: int, batch: int) -> Tensor:
    """Mean over the ``n_base`` baselines of per-row values ``t`` (n_base * batch, ...)."""
    return t.reshape(n_base, batch, *t.shape[1:]).mean(dim=0) if n_base > 1 else t


def _row_stats(t: Tensor) -> tuple[np.ndarray, np.ndarray, int]:
    """2-norm (batch,), sum (batch,) and length ``n`` of each sample's values ``t``
    (batch, ...), float64, as numpy's ``norm(axis=1)`` and ``sum(axis=1)`` of the
    (batch, n) array; for a long row (:func:`_long_row`) the norm is the root of summed
    squares over blocks of :func:`~cdig._adaptive.block_bytes` (its last bits may differ),
    never an (batch, n) float64 temporary."""
    a = t.reshape(len(t), -1).cpu().numpy()
    total = a.sum(axis=1)
    if not _long_row(t):
        return np.linalg.norm(a, axis=1), total, a.shape[1]
    width = max(1, block_bytes(a.shape[1], 8) // (2 * 8 * len(a)))
    squares = np.zeros(len(a))
    for c0 in range(0, a.shape[1], width):
        squares += np.linalg.norm(a[:, c0 : c0 + width], axis=1) ** 2
    return np.sqrt(squares), total, a.shape[1]


#: Longest run that numpy's pairwise summation adds in one unrolled loop (``PW_BLOCKSIZE``).
_PAIRWISE_BLOCK = 128


class _RowStats:
    """:func:`_row_stats` of a long row's values ``(batch, n)`` float64 given in
    consecutive blocks of columns (:meth:`feed`), with the same bits and never the whole.

    The sum follows numpy's pairwise summation of a row (halves rounded down to a multiple
    of 8 down to runs of :data:`_PAIRWISE_BLOCK`): every node of that tree that one block
    holds whole is summed by numpy, the few across a block's edge from their pieces (at
    most a run of 128 columns is copied), and the nodes are added as numpy adds them. The
    norm is the root of summed squares over the blocks of :func:`_row_stats` (one across
    an edge is assembled first), added in the same order.
    """

    def __init__(self, batch: int, n: int) -> None:
        self.n, self.done = n, 0
        self.width = max(1, block_bytes(n, 8) // (2 * 8 * batch))
        self.squares = np.zeros(batch)
        self.sums: dict[tuple[int, int], np.ndarray] = {}  # (start, length) -> node's sum
        self.runs: dict[int, list[np.ndarray]] = {}  # pieces of a run across an edge
        self.norm_pieces: list[np.ndarray] = []  # the norm block across an edge

    def feed(self, a: np.ndarray) -> None:
        """The next ``a.shape[1]`` columns of the values, shape ``(batch, k)``."""
        lo, hi = self.done, self.done + a.shape[1]
        if hi > self.n:
            raise ValueError(f"{hi} columns given for rows of {self.n}")
        self._visit(a, lo, hi, 0, self.n)
        c0 = lo - lo % self.width
        while c0 < hi:
            c1 = min(c0 + self.width, self.n)
            if lo <= c0 and c1 <= hi:
                self.squares += np.linalg.norm(a[:, c0 - lo : c1 - lo], axis=1) ** 2
            else:
                self.norm_pieces.append(a[:, max(c0, lo) - lo : min(c1, hi) - lo].copy())
                if c1 <= hi:
                    whole = np.concatenate(self.norm_pieces, axis=1)
                    self.norm_pieces = []
                    self.squares += np.linalg.norm(whole, axis=1) ** 2
            c0 = c1
        self.done = hi

    def _visit(self, a: np.ndarray, lo: int, hi: int, s: int, length: int) -> None:
        e = s + length
        if e <= lo or s >= hi:
            return
        if lo <= s and e <= hi:  # the block holds the node whole
            self.sums[s, length] = a[:, s - lo : e - lo].sum(axis=1)
            return
        if length <= _PAIRWISE_BLOCK:  # a run across the block's edge
            self.runs.setdefault(s, []).append(a[:, max(s, lo) - lo : min(e, hi) - lo].copy())
            if e <= hi:
                self.sums[s, length] = np.concatenate(self.runs.pop(s), axis=1).sum(axis=1)
            return
        half = length // 2
        half -= half % 8
        self._visit(a, lo, hi, s, half)
        self._visit(a, lo, hi, s + half, length - half)

    def _total(self, s: int, length: int) -> np.ndarray:
        hit = self.sums.pop((s, length), None)
        if hit is not None:
            return hit
        half = length // 2
        half -= half % 8
        return self._total(s, half) + self._total(s + half, length - half)

    def result(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(norm, sum, n)`` as :func:`_row_stats` gives them for the whole."""
        if self.done != self.n:
            raise ValueError(f"{self.done} of {self.n} columns given")
        return np.sqrt(self.squares), 0.0 + self._total(0, self.n), self.n


def _detached(t: Tensor) -> Tensor:
    """``t.detach()``, or ``t`` itself when it is not part of a graph (no dispatch)."""
    return t.detach() if t.requires_grad or t.grad_fn is not None else t


def _host(t: Tensor) -> np.ndarray:
    """``t.cpu().numpy()``, without the call of ``cpu()`` for a tensor on the CPU (the same
    array: ``cpu()`` returns the tensor itself there)."""
    return t.numpy() if t.is_cpu else t.cpu().numpy()


def _one(n: int) -> int:
    """One evaluation per model call (the adaptive loop's chunk for a long row)."""
    return 1


def _long_row(t: Tensor) -> bool:
    """Whether one row of ``t`` (R, ...) is long: its values in the accumulator's precision
    take more than :data:`~cdig._adaptive.LONG_ROW_BYTES`."""
    # the size of a row from the shape (no view of row 0: a dispatch per call)
    return math.prod(t.shape[1:]) * accumulator_dtype(t).itemsize > LONG_ROW_BYTES


def _channel_blocks(p: _Pass, dom: Domain) -> list[tuple[int, int]] | None:
    """Channel ranges ``[c0, c1)`` in which a long row's sums are mapped to ``dom``'s
    coefficients (``None``: all at once).

    For a time pass of a :attr:`~cdig.domains.Domain.per_channel` domain on long rows: as
    many channels as keep four coefficient-sized temporaries (in the accumulator's
    precision) under :func:`~cdig._adaptive.block_bytes`, at least two (a single
    transform may take another code path than a batch of them, so blocks of one channel
    could differ in the last bits)."""
    if p.kind != "time" or not dom.per_channel or p.end.dim() < 3 or not _long_row(p.end):
        return None
    n_rows, n_ch = p.end.shape[0], p.end.shape[1]
    acc = accumulator_dtype(p.end)
    item = torch.empty((), dtype=acc).element_size()
    per_ch = dom.forward(p.end[:1, :2]).numel() // 2  # coefficients per channel and row
    coef_item = 16 if dom.is_complex else item
    step = max(2, block_bytes(p.end[0].numel(), item) // max(1, 4 * n_rows * per_ch * coef_item))
    if step >= n_ch:
        return None
    bounds = [*range(0, n_ch, step), n_ch]
    if bounds[-1] - bounds[-2] < 2:  # no block of one channel
        del bounds[-2]
    return list(itertools.pairwise(bounds))


def certify(
    value_norm: np.ndarray,
    errors: tuple[np.ndarray, np.ndarray, int],
    delta: np.ndarray,
    diff: np.ndarray,
    res: AdaptiveResult,
    n_base: int,
    rtol: float,
    atol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The reported error and status of ``n_steps="auto"`` results: one certificate.

    ``value_norm`` (batch,) is the 2-norm of a domain's attributions and ``errors`` the
    2-norm (batch,), sum (batch,) and length ``n`` of their estimated error vector (both
    of means over the ``n_base`` baselines; see :func:`_row_stats`), ``delta`` and
    ``diff`` (batch,) the completeness error and ``f(x) - f(x')``; ``res`` holds the loop's rows
    (``n_base * batch``, baseline-major). The error is the larger of the domain's estimate
    (made consistent with ``delta``) and the loop's root-sum-square of per-interval errors,
    relative to ``||values||``. The status is ``"converged"`` exactly when the reported
    numbers meet ``error <= rtol + atol / ||values||`` and ``|delta| <= rtol |diff| +
    atol`` and that completeness tolerance lies above the rounding floor (the same floor
    the loop used); else ``"singular"`` when the loop named a singular path; else
    ``"floor"`` when the loop named the floor (a tolerance below the rounding floor, or an
    estimate at the measured rounding noise of the model's gradients that the budget
    could not bring to the tolerance; with several baselines, when no baseline's path
    spent its budget), or when the numbers meet the tolerances with the floor added and
    the completeness tolerance lies below the floor (a ``delta`` within it is then luck,
    not a certificate); else ``"max_steps"`` (a sample within the floor of a tolerance
    above it was refined until its budget was spent: more evaluations help it). Returns
    ``(error, status)``, each (batch,).
    """
    batch = len(value_norm)
    floor = res.floor.reshape(n_base, batch).mean(axis=0)
    rss = res.rss.reshape(n_base, batch).max(axis=0)
    norm = value_norm
    rows = res.status.reshape(n_base, batch)
    # the loop's floor (a binding rounding floor, or the gradients' noise), unless another
    # baseline's path spent its budget (more evaluations would help that one)
    named = np.any(rows == "floor", axis=0) & ~np.any(rows == "max_steps", axis=0)
    # where the loop stopped at the noise of the gradients, the estimate is not scaled up
    # to the part of delta that the noise explains (that would be a ratio of two noises);
    # the exact bound |delta| / sqrt(n) stays
    noise = np.zeros(n_base * batch) if res.noise is None else res.noise
    noise = np.where(named, noise.reshape(n_base, batch).mean(axis=0), 0.0)
    est = consistent_error(errors[0], errors[1], np.abs(delta), floor, errors[2])
    if (noise > 0).any():
        noisy = consistent_error(errors[0], errors[1], np.abs(delta), floor + noise, errors[2])
        bound = np.maximum(np.abs(delta) - floor, 0.0) / np.sqrt(max(1, errors[2]))
        est = np.where(noise > 0, np.maximum(noisy, bound), est)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.maximum(np.where(est == 0, 0.0, est / norm), rss)
        # the tests on the reported numbers themselves (atol / 0 is inf: no vector to scale)
        slack = np.where(norm > 0, atol / norm, np.inf if atol > 0 else 0.0)
        slack_floor = np.where(norm > 0, (atol + floor) / norm, np.inf)
    # a tolerance on completeness below the rounding floor cannot be certified, however
    # small |delta| happens to be (f(x) - f(x') at the rounding level of the model's
    # precision, or attributions that cancel heavily): named "floor", never "converged"
    # (an exactly constant output, whose attributions are exactly zero, is exact: the
    # ConstantOutputWarning names it)
    certifiable = (rtol * np.abs(diff) + atol > floor) | ((value_norm == 0) & (diff == 0))
    strict = (error <= rtol + slack) & completeness_ok(delta, diff, rtol, atol) & certifiable
    strict &= noise == 0  # an error with the noise discounted is not a certificate
    loose = (error <= rtol + slack_floor) & completeness_ok(delta, diff, rtol, atol + floor)
    singular = np.any(rows == "singular", axis=0)
    floor_status = named | (loose & ~certifiable)
    status = np.where(strict, "converged", np.where(floor_status, "floor", "max_steps"))
    return error, np.where(singular, "singular", status).astype(STATUS_DTYPE)


def fixed_status(delta: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Status of fixed-step results: ``"converged"`` (completeness within the tolerance),
    ``"floor"`` (not, but ``|delta|`` at most :data:`COMPLETENESS_FLOOR`) or ``"n_steps"``."""
    if np.logical_and.reduce(ok, axis=None):  # the usual case (ok.all() without its wrapper)
        return np.full(len(ok), "converged", dtype=STATUS_DTYPE)
    flagged = completeness_flagged(delta, ok)
    return np.where(ok, "converged", np.where(flagged, "n_steps", "floor")).astype(STATUS_DTYPE)


#: Bytes up to which the adaptive measure holds a pass's path difference in the precision
#: of its products (float64 or complex128); in the input's own precision above (h25-loop5).
_DIFF_CACHE_BYTES = 64 << 20


def _measure_norms(
    p: _Pass, dom: Domain, X0: Tensor | None, rows_b: Tensor
) -> Callable[[Tensor | None, Tensor], tuple[Tensor, int]]:
    """The adaptive loop's measure: 2-norms per row of :func:`_attributions`' values and
    the coefficients per row, without keeping them (in blocks of coefficients when the pass
    is in the domain's own coefficients: no full-size float64 temporaries)."""
    ends: list[Tensor] = []  # the time pass: dom.forward(p.end), computed on first use
    channels = _channel_blocks(p, dom)
    # h25-loop5: the path difference in the measured coefficients, every row of the pass,
    # formed once (the same subtraction as per call) and held in the precision that
    # ``re_mul`` takes it to (an exact conversion; in the input's own where that would
    # take more than _DIFF_CACHE_BYTES): each call gathers its rows' once, instead of
    # the ends' and the starts' and their difference (and its conversion) per call
    diffs: list[Tensor] = []
    # h25-adapt: the rows' ends, differences and samples of the last call, reused while
    # the same ``rows`` tensor comes again (a round measures two sums of the same rows);
    # the tensor is kept, so its identity is not reused while cached
    last: list[Any] = []
    # h25-loop5: every row's samples repeated for ``groups`` sums (each round's read
    # measures the rows' two sums with the same ``rows``)
    repeated: dict[int, Tensor] = {}

    def diff_all(end: Tensor, start: Tensor) -> Tensor:
        if not diffs:
            diff = end.reshape(len(end), -1) - start.reshape(len(start), -1)
            wide = torch.complex128 if diff.is_complex() else torch.float64
            if diff.numel() * torch.empty((), dtype=wide).element_size() <= _DIFF_CACHE_BYTES:
                diff = diff.to(wide)
            diffs.append(diff)
        return diffs[0]

    def norms(rows: Tensor | None, gradient: Tensor) -> tuple[Tensor, int]:
        n = gradient.shape[0]
        # h25-rest: ``groups`` sums of the same rows stacked (each group's norms those of a
        # call of its own)
        m = len(p.end) if rows is None else len(rows)
        groups = n // m if m else 1
        if channels is not None:  # a long recording: a few channels at a time, not kept
            parts = [
                _channel_norms(p, dom, X0, rows_b, rows, gradient[i * m : (i + 1) * m], channels)
                for i in range(groups)
            ]
            return torch.cat([a for a, _ in parts]), parts[0][1]
        assert X0 is not None  # only a long recording's channel blocks map it lazily
        if p.kind == "coefficients":
            full = diff_all(p.end, p.start)
        else:  # the sums transformed whole; their attributions' norms in blocks
            if not ends:
                ends.append(dom.forward(p.end, rows_b).detach())
            full = diff_all(ends[0], X0)
            # h25-loop5: a linear domain's Jacobian is the same at every point (its
            # ``inverse_vjp``'s X gives only the shape and dtype) and one that maps each
            # row on its own (Fourier, Time: X is not read) is handed one end, expanded:
            # no gathered or repeated copy of the rows' ends
            any_end = dom.linear and dom._rows_apart
            if last and last[0] is rows:
                end, idx = last[1], last[3]
            else:
                # h25-adapt: index_select, the same rows as ``[rows]`` (faster)
                end = ends[0] if rows is None or any_end else ends[0].index_select(0, rows)
                idx = rows_b if rows is None else rows_b[rows]
                last[:] = [rows, end, None, idx]
            if any_end:
                many_idx = idx
                if groups > 1:
                    if rows is None and groups in repeated:
                        many_idx = repeated[groups]
                    else:
                        many_idx = idx.repeat(groups)
                        if rows is None:
                            repeated[groups] = many_idx
                at = end[:1].expand(n, *end.shape[1:])
                gradient = dom.inverse_vjp(at, gradient, many_idx)
            elif groups == 1:
                gradient = dom.inverse_vjp(end, gradient, idx)
            elif dom._rows_apart:  # each row mapped on its own: all groups in one call
                many = end.expand(groups, *end.shape).reshape(n, *end.shape[1:])
                gradient = dom.inverse_vjp(many, gradient, idx.repeat(groups))
            else:  # each group mapped alone: the same shapes as one call's
                gradient = torch.cat(
                    [
                        dom.inverse_vjp(end, gradient[i * m : (i + 1) * m], idx)
                        for i in range(groups)
                    ]
                )
        if rows is None:  # all rows, in order: a view
            diff = full
        elif last and last[0] is rows and last[2] is not None:
            diff = last[2]
        else:
            diff = full.index_select(0, rows)
            if p.kind != "coefficients":
                last[2] = diff

        def diff_of(c0: int, c1: int) -> Tensor:
            return diff if c0 == 0 and c1 == diff.shape[1] else diff[:, c0:c1]

        g = gradient.reshape(n, -1)
        return attribution_norms(diff_of, g, groups), g.shape[1]

    return norms


def _channel_norms(
    p: _Pass,
    dom: Domain,
    X0: Tensor | None,
    rows_b: Tensor,
    rows: Tensor | None,
    gradient: Tensor,
    channels: list[tuple[int, int]],
) -> tuple[Tensor, int]:
    """:func:`_measure_norms` of a long recording: the 2-norms per row of ``dom``'s
    attributions of the time-pass sums ``gradient`` (n, C, T) of ``rows``, mapped and
    measured in blocks of ``channels`` (the root of the blocks' summed squares), and the
    coefficients per row (``rows=None``: every row of the pass, in order)."""
    n = gradient.shape[0]
    out = torch.zeros(n, dtype=torch.float64, device=gradient.device)
    n_coef = 0
    idx = rows_b if rows is None else rows_b[rows]
    for c0, c1 in channels:
        end = p.end[:, c0:c1] if rows is None else p.end[rows, c0:c1]
        X = dom.forward(end, idx).detach()
        g = dom.inverse_vjp(X, gradient[:, c0:c1], idx)
        start = _start_channels(p, dom, X0, idx, rows, c0, c1)
        g = g.reshape(n, -1)
        end_c, start_c = X.reshape(n, -1), start.reshape(n, -1)
        n_coef += g.shape[1]

        def diff_of(a: int, b: int, e: Tensor = end_c, s: Tensor = start_c) -> Tensor:
            return e[:, a:b] - s[:, a:b]

        out += attribution_norms(diff_of, g) ** 2
        del X, g, start, end_c, start_c
        _release_freed_memory()  # each block's temporaries handed back before the next
    return out.sqrt(), n_coef


def _start_channels(
    p: _Pass, dom: Domain, X0: Tensor | None, idx: Tensor, rows: Tensor | None, c0: int, c1: int
) -> Tensor:
    """Channels ``[c0, c1)`` of the coefficient baseline of the pass's ``rows``
    (``None``: all; ``idx``: their samples): of ``X0``, or for a lazy ``X0`` (``None``, a
    long recording's default) ``dom.forward`` of those channels of the time baseline, the
    same numbers as the whole transform's (the transforms are per channel)."""
    if X0 is not None:
        return X0[:, c0:c1] if rows is None else X0[rows, c0:c1]
    start = p.start[:, c0:c1] if rows is None else p.start[rows, c0:c1]
    return dom.forward(start, idx).detach()


def _whole_attributions(
    p: _Pass, dom: Domain, X0: Tensor | None, rows_b: Tensor, gradient: Tensor
) -> Tensor | None:
    """:func:`_attributions` in one block, or ``None`` where the rows are long and are
    mapped in blocks (:func:`_attribution_blocks`)."""
    if p.kind == "coefficients":
        return None if _long_row(gradient) else re_mul(p.end - p.start, gradient)
    if _channel_blocks(p, dom) is not None:
        return None
    assert X0 is not None  # only a long recording's channel blocks map it lazily
    X = _detached(dom.forward(p.end, rows_b))
    return re_mul(X - X0, dom.inverse_vjp(X, gradient, rows_b))


def _attribution_blocks(
    p: _Pass, dom: Domain, X0: Tensor | None, rows_b: Tensor, gradient: Tensor
) -> Iterator[tuple[tuple[int, ...], Tensor]]:
    """:func:`_attributions` in blocks: ``(shape of the whole, block)`` pairs whose blocks,
    each flattened to ``(R, k)``, are consecutive columns of the whole's ``(R, -1)`` view.

    One block (the whole) unless the rows are long: then blocks of coefficients (a pass in
    coefficients) or of channels (a time pass of a per-channel domain), each computed by
    the same elementwise operations as the whole (the same numbers). A consumer drops its
    reference to a block before asking for the next one, whose temporaries are then
    handed back.
    """
    whole = _whole_attributions(p, dom, X0, rows_b, gradient)
    if whole is not None:
        yield tuple(whole.shape), whole
        return
    if p.kind == "coefficients":
        # a long recording: elementwise in blocks of coefficients (the same numbers)
        n_rows = len(gradient)
        g = gradient.reshape(n_rows, -1)
        end, start = p.end.reshape(n_rows, -1), p.start.reshape(n_rows, -1)
        item = torch.empty((), dtype=accumulator_dtype(gradient)).element_size()
        width = max(1, block_bytes(g.shape[1], item) // (4 * n_rows * item))
        for c0 in range(0, g.shape[1], width):
            c1 = min(c0 + width, g.shape[1])
            yield tuple(gradient.shape), re_mul(end[:, c0:c1] - start[:, c0:c1], g[:, c0:c1])
        return
    channels = _channel_blocks(p, dom)
    assert channels is not None  # (None: the whole, above)
    # a long recording: a few channels at a time, each product in blocks of coefficients
    # (the same numbers, elementwise)
    n_rows = p.end.shape[0]
    item = torch.empty((), dtype=accumulator_dtype(gradient)).element_size()
    for c0, c1 in channels:
        X = dom.forward(p.end[:, c0:c1], rows_b).detach()
        g = dom.inverse_vjp(X, gradient[:, c0:c1], rows_b)
        start = _start_channels(p, dom, X0, rows_b, None, c0, c1)
        shape = (n_rows, p.end.shape[1], *X.shape[2:])
        X, g, start = (t.reshape(n_rows, -1) for t in (X, g, start))
        d = X.shape[1]
        width = max(1, block_bytes(d, item) // (4 * n_rows * 2 * item))
        for k0 in range(0, d, width):
            k1 = min(k0 + width, d)
            a = re_mul(X[:, k0:k1] - start[:, k0:k1], g[:, k0:k1])
            yield shape, a
            del a
        del X, g, start
        _release_freed_memory()  # each block's temporaries handed back before the next


def _attributions(
    p: _Pass, dom: Domain, X0: Tensor | None, rows_b: Tensor, gradient: Tensor
) -> Tensor:
    """Per-row attributions (R, *coef) of ``dom`` from a path-gradient sum of the pass.

    ``gradient`` is ``p.gradient`` (the attributions) or ``p.error_gradient`` (their
    estimated error): both map linearly. Float64.
    """
    whole = _whole_attributions(p, dom, X0, rows_b, gradient)
    if whole is not None:  # (the usual case: without the blocks' generator)
        return whole
    out: Tensor | None = None
    col = 0
    for shape, a in _attribution_blocks(p, dom, X0, rows_b, gradient):
        if out is None and tuple(a.shape) == shape:
            out = a  # one block: the whole
            del a
            continue
        if out is None:
            out = torch.empty(shape, dtype=a.dtype, device=a.device)
        flat = a.reshape(len(a), -1)
        out.view(len(out), -1)[:, col : col + flat.shape[1]] = flat
        col += flat.shape[1]
        del a, flat
    assert out is not None
    return out


def _attribution_stats(
    p: _Pass,
    dom: Domain,
    X0: Tensor | None,
    rows_b: Tensor,
    gradient: Tensor,
    n_base: int,
    batch: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``_row_stats(_baseline_mean(_attributions(...)))``, the same bits, without the
    whole attributions of a long row: their blocks are averaged over the baselines and
    reduced as they come (:class:`_RowStats`)."""
    stats: _RowStats | None = None
    for shape, a in _attribution_blocks(p, dom, X0, rows_b, gradient):
        n = math.prod(shape[1:])
        if stats is None:
            if tuple(a.shape) == shape:  # one block: the whole
                return _row_stats(_baseline_mean(a, n_base, batch))
            if n * 8 <= LONG_ROW_BYTES:  # blocks of a row that _row_stats takes whole
                del a
                return _row_stats(
                    _baseline_mean(_attributions(p, dom, X0, rows_b, gradient), n_base, batch)
                )
            stats = _RowStats(batch, n)
        m = _baseline_mean(a, n_base, batch)
        stats.feed(m.reshape(batch, -1).cpu().numpy())
        del a, m
    assert stats is not None
    return stats.result()
