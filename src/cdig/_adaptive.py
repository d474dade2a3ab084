"""The adaptive path integral behind ``n_steps="auto"`` (the default).

Each path (one row: a sample and a baseline) is parametrised by a mesh coordinate ``u`` in
[0, 1] and cut into sub-intervals of ``u``. The model is evaluated at ``alpha =
path_alpha(u)``, a smooth increasing warp of ``u`` (``phi(u) = u + WARP (1 - cos 2 pi u) /
(2 pi)``, ``WARP = (sqrt 5 - 1) / 4``), and the integrand in ``u`` is ``phi'(u) g(phi(u))``:
the mesh is dyadic in ``u``, but its points are not commensurate with any period along
``alpha``, so no periodic structure of the model fits every mesh (a dyadic mesh in
``alpha`` is blind to a gradient with 16, 32, ... periods along the path).

Every sub-interval of width ``h`` holds five equally spaced points of ``u``, where the
model's gradient and output are evaluated once. Boole's rule on the five points (degree 5)
gives the sub-interval's contribution; Simpson's rule on three of them (degree 3) gives a
second estimate, and their difference, mapped to attributions, estimates the error there:

.. math::  e_i = \\big\\| \\mathrm{Re}[(X - X') \\odot \\overline{(B_i - S_i)}] \\big\\|_2 .

Two exact checks sharpen ``e_i``:

* **local completeness**: the sub-interval's attributions must sum to the change of the
  model's output across it (outputs come free with the gradients). Their error vector sums
  to the miss, so ``e_i`` is at least the miss over ``sqrt(n_coef)`` (above the rounding
  floor): a feature that no point saw but that changes the output is seen here;
* **the rate check**: when a sub-interval is bisected, the change from its Boole sum to its
  halves' sums estimates its error independently of its five points; each half's ``e_i``
  is at least a quarter of that change. A sub-interval whose points aliased a feature (all
  five at the same phase of an oscillation) passes its doubt on to its halves until a
  bisection changes nothing.

Boole minus Simpson estimates Simpson's error (order ``h**4``), not Boole's (``h**6``).
Where a bisection shows that the integrand is smooth at the sub-interval's scale
(:func:`richardson_gate`, on the parent's nine points: Simpson's error fell about
16-fold, the change of Boole's sum is below the halves' Boole-minus-Simpson norms, the
eighth difference of the nine points is under 2 % of that change, and the change fell at
least 32-fold since the parent's own bisection), the halves take **Richardson's
estimate** instead: each half's ``e_i`` is ``change / 63 + 4 null8`` (the halves' Boole
error together is about ``change / 63``, the parent's being 64 times theirs: a factor 2 of
safety), and its Boole-minus-Simpson vector enters the row's error sum scaled to that
norm. Kinks, jumps (ReLU, max-pooling), narrow features, aliased oscillations, the
baseline's open rule and a long row (whose norms are taken in blocks of coefficients)
keep the estimates above (:func:`_richardson_adjust`).

Where the gradient switches once inside a half of a bisection (a ReLU or max-pooling
switch, a hard attention flip) and is otherwise nearly constant, both rules' error vectors
are the switch's vector times numbers that depend only on where it falls: Boole minus
Simpson has the error's direction but about twice its size. The half's exact completeness
gap is the sum of its true error vector, so a half whose Boole-minus-Simpson vector is
parallel to the parent's bisection change and whose sum does not cancel is scaled by
``-gap / sum(B - S)`` (clipped; :data:`GAP_SCALE`, :func:`_gap_lambdas`), in the row's
error sum and in its ``e_i``. Several switches in a half keep Boole minus Simpson.

A row stops when both hold, on the numbers as they will be reported:

* the **vector test**, in every domain that shares the pass: the estimated error of the
  attribution vector, ``max(||sum_i E_i||, sqrt(sum_i e_i^2))`` (the signed sum made
  consistent with the completeness error, and the root-sum-square over sub-intervals,
  which cannot cancel), is at most ``rtol * ||A|| + atol``; each norm is taken in that
  domain, the ``e_i`` too (each new sub-interval's error vectors are measured in every
  domain of the pass: a Fourier explanation's error is not that of the time coordinates
  it is integrated in; on the benchmark's steep-sigmoid CNN the root-sum-square in time
  was 20-70 times the true error of the Fourier attributions; a long row's are not
  measured, and its root-sum-square stays in the integration coordinates); and
* the **completeness test**: ``|sum(A) - (f(x) - f(x'))| <= rtol * |f(x) - f(x')| + atol``.

No row is accepted on its first mesh (17 points, four sub-intervals): the first round
bisects all four, so the tests and the rate check see a second level (33 points). Then the
sub-intervals with the largest ``e_i`` (relative to each domain's tolerance) are bisected
(as many as needed to bring the rest
under half the tolerance, so a round refines many at once); when the local estimates are
small but completeness fails, those whose local completeness fails most. Bisection reuses
all five points (each half gets three of them and two new ones), so ``n`` path points cost
exactly ``n`` model evaluations. New points of all rows are evaluated together, in chunks
of ``internal_batch_size``.

A round's work is vectorised over rows and reads the device once: the rows' sums and
norms, the new points' outputs and attribution sums (``p``, ``q`` per point) and the new
sub-intervals' error norms are concatenated and read together, and the tests and the
choice of sub-intervals run for all rows at once (:func:`_pick_all`). A bisection gathers
its nine points once and forms, with one multiply-add per non-zero weight
(:data:`_BISECTION`), its halves' error vectors and the changes of the row's Boole and
error sums, in the gradients' precision (stacked: one torch call per point and run of
outputs, :func:`_combine_plan`); the changes are added to the rows in float64
(``index_add_``). Each domain measures a round's sums of the same rows in one call.
Everything is elementwise or a per-row index sum, so the bits do not depend on the number
of threads. The result is these running sums.

Why a row stops is its **status**: ``"converged"`` (both tests), ``"floor"`` (a tolerance
lies at or below the rounding floor of the model's precision, :func:`rounding_floor` of
``|f(x)| + |f(x')| + sum |A|`` in the integration coordinates, and both tests hold once
that floor is allowed for; or the estimates are at the measured rounding noise of the
model's gradients and the budget cannot bring them to the tolerance, see
:func:`_noise_floor`: the tolerance is below what the model's outputs and gradients can
show; the engine reports the error with the same floor; a row within the floor of a
tolerance above it is refined on), ``"max_steps"`` (budget spent, best estimate kept) or
``"singular"``: the sub-interval at the baseline has been bisected down to
``SINGULAR_WIDTH`` (2**-12) and the output still changes across it by more than half of
``f(x) - f(x')``. That is a model whose output jumps next to the baseline (one that
normalises its input, explained from zeros); no budget resolves it, so the row stops after
about 13 rounds (typically under 80 evaluations) and is named.

Models with a normalization, a norm or a logarithm are often singular at a zero baseline
(``alpha = 0``) although the integral is fine. Where the gradient there is not finite, the
sub-interval that starts at the baseline uses the open Milne rule on its points at 1/4, 1/2
and 3/4 of its width instead (the two-point rule on 1/4 and 3/4 as the error estimate); its
first halves keep the same rule. Whenever completeness fails, the sub-interval at the
baseline is bisected first, since the stretch next to the baseline is the one part of the
path where a jump hides. A non-finite gradient or output anywhere else raises an error
naming the sample and ``alpha``: every point's output and the absolute sum of its
attributions (which any NaN or infinity of the gradient reaches) come with the round's one
read, and are checked there.

Gradients of the current mesh's points are kept (in the model's precision, at least
float32) until their row finishes: ``n`` evaluations of a row hold ``n`` input-sized
vectors, and rows are integrated in groups that keep this under :data:`STORE_BYTES`.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from ._numerics import SINGULAR_WIDTH, STATUS_DTYPE, accumulator_dtype, re_mul
from .quadrature import _BOOLE, _MILNE, _OPEN_PAIR, _SIMPSON

__all__ = [
    "FIRST_INTERVALS",
    "SINGULAR_WIDTH",
    "STORE_BYTES",
    "WARP",
    "AdaptiveResult",
    "consistent_error",
    "rounding_floor",
    "integrate_adaptive",
    "path_alpha",
    "richardson_gate",
]

#: Sub-intervals of the first mesh (4 x 4 + 1 = 17 path points: alpha = 0, 1/16 ... 1).
FIRST_INTERVALS = 4
#: Rows are integrated in groups whose points would take at most this many bytes if every
#: row used ``max_steps`` evaluations (a group's totals are (rows, d) float64 tensors).
STORE_BYTES = 1 << 30
#: Bytes of stored path gradients that one group keeps in memory; the rest go to an
#: unlinked temporary file (:class:`_Store`).
MEMORY_BYTES = 64 << 20
#: Bytes of float64 temporaries that one block of leaf sums may take (leaves and
#: coefficients are summed in blocks under this).
BLOCK_BYTES = 32 << 20
#: A row whose accumulator values (float64 or complex128) take more than this is *long*:
#: its points all go to the store's file, and its blocks take at most a quarter of those
#: values (:func:`store_budget`, :func:`block_bytes`), so that memory stays a small
#: multiple of the input.
LONG_ROW_BYTES = 2 << 20
#: Free space left on the temporary file's disk when points spill there, bytes.
_DISK_MARGIN = 1 << 30
#: Fewest coefficients per block of leaf sums.
MIN_COLUMNS = 4096
#: Finest sub-interval: alpha is kept as an integer multiple of 2**-_DEPTH.
_DEPTH = 48
_GRID = 1 << _DEPTH
#: The warp of the mesh (see :func:`path_alpha`): irrational, so that no mesh is
#: commensurate with a periodic structure along the path.
WARP = (5**0.5 - 1) / 4
#: A half's error estimate is at least the change of its parent's sum over this.
_RATE = 4.0
#: A round refines the sub-intervals that hold the share ``1 - REFINE_AIM / ratio`` of a
#: row's estimated error (``ratio``: the estimate over the tolerance), aiming the row at
#: this share of its tolerance (:func:`_pick_all`).
#: (0.7 and 0.85 were measured: 4-12 % fewer evaluations on most steps rows, but a GunPoint
#: CNN series then spent its budget without converging, and on 40 further series the
#: estimate fell below the true error on one more ECG200 CNN series.)
REFINE_AIM = 0.5
# --- h22-floor: the gradient-noise floor (see :func:`_noise_floor`) ----------------------
#: Sites (mesh points) per row where the gradient's rounding noise is measured.
NOISE_SITES = 3
#: The noise is measured only in precisions coarser than this (float32, float16, bfloat16):
#: float64 rounding noise (1e-16 relative) explains no estimate at a usable tolerance, and
#: measuring it would cost evaluations for nothing.
NOISE_EPS = 2.0**-30
#: Rounds in a row whose estimate (relative to the tolerance) times the evaluations did not
#: fall, before the noise is measured (smooth and kinked integrands' estimates fall as
#: 1 / n**4 and 1 / n**2; noise's as 1 / sqrt(n)).
NOISE_POOR = 1
#: An estimate is explained by the measured noise when it is at most this times the
#: estimate that noise alone would give on the current mesh.
NOISE_FACTOR = 2.0
#: 2-norms of the Boole - Simpson and the Boole weights on a sub-interval's five points (in
#: units of its width): the error estimate and the sum that uncorrelated noise of unit norm
#: at each point gives.
_NOISE_EST = float(np.linalg.norm(_BOOLE - _SIMPSON))
_NOISE_SUM = float(np.linalg.norm(_BOOLE))
# --- end h22-floor ------------------------------------------------------------------------
_TINY = float(np.finfo(np.float64).tiny)


@dataclass
class AdaptiveResult:
    """What :func:`integrate_adaptive` returns for R rows.

    Attributes
    ----------
    gradient : Tensor of shape (R, ...)
        Boole's sum of the path gradient, float64 (complex128 for complex coefficients).
    error_gradient : Tensor of shape (R, ...)
        Boole minus Simpson, summed over sub-intervals: mapped to attributions, an estimate
        of their error.
    steps : ndarray of shape (R,), int64
        Model evaluations (path points) per row.
    converged : ndarray of shape (R,), bool
        Whether the row met both tests within its budget (without the rounding floor).
    status : ndarray of shape (R,), str
        Why the row stopped: ``"converged"`` (both tests met), ``"floor"`` (met only once
        the rounding ``floor`` is allowed for: the tolerance is below what the model's
        precision can show), ``"max_steps"`` (budget spent) or ``"singular"`` (the output
        jumps next to the baseline; see :data:`SINGULAR_WIDTH`).
    floor : ndarray of shape (R,), float64
        The row's rounding floor (:func:`rounding_floor` of ``|f(x)| + |f(x')| + sum |A|``,
        ``A`` in the integration coordinates), in units of the model output: the one floor
        of both the loop's tests and the reported error.
    rss : ndarray of shape (R,), float64
        ``sqrt(sum_i e_i**2)`` over the final sub-intervals, relative to ``||A||`` (the
        integration coordinates): the part of the vector estimate that cannot cancel.
    noise : ndarray of shape (R,), float64, optional
        Where the row stopped at the noise of its gradients (status ``"floor"``): the part
        of ``|delta|`` that the measured noise explains, in units of the model output, which
        the reported error discounts like the rounding floor; 0 elsewhere (None: 0).
    """

    gradient: Tensor
    error_gradient: Tensor
    steps: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    floor: np.ndarray
    rss: np.ndarray
    noise: np.ndarray | None = None  # h22-floor
    #: h22-cost: the root-sum-square in each domain of ``measures`` (R, n_domains), relative
    #: to that domain's ``||A||`` (NaN where not measured: a long row); None: none.
    rss_domains: np.ndarray | None = None

    def for_domain(self, j: int) -> AdaptiveResult:
        """This result with ``rss`` of the ``j``-th domain of ``measures`` where it was
        measured (h22-cost: the certificate of each domain is its own)."""
        if self.rss_domains is None:
            return self
        col = self.rss_domains[:, j]
        return replace(self, rss=np.where(np.isfinite(col), col, self.rss), rss_domains=None)


#: ``gradient_at(points, rows) -> (gradients, outputs)``: the model's gradients (n, ...) and
#: outputs (n,) at path points (n, ...) of the given rows (n,).
GradientAt = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
#: ``measure(rows, G) -> (norms, n_coef)``: the 2-norms (n,) of the attributions of
#: path-gradient sums ``G`` (n, ...) of the given rows (``None``: every row of the pass, in
#: order) in one domain, as a float64 tensor on the device, and that domain's number of
#: coefficients per row; the vector test must hold in each. ``G`` may hold ``k`` sums of
#: the same rows stacked, (k * n, ...): then the norms are (k * n,), each sum's bitwise
#: those of a call of its own (h25-rest).
Measure = Callable[[Tensor | None, Tensor], tuple[Tensor, int]]
#: ``non_finite(what, rows, alphas) -> error``: the error to raise for path points of the
#: given rows (n,) at ``alphas`` (n,) whose ``what`` (``"explained output"`` or
#: ``"gradient of the explained output"``) is not finite.
NonFinite = Callable[[str, np.ndarray, np.ndarray], Exception]


def integrate_adaptive(
    gradient_at: GradientAt,
    start: Tensor,
    end: Tensor,
    target_diff: Tensor,
    scale: Tensor,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
    chunk_for: Callable[[int], int],
    on_evaluations: Callable[[int], None] | None = None,
    measures: Sequence[Measure] = (),
    non_finite: NonFinite | None = None,
) -> AdaptiveResult:
    """Adaptive path integral of R rows.

    Parameters
    ----------
    gradient_at : callable
        ``gradient_at(points, rows) -> (gradients, outputs)``: points of shape (n, ...) on
        the path of the given rows (n,), gradients of the same shape, outputs (n,). It need
        not check them: the loop checks every point's output and gradient itself (a
        non-finite gradient at the baseline turns to the open rule there, one elsewhere
        raises ``non_finite``'s error).
    start, end : Tensor of shape (R, ...)
        Path start and end in the integration coordinates.
    target_diff : Tensor of shape (R,)
        ``f(x) - f(x')`` per row, which the attributions must sum to.
    scale : Tensor of shape (R,)
        ``|f(x)| + |f(x')|`` per row: sets the floor of the tolerances at the rounding
        level of the model's outputs.
    rtol, atol : float
        Tolerances of the vector and completeness tests.
    max_steps : int
        Model evaluations per row at most (at least 17).
    chunk_for : callable
        ``chunk_for(n)`` -> evaluations per model call when ``n`` are due.
    on_evaluations : callable, optional
        Called with the number of evaluations of each round (progress bars).
    measures : sequence of callables, optional
        The domains whose attributions the vector test checks (several linear domains
        share one time pass); default: the integration coordinates themselves,
        ``Re[(end - start) * conj(G)]``.
    non_finite : callable, optional
        ``non_finite(what, rows, alphas)``: the error raised when a path point off the
        baseline has a non-finite output or gradient (checked in each round's one read of
        the device; the noise sites' points excepted, whose non-finite values leave their
        row's noise unmeasured). Default: a ``ValueError`` naming the rows and alphas.
    """
    n_rows = start.shape[0]
    d = int(np.prod(start.shape[1:])) if start.dim() > 1 else 1
    store_dtype = torch.promote_types(start.dtype, torch.float32)
    per_row = max_steps * d * torch.empty((), dtype=store_dtype).element_size()
    group = max(1, STORE_BYTES // max(1, per_row))
    parts = [
        _integrate_group(
            gradient_at,
            start,
            end,
            target_diff,
            scale,
            torch.arange(r0, min(r0 + group, n_rows), device=start.device),
            rtol,
            atol,
            max_steps,
            chunk_for,
            on_evaluations,
            measures,
            non_finite,
        )
        for r0 in range(0, n_rows, group)
    ]
    if len(parts) == 1:
        return parts[0]
    return AdaptiveResult(
        torch.cat([p.gradient for p in parts]),
        torch.cat([p.error_gradient for p in parts]),
        np.concatenate([p.steps for p in parts]),
        np.concatenate([p.converged for p in parts]),
        np.concatenate([p.status for p in parts]),
        np.concatenate([p.floor for p in parts]),
        np.concatenate([p.rss for p in parts]),
        np.concatenate([_noise_of(p) for p in parts]),
        None if parts[0].rss_domains is None else np.concatenate([p.rss_domains for p in parts]),
    )


def _noise_of(res: AdaptiveResult) -> np.ndarray:
    """``res.noise``, zeros where it is None."""
    return np.zeros(len(res.steps)) if res.noise is None else res.noise


class _Store:
    """Point gradients of one group: ``d`` values each, addressed by slot.

    The first points live in memory, in blocks that are never copied to grow, up to
    ``budget`` bytes; the rest go to an unlinked temporary file, written and read back with
    ``os.pwrite`` / ``os.preadv`` (never mapped, so they do not count in the resident memory).
    Slot 0 is a zero point: the unused first point of a sub-interval that starts at a
    baseline where the gradient is singular points there (slot 0 marks the open rule).

    The first memory block is made for ``capacity`` points (within the budget) and later
    reservations fill it in order, so that a round's gathers read one block and an
    evaluation's chunk can be written into it in place (:meth:`window`); its pages that no
    point reaches are never touched (not resident).

    Parameters
    ----------
    d : int
        Values per point.
    dtype, device
        Of the stored values (the model's precision, at least float32).
    budget : int
        Bytes of points kept in memory; ``0`` sends every point to the file.
    capacity : int, optional
        Points that the first memory block is made for (at most the budget's); default:
        those of the first reservation.
    """

    def __init__(
        self, d: int, dtype: torch.dtype, device: torch.device, budget: int, capacity: int = 0
    ) -> None:
        self.d, self.dtype, self.device = d, dtype, device
        self.point_bytes = d * torch.empty((), dtype=dtype).element_size()
        self._room = max(0, budget) // max(1, self.point_bytes)  # points memory may still take
        self._capacity = capacity  # h25-adapt: of the first block
        self._blocks: list[Tensor] = []
        self._used: list[int] = []  # h25-adapt: rows of each block given to slots
        # slot -> block (-1: the file, -2: the zero point) and row in that block or the file
        self._block = np.full(1, -2, dtype=np.int64)
        self._index = np.zeros(1, dtype=np.int64)
        self._n = 1  # h25-rest2: slots given (the arrays above grow by doubling)
        self._file: Any = None
        self._file_rows = 0

    def __len__(self) -> int:
        return self._n

    @property
    def memory_bytes(self) -> int:
        """Bytes of points held in memory."""
        return sum(self._used) * self.point_bytes

    @property
    def file_bytes(self) -> int:
        """Bytes of points written to the temporary file."""
        return self._file_rows * self.point_bytes

    def reserve(self, n: int) -> np.ndarray:
        """Slots (n,) for ``n`` new points, to be filled with :meth:`put`."""
        first = self._n
        if first + n > len(self._block):  # h25-rest2: room for the new slots, doubled
            cap = max(first + n, 2 * len(self._block))
            self._block = np.concatenate([self._block[:first], np.empty(cap - first, np.int64)])
            self._index = np.concatenate([self._index[:first], np.empty(cap - first, np.int64)])
        block = self._block[first : first + n]
        index = self._index[first : first + n]
        block[:] = -1
        index[:] = 0
        # h25-adapt: the last block's free rows first, then a new block
        k = 0
        if self._blocks and self._used[-1] < len(self._blocks[-1]):
            k = min(n, len(self._blocks[-1]) - self._used[-1])
            block[:k] = len(self._blocks) - 1
            index[:k] = self._used[-1] + np.arange(k)
            self._used[-1] += k
        new = int(min(n - k, self._room))
        if new:
            rows = int(min(self._room, max(new, self._capacity)))
            self._room -= rows
            self._capacity = 0  # later blocks: as large as their reservation
            block[k : k + new] = len(self._blocks)
            index[k : k + new] = np.arange(new)
            self._blocks.append(torch.empty((rows, self.d), dtype=self.dtype, device=self.device))
            self._used.append(new)
        k += new
        if n > k:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="cdig-store-")  # unlinked
            need = (n - k) * self.point_bytes
            disk = os.fstatvfs(self._file.fileno())
            if need > disk.f_bavail * disk.f_frsize - _DISK_MARGIN:
                raise OSError(
                    f"cdig: the adaptive integrator needs {need / 2**20:.0f} MiB more for its "
                    f"stored path gradients (points of {self.point_bytes / 2**20:.1f} MiB "
                    "beyond the memory budget), more than the free space of the temporary "
                    "directory; set TMPDIR to a larger disk, lower max_steps, or use a fixed "
                    "n_steps (which stores no points)."
                )
            index[k:] = self._file_rows + np.arange(n - k)
            self._file_rows += n - k
        self._n = first + n
        return np.arange(first, first + n)

    def window(self, first: int, n: int) -> Tensor | None:
        """The memory rows (n, d) of the ``n`` consecutive slots from ``first`` (as
        :meth:`reserve` gives them) when they are consecutive rows of one block, to be
        written in place (as :meth:`put` would); else None."""
        last = first + n - 1
        b, i0 = int(self._block[first]), int(self._index[first])
        if b < 0 or self._block[last] != b or self._index[last] != i0 + n - 1:
            return None
        return self._blocks[b][i0 : i0 + n]

    def put(self, slots: np.ndarray, values: Tensor) -> None:
        """Store ``values`` (n, d) at ``slots`` (n,) given by :meth:`reserve`."""
        block, index = self._block[slots], self._index[slots]
        for b in np.unique(block):
            sel = np.flatnonzero(block == b)
            # all of ``values`` in order: no gathered (n, d) copy
            given = (
                values
                if len(sel) == len(values)
                else values[torch.as_tensor(sel, device=values.device)]
            )
            if b >= 0:  # h25-adapt: index_copy_, the same copy as ``[idx] = `` (faster)
                self._blocks[b].index_copy_(
                    0, torch.as_tensor(index[sel], device=self.device), given
                )
                continue
            host = given.cpu().contiguous()
            buf = memoryview(host.numpy().view(np.uint8).reshape(-1).data)
            fd = self._file.fileno()
            for j, row in enumerate(index[sel]):
                part = buf[j * self.point_bytes : (j + 1) * self.point_bytes]
                written = os.pwrite(fd, part, int(row) * self.point_bytes)
                while written < len(part):  # pragma: no cover - short writes are rare
                    part = part[written:]
                    row_off = int(row) * self.point_bytes + (self.point_bytes - len(part))
                    written = os.pwrite(fd, part, row_off)

    def gather(self, slots: np.ndarray, c0: int = 0, c1: int | None = None) -> Tensor:
        """Values ``[c0, c1)`` of the points at ``slots`` (n,), shape (n, c1 - c0)."""
        c1 = self.d if c1 is None else c1
        block, index = self._block[slots], self._index[slots]
        b0 = int(block[0]) if len(block) else -1
        # h25-rest2: one memory block checked without sorting the slots' blocks
        if b0 >= 0 and bool((block == b0).all()):  # all in one memory block: one gather
            src = self._blocks[b0]
            # h25-adapt: index_select, the same copy as advanced indexing (faster)
            src = src if (c0 == 0 and c1 == self.d) else src[:, c0:c1]
            return src.index_select(0, torch.as_tensor(index, device=self.device))
        kinds = np.unique(block)
        # h25-adapt: zeros only where the zero point is gathered (every other row is written)
        new = torch.zeros if len(kinds) and kinds[0] == -2 else torch.empty
        out = new((len(slots), c1 - c0), dtype=self.dtype, device=self.device)
        for b in kinds:
            sel = np.flatnonzero(block == b)
            if b == -2:
                continue  # the zero point
            if b >= 0:  # h25-adapt: index_select / index_copy_, the same copies as ``[]``
                blk = self._blocks[b]
                blk = blk if (c0 == 0 and c1 == self.d) else blk[:, c0:c1]
                src = blk.index_select(0, torch.as_tensor(index[sel], device=self.device))
            else:
                src = self._read(index[sel], c0, c1)
            out.index_copy_(0, torch.as_tensor(sel, device=self.device), src)
        return out

    def _read(self, rows: np.ndarray, c0: int, c1: int) -> Tensor:
        """Values ``[c0, c1)`` of file rows ``rows``, read with ``preadv`` (no mapping)."""
        host = torch.empty((len(rows), c1 - c0), dtype=self.dtype)
        buf = memoryview(host.numpy().view(np.uint8).reshape(-1).data)
        item = self.point_bytes // max(1, self.d)
        width = (c1 - c0) * item
        fd = self._file.fileno()
        for j, row in enumerate(rows):
            part = buf[j * width : (j + 1) * width]
            offset = int(row) * self.point_bytes + c0 * item
            got = os.preadv(fd, [part], offset)
            while got < len(part):  # pragma: no cover - short reads are rare
                part, offset = part[got:], offset + got
                got = os.preadv(fd, [part], offset)
                if got == 0:
                    raise OSError("cdig: the temporary gradient store was truncated.")
        return host.to(self.device)

    def close(self) -> None:
        """Drop the points and the temporary file."""
        self._blocks = []
        if self._file is not None:
            self._file.close()
            self._file = None


#: Weights of a sub-interval's five points, in units of its width, per kind (0: inside the
#: path, 1: starting at a baseline where the gradient is singular): its sum (Boole; Milne)
#: and its error estimate (Boole - Simpson; Milne - the two-point rule).
_LEAF_RULES = np.stack(
    [np.stack([_BOOLE, _BOOLE - _SIMPSON]), np.stack([_MILNE, _MILNE - _OPEN_PAIR])]
)


def _bisection_rules() -> np.ndarray:
    """Weights (kind, 4, 9) on the nine points of a bisected sub-interval (its own five at
    even positions, the four new ones at odd positions), in units of a half's width: the
    left and the right half's error estimates, and the changes of the row's Boole sum and
    error sum (both halves minus the parent). The left half keeps the parent's kind."""
    out = np.zeros((2, 4, 9))
    for kind in (0, 1):
        (b, e), (b_in, e_in) = _LEAF_RULES[kind], _LEAF_RULES[0]
        out[kind, 0, :5] = e
        out[kind, 1, 4:] = e_in
        for j, (left, right) in ((2, (b, b_in)), (3, (e, e_in))):
            out[kind, j, :5] += left
            out[kind, j, 4:] += right
            out[kind, j, ::2] -= 2 * left
    return out


_BISECTION = _bisection_rules()


# --- h22-cost: Richardson's estimate where the smooth rate is confirmed (issue 22 item 5) ---
#: A bisection's halves are *smooth* (their error estimate is Richardson's) when, on the
#: parent's nine points, all of: the halves' Boole-minus-Simpson norms add up to at most
#: this share of the parent's (Simpson's error falls 16-fold per bisection where the
#: integrand is smooth; about 2-fold across a jump of the gradient, 4-fold across a kink);
RICHARDSON_SIMPSON = 0.1
#: the change of Boole's sum (parent to halves) is at most this many times the halves'
#: Boole-minus-Simpson norms (Boole is the more accurate rule);
RICHARDSON_CHANGE = 1.0
#: the eighth difference of the nine points (:data:`_NULL8`) is at most this share of the
#: change (the Taylor series converges at the parent's scale: no kink, jump, narrow
#: feature or aliased oscillation between the points);
RICHARDSON_NULL8 = 0.02
#: and the change is at most this share of the parent's own bisection change (Boole's
#: error fell at least 2**5-fold from the grandparent's level: 2**7 where smooth, 2**1 to
#: 2**4 across a jump, a kink or a singular higher derivative).
RICHARDSON_RATE = 1.0 / 32
#: Then the halves' Boole error is about ``change / 63`` (Boole's error is of order h**7 per
#: sub-interval: the parent's is 64 times its halves'), and each half is given
#: ``RICHARDSON_SAFETY * (change / 63 + RICHARDSON_NULL8_WEIGHT * null8) / 2``: the
#: eighth-difference term covers the part of the error that is not yet asymptotic.
RICHARDSON_NULL8_WEIGHT = 4.0
RICHARDSON_SAFETY = 2.0


def _null8_rule() -> np.ndarray:
    """The eighth difference of nine equally spaced points, scaled to the 2-norm of the
    bisection change's weights (:data:`_BISECTION` row 2), in units of a half's width: a
    null rule exact for degree 7 (it sees a kink, a jump or a feature that a polynomial
    of degree 7 through the nine points does not fit)."""
    d8 = np.array([(-1.0) ** j * math.comb(8, j) for j in range(9)])
    return d8 * (np.linalg.norm(_BISECTION[0, 2]) / np.linalg.norm(d8))


def _richardson_rules() -> np.ndarray:
    """:data:`_BISECTION` (kind, 4, 9) with two more rows: the eighth difference
    (:func:`_null8_rule`; a norm is taken) and the parent's own error estimate (its rule
    on the even points, in units of a half's width: what leaves the row's error sum)."""
    out = np.zeros((2, 6, 9))
    out[:, :4] = _BISECTION
    out[:, 4] = _null8_rule()
    for kind in (0, 1):
        out[kind, 5, ::2] = 2 * _LEAF_RULES[kind, 1]
    return out


_BISECTION_RICH = _richardson_rules()


def richardson_gate(
    e_left: Tensor,
    e_right: Tensor,
    change: Tensor,
    null8: Tensor,
    e_parent: Tensor,
    seen: Tensor,
) -> tuple[Tensor, Tensor]:
    """Whether a bisection's halves are smooth, and then each half's error estimate.

    All arguments are norms (n,), float64, of the same kind of quantity in the same units:
    the halves' Boole-minus-Simpson vectors, the change of Boole's sum from the parent to
    the halves, the eighth difference of the nine points (:func:`_null8_rule`), the
    parent's own Boole-minus-Simpson vector and the change when the parent itself was made
    (NaN: the first mesh, never smooth). Smooth: ``e_left + e_right <= RICHARDSON_SIMPSON
    e_parent``, ``change <= RICHARDSON_CHANGE (e_left + e_right)``, ``null8 <=
    RICHARDSON_NULL8 change`` and ``change <= RICHARDSON_RATE seen``. Returns the mask and
    ``RICHARDSON_SAFETY (change / 63 + RICHARDSON_NULL8_WEIGHT null8) / 2`` (n,)."""
    e_sum = e_left + e_right
    smooth = e_sum <= RICHARDSON_SIMPSON * e_parent
    smooth &= change <= RICHARDSON_CHANGE * e_sum
    smooth &= null8 <= RICHARDSON_NULL8 * change
    smooth &= change <= RICHARDSON_RATE * seen
    r = RICHARDSON_SAFETY * (change / 63 + RICHARDSON_NULL8_WEIGHT * null8) / 2
    return smooth, r


class _Adjust(Protocol):
    """The ``adjust`` of :func:`_richardson_adjust`: outputs, sub-intervals, their norms
    (None: not whole) and the halves' error vectors as one (2, n, c) slice, if they are."""

    def __call__(
        self,
        outs: list[Tensor],
        sel: np.ndarray,
        norms: Tensor | list[Tensor] | None,
        pair: Tensor | None = None,
    ) -> None: ...


def _richardson_adjust(
    kinds: np.ndarray,
    h: np.ndarray,
    e_parent: np.ndarray,
    seen_parent: np.ndarray,
    lam_parent: np.ndarray,
    record: Tensor,
    lam_gap: Tensor | None = None,
) -> _Adjust:
    """The ``adjust`` of a bisection's :func:`sums_and_norms` (rules
    :data:`_BISECTION_RICH`, norms of rows 0, 1, 2 and 4) for ``n`` parents: kinds, the
    halves' width ``h`` (in u), the parent's own Boole-minus-Simpson norm, its parent's
    bisection change (NaN on the first mesh) and the scale ``lam`` of its error vector in
    the row's error sum.

    Where the halves are smooth (see :data:`RICHARDSON_SIMPSON` ... :data:`RICHARDSON_RATE`),
    each half's error estimate is ``r = RICHARDSON_SAFETY * (change / 63 +
    RICHARDSON_NULL8_WEIGHT * null8) / 2``, and its Boole-minus-Simpson vector enters the
    row's error sum scaled to that norm (``lam = r / e`` where ``e > r``; else ``lam = 1``:
    the vector keeps Simpson's shape, which the completeness test checks). The change of
    the row's error sum (row 3) becomes ``lam_L E_L + lam_R E_R - lam_P E_P``. Writes
    ``lam_L``, ``lam_R`` and ``r`` (NaN where not smooth) into ``record`` (3, n) for the
    host. Where the block holds part of the coefficients (a long row), nothing is smooth:
    the norms are not complete there.

    ``lam_gap`` (4, n) on the device (:func:`_gap_lambdas`), if given: a half that is not
    smooth takes its scale ``lam_gap[i]`` where it shows one switch (its vector parallel to
    the change, ``|cos| >= GAP_COS``, and ``lam_gap[2 + i] >= GAP_SUM e``; see
    :data:`GAP_SCALE`), else 1."""
    possible = (kinds == 0) & np.isfinite(seen_parent)

    def adjust(
        outs: list[Tensor],
        sel: np.ndarray,
        norms: Tensor | list[Tensor] | None,
        pair: Tensor | None = None,
    ) -> None:
        dev = outs[0].device
        if lam_gap is None and not possible[sel].any() and (lam_parent[sel] == 1).all():
            return  # the first level, the baseline's open rule: Simpson's estimate
        # h25-loop5: every parent (the usual block) as a slice, not an index
        sel_t: Tensor | slice = (
            slice(None) if len(sel) == record.shape[1] else torch.as_tensor(sel, device=dev)
        )
        # h25-rest2: the two halves' elementwise steps at once, (2, n) (the same numbers;
        # each reduction, ``_aligned``, stays a call per half)
        lam = torch.ones(2, len(sel), dtype=torch.float64, device=dev)
        if norms is not None:
            hh = torch.as_tensor(h[sel], dtype=torch.float64, device=dev)
            # (h25-loop5: the norms' (4, n) tensor as it comes, not stacked again)
            four = (norms if isinstance(norms, Tensor) else torch.stack(norms)) * hh
            e_l, e_r, change, null8 = four.unbind(0)
            e_p = torch.as_tensor(e_parent[sel], dtype=torch.float64, device=dev)
            seen = torch.as_tensor(seen_parent[sel], dtype=torch.float64, device=dev)
            smooth, r = richardson_gate(e_l, e_r, change, null8, e_p, seen)
            smooth &= torch.as_tensor(possible[sel], device=dev)
            e = four[:2]
            other: Tensor | float = 1.0
            if lam_gap is not None:  # h22-evals: one switch in the half (see GAP_SCALE)
                # (h25-loop5: the change's norm taken once for both halves)
                nc = torch.linalg.vector_norm(outs[2], dim=1)
                if pair is not None:  # both halves in one call of each step
                    cos = _aligned(pair, outs[2], nc)
                else:
                    cos = torch.stack(
                        [_aligned(outs[0], outs[2], nc), _aligned(outs[1], outs[2], nc)]
                    )
                ok = cos >= GAP_COS
                ok &= lam_gap[2:, sel_t] >= GAP_SUM * e
                other = torch.where(ok, lam_gap[:2, sel_t], 1.0)
            lam = torch.where(smooth & (e > r), r / e, other)
            record[:2, sel_t] = lam
            record[2, sel_t] = torch.where(smooth, r, torch.nan)
        real = outs[3].real.dtype if outs[3].is_complex() else outs[3].dtype
        halves = (lam - 1).to(real)
        if pair is not None:  # (h25-loop5: both products in one call, added in order)
            scaled = pair * halves[:, :, None]
            outs[3].add_(scaled[0])
            outs[3].add_(scaled[1])
        else:
            outs[3].add_(outs[0] * halves[0][:, None])
            outs[3].add_(outs[1] * halves[1][:, None])
        if len(outs) == 5:  # h25-rest: no parent scaled (see _richardson_rows): its term is 0
            assert (lam_parent[sel] == 1).all()
        else:
            lam_p = torch.as_tensor(lam_parent[sel], dtype=torch.float64, device=dev)
            outs[3].add_(outs[5] * (1 - lam_p).to(real)[:, None])

    return adjust


def _richardson_rows(
    kinds: np.ndarray, seen_parent: np.ndarray, lam_parent: np.ndarray
) -> tuple[bool, bool]:
    """(h25-rest) Whether :func:`_richardson_adjust` of these parents reads anything (the
    eighth difference's norm, row 4 of :data:`_BISECTION_RICH`: some parent may be smooth,
    or some parent's vector was scaled), and whether it reads row 5 (the parent's own
    error vector, added times ``1 - lam``: some parent was scaled). Where it reads
    nothing it changes nothing; a row 5 times 0 changes no total (it adds zeros)."""
    possible = (kinds == 0) & np.isfinite(seen_parent)
    scaled = bool((lam_parent != 1).any())
    return bool(possible.any()) or scaled, scaled


# --- end h22-cost -------------------------------------------------------------------------

# --- h22-evals: a half's error vector scaled to its exact local gap (issue 22 item 5) -----
#: Where the gradient switches once inside a half of a bisection (a ReLU or a max-pooling
#: switch, a hard attention flip along the path) and is otherwise nearly constant, Boole's
#: and Simpson's error vectors on it are the switch's vector times numbers that depend only
#: on where it falls; Boole minus Simpson then has the error's direction but not its size
#: (about twice it, median, on the steps benchmark's ReLU rows: the estimates stopped at
#: 2.5-3.6 times the true error). The half's exact completeness gap ``f(hi) - f(lo) -
#: sum(A_i)`` is the sum of its true error vector, so ``lam = -gap / sum(B - S)`` scales
#: the Boole-minus-Simpson vector to the error itself. It is applied (the half's vector
#: enters the row's error sum, and its error estimate, times ``lam``) only where a bisection
#: shows the one-switch pattern: the half's Boole-minus-Simpson vector is parallel to the
#: parent's bisection change (``|cos| >= GAP_COS``; both are the switch's vector), its sum
#: does not cancel (``|sum(B - S)| >= GAP_SUM ||B - S||``: a vector whose coefficients sum
#: to about zero, e.g. two opposite ridges with the same profile, leaves ``lam`` a ratio of
#: two roundings), and ``|lam|`` is clipped to [GAP_LAM_MIN, GAP_LAM_MAX]. The first
#: round's halves (the second level) keep Boole minus Simpson, and so do long rows (whose
#: norms are taken in blocks). Scaling every half instead (clipped to [0.5, 1.5]) saved
#: more evaluations but was not conservative: several switches in a half are not pinned
#: down by one scalar gap (on 40 further ResNet series the estimate fell below the true
#: error on 3; the GunPoint CNN 18/20), and without the sum test a 64-period oscillation
#: pair of the adversarial suite stopped lucky on 8 of 8 samples.
GAP_SCALE = True
GAP_COS = 0.99
GAP_SUM = 0.5
GAP_LAM_MIN = 0.25
GAP_LAM_MAX = 4.0


def _aligned(a: Tensor, b: Tensor, norm_b: Tensor | None = None) -> Tensor:
    """``|<a, b>| / (||a|| ||b||)`` per row of two (n, d) tensors (real part), float64; 0
    where a norm is 0. ``norm_b``: ``vector_norm(b, dim=1)`` if already taken; ``a`` may
    be several (k, n, d) stacked, each row's reductions those of a call of its own (k, n)
    (h25-loop5)."""
    dot = (a * b.conj()).real.sum(dim=-1) if a.is_complex() else (a * b).sum(dim=-1)
    if norm_b is None:
        norm_b = torch.linalg.vector_norm(b, dim=-1)
    na = torch.linalg.vector_norm(a, dim=-1) * norm_b
    return (dot.abs() / na).double().nan_to_num(0.0)


def _gap_lambdas(
    f_old: Tensor, p_old: Tensor, f_new: Tensor, p_new: Tensor, kinds: np.ndarray, h: np.ndarray
) -> Tensor:
    """For ``n`` bisections (see :data:`GAP_SCALE`), on the device, (4, n): the left and
    right halves' scales ``-gap / sum(B - S)``, their magnitude clipped to [GAP_LAM_MIN,
    GAP_LAM_MAX] (GAP_LAM_MAX where not finite; 1 for the open rule at a singular
    baseline), then the magnitudes of the halves' ``sum(B - S)`` (in units of the row's
    attributions, as their norms in :func:`_richardson_adjust`).

    ``f_old``, ``p_old`` (n, 5): the model's outputs and the attribution sums at the
    parents' own points; ``f_new``, ``p_new`` (n, 4): at the new points (at 1/8, 3/8, 5/8,
    7/8 of the parent); ``kinds`` (n,) the parents' kinds; ``h`` (n,) the halves' widths
    in u."""
    dev = p_old.device
    n = len(h)
    f9 = torch.empty(n, 9, dtype=torch.float64, device=dev)
    p9 = torch.empty(n, 9, dtype=torch.float64, device=dev)
    f9[:, ::2], f9[:, 1::2] = f_old.double(), f_new.double()
    p9[:, ::2], p9[:, 1::2] = p_old.double(), p_new.double()
    hh = torch.as_tensor(h, dtype=torch.float64, device=dev)
    rules = torch.as_tensor(_LEAF_RULES[0].T, device=dev)  # (5, 2): Boole, Boole - Simpson
    out = torch.empty(4, n, dtype=torch.float64, device=dev)
    # (2, n, 2): each half's sum and its error's sum (a product per half, as before;
    # h25-rest2: the elementwise steps for both halves at once, the same numbers)
    sums = hh[:, None] * torch.stack([p9[:, :5] @ rules, p9[:, 4:] @ rules])
    ends = f9[:, ::4].T  # (3, n): the outputs at the halves' ends
    lam = -(ends[1:] - ends[:2] - sums[..., 0]) / sums[..., 1]  # -gap / sum(B - S)
    size = lam.abs().clamp(GAP_LAM_MIN, GAP_LAM_MAX)
    out[:2] = torch.where(torch.isfinite(lam), torch.copysign(size, lam), GAP_LAM_MAX)
    out[2:] = sums[..., 1].abs()
    out[0, torch.as_tensor(kinds != 0, device=dev)] = 1.0  # the baseline's open rule
    return out


# --- end h22-evals ------------------------------------------------------------------------


class _Mesh:
    """Sub-intervals ("leaves") of the rows of one group, as parallel numpy arrays in no
    particular order, and their points (slots of :class:`_Store`)."""

    def __init__(self, store: _Store) -> None:
        self.store = store  # point gradients
        self.row = np.zeros(0, dtype=np.int64)  # leaf -> local row
        self.lo = np.zeros(0, dtype=np.int64)  # leaf start, in units of 2**-_DEPTH
        self.width = np.zeros(0, dtype=np.int64)
        self.slots = np.zeros((0, 5), dtype=np.int64)  # leaf -> its five points in store
        self.err = np.zeros(0)  # e_i, the vector error estimate
        self.gap = np.zeros(0)  # f(hi) - f(lo) - sum(A_i), its exact completeness error
        # per slot: the model's output there, and the sum and absolute sum of the point's
        # attributions Re[(X - X') conj(g)] (slot 0, the zero point: zeros)
        self.f = np.zeros(1)
        self.p = np.zeros(1)
        self.q = np.zeros(1)
        self.f_base: np.ndarray = np.zeros(0)  # per row: the output at the baseline
        # h22-cost: per leaf, its own Boole-minus-Simpson norm, its parent's bisection
        # change (NaN on the first mesh) and the scale of its vector in the error sum
        self.enorm = np.zeros(0)
        self.seen = np.zeros(0)
        self.lam = np.zeros(0)
        self.errd = np.zeros((0, 0))  # e_i in each domain of the pass (NaN: not measured)

    def kind(self, idx: np.ndarray) -> np.ndarray:
        """0 for a leaf inside the path, 1 for one at a singular baseline (slot 0)."""
        return (self.slots[idx, 0] == 0).astype(np.int64)

    def f5(self, idx: np.ndarray) -> np.ndarray:
        """The model's outputs (n, 5) at the points of leaves ``idx``."""
        f = self.f[self.slots[idx]]
        at0 = self.lo[idx] == 0
        f[at0, 0] = self.f_base[self.row[idx[at0]]]
        return f


def _integrate_group(
    gradient_at: GradientAt,
    start_all: Tensor,
    end_all: Tensor,
    target_all: Tensor,
    scale_all: Tensor,
    rows: Tensor,
    rtol: float,
    atol: float,
    max_steps: int,
    chunk_for: Callable[[int], int],
    on_evaluations: Callable[[int], None] | None,
    measures: Sequence[Measure],
    non_finite: NonFinite | None,
) -> AdaptiveResult:
    # the group's rows are consecutive: views, not copies
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    start, end = start_all[r0:r1], end_all[r0:r1]
    whole_pass = r0 == 0 and r1 == start_all.shape[0]
    n_rows, shape = start.shape[0], start.shape[1:]
    dev = start.device
    end_flat, start_flat = end.reshape(n_rows, -1), start.reshape(n_rows, -1)
    d = start_flat.shape[1]
    store_dtype = torch.promote_types(start.dtype, torch.float32)
    acc = accumulator_dtype(start)
    real = start.real.dtype if start.is_complex() else start.dtype
    acc_bytes = torch.empty((), dtype=acc).element_size()
    # the path difference in the input's own dtype: converted where it multiplies a sum;
    # a long row's is not held but formed where it is used, a block at a time (the same
    # numbers: one subtraction)
    diff = None if d * acc_bytes > LONG_ROW_BYTES else end - start
    diff_flat = None if diff is None else diff.reshape(n_rows, -1)

    def diff_of(sel: Tensor | None, c0: int, c1: int) -> Tensor:
        """The path difference (n, c1 - c0) of local rows ``sel`` (``None``: all, in
        order: views where it is held), coefficients ``[c0, c1)``."""
        whole = c0 == 0 and c1 == d
        if diff_flat is not None:
            if sel is None:
                return diff_flat if whole else diff_flat[:, c0:c1]
            # index_select: the rows of ``[sel]``, copied faster
            return (diff_flat if whole else diff_flat[:, c0:c1]).index_select(0, sel)
        if sel is None:
            return end_flat[:, c0:c1] - start_flat[:, c0:c1]
        return end_flat[sel, c0:c1] - start_flat[sel, c0:c1]

    # the points' store (its file, if any, is closed when the mesh is dropped)
    # (h25-adapt: its first block made for every point the rows may take, pages untouched
    # until used: one block to gather from and to write chunks into)
    mesh = _Mesh(
        _Store(d, store_dtype, dev, store_budget(d, acc_bytes), capacity=n_rows * max_steps)
    )
    # input-sized temporaries: the memory they free is handed back to the system at once
    trim = mesh.store.point_bytes >= _TRIM_POINT_BYTES
    item = torch.empty((), dtype=store_dtype).element_size()
    # the per-round sums are taken in the store's precision (that of the model's gradients,
    # at least float32) and accumulated in float64
    work_real = store_dtype.to_real() if store_dtype.is_complex else store_dtype
    target = target_all[rows].double().cpu().numpy()
    scale = scale_all[rows].double().cpu().numpy()
    steps = np.zeros(n_rows, dtype=np.int64)
    total = torch.zeros(n_rows, d, dtype=acc, device=dev)  # sum of B_i per row
    total_err = torch.zeros(n_rows, d, dtype=acc, device=dev)  # sum of B_i - S_i per row

    def evaluate(point_rows: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, Tensor, np.ndarray]:
        """Gradients at grid positions ``pos`` of local rows ``point_rows``: their slots;
        (3, n) float64 on the device: the model's outputs, and the sum and absolute sum of
        each point's attributions (not finite where the gradient is not), in the order
        ``order`` (the third return value) of the points.

        Stored is ``phi'(u) g(phi(u))``: the integrand in the mesh coordinate ``u``. The
        numbers stay on the device (read with the round's statistics), except at the
        baseline, whose singular points are replaced by the zero point at once."""
        n = len(pos)
        at_baseline = pos == 0
        # the baseline's points first, on their own calls (their gradient may be singular)
        order = np.argsort(~at_baseline, kind="stable")
        u = pos[order] / _GRID
        alphas = torch.as_tensor(path_alpha(u), dtype=real, device=dev)  # as torch.tensor
        speed = torch.as_tensor(path_speed(u), dtype=store_dtype, device=dev)
        r_np = point_rows[order]
        r = torch.as_tensor(r_np, device=dev)
        r_model = r if r0 == 0 else r + r0  # h25-adapt: ``rows[r]`` (rows = r0, r0 + 1, ...)
        n_base = int(at_baseline.sum())
        chunk = max(1, chunk_for(n))
        # each chunk goes to the store as it comes: no (n, d) copy of the gradients
        if trim:
            _release_freed_memory()
        # h25-adapt: slots in the order of evaluation (a chunk's are consecutive: written
        # in place where they are consecutive rows of a memory block); returned in the
        # points' order
        slots_e = mesh.store.reserve(n)
        slots = np.empty(n, dtype=np.int64)
        slots[order] = slots_e
        stats = torch.empty(3, n, dtype=torch.float64, device=dev)
        # h25-loop5: the views each chunk takes slices of, made once per evaluation
        f_out, p_out, q_out = stats.unbind(0)
        alphas = alphas.view((-1,) + (1,) * len(shape))
        speed = speed[:, None]
        work: Tensor | None = None  # the attributions of a chunk written in place
        # the baseline's points are evaluated in chunks of their own (they come first)
        for a, b in ((0, n_base), (n_base, n)):
            for lo in range(a, b, chunk):
                hi = min(lo + chunk, b)
                m = hi - lo
                rr = r[lo:hi]
                st, dr = chunk_ends(r_np, lo, hi, rr)
                if diff is None:  # formed for this chunk: the points overwrite it, and it
                    # is formed again after the model (no second input-sized tensor)
                    pts = torch.addcmul(st, alphas[lo:hi], dr, out=dr)
                    del dr
                elif m > 1:  # h25-adapt: into the gathered start (the same bits, no new tensor)
                    pts = st.addcmul_(alphas[lo:hi], dr)
                else:  # one point: ``st`` is a view of the path start
                    pts = torch.addcmul(st, alphas[lo:hi], dr)
                del st
                g, y = gradient_at(pts, r_model[lo:hi])
                del pts
                if trim:  # the model's activations and the point: freed, handed back
                    _release_freed_memory()
                g = g.reshape(m, -1).to(store_dtype)
                # the integrand in the mesh coordinate u: phi'(u) g(phi(u)), written in
                # the store's rows where it can be (the same product as into a new tensor)
                dst = mesh.store.window(int(slots_e[lo]), m)
                if dst is None:
                    g = g * speed[lo:hi]
                    mesh.store.put(slots_e[lo:hi], g)
                else:
                    g = torch.mul(g, speed[lo:hi], out=dst)
                if diff is None:
                    dr = chunk_ends(r_np, lo, hi, rr)[1]
                flat = dr.reshape(m, -1)
                if flat.dtype == g.dtype and not g.is_complex():
                    if dst is None:
                        att = g.mul_(flat)  # stored already: in place (the same bits)
                    else:  # the store's rows stay: into a buffer (the same bits)
                        if work is None:
                            work = torch.empty(min(chunk, n), d, dtype=g.dtype, device=dev)
                        att = torch.mul(g, flat, out=work[:m])
                else:
                    att = _re_mul_work(flat, g)
                del g, dr, flat, dst
                # a non-finite gradient makes its absolute sum non-finite (0 * inf is NaN)
                f_out[lo:hi] = y.reshape(-1)  # converted exactly, as by ``double()``
                p_out[lo:hi] = att.sum(dim=1)
                q_out[lo:hi] = att.abs_().sum(dim=1)
                del att
                if trim:  # each model call starts on a heap without freed pages
                    _release_freed_memory()
        del work
        steps[:] += np.bincount(point_rows, minlength=n_rows)
        if on_evaluations is not None:
            on_evaluations(n)
        if n_base:  # singular at the baseline: the open rule takes over (the zero point)
            singular = ~np.isfinite(stats[2, :n_base].cpu().numpy())
            slots[order[:n_base][singular]] = 0
        return slots, stats, order

    def chunk_ends(r_np: np.ndarray, lo: int, hi: int, rr: Tensor) -> tuple[Tensor, Tensor]:
        """The path start and difference of the rows ``rr`` of points ``[lo, hi)`` of an
        evaluation (``r_np``: its points' local rows on the host): views for one point (a
        long row's chunk), else gathered."""
        if hi - lo == 1:
            one = int(r_np[lo])
            st = start[one : one + 1]
            return st, end[one : one + 1] - st if diff is None else diff[one : one + 1]
        st = start.index_select(0, rr)  # the rows of ``[rr]``, copied faster
        return st, end.index_select(0, rr) - st if diff is None else diff.index_select(0, rr)

    def check_finite(
        point_rows: np.ndarray, pos: np.ndarray, outputs: np.ndarray, abs_sums: np.ndarray
    ) -> None:
        """Raise where a point off the baseline has a non-finite output, or a non-finite
        gradient (its attributions' absolute sum, which any NaN or infinity of the gradient
        reaches: 0 * inf is NaN): the path guard, read with the round (h25-adapt)."""
        inside = pos != 0
        for what, values in (
            ("explained output", outputs),
            ("gradient of the explained output", abs_sums),
        ):
            bad = inside & ~np.isfinite(values)
            if not bad.any():
                continue
            bad_rows = rows[torch.as_tensor(point_rows[bad], device=dev)].cpu().numpy()
            bad_alphas = path_alpha(pos[bad] / _GRID)
            if non_finite is not None:
                raise non_finite(what, bad_rows, bad_alphas)
            raise ValueError(
                f"the {what} is not finite (NaN or infinite) on the path of row(s) "
                f"{sorted(set(bad_rows.tolist()))[:10]} at alpha = "
                f"{sorted(set(bad_alphas.round(6).tolist()))[:5]} (x' + alpha (x - x')); "
                "check the model for overflow, log/sqrt/division of values that reach zero, "
                "or use another baseline."
            )

    def sums_and_norms(
        slots: np.ndarray,
        lrows: np.ndarray,
        kinds: np.ndarray,
        h: np.ndarray,
        rules: np.ndarray,
        to_totals: tuple[int, int],
        normed: Sequence[int],
        adjust: _Adjust | None = None,
        measured: Sequence[int] = (),
    ) -> Tensor:
        """For n sub-intervals (points ``slots`` (n, K), rows ``lrows``, kinds, widths
        ``h`` in u): the weighted sums of their points with ``rules`` (kind, J, K) times
        ``h``; outputs ``to_totals`` are added to the row sums ``total`` and ``total_err``;
        returns the 2-norms (len(normed), n) of the attributions of outputs ``normed``, on
        the device. In blocks of sub-intervals and coefficients under BLOCK_BYTES; each
        point is gathered once per block, each sum is one multiply-add per weight.
        ``adjust(outs, sel, norms)``, if given, may change the outputs of a block of
        sub-intervals ``sel`` before they are added, knowing their norms (unscaled by
        ``h``; None where the block holds part of the coefficients). The outputs
        ``measured`` are also measured in each domain of ``measures``: their norms follow,
        output-major, (len(measured) * len(measures), n) (NaN where a block holds part of
        the coefficients: a long row's are not measured)."""
        n, k = slots.shape
        per = (k + rules.shape[1] + 3) * item + 2 * acc_bytes
        # h22-cost: the outputs ``measured``'s norms in each domain of the pass
        n_dom = len(measures) if measured else 0
        # h25-loop5: both in one tensor, scaled in place at the end (no copy, one product)
        both = torch.empty(len(normed) + len(measured) * n_dom, n, dtype=torch.float64, device=dev)
        sq = both[: len(normed)].zero_()  # norms or squares
        sq_dom = both[len(normed) :].fill_(torch.nan)
        h_t = torch.as_tensor(h, dtype=torch.float64, device=dev)
        h_work = h_t.to(work_real)  # powers of two: exact in any precision
        groups = [(kd, np.flatnonzero(kinds == kd)) for kd in (0, 1)]
        split = False
        for kd, members in groups:
            if len(members) == 0:
                continue
            for i0, i1, c0, c1 in _leaf_blocks(len(members), d, per, block_bytes(d, acc_bytes)):
                sel = members[i0:i1]
                m = len(sel)
                split |= c1 - c0 < d
                # all sub-intervals at once (the usual case): slices, not gathers
                sel_t: Tensor | slice = slice(None) if m == n else torch.as_tensor(sel, device=dev)
                pts = mesh.store.gather(slots[sel].T.reshape(-1), c0, c1).view(k, m, c1 - c0)
                # h25-rest: the outputs stacked (:func:`_combine_plan`), the same bits
                plan = None if pts.is_complex() else _plan_of(rules[kd], normed, measured)
                if plan is None:
                    stack, outs = None, _combine_rows(pts, rules[kd])
                else:
                    stack, outs = _combine_plan(pts, plan)
                del pts
                hh = h_work[sel_t, None]
                r_t = torch.as_tensor(lrows[sel], device=dev)
                dr = diff_of(r_t, c0, c1)
                block_norms: Tensor | list[Tensor]
                if stack is not None and plan is not None and plan.normed is not None:
                    # one product and one norm for all (each row's reduction the same)
                    a = _re_mul_work(dr, stack[plan.normed[0] : plan.normed[1]])
                    norms = torch.linalg.vector_norm(a, dim=-1).double()
                    del a
                    if c1 - c0 == d:
                        sq[:, sel_t] = norms
                    else:
                        sq[:, sel_t] += norms**2
                    block_norms = norms  # (h25-loop5: the (J, m) tensor, not a list)
                else:
                    block_norms = []
                    for i, j in enumerate(normed):
                        a = _re_mul_work(dr, outs[j])
                        norm = torch.linalg.vector_norm(a, dim=1).double()
                        if c1 - c0 == d:
                            sq[i, sel_t] = norm
                        else:
                            sq[i, sel_t] += norm**2
                        block_norms.append(norm)
                        del a
                if adjust is not None:  # h22-cost: Richardson's estimate (see _richardson)
                    # h25-loop5: the halves' error vectors as one (2, m, c) slice where the
                    # plan put them next to each other
                    pair = None
                    if stack is not None and plan is not None and plan.pos[1] == plan.pos[0] + 1:
                        pair = stack[plan.pos[0] : plan.pos[0] + 2]
                    adjust(outs, sel, block_norms if c1 - c0 == d else None, pair)
                del block_norms
                if n_dom and c1 - c0 == d:  # h22-cost: the per-domain norms
                    g_rows = rows[r_t]
                    # h25-rest: the outputs stacked, one measure call per domain (each
                    # output's norms those of a call of its own)
                    if stack is not None and plan is not None and plan.measured is not None:
                        g = stack[plan.measured[0] : plan.measured[1]]  # a view, in order
                    else:
                        g = torch.cat([outs[j] for j in measured])
                    g = g.view(-1, *shape)
                    dom_sq = sq_dom.view(len(measured), n_dom, n)
                    for di, measure in enumerate(measures):
                        dom_sq[:, di, sel_t] = measure(g_rows, g)[0].view(len(measured), m)
                for t, j in zip((total, total_err), to_totals, strict=True):
                    t[:, c0:c1].index_add_(0, r_t, (outs[j] * hh).to(acc))
                del outs, dr, stack
        if split:
            sq.sqrt_()
        return both.mul_(h_t)

    def leaf_scalars(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact completeness error of leaves ``idx`` (the change of the output across
        each minus its attributions' sum, from its points' attribution sums) and the norm
        that it implies for the leaf's error vector (above the rounding floor)."""
        w = _LEAF_RULES[mesh.kind(idx), 0]  # (n, 5)
        h = mesh.width[idx] / _GRID
        s = h * (w * mesh.p[mesh.slots[idx]]).sum(axis=1)
        ab = h * (np.abs(w) * mesh.q[mesh.slots[idx]]).sum(axis=1)
        f5 = mesh.f5(idx)
        gap = (f5[:, 4] - f5[:, 0]) - s
        floor_leaf = rounding_floor(real, np.abs(f5[:, 0]) + np.abs(f5[:, 4]) + ab)
        return gap, np.maximum(np.abs(gap) - floor_leaf, 0.0) / np.sqrt(d)

    # first mesh: FIRST_INTERVALS leaves per row on 4 * FIRST_INTERVALS + 1 grid points
    # and, when the budget allows, their second level in the same model call (the first
    # round bisects every first-mesh sub-interval with the points evaluated here)
    n_pts = 4 * FIRST_INTERVALS + 1
    ahead = max_steps >= 2 * n_pts - 1
    n_first = 2 * n_pts - 1 if ahead else n_pts
    pos = np.tile(np.arange(n_first, dtype=np.int64) * (_GRID // (n_first - 1)), n_rows)
    point_rows = np.repeat(np.arange(n_rows), n_first)
    slots, point_stats, order = evaluate(point_rows, pos)
    # pending: points and leaves whose numbers come with the next read
    pending_points = (slots, point_rows, pos, point_stats, order)
    slots = slots.reshape(n_rows, n_first)
    second = slots[:, 1::2] if ahead else None  # the second level waits for the first round
    first = slots[:, ::2] if ahead else slots
    width = _GRID // FIRST_INTERVALS
    k = np.tile(np.arange(FIRST_INTERVALS), n_rows)
    mesh.row = np.repeat(np.arange(n_rows), FIRST_INTERVALS)
    mesh.lo = k * width
    mesh.width = np.full(len(k), width, dtype=np.int64)
    mesh.slots = first[mesh.row[:, None], 4 * k[:, None] + np.arange(5)]
    mesh.f_base = np.zeros(n_rows)
    mesh.err = np.zeros(len(k))
    mesh.gap = np.zeros(len(k))
    mesh.enorm, mesh.seen, mesh.lam = np.zeros(len(k)), np.full(len(k), np.nan), np.ones(len(k))
    new_leaves = np.arange(len(k))
    # their sums, error estimates and the norms of those (pending until the read)
    n_dom = len(measures)  # h22-cost: the leaves' errors are measured in each domain too
    first_norms = sums_and_norms(
        mesh.slots,
        mesh.row,
        mesh.kind(new_leaves),
        mesh.width / _GRID,
        _LEAF_RULES,
        (0, 1),
        (1,),
        measured=(1,),
    )
    pending_norms = first_norms[0]
    pending_dom: Tensor | None = first_norms[1:] if n_dom else None
    mesh.errd = np.zeros((len(k), n_dom))
    dom_norm = np.full((n_rows, n_dom), np.nan)  # each row's ||A|| per domain, last read
    pending_seen: np.ndarray | Tensor | None = None  # bisection changes (per new leaf)
    pending_rich: Tensor | None = None  # h22-cost: (3, parents) lam_L, lam_R, r (NaN: none)

    active = np.ones(n_rows, dtype=bool)
    status = np.full(n_rows, "max_steps", dtype=STATUS_DTYPE)
    first_round = True
    tiny = _TINY
    # --- h22-floor: the gradient-noise floor's state per row (see _noise_floor) ----------
    rate_prev = np.full(n_rows, np.inf)  # estimate / tolerance * evaluations, last round
    poor = np.zeros(n_rows, dtype=np.int64)  # consecutive rounds that did not beat 1 / n
    noise_state = np.zeros(n_rows, dtype=np.int8)  # 0: not measured, 1: pending, 2: known
    # measured noise per point (rms norms of its attributions' noise): its sum, its norm
    # in the integration coordinates and in each domain of the pass
    sig_s, sig_i = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
    sig_d = np.full((n_rows, max(1, len(measures))), np.nan)
    pending_noise: tuple[np.ndarray, Tensor] | None = None  # (site rows, stats on device)
    noise_sum = np.zeros(n_rows)  # the part of |delta| explained by noise, floor rows
    noise_skip = 0  # trailing pending points that are noise sites (no finiteness check)
    # not for long rows (memory), nor in float64
    can_measure = store_budget(d, acc_bytes) > 0 and float(torch.finfo(real).eps) > NOISE_EPS
    noise_step = _noise_step(real)

    def noise_stats(
        s_rows: np.ndarray, minus: np.ndarray, centre: np.ndarray, plus: np.ndarray
    ) -> Tensor:
        """(2 + len(measures), n) on the device: the sum and 2-norm of the attributions of
        the second differences ``g(u - du) - 2 g(u) + g(u + du)`` at ``n`` sites (rows
        ``s_rows``), and their 2-norms in each domain of the pass. In blocks of sites."""
        n = len(s_rows)
        out = torch.zeros(2 + len(measures), n, dtype=torch.float64, device=dev)
        step = max(1, BLOCK_BYTES // max(1, 3 * d * acc_bytes))
        for i0 in range(0, n, step):
            i1 = min(i0 + step, n)
            r_t = torch.as_tensor(s_rows[i0:i1], device=dev)
            # h25-adapt: the three points gathered and converted at once (the same values)
            m = i1 - i0
            three = np.concatenate([minus[i0:i1], plus[i0:i1], centre[i0:i1]])
            pts = mesh.store.gather(three).to(acc)
            g = pts[:m]
            g.add_(pts[m : 2 * m])
            g.sub_(pts[2 * m :], alpha=2)
            st = _attribution_stats(partial(diff_of, r_t), g, acc_bytes, False)
            out[0, i0:i1], out[1, i0:i1] = st[0], st[2]
            for j, measure in enumerate(measures):
                out[2 + j, i0:i1] = measure(rows[r_t], g.reshape(-1, *shape))[0].double()
            del g, pts
        return out

    # --- end h22-floor ---------------------------------------------------------------
    while True:
        # --- one read of everything the round's decisions need --------------------------
        act = np.flatnonzero(active)
        every = len(act) == n_rows
        act_t = torch.as_tensor(act, device=dev)
        tot = total if every else total.index_select(0, act_t)
        tot_err = total_err if every else total_err.index_select(0, act_t)
        act_sel = None if every else act_t

        def diff_act(c0: int, c1: int, sel: Tensor | None = act_sel) -> Tensor:
            return diff_of(sel, c0, c1)

        # h25-rest: the two sums stacked where one block of coefficients holds them: their
        # stats from one product (each row's reductions the same) and one measure call per
        # domain (each sum's norms those of a call of its own); rows: the sums, |A|, norms
        na = len(act)
        one = len(list(_column_blocks(d, 2 * na, acc_bytes))) == 1
        both = torch.cat([tot, tot_err]) if one else None
        if both is not None:
            prod = re_mul(diff_act(0, d), both.view(2, na, d))
            row_stats = torch.zeros(5, na, dtype=torch.float64, device=dev)
            row_stats[0:2] += prod.sum(dim=-1)  # as ``_attribution_stats``: 0 + sum
            row_stats[2] += prod[0].abs().sum(dim=-1)
            row_stats[3:5] = prod.norm(dim=-1)
            del prod
        else:
            st_t = _attribution_stats(diff_act, tot, acc_bytes)
            st_e = _attribution_stats(diff_act, tot_err, acc_bytes, False)
            row_stats = torch.stack([st_t[0], st_e[0], st_t[1], st_t[2], st_e[2]])
        dev_parts = [row_stats]
        m_rows = None if (every and whole_pass) else rows[act_t]
        n_coefs = []
        for measure in measures:
            if both is not None:
                norms, n_coef = measure(m_rows, both.view(-1, *shape))
                dev_parts.append(norms.reshape(1, -1).double())
            else:
                for s in (tot, tot_err):
                    norms, n_coef = measure(m_rows, s.reshape(-1, *shape))
                    dev_parts.append(norms.reshape(1, -1).double())
            n_coefs.append(n_coef)
        del both
        p_slots, p_rows, p_pos, p_stats, p_order = pending_points
        dev_parts += [p_stats, pending_norms.reshape(1, -1)]
        if isinstance(pending_seen, Tensor):
            dev_parts.append(pending_seen.reshape(1, -1))
        if pending_rich is not None:
            dev_parts.append(pending_rich.reshape(1, -1))
        if pending_dom is not None:
            dev_parts.append(pending_dom.reshape(1, -1))
        if pending_noise is not None:
            dev_parts.append(pending_noise[1].reshape(1, -1))
        take = _Reader(torch.cat([t.reshape(-1) for t in dev_parts]).cpu().numpy())
        if trim:
            _release_freed_memory()
        sum_a, est_s, abs_a, norm_i, est_n = (take(na) for _ in range(5))
        m_norms = [(take(na), take(na)) for _ in measures]
        pt = np.empty((3, len(p_pos)))
        pt[:, p_order] = take(3 * len(p_pos)).reshape(3, -1)
        leaf_norm = take(len(new_leaves))
        seen = take(len(new_leaves) // 2) if isinstance(pending_seen, Tensor) else None
        rich = None if pending_rich is None else take(pending_rich.numel()).reshape(3, -1)
        leaf_dom = None if pending_dom is None else take(pending_dom.numel())
        if pending_noise is not None:  # h22-floor: the measured noise per row
            s_rows, s_dev = pending_noise
            _store_noise(s_rows, take(s_dev.numel()).reshape(s_dev.shape), sig_s, sig_i, sig_d)
            noise_state[np.unique(s_rows)] = 2
            pending_noise = None
        # --- the new points and leaves ---------------------------------------------------
        n_check = len(p_pos) - noise_skip  # the noise sites' points are not on the mesh
        check_finite(p_rows[:n_check], p_pos[:n_check], pt[0][:n_check], pt[2][:n_check])
        # h25-rest2: grown by doubling (slots past the store's length are never read)
        if len(mesh.store) > len(mesh.p):
            cap = max(len(mesh.store), 2 * len(mesh.p))
            mesh.f, mesh.p, mesh.q = (
                np.concatenate([v, np.zeros(cap - len(v))]) for v in (mesh.f, mesh.p, mesh.q)
            )
        live = p_slots != 0
        mesh.f[p_slots[live]] = pt[0][live]
        mesh.p[p_slots[live]], mesh.q[p_slots[live]] = pt[1][live], pt[2][live]
        at0 = p_pos == 0
        mesh.f_base[p_rows[at0]] = pt[0][at0]
        gap, need = leaf_scalars(new_leaves)
        smooth = np.zeros(len(new_leaves), dtype=bool)
        r2 = np.zeros(len(new_leaves))
        mesh.gap[new_leaves] = gap
        err = np.maximum(leaf_norm, need)
        # h22-cost: the leaves' own norms; where a bisection showed the smooth rate,
        # Richardson's estimate (see _richardson_adjust), else the rate check (see below)
        mesh.enorm[new_leaves] = leaf_norm
        lam2 = np.ones(len(new_leaves))
        if seen is not None:
            seen2 = np.concatenate([seen, seen])
            if rich is not None:
                lam2 = np.concatenate([rich[0], rich[1]])
                # h22-evals: a half whose vector is scaled to its exact gap (see _gap_lambdas)
                err = np.maximum(np.abs(lam2) * leaf_norm, need)
            err = np.maximum(err, seen2 / _RATE)
            mesh.seen[new_leaves] = seen2
            if rich is not None:
                r2 = np.concatenate([rich[2], rich[2]])
                smooth = np.isfinite(r2)
                err[smooth] = np.maximum(r2[smooth], need[smooth])
                mesh.lam[new_leaves] = lam2
        mesh.err[new_leaves] = err
        if leaf_dom is not None:  # h22-cost: the same in each domain (see _domain_errors)
            mesh.errd[new_leaves] = _domain_errors(
                leaf_dom, need * np.sqrt(d), n_coefs, seen, smooth, r2, np.abs(lam2)
            )
        # --- the tests -----------------------------------------------------------------
        comp_err = np.abs(sum_a - target[act])
        floor = rounding_floor(real, scale[act] + abs_a)
        tol_c = rtol * np.abs(target[act]) + atol
        if measures:
            norm_a, vec_err = np.zeros(na), np.zeros(na)
            for (a, a_err), n_coef in zip(m_norms, n_coefs, strict=True):
                e = consistent_error(a_err, est_s, comp_err, floor, n_coef)
                # the domain where the error is largest relative to its tolerance decides
                worse = e * (rtol * norm_a + atol + floor) > vec_err * (rtol * a + atol + floor)
                worse |= vec_err == 0
                norm_a = np.where(worse, a, norm_a)
                vec_err = np.where(worse, e, vec_err)
        else:
            norm_a = norm_i
            vec_err = consistent_error(est_n, est_s, comp_err, floor, d)
        rss = _rss(mesh.err, mesh.row, n_rows)[act]
        tol_v = rtol * norm_a + atol
        tol_r = rtol * norm_i + atol
        # h22-cost: the root-sum-square in each domain of the pass where measured, else in
        # the integration coordinates: its ratio to its tolerance (at most 1: met)
        with np.errstate(divide="ignore", invalid="ignore"):
            rss_ratio = rss / np.maximum(tol_r, tiny)
        rss_floor = rss <= tol_r + floor
        rss_binding = tol_r <= floor
        tol_d = np.zeros((na, n_dom))
        if n_dom:
            dom_norm[act] = np.stack([a for a, _ in m_norms], axis=1)
            tol_d = rtol * dom_norm[act] + atol
            rssd = _rss_rows(mesh.errd, mesh.row, n_rows)[act]
            have = np.isfinite(rssd).all(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio_d = (rssd / np.maximum(tol_d, tiny)).max(axis=1)
            rss_ratio = np.where(have, ratio_d, rss_ratio)
            rss_floor = np.where(have, (rssd <= tol_d + floor[:, None]).all(axis=1), rss_floor)
            rss_binding = np.where(have, (tol_d <= floor[:, None]).any(axis=1), rss_binding)
        ok_v = (vec_err <= tol_v) & (rss_ratio <= 1.0)
        ok_c = comp_err <= tol_c
        # h22-floor: "floor" is (a) a tolerance that lies below the rounding floor, met
        # once the floor is allowed for, or (b) an estimate at the measured rounding noise
        # of the model's gradients that the budget cannot bring to the tolerance. A row
        # within the floor of a tolerance above it is refined on (more points help it).
        binding = (tol_c <= floor) | (tol_v <= floor) | rss_binding
        at_floor = binding & (vec_err <= tol_v + floor) & rss_floor
        at_floor &= comp_err <= tol_c + floor
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.maximum(
                np.maximum(vec_err / np.maximum(tol_v, tiny), rss_ratio),
                comp_err / np.maximum(tol_c, tiny),
            )
        if not first_round:  # no row is accepted on its first mesh alone
            strict = ok_v & ok_c
            noisy = np.zeros(na, dtype=bool)
            known = noise_state[act] == 2
            if known.any():
                if measures:
                    doms = [
                        (a, a_err, n_coef)
                        for (a, a_err), n_coef in zip(m_norms, n_coefs, strict=True)
                    ]
                else:
                    doms = [(norm_i, est_n, d)]
                root = np.sqrt(
                    np.bincount(mesh.row, weights=(mesh.width / _GRID) ** 2, minlength=n_rows)
                )[act]
                e_sum = NOISE_FACTOR * _NOISE_SUM * np.nan_to_num(sig_s[act]) * root
                noisy = known & _noise_floor(
                    root,
                    sig_s[act],
                    sig_i[act],
                    sig_d[act],
                    doms,
                    est_s,
                    comp_err,
                    rss,
                    tol_c,
                    tol_r,
                    floor,
                    rtol,
                    atol,
                )
                # the estimate falls only as 1 / sqrt(n) at the noise: stop where the
                # budget cannot bring it to the tolerance
                noisy &= steps[act] * ratio**2 > max_steps
            stop_floor = ~strict & (at_floor | noisy)
            by_noise = stop_floor & noisy & ~at_floor
            if by_noise.any():
                noise_sum[act[by_noise]] = e_sum[by_noise]
            status[act[strict]] = "converged"
            status[act[stop_floor]] = "floor"
            active[act[strict | stop_floor]] = False
            # the rate: a round that does not bring estimate * evaluations down is poor
            rate = ratio * steps[act]
            poor[act] = np.where(rate >= rate_prev[act], poor[act] + 1, 0)
            rate_prev[act] = rate
        # --- which sub-intervals to bisect, all rows at once ---------------------------
        row_ok_c = np.ones(n_rows, dtype=bool)
        row_ok_c[act] = ok_c
        base = np.full(n_rows, -1)
        z = np.flatnonzero(mesh.lo == 0)
        base[mesh.row[z]] = z
        can = mesh.width >= 8
        hb = np.where(base >= 0, base, 0)
        singular = active & ~row_ok_c & (base >= 0) & can[hb]
        if singular.any():  # h25-rest2: the outputs' test only where it can decide
            singular &= (
                (path_alpha(mesh.width[hb] / _GRID) <= SINGULAR_WIDTH)
                & (np.abs(target) > 0)
                & (np.abs(np.diff(mesh.f5(hb)[:, [0, 4]], axis=1)[:, 0]) > 0.5 * np.abs(target))
            )
        status[singular], active[singular] = "singular", False
        budget = (max_steps - steps) // 4
        cand = np.flatnonzero(active[mesh.row] & can)
        if first_round:
            key = np.zeros(len(mesh.row))
            share = np.full(n_rows, 2.0)  # every candidate (up to the budget)
        else:
            in_ok = _in_rows(mesh.row, act[ok_v], n_rows)  # leaves of rows whose vector test passed
            key = np.where(in_ok, np.abs(mesh.gap), mesh.err)
            if n_dom:  # h22-cost: a leaf's error against its row's tolerance, per domain
                tol_all = np.full((n_rows, n_dom), np.nan)
                tol_all[act] = tol_d
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = (mesh.errd / tol_all[mesh.row]).max(axis=1)
                measured = np.isfinite(rel) & ~in_ok
                key = np.where(measured, rel, key)
            share = np.zeros(n_rows)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio_v = np.maximum(vec_err / np.maximum(tol_v, tiny), rss_ratio)
                share[act] = np.where(
                    ok_v, 1.0 - REFINE_AIM * tol_c / comp_err, 1.0 - REFINE_AIM / ratio_v
                )
        if first_round and ahead:  # the second level, evaluated with the first mesh
            sel = np.zeros(len(mesh.row), dtype=bool)
            sel[cand] = True
        else:
            sel = _pick_all(cand, mesh.row[cand], key[cand], share, budget, len(mesh.row))
        if not first_round:
            # the stretch next to the baseline goes first where completeness fails
            row_comp = np.zeros(n_rows, dtype=bool)
            row_comp[act] = comp_err > tol_c
            rb = np.flatnonzero(active & row_comp & (base >= 0) & (budget >= 1))
            rb = rb[can[base[rb]]]
            sel = _put_first(sel, mesh.row, base, rb, budget, key)
            zoom = rb[
                (mesh.width[base[rb]] / _GRID > SINGULAR_WIDTH / 2)
                & (np.abs(mesh.gap[base[rb]]) > 0.5 * np.abs(target[rb]))
            ]
            if len(zoom):  # it holds most of the miss: zoom in on it alone
                zr = np.zeros(n_rows, dtype=bool)
                zr[zoom] = True
                sel &= ~zr[mesh.row]
                sel[base[zoom]] = True
        parents = np.flatnonzero(sel)
        picked_rows = np.zeros(n_rows, dtype=bool)
        picked_rows[mesh.row[parents]] = True
        active &= picked_rows  # budget spent (or the mesh is at its finest)
        if len(parents) == 0:
            break
        # --- bisect: new points at 1/8, 3/8, 5/8, 7/8 of each parent --------------------
        prow, lo, w = mesh.row[parents], mesh.lo[parents], mesh.width[parents]
        half = w // 2
        noise_skip = 0
        if first_round and ahead:  # evaluated with the first mesh
            assert second is not None
            new_slots = second[prow[:, None], 4 * (lo // width)[:, None] + np.arange(4)]
            new_pos = (lo[:, None] + (w // 8)[:, None] * np.array([1, 3, 5, 7])).reshape(-1)
            none = np.zeros(0, dtype=np.int64)
            pending_points = (none, none, none, torch.zeros(3, 0, device=dev), none)
        else:
            new_pos = (lo[:, None] + (w // 8)[:, None] * np.array([1, 3, 5, 7])).reshape(-1)
            eval_rows, eval_pos = np.repeat(prow, 4), new_pos
            # h22-floor: rows whose estimate did not fall at the expected rate in a round
            # (NOISE_POOR) get their gradient noise measured, once, with this round's points
            sites = None
            want = np.flatnonzero(active & (poor >= NOISE_POOR) & (noise_state == 0) & can_measure)
            if len(want):
                left = max_steps - steps - 4 * np.bincount(prow, minlength=n_rows)
                sites = _noise_sites(mesh, want[left[want] >= 2 * NOISE_SITES], noise_step)
            if sites is not None:
                s_rows, _, s_pos = sites
                eval_rows = np.concatenate([eval_rows, s_rows, s_rows])
                eval_pos = np.concatenate([new_pos, s_pos - noise_step, s_pos + noise_step])
                noise_state[np.unique(s_rows)] = 1
                noise_skip = 2 * len(s_rows)
            flat_slots, point_stats, order = evaluate(eval_rows, eval_pos)
            pending_points = (flat_slots, eval_rows, eval_pos, point_stats, order)
            n_new = len(new_pos)
            new_slots = flat_slots[:n_new].reshape(-1, 4)
            if sites is not None:
                ns = len(sites[0])
                minus, plus = flat_slots[n_new : n_new + ns], flat_slots[n_new + ns :]
                pending_noise = (sites[0], noise_stats(sites[0], minus, sites[1], plus))
        old = mesh.slots[parents]
        nine = np.empty((len(parents), 9), dtype=np.int64)
        nine[:, ::2], nine[:, 1::2] = old, new_slots
        kinds = mesh.kind(parents)
        # h22-cost: the bisection's rules with Richardson's (see _richardson_adjust)
        pending_rich = torch.ones(3, len(parents), dtype=torch.float64, device=dev)
        pending_rich[2] = torch.nan
        # h22-evals: the halves' scales to their exact local gaps (see _gap_lambdas), from
        # the new points' outputs and sums, still on the device (the first round's halves,
        # the second level, keep Boole minus Simpson)
        lam_gap = None
        if GAP_SCALE and diff is not None and not first_round:
            n_new = len(new_pos)
            if np.array_equal(order[:n_new], np.arange(n_new)):  # h25-loop5: in order (no
                # baseline point came first, as after the first round): a slice, no gather
                fp_new = point_stats[:2, :n_new]
            else:
                col = np.empty(len(order), dtype=np.int64)
                col[order] = np.arange(len(order))
                fp_new = point_stats[:2].index_select(1, torch.as_tensor(col[:n_new], device=dev))
            lam_gap = _gap_lambdas(
                torch.as_tensor(mesh.f5(parents), device=dev),
                torch.as_tensor(mesh.p[old], device=dev),
                fp_new[0].reshape(-1, 4),
                fp_new[1].reshape(-1, 4),
                kinds,
                half / _GRID,
            )
        adjust = _richardson_adjust(
            kinds,
            half / _GRID,
            mesh.enorm[parents],
            mesh.seen[parents],
            mesh.lam[parents],
            pending_rich,
            lam_gap,
        )
        # a long row's sums are taken in blocks of coefficients, where no norm is whole:
        # neither Richardson's estimate nor the domains' norms, so not their rules either
        # (h25-rest: and only the rows of its rules that Richardson's estimate reads)
        reads, scaled = _richardson_rows(kinds, mesh.seen[parents], mesh.lam[parents])
        reads = (reads or lam_gap is not None) and diff is not None  # h22-evals: gap scales
        n_own = 4 if reads else 3
        norms = sums_and_norms(
            nine,
            prow,
            kinds,
            half / _GRID,
            _BISECTION_RICH[:, : 6 if scaled else 5] if reads else _BISECTION,
            (2, 3),
            (0, 1, 2, 4) if reads else (0, 1, 2),
            adjust if reads else None,
            measured=(0, 1, 2),
        )
        if n_dom:  # h22-cost: the halves' and the change's norms per domain
            dom = norms[n_own:].reshape(3, n_dom, -1)
            pending_dom = torch.cat([dom[0], dom[1], dom[2]], dim=1)
        if trim:
            _release_freed_memory()
        # the halves replace their parents
        keep = ~sel
        n_par = len(parents)
        mesh.row = np.concatenate([mesh.row[keep], prow, prow])
        mesh.lo = np.concatenate([mesh.lo[keep], lo, lo + half])
        mesh.width = np.concatenate([mesh.width[keep], half, half])
        mesh.slots = np.concatenate([mesh.slots[keep], nine[:, :5], nine[:, 4:]])
        mesh.err = np.concatenate([mesh.err[keep], np.zeros(2 * n_par)])
        mesh.gap = np.concatenate([mesh.gap[keep], np.zeros(2 * n_par)])
        mesh.enorm = np.concatenate([mesh.enorm[keep], np.zeros(2 * n_par)])  # h22-cost
        mesh.seen = np.concatenate([mesh.seen[keep], np.full(2 * n_par, np.nan)])
        mesh.lam = np.concatenate([mesh.lam[keep], np.ones(2 * n_par)])
        mesh.errd = np.concatenate([mesh.errd[keep], np.zeros((2 * n_par, n_dom))])
        new_leaves = np.arange(len(mesh.row) - 2 * n_par, len(mesh.row))
        # the left halves' and right halves' error norms; the parents' bisection changes:
        # the two levels must agree at the expected rate: the change from the parent's sum
        # to its halves' sums estimates the parent's error independently of its five
        # points; a half is trusted to no better than 1 / _RATE of that change (a kink's
        # error falls 4x per bisection; a smooth integrand's change is tiny anyway), so a
        # parent whose points aliased a feature passes its doubt on to its halves until
        # a bisection changes nothing
        pending_norms = torch.cat([norms[0], norms[1]])
        pending_seen = norms[2]
        first_round = False

    # the result is the running sums the tests read: no row's numbers differ from those
    # that stopped it
    gradient, error = total, total_err
    mesh.store.close()  # on an error, when the mesh is dropped
    final = (
        _attribution_stats(lambda c0, c1: diff_of(None, c0, c1), gradient, acc_bytes).cpu().numpy()
    )
    abs_final, norm_int = final[1], final[2]
    floor = rounding_floor(real, scale + abs_final)
    rss = _rss(mesh.err, mesh.row, n_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        rss_rel = np.where(rss == 0, 0.0, rss / norm_int)
        rssd = _rss_rows(mesh.errd, mesh.row, n_rows)  # h22-cost
        rss_dom = np.where(rssd == 0, 0.0, rssd / dom_norm) if n_dom else None
    return AdaptiveResult(
        gradient.reshape(n_rows, *shape),
        error.reshape(n_rows, *shape),
        steps,
        status == "converged",
        status,
        floor,
        rss_rel,
        noise_sum,
        rss_dom,
    )


class _Reader:
    """Consecutive pieces of one array read from the device at once."""

    def __init__(self, flat: np.ndarray) -> None:
        self.flat, self.at = flat, 0

    def __call__(self, count: int) -> np.ndarray:
        out = self.flat[self.at : self.at + count]
        self.at += count
        return out


def _combine(points: Tensor, weights: np.ndarray) -> list[Tensor]:
    """``out[j] = sum_k weights[j, k] * points[k]`` for points (K, n, c) and weights (J, K):
    one multiply-add per non-zero weight, in ``k`` order, in the points' dtype (elementwise,
    so the same bits whatever the number of threads).

    (h25-rest: real points through :func:`_combine_plan`'s stacked outputs, the same bits
    with fewer operations.)"""
    if points.is_complex():
        return _combine_rows(points, weights)
    return _combine_plan(points, _plan_of(weights, (), ()))[1]


def _combine_rows(points: Tensor, weights: np.ndarray) -> list[Tensor]:
    """:func:`_combine` one output at a time: the first non-zero weight's product, then an
    ``add_`` with ``alpha`` per further weight."""
    out: list[Tensor] = []
    for w in weights:
        total: Tensor | None = None
        for k in np.flatnonzero(w):
            if total is None:
                total = points[k] * float(w[k])
            else:
                total.add_(points[k], alpha=float(w[k]))
        out.append(total if total is not None else torch.zeros_like(points[0]))
    return out


@dataclass(frozen=True)
class _Plan:
    """How :func:`_combine_plan` forms the outputs of weights (J, K) stacked in one (J, n, c)
    tensor (h25-rest): ``order[i]`` is the output at position ``i``, ``pos[j]`` the position
    of output ``j``; each step ``(k, a, b, first)`` forms positions ``[a, b)`` from point
    ``k``: their first non-zero weight's product (``first``) or a multiply-add. ``normed``
    and ``measured`` are the positions ``[a, b)`` of those outputs when they lie there in
    their order (one product and one norm for all of them), else None."""

    order: tuple[int, ...]
    pos: tuple[int, ...]
    steps: tuple[tuple[int, int, int, bool], ...]
    weights: np.ndarray  # (J, K) in position order
    normed: tuple[int, int] | None
    measured: tuple[int, int] | None


_PLANS: dict[Any, _Plan] = {}
_PLAN_WEIGHTS: dict[Any, list[Tensor]] = {}


def _plan_steps(w: np.ndarray) -> list[tuple[int, int, int, bool]]:
    """The steps of weights ``w`` (J, K), rows in position order: for each point ``k``, one
    step per run of consecutive rows whose first non-zero weight is at ``k``, and one per
    run of rows that add ``k``."""
    nz = w != 0
    first = np.where(nz.any(axis=1), nz.argmax(axis=1), -1)
    steps: list[tuple[int, int, int, bool]] = []
    for k in range(w.shape[1]):
        for is_first in (True, False):
            rows = nz[:, k] & ((first == k) if is_first else (first != k))
            i = 0
            while i < len(rows):
                if rows[i]:
                    j = i
                    while j < len(rows) and rows[j]:
                        j += 1
                    steps.append((k, i, j, is_first))
                    i = j
                else:
                    i += 1
    return steps


def _span(pos: Sequence[int], outs: Sequence[int]) -> tuple[int, int] | None:
    """Positions ``[a, b)`` of outputs ``outs`` when they are consecutive in their order."""
    if not outs:
        return None
    a = pos[outs[0]]
    return (a, a + len(outs)) if all(pos[j] == a + i for i, j in enumerate(outs)) else None


def _plan_of(weights: np.ndarray, normed: Sequence[int], measured: Sequence[int]) -> _Plan:
    """The order of the outputs of ``weights`` (J, K) with the fewest operations (steps,
    and a product and norm per output of ``normed``, a copy for ``measured``, where they do
    not lie consecutively), found once per rules and kept."""
    key = (weights.shape, weights.tobytes(), tuple(normed), tuple(measured))
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    best: tuple[int, _Plan] | None = None
    n_out = weights.shape[0]
    perms = itertools.permutations(range(n_out)) if n_out <= 7 else [tuple(range(n_out))]
    for order in perms:
        pos = [0] * n_out
        for i, j in enumerate(order):
            pos[j] = i
        w = weights[list(order)]
        steps = _plan_steps(w)
        normed_at, measured_at = _span(pos, normed), _span(pos, measured)
        cost = len(steps)
        cost += 0 if normed_at is not None or not normed else 4 * (len(normed) - 1)
        cost += 0 if measured_at is not None or len(measured) < 2 else 1
        if best is None or cost < best[0]:
            best = (cost, _Plan(order, tuple(pos), tuple(steps), w, normed_at, measured_at))
    assert best is not None
    _PLANS[key] = best[1]
    return best[1]


def _combine_plan(points: Tensor, plan: _Plan) -> tuple[Tensor, list[Tensor]]:
    """:func:`_combine` of real points (K, n, c) by ``plan``: the stacked outputs (J, n, c)
    in position order and the list of outputs (views of it) in the weights' order.

    A step forms several outputs from one point at once, with a weight per output: the
    first product is ``points[k] * w`` and each further weight ``addcmul_`` (``out + w
    points[k]``, rounded once like ``add_`` with ``alpha=w``): per element the same
    operations in the same order as one output at a time, hence the same bits (a test
    checks it against :func:`_combine_rows`)."""
    key = (id(plan), points.dtype, points.device)
    weights = _PLAN_WEIGHTS.get(key)
    if weights is None:
        weights = _PLAN_WEIGHTS[key] = [
            torch.tensor(plan.weights[a:b, k], dtype=points.dtype, device=points.device).view(
                -1, 1, 1
            )
            for k, a, b, _ in plan.steps
        ]
    _, n, c = points.shape
    stack = torch.empty((len(plan.order), n, c), dtype=points.dtype, device=points.device)
    pts = points.unbind(0)
    done = np.zeros(len(plan.order), dtype=bool)
    for (k, a, b, first), w in zip(plan.steps, weights, strict=True):
        if first:
            torch.mul(pts[k], w, out=stack[a:b])
            done[a:b] = True
        else:
            stack[a:b].addcmul_(pts[k], w)
    for i in np.flatnonzero(~done):  # no weight: zeros
        stack[i].zero_()
    rows = stack.unbind(0)
    return stack, [rows[i] for i in plan.pos]


def _re_mul_work(a: Tensor, b: Tensor) -> Tensor:
    """``Re[a * conj(b)]`` elementwise in the working precision of ``a`` and ``b`` (no
    float64 copies; reductions of it accumulate in float64)."""
    if a.is_complex() or b.is_complex():
        t = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.complex64)
        return (torch.view_as_real(a.to(t)) * torch.view_as_real(b.to(t))).sum(dim=-1)
    return a * b


def _in_rows(row: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """``np.isin(row, rows)`` for local rows (all below ``n_rows``): a mask lookup (h25-rest)."""
    mask = np.zeros(n_rows, dtype=bool)
    mask[rows] = True
    return mask[row]


def _pick_all(
    cand: np.ndarray,
    row: np.ndarray,
    key: np.ndarray,
    share: np.ndarray,
    budget: np.ndarray,
    n_leaves: int,
) -> np.ndarray:
    """Leaves to bisect this round, all rows at once: in each row, the fewest candidates
    ``cand`` (rows ``row``), by decreasing local error ``key``, that hold ``share`` of the
    row's summed ``key`` (at most ``budget`` of the row). Returns a mask over the leaves.

    Bisecting a leaf removes most of its error, so refining a share ``1 - tol / (2 err)`` of
    the error brings the row near half its tolerance in one round. Where the local errors
    see nothing although a test fails (a feature between the points), every leaf is
    bisected (up to the budget)."""
    sel = np.zeros(n_leaves, dtype=bool)
    if len(cand) == 0:
        return sel
    n_rows = len(share)
    order = np.lexsort((-key, row))  # by row, then by decreasing key (stable)
    idx, r, k = cand[order], row[order], key[order]
    total = np.bincount(r, weights=k, minlength=n_rows)
    start = np.searchsorted(r, r)  # each candidate's row begins here
    rank = np.arange(len(r)) - start
    with np.errstate(divide="ignore", invalid="ignore"):
        part = np.where(total[r] > 0, k / total[r], 0.0)
    cum = np.cumsum(part)
    cum -= np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)  # within the row
    below = cum < np.minimum(share, 1.0)[r] - 1e-12
    n = np.bincount(r, weights=below, minlength=n_rows).astype(np.int64) + 1
    n = np.minimum(np.where(total > 0, n, budget), np.maximum(budget, 0))
    sel[idx[rank < n[r]]] = True
    return sel


def _put_first(
    sel: np.ndarray,
    row: np.ndarray,
    base: np.ndarray,
    rows_first: np.ndarray,
    budget: np.ndarray,
    key: np.ndarray,
) -> np.ndarray:
    """``sel`` with the leaf ``base[r]`` of each row ``r`` of ``rows_first`` selected; where
    that exceeds the row's ``budget``, the selected leaf of the row with the smallest
    ``key`` is dropped for it."""
    missing = rows_first[~sel[base[rows_first]]]
    if len(missing) == 0:
        return sel
    count = np.bincount(row[sel], minlength=len(budget))
    full = np.zeros(len(budget), dtype=bool)
    full[missing[count[missing] >= budget[missing]]] = True
    sel = sel.copy()
    sel[base[missing]] = True
    drop = np.flatnonzero(sel & full[row])
    drop = drop[drop != base[row[drop]]]
    if len(drop):
        drop = drop[np.lexsort((key[drop], row[drop]))]
        first = np.r_[True, row[drop][1:] != row[drop][:-1]]
        sel[drop[first]] = False
    return sel


_TRIM: list[Any] = []  # glibc's malloc_trim once looked up (None elsewhere)
#: Points of at least this many bytes make a round's temporaries worth trimming.
_TRIM_POINT_BYTES = 1 << 20


def _release_freed_memory() -> None:
    """Hand the memory freed by the last round's temporaries back to the system.

    glibc keeps freed blocks under its mmap threshold (which grows up to 32 MiB) in its
    heap, where later allocations of other sizes fragment them: without this, the resident
    memory of a long adaptive run grows by tens of input-sized blocks that are free.
    ``malloc_trim`` is looked up on first use (Linux with glibc only; a no-op elsewhere)."""
    if not _TRIM:
        trim = None
        if sys.platform.startswith("linux"):
            try:
                trim = ctypes.CDLL("libc.so.6").malloc_trim
                trim.argtypes = [ctypes.c_size_t]
            except (OSError, AttributeError):
                trim = None
        _TRIM.append(trim)
    if _TRIM[0] is not None:
        _TRIM[0](0)


def _attribution_stats(
    diff_of: Callable[[int, int], Tensor], sums: Tensor, item: int, with_abs: bool = True
) -> Tensor:
    """Per row: sum, sum of absolute values (zeros unless ``with_abs``) and 2-norm of the
    attributions ``Re[diff * conj(sums)]``, ``sums`` of shape (R, d) and
    ``diff_of(c0, c1)`` the path difference's coefficients ``[c0, c1)`` (R, c1 - c0): a
    (3, R) float64 tensor on their device (read with the round's other numbers).

    Taken in blocks of coefficients of at most :func:`block_bytes` of temporaries, never
    as an (R, d) float64 product. With one block the numbers are bitwise those of the
    whole product; with several, the sums add per block and the norm is the root of the
    summed squares, so only their last bits differ."""
    n, d = sums.shape
    out = torch.zeros(3, n, dtype=torch.float64, device=sums.device)
    blocks = list(_column_blocks(d, n, item))
    for c0, c1 in blocks:
        one = len(blocks) == 1
        a = re_mul(diff_of(c0, c1), sums if one else sums[:, c0:c1])
        out[0] += a.sum(dim=1)
        if with_abs:
            out[1] += a.abs().sum(dim=1)
        if one:
            out[2] = a.norm(dim=1)
        else:
            out[2] += a.norm(dim=1) ** 2
        del a
    if len(blocks) > 1:
        out[2].sqrt_()
    return out


def attribution_norms(
    diff_of: Callable[[int, int], Tensor], sums: Tensor, groups: int = 1
) -> Tensor:
    """2-norm per row (R,) of the attributions ``Re[diff * conj(sums)]`` (float64, on the
    device), ``sums`` of shape (R, d) and ``diff_of(c0, c1)`` the path difference's
    coefficients ``[c0, c1)`` (R, c1 - c0) in any dtype, in blocks of coefficients of at
    most :func:`block_bytes` of temporaries: bitwise the norm of the whole product when
    one block holds it, else the root of the blocks' summed squares.

    ``groups`` > 1: ``sums`` is that many groups of the same R / groups rows stacked
    (``diff_of`` gives those rows'), each group's norms bitwise those of its own call
    (h25-rest: one product and one norm for all groups when one block holds them, each
    row's reduction the same; else a call per group)."""
    n, d = sums.shape
    item = torch.empty((), dtype=accumulator_dtype(sums)).element_size()
    blocks = list(_column_blocks(d, n, item))
    if len(blocks) == 1:
        if groups == 1:
            return re_mul(diff_of(0, d), sums).norm(dim=1)
        stacked = sums.reshape(groups, n // groups, d)  # the difference broadcast to each group
        return re_mul(diff_of(0, d), stacked).norm(dim=-1).reshape(n)
    if groups > 1:
        m = n // groups
        return torch.cat(
            [attribution_norms(diff_of, sums[i * m : (i + 1) * m]) for i in range(groups)]
        )
    out = torch.zeros(n, dtype=torch.float64, device=sums.device)
    for c0, c1 in blocks:
        out += re_mul(diff_of(c0, c1), sums[:, c0:c1]).norm(dim=1) ** 2
    return out.sqrt_()


def store_budget(d: int, item: int) -> int:
    """Bytes of points that a group's store keeps in memory, rows of ``d`` accumulator
    values of ``item`` bytes: :data:`MEMORY_BYTES`, or none for a long row (over
    :data:`LONG_ROW_BYTES`), whose points all go to the file."""
    return MEMORY_BYTES if d * item <= LONG_ROW_BYTES else 0


def block_bytes(d: int, item: int) -> int:
    """Bytes of temporaries that one block of sums over rows of ``d`` values of ``item``
    bytes may take: :data:`BLOCK_BYTES`, or for a long row (over :data:`LONG_ROW_BYTES`)
    a quarter of the row's bytes when that is less (half the input of a float32 row)."""
    if d * item <= LONG_ROW_BYTES:
        return BLOCK_BYTES
    return min(BLOCK_BYTES, d * item // 4)


def _column_blocks(d: int, n: int, item: int) -> Iterator[tuple[int, int]]:
    """Coefficient ranges ``[c0, c1)`` for summing ``n`` leaves: one range when their five
    temporaries of (n, d) values of ``item`` bytes fit in :func:`block_bytes`."""
    block = block_bytes(d, item)
    width = d if 5 * n * d * item <= block else block // (5 * max(1, n) * item)
    width = max(width, min(d, MIN_COLUMNS))
    for c0 in range(0, d, width):
        yield c0, min(c0 + width, d)


def _leaf_blocks(
    n: int, d: int, per: int, block: int = BLOCK_BYTES
) -> Iterator[tuple[int, int, int, int]]:
    """Blocks ``(i0, i1, c0, c1)`` of ``n`` sub-intervals (or points) whose temporaries
    take ``per`` bytes per (sub-interval, coefficient): all at once when they fit in
    ``block`` bytes (:func:`block_bytes`), else whole rows of coefficients in blocks of
    sub-intervals, else one at a time in ranges of coefficients."""
    row = per * d
    if row <= block:
        step = n if n * row <= block else max(1, block // row)
        for i0 in range(0, n, step):
            yield i0, min(i0 + step, n), 0, d
        return
    width = max(MIN_COLUMNS, block // per)
    for i in range(n):
        for c0 in range(0, d, width):
            yield i, i + 1, c0, min(c0 + width, d)


# --- h22-floor: the gradient-noise floor --------------------------------------------------
def _noise_step(real: torch.dtype) -> int:
    """The offset ``du`` of the noise sites' two extra points, in grid units: ``2**-(m - 6)``
    for ``m`` mantissa bits of the model's precision (float32: ``2**-17``; float64:
    ``2**-46``), at most ``2**-12``. The path points then differ by about 64 units of
    rounding, enough for the rounding of the model's arithmetic to change, while the
    second difference of a smooth gradient, ``du**2 g''``, stays far below it."""
    m = round(-float(np.log2(torch.finfo(real).eps)))
    return 1 << (_DEPTH - min(max(m - 6, 12), _DEPTH - 2))


def _noise_sites(
    mesh: _Mesh, rows: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Up to :data:`NOISE_SITES` mesh points per row of ``rows`` where the gradient noise is
    measured: the midpoints of the row's sub-intervals whose error per width ``e_i / h_i``
    is nearest the row's median (a sharp feature, whose second difference is not noise,
    has a large one), away from the baseline and wider than ``4 du``. Returns the sites'
    rows, their midpoints' slots and positions, or None."""
    leaves = np.flatnonzero(
        _in_rows(mesh.row, rows, len(mesh.f_base)) & (mesh.lo > 0) & (mesh.width >= 4 * step)
    )
    if len(leaves) == 0:
        return None
    key = mesh.err[leaves] / mesh.width[leaves]
    leaves = leaves[np.lexsort((key, mesh.row[leaves]))]  # by row, then by e_i / h_i
    r = mesh.row[leaves]
    start = np.searchsorted(r, r)  # each leaf's row begins here
    count = np.searchsorted(r, r, side="right") - start
    rank = np.arange(len(r)) - start
    first = np.maximum(0, count // 2 - NOISE_SITES // 2)
    pick = leaves[(rank >= first) & (rank < first + NOISE_SITES)]
    return mesh.row[pick], mesh.slots[pick, 2], mesh.lo[pick] + mesh.width[pick] // 2


def _store_noise(
    s_rows: np.ndarray,
    stats: np.ndarray,
    sig_s: np.ndarray,
    sig_i: np.ndarray,
    sig_d: np.ndarray,
) -> None:
    """The noise per point of each row from its sites' second differences ``stats``
    (2 + n_domains, n_sites): a second difference of uncorrelated noise has 6 times its
    variance. The norms' noise is the median over the sites (a site on a sharp feature is
    discounted); the sum's, the rms over the sites, at least the integration norm's.
    Non-finite values leave the row unmeasured (NaN).

    (h25-adapt: all rows with the same number of sites at once, a row's sites in their
    order, the same numbers as one row at a time.)"""
    order = np.argsort(s_rows, kind="stable")  # by row, each row's sites in their order
    r_sorted = s_rows[order]
    starts = np.flatnonzero(np.r_[True, r_sorted[1:] != r_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(r_sorted)])
    for c in np.unique(counts):
        first = starts[counts == c]
        r = r_sorted[first]
        at = stats[:, order[first[:, None] + np.arange(c)]]  # (2 + n_domains, rows, c)
        # (h25-rest2: the medians of the norms' squares at once, by :func:`_median_last`)
        med = _median_last(at[1:] ** 2) / 6
        sig_i[r] = np.sqrt(med[0])
        # a sum of d uncorrelated noises has the variance of their norm: the sites' rms
        # sum, a 3-sample estimate, is not let below that (``max(rms, sig_i)``); the mean
        # as ``np.mean`` takes it (the sum, then divided by the count)
        rms = np.sqrt(np.sum(at[0] ** 2, axis=1) / c / 6)
        sig_s[r] = np.where(sig_i[r] > rms, sig_i[r], rms)
        if len(at) > 2:
            sig_d[r] = np.sqrt(med[1:]).T
        else:
            sig_d[r] = sig_i[r][:, None]


def _median_last(v: np.ndarray) -> np.ndarray:
    """``np.median(v, axis=-1)`` (h25-rest2: from one sort, without its Python overhead):
    the middle value, or the mean of the two middle values (their sum over 2, as
    ``np.mean`` takes it); NaN where the row holds a NaN (sorted last), as ``np.median``."""
    n = v.shape[-1]
    s = np.sort(v, axis=-1)
    k = n // 2
    med = s[..., k] if n % 2 else (s[..., k - 1] + s[..., k]) / 2
    return np.where(np.isnan(s[..., -1]), np.nan, med)


def _noise_floor(
    root: np.ndarray,
    sig_s: np.ndarray,
    sig_i: np.ndarray,
    sig_d: np.ndarray,
    doms: Sequence[tuple[np.ndarray, np.ndarray, int]],
    est_s: np.ndarray,
    comp_err: np.ndarray,
    rss: np.ndarray,
    tol_c: np.ndarray,
    tol_r: np.ndarray,
    floor: np.ndarray,
    rtol: float,
    atol: float,
) -> np.ndarray:
    """Whether each row's estimates are explained by the measured noise of its gradients.

    Noise of norm ``sigma`` per point, uncorrelated between points, gives a sub-interval of
    width ``h`` an error estimate of about ``|Boole - Simpson| h sigma`` and its sum a noise
    of ``|Boole| h sigma``: over the row, ``sqrt(sum_i h_i**2)`` (``root``) times those. It
    falls only as ``1 / sqrt(n)`` with the evaluations (bisecting a noisy sub-interval
    halves its squared estimate; a smooth one's falls 512-fold, a kink's 16-fold). A row is
    at the noise when every test it fails is within :data:`NOISE_FACTOR` of what noise
    alone gives: the completeness error, the root-sum-square and, in each domain ``(norm,
    error norm, coefficients)`` of ``doms``, the vector estimate (made consistent with
    ``delta`` above its noise). Rows not measured (NaN) are not.
    """
    with np.errstate(invalid="ignore"):
        e_sum = NOISE_FACTOR * _NOISE_SUM * sig_s * root
        e_int = NOISE_FACTOR * _NOISE_EST * sig_i * root
        ok = (comp_err <= np.maximum(tol_c, e_sum) + floor) & (
            rss <= np.maximum(tol_r, e_int) + floor
        )
        floor_n = floor + np.nan_to_num(e_sum)
        for j, (a, a_err, n_coef) in enumerate(doms):
            e = consistent_error(a_err, est_s, comp_err, floor_n, n_coef)
            e_dom = NOISE_FACTOR * _NOISE_EST * sig_d[:, j] * root
            ok &= e <= np.maximum(rtol * a + atol, e_dom) + floor
    return ok & np.isfinite(sig_s) & np.isfinite(sig_i) & np.isfinite(sig_d).all(axis=1)


# --- end h22-floor -------------------------------------------------------------------------


def path_alpha(u: np.ndarray) -> np.ndarray:
    """The path position ``alpha = phi(u)`` of the mesh coordinate ``u`` in [0, 1].

    ``phi(u) = u + WARP (1 - cos 2 pi u) / (2 pi)``: smooth, increasing, ``phi(0) = 0``,
    ``phi(1) = 1``. The mesh is dyadic in ``u``; in ``alpha`` no two of its spacings are
    commensurate, so no periodic structure along the path fits every mesh."""
    u = np.asarray(u, dtype=np.float64)
    return u + WARP * (1.0 - np.cos(2 * np.pi * u)) / (2 * np.pi)


def path_speed(u: np.ndarray) -> np.ndarray:
    """``phi'(u) = 1 + WARP sin(2 pi u)``, the weight of a point in the ``u`` integral."""
    return 1.0 + WARP * np.sin(2 * np.pi * np.asarray(u, dtype=np.float64))


def _rss(err: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
    """``sqrt(sum err**2)`` per row (h25-rest2: ``np.bincount``, which adds the leaves in
    their order from 0.0 in float64 as ``np.add.at`` does: the same bits, faster)."""
    return np.sqrt(np.bincount(row, weights=err**2, minlength=n_rows))


def _rss_rows(err: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
    """``sqrt(sum err**2)`` per row and column of ``err`` (n_leaves, k): (n_rows, k); NaN
    where a leaf's is. (h25-rest2: one ``np.bincount`` per column, the sums of
    ``np.add.at``.)"""
    sq = err**2
    out = np.zeros((n_rows, err.shape[1]))
    for j in range(err.shape[1]):
        out[:, j] = np.bincount(row, weights=sq[:, j], minlength=n_rows)
    return np.sqrt(out)


def _domain_errors(
    leaf_dom: np.ndarray,
    excess: np.ndarray,
    n_coefs: Sequence[int],
    seen: np.ndarray | None,
    smooth: np.ndarray,
    rich: np.ndarray,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """The error estimates (n, n_domains) of ``n`` new leaves in each domain of the pass,
    by the rules of the integration coordinates' ``e_i``: the norm of the leaf's
    Boole-minus-Simpson vector there, at least the completeness miss above the rounding
    floor (``excess``) over ``sqrt(n_coef)``, and after a bisection at least the parent's
    change's norm over :data:`_RATE`; a smooth leaf's (``smooth``) is Richardson's ``rich``
    (integration coordinates) times the ratio of the change's norm in the domain to the
    integration coordinates' (``seen``), at least the completeness bound. ``leaf_dom``
    holds, per domain, the new leaves' norms and after a bisection the parents' changes'
    (NaN where not measured: NaN results)."""
    n_dom, n = len(n_coefs), len(excess)
    flat = leaf_dom.reshape(n_dom, -1)
    need = excess[:, None] / np.sqrt(np.maximum(1, np.asarray(n_coefs, dtype=np.float64)))
    own = flat[:, :n].T
    if scale is not None:  # h22-evals: the halves' vectors as scaled in the error sum
        own = own * scale[:, None]
    e = np.maximum(own, need)
    if seen is None:
        return e
    change = np.concatenate([flat[:, n:], flat[:, n:]], axis=1).T  # (n, n_dom)
    seen2 = np.concatenate([seen, seen])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        mapped = rich[:, None] * np.where(seen2 > 0, change / seen2, 0.0)
    return np.where(smooth[:, None], np.maximum(mapped, need), np.maximum(e, change / _RATE))


def rounding_floor(dtype: torch.dtype, magnitude: np.ndarray) -> np.ndarray:
    """Completeness and error below this are rounding: 64 ulps of ``magnitude`` (per row:
    ``|f(x)| + |f(x')| + sum |A|``) in the model's precision ``dtype``."""
    return 64 * float(torch.finfo(dtype).eps) * magnitude


# --- h22-rows: the estimate's safety factor (issue 22 target: estimate >= true error in
# >= 95 % of every real-model row's samples) ------------------------------------------------
#: The estimated error vector's norm is multiplied by this. Boole minus Simpson estimates
#: Simpson's error, a bound on Boole's where the integrand is smooth; across a kink (ReLU,
#: max-pooling) both rules err by the same order and the difference is an estimate of
#: Boole's error, not a bound: measured on trained ReLU CNNs (``benchmarks/steps.py``, 20
#: series per row) it was 0.86-1.0x the true error in 3 of 40 series (ECG200 CNN in the
#: Fourier and cepstrum domains). 1.25 makes both rows 20 / 20 for about 5-10 % more
#: evaluations.
ESTIMATE_SAFETY = 1.25
# --- end h22-rows ---------------------------------------------------------------------------


def consistent_error(
    est_norm: np.ndarray,
    est_sum: np.ndarray,
    comp_err: np.ndarray,
    floor: np.ndarray,
    n_coef: int,
) -> np.ndarray:
    """An error estimate of the attribution vector that accounts for the completeness error.

    The true error vector of the attributions sums to ``-delta`` exactly. Hence (1) its
    2-norm is at least ``|delta| / sqrt(n_coef)``, and (2) an estimate whose sum is much
    smaller than ``|delta|`` is too small: it missed part of the error (a feature between
    the points, errors of opposite sign cancelling between the two rules), and is scaled
    by ``|delta| / |sum(estimate)|`` (at most 1e6), keeping its shape. ``delta`` counts
    above the rounding ``floor`` only. The estimate's part is multiplied by
    :data:`ESTIMATE_SAFETY`; the bound (1) is exact and is not.

    Parameters
    ----------
    est_norm, est_sum : ndarray of shape (R,)
        2-norm and sum of the estimated error vector of each row.
    comp_err, floor : ndarray of shape (R,)
        ``|delta|`` and its rounding floor.
    n_coef : int
        Coefficients per row.
    """
    need = np.maximum(np.abs(comp_err) - floor, 0.0)
    have = np.maximum(np.abs(est_sum), np.finfo(np.float64).tiny)
    factor = np.clip(need / have, 1.0, 1e6)
    return np.maximum(ESTIMATE_SAFETY * est_norm * factor, need / np.sqrt(max(1, n_coef)))
