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

A row stops when both hold, on the numbers as they will be reported:

* the **vector test**, in every domain that shares the pass: the estimated error of the
  attribution vector, ``max(||sum_i E_i||, sqrt(sum_i e_i^2))`` (the signed sum made
  consistent with the completeness error, and the root-sum-square over sub-intervals,
  which cannot cancel), is at most ``rtol * ||A|| + atol``; and
* the **completeness test**: ``|sum(A) - (f(x) - f(x'))| <= rtol * |f(x) - f(x')| + atol``.

No row is accepted on its first mesh (17 points, four sub-intervals): the first round
bisects all four, so the tests and the rate check see a second level (33 points). Then the
sub-intervals with the largest ``e_i`` are bisected (as many as needed to bring the rest
under half the tolerance, so a round refines many at once); when the local estimates are
small but completeness fails, those whose local completeness fails most. Bisection reuses
all five points (each half gets three of them and two new ones), so ``n`` path points cost
exactly ``n`` model evaluations. New points of all rows are evaluated together, in chunks
of ``internal_batch_size``.

Why a row stops is its **status**: ``"converged"`` (both tests), ``"floor"`` (both tests
hold only once the rounding floor of the model's precision, :func:`rounding_floor` of
``|f(x)| + |f(x')| + sum |A|`` in the integration coordinates, is allowed for: the
tolerance is below what the model's outputs and gradients can show; the engine reports
the error with the same floor), ``"max_steps"`` (budget spent, best estimate kept) or
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
path where a jump hides. A non-finite gradient anywhere else raises an error naming the
sample and ``alpha``.

Gradients of the current mesh's points are kept (in the model's precision, at least
float32) until their row finishes: ``n`` evaluations of a row hold ``n`` input-sized
vectors, and rows are integrated in groups that keep this under :data:`STORE_BYTES`.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._numerics import SINGULAR_WIDTH, STATUS_DTYPE, accumulator_dtype, re_mul
from .quadrature import BOOLE, MILNE, OPEN_PAIR, SIMPSON

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
    """

    gradient: Tensor
    error_gradient: Tensor
    steps: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    floor: np.ndarray
    rss: np.ndarray


#: ``gradient_at(points, rows) -> (gradients, outputs)``: the model's gradients (n, ...) and
#: outputs (n,) at path points (n, ...) of the given rows (n,).
GradientAt = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
#: ``measure(rows, G) -> (norms, n_coef)``: the 2-norms (n,) of the attributions of
#: path-gradient sums ``G`` (n, ...) of the given rows in one domain, and that domain's
#: number of coefficients per row; the vector test must hold in each.
Measure = Callable[[Tensor, Tensor], tuple[np.ndarray, int]]


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
    baseline_gradient_at: GradientAt | None = None,
) -> AdaptiveResult:
    """Adaptive path integral of R rows.

    Parameters
    ----------
    gradient_at : callable
        ``gradient_at(points, rows) -> (gradients, outputs)``: points of shape (n, ...) on
        the path of the given rows (n,), gradients of the same shape, outputs (n,).
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
    baseline_gradient_at : callable, optional
        ``gradient_at`` for the points at the baseline (``alpha = 0``), which may return
        non-finite gradients (then the open rule is used there); ``gradient_at`` may raise
        on non-finite values elsewhere. Default: ``gradient_at``.
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
            baseline_gradient_at or gradient_at,
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
    )


class _Store:
    """Point gradients of one group: ``d`` values each, addressed by slot.

    The first points live in memory, in blocks that are never copied to grow, up to
    ``budget`` bytes; the rest go to an unlinked temporary file, written and read back with
    ``os.pwrite`` / ``os.preadv`` (never mapped, so they do not count in the resident memory).
    Slot 0 is a zero point: the unused first point of a sub-interval that starts at a
    baseline where the gradient is singular points there (slot 0 marks the open rule).

    Parameters
    ----------
    d : int
        Values per point.
    dtype, device
        Of the stored values (the model's precision, at least float32).
    budget : int
        Bytes of points kept in memory; ``0`` sends every point to the file.
    """

    def __init__(self, d: int, dtype: torch.dtype, device: torch.device, budget: int) -> None:
        self.d, self.dtype, self.device = d, dtype, device
        self.point_bytes = d * torch.empty((), dtype=dtype).element_size()
        self._room = max(0, budget) // max(1, self.point_bytes)  # points memory may still take
        self._blocks: list[Tensor] = []
        # slot -> block (-1: the file, -2: the zero point) and row in that block or the file
        self._block = np.full(1, -2, dtype=np.int64)
        self._index = np.zeros(1, dtype=np.int64)
        self._file: Any = None
        self._file_rows = 0

    def __len__(self) -> int:
        return len(self._block)

    @property
    def memory_bytes(self) -> int:
        """Bytes of points held in memory."""
        return sum(b.shape[0] for b in self._blocks) * self.point_bytes

    @property
    def file_bytes(self) -> int:
        """Bytes of points written to the temporary file."""
        return self._file_rows * self.point_bytes

    def reserve(self, n: int) -> np.ndarray:
        """Slots (n,) for ``n`` new points, to be filled with :meth:`put`."""
        first = len(self._block)
        k = int(min(n, self._room))
        block = np.full(n, -1, dtype=np.int64)
        index = np.zeros(n, dtype=np.int64)
        if k:
            self._room -= k
            block[:k] = len(self._blocks)
            index[:k] = np.arange(k)
            self._blocks.append(torch.empty((k, self.d), dtype=self.dtype, device=self.device))
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
        self._block = np.concatenate([self._block, block])
        self._index = np.concatenate([self._index, index])
        return np.arange(first, first + n)

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
            if b >= 0:
                self._blocks[b][torch.as_tensor(index[sel], device=self.device)] = given
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
        kinds = np.unique(block)
        if len(kinds) == 1 and kinds[0] >= 0:  # all in one memory block: one gather
            src = self._blocks[kinds[0]]
            return src[torch.as_tensor(index, device=self.device), c0:c1]
        out = torch.zeros((len(slots), c1 - c0), dtype=self.dtype, device=self.device)
        for b in kinds:
            sel = np.flatnonzero(block == b)
            if b == -2:
                continue  # the zero point
            if b >= 0:
                src = self._blocks[b][torch.as_tensor(index[sel], device=self.device), c0:c1]
            else:
                src = self._read(index[sel], c0, c1)
            out[torch.as_tensor(sel, device=self.device)] = src
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

    def weighted_sum(
        self, slots: np.ndarray, weights: Sequence[Tensor], c0: int = 0, c1: int | None = None
    ) -> list[Tensor]:
        """``out[j][i] = sum_k weights[j][i, k] * point[slots[i, k]]`` on values ``[c0, c1)``.

        ``slots`` (n, K), each of ``weights`` (n, K) in the accumulator's dtype; returns one
        (n, c1 - c0) tensor per weight in that dtype. Summed point by point in ``k`` order
        (the order and rounding of ``einsum("nk,nkd->nd")``), never holding all ``K``
        points at once; each point is read once for all weights.
        """
        out: list[Tensor] = []
        for k in range(slots.shape[1]):
            g = self.gather(slots[:, k], c0, c1).to(weights[0].dtype)
            for j, w in enumerate(weights):
                term = w[:, k, None] * g
                if k == 0:
                    out.append(term)
                else:
                    out[j].add_(term)
            del g
        return out

    def close(self) -> None:
        """Drop the points and the temporary file."""
        self._blocks = []
        if self._file is not None:
            self._file.close()
            self._file = None


class _Mesh:
    """Sub-intervals of the rows of one group, as parallel numpy arrays, and their points."""

    def __init__(self, store: _Store) -> None:
        self.store = store  # point gradients
        self.row = np.zeros(0, dtype=np.int64)  # leaf -> local row
        self.lo = np.zeros(0, dtype=np.int64)  # leaf start, in units of 2**-_DEPTH
        self.width = np.zeros(0, dtype=np.int64)
        self.slots = np.zeros((0, 5), dtype=np.int64)  # leaf -> its five points in store
        self.err = np.zeros(0)  # e_i, the vector error estimate
        self.comp = np.zeros(0)  # sum of Re[(X - X') conj(B_i - S_i)], the local sum error


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
    baseline_gradient_at: GradientAt,
) -> AdaptiveResult:
    # the group's rows are consecutive: views, not copies
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    start, end = start_all[r0:r1], end_all[r0:r1]
    n_rows, shape = start.shape[0], start.shape[1:]
    dev = start.device
    # the path difference in the input's own dtype: converted to the accumulator's per
    # block where it multiplies a sum (the conversion is exact, so the bits are the same)
    diff = end - start
    diff_flat = diff.reshape(n_rows, -1)
    d = diff_flat.shape[1]
    store_dtype = torch.promote_types(start.dtype, torch.float32)
    acc = accumulator_dtype(start)
    real = start.real.dtype if start.is_complex() else start.dtype
    acc_bytes = torch.empty((), dtype=acc).element_size()
    # the points' store (its file, if any, is closed when the mesh is dropped)
    mesh = _Mesh(_Store(d, store_dtype, dev, store_budget(d, acc_bytes)))
    # per kind of sub-interval (0: inside the path, 1: starting at the baseline) the weights
    # of its sum and of its error estimate on its five points
    sum_w = torch.tensor(np.stack([BOOLE, MILNE]), dtype=torch.float64, device=dev)
    err_w = torch.tensor(
        np.stack([BOOLE - SIMPSON, MILNE - OPEN_PAIR]), dtype=torch.float64, device=dev
    )
    target = target_all[rows].double().cpu().numpy()
    scale = scale_all[rows].double().cpu().numpy()
    steps = np.zeros(n_rows, dtype=np.int64)
    total = torch.zeros(n_rows, d, dtype=acc, device=dev)  # sum of B_i per row
    total_err = torch.zeros(n_rows, d, dtype=acc, device=dev)  # sum of B_i - S_i per row
    gap = np.zeros(0)  # per leaf: f(hi) - f(lo) - sum(A_i), its exact completeness error
    leaf_f = np.zeros((0, 5))  # per leaf: the model's outputs at its five points

    def evaluate(point_rows: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients at grid positions ``pos`` of local rows ``point_rows``: their slots,
        and the model's outputs there (float64).

        Stored is ``phi'(u) g(phi(u))``: the integrand in the mesh coordinate ``u``."""
        n = len(pos)
        at_baseline = pos == 0
        # the baseline's points first, on their own calls (their gradient may be singular)
        order = np.argsort(~at_baseline, kind="stable")
        u = pos / _GRID
        alphas = torch.tensor(path_alpha(u[order]), dtype=real, device=dev)
        r = torch.as_tensor(point_rows[order], device=dev)
        n_base = int(at_baseline.sum())
        chunk = max(1, chunk_for(n))
        # each chunk goes to the store as it comes: no (n, d) copy of the gradients
        if mesh.store.point_bytes >= _TRIM_POINT_BYTES:
            _release_freed_memory()
        slots = mesh.store.reserve(n)
        finite = np.ones(n, dtype=bool)
        fvals = np.empty(n)
        speed = path_speed(u)
        for a, b in ((0, n_base), (n_base, n)):
            fn = baseline_gradient_at if a == 0 else gradient_at
            for lo in range(a, b, chunk):
                rr, aa = r[lo : min(lo + chunk, b)], alphas[lo : min(lo + chunk, b)]
                view = (-1,) + (1,) * len(shape)
                pts = torch.addcmul(start[rr], aa.view(view), diff[rr])
                g, y = fn(pts, rows[rr])
                g = g.reshape(len(rr), -1).to(store_dtype)
                where = order[lo : min(lo + chunk, b)]
                finite[where] = torch.isfinite(g).all(dim=1).cpu().numpy()
                fvals[where] = y.reshape(-1).double().cpu().numpy()
                # the integrand in the mesh coordinate u: phi'(u) g(phi(u))
                g = g * torch.as_tensor(speed[where], dtype=store_dtype, device=dev)[:, None]
                mesh.store.put(slots[where], g)
                del pts, g, y
        np.add.at(steps, point_rows, 1)
        if on_evaluations is not None:
            on_evaluations(n)
        bad = ~finite & ~at_baseline
        if bad.any():
            raise ValueError(
                f"the model's gradient is not finite (NaN or infinite) on the path of sample "
                f"row(s) {sorted(set(rows[torch.as_tensor(point_rows[bad])].tolist()))[:10]} "
                f"at alpha = {sorted(set(path_alpha(u[bad]).round(6).tolist()))[:5]} "
                "(x' + alpha (x - x')); check the model for overflow, log/sqrt/division of "
                "values that reach zero, or use another baseline."
            )
        # singular at the baseline: the open rule takes over there (slot 0, the zero row)
        slots[at_baseline & ~finite] = 0
        return slots, fvals

    def leaf_sums(
        idx: np.ndarray, c0: int = 0, c1: int | None = None, which: str = "be"
    ) -> list[Tensor]:
        """Boole sums B_i (``"b"``) and differences B_i - S_i (``"e"``) of leaves ``idx``
        on coefficients ``[c0, c1)``, (n, c1 - c0) each, summed point by point."""
        h = torch.as_tensor(mesh.width[idx] / _GRID, dtype=torch.float64, device=dev)
        kind = torch.as_tensor((mesh.slots[idx, 0] == 0).astype(np.int64), device=dev)
        rule = {"b": sum_w, "e": err_w}
        weights = [(rule[w][kind] * h[:, None]).to(acc) for w in which]
        return mesh.store.weighted_sum(mesh.slots[idx], weights, c0, c1)

    def add_row_sums(idx: np.ndarray, sign: int, into: Sequence[Tensor]) -> None:
        """``into[0] += sign * row sums of B_i``, ``into[1]`` of B_i - S_i, over leaves
        ``idx``, in blocks of coefficients (the same sums, elementwise, as in one piece)."""
        for c0, c1 in _column_blocks(d, len(idx), acc_bytes):
            b, e = leaf_sums(idx, c0, c1)
            for t, v in zip(into, (b, e), strict=True):
                part = _row_sums(mesh.row[idx], v, n_rows)
                if sign > 0:
                    t[:, c0:c1].add_(part)
                else:
                    t[:, c0:c1].sub_(part)

    def add_leaves(
        row: np.ndarray, lo: np.ndarray, width: np.ndarray, slots: np.ndarray, f5: np.ndarray
    ) -> np.ndarray:
        """Append leaves (``f5``: outputs at their points); returns their indices."""
        nonlocal gap, leaf_f
        first = len(mesh.row)
        mesh.row = np.concatenate([mesh.row, row])
        mesh.lo = np.concatenate([mesh.lo, lo])
        mesh.width = np.concatenate([mesh.width, width])
        mesh.slots = np.concatenate([mesh.slots, slots])
        idx = np.arange(first, first + len(row))
        add_row_sums(idx, 1, (total, total_err))
        # the leaves' statistics: whole rows where they fit in BLOCK_BYTES, else
        # accumulated over blocks of coefficients (only their rounding differs)
        n_new = len(idx)
        err, comp = np.zeros(n_new), np.zeros(n_new)
        s_leaf, abs_leaf = np.zeros(n_new), np.zeros(n_new)
        split = _leaf_blocks_split(n_new, d, acc_bytes)
        for i0, i1, c0, c1 in _leaf_blocks(n_new, d, acc_bytes):
            b, e = leaf_sums(idx[i0:i1], c0, c1)
            r = torch.as_tensor(row[i0:i1], device=dev)
            dr = diff_flat[r, c0:c1] if c1 - c0 < d else diff_flat[r]
            a_err, a_leaf = re_mul(dr, e), re_mul(dr, b)
            del b, e, dr
            if split:
                err[i0:i1] += (a_err.norm(dim=1) ** 2).cpu().numpy()
            else:
                err[i0:i1] = a_err.norm(dim=1).cpu().numpy()
            comp[i0:i1] += a_err.sum(dim=1).cpu().numpy()
            s_leaf[i0:i1] += a_leaf.sum(dim=1).cpu().numpy()
            abs_leaf[i0:i1] += a_leaf.abs().sum(dim=1).cpu().numpy()
            del a_err, a_leaf
        if split:
            err = np.sqrt(err)
        # the local completeness test: the leaf's attributions must sum to the change of
        # the output across it; their error vector sums to the miss, so its norm is at
        # least the miss over sqrt(d) (above the rounding floor)
        g_leaf = (f5[:, 4] - f5[:, 0]) - s_leaf
        floor_leaf = rounding_floor(real, np.abs(f5[:, 0]) + np.abs(f5[:, 4]) + abs_leaf)
        need = np.maximum(np.abs(g_leaf) - floor_leaf, 0.0) / np.sqrt(d)
        err = np.maximum(err, need)
        mesh.err = np.concatenate([mesh.err, err])
        mesh.comp = np.concatenate([mesh.comp, comp])
        gap = np.concatenate([gap, g_leaf])
        leaf_f = np.concatenate([leaf_f, f5])
        return idx

    def bisection_change(parents: np.ndarray, halves: np.ndarray) -> np.ndarray:
        """``||A(parent) - A(left half) - A(right half)||`` per parent (``halves``: the
        left halves' indices, then the right ones'), in blocks of coefficients."""
        n_par = len(parents)
        r = torch.as_tensor(mesh.row[parents], device=dev)
        out = np.zeros(n_par)
        blocks = list(_column_blocks(d, 3 * n_par, acc_bytes))
        for c0, c1 in blocks:
            (bp,) = leaf_sums(parents, c0, c1, "b")
            (bl,) = leaf_sums(halves[:n_par], c0, c1, "b")
            (br,) = leaf_sums(halves[n_par:], c0, c1, "b")
            dr = diff_flat[r, c0:c1] if c1 - c0 < d else diff_flat[r]
            change = re_mul(dr, bp) - re_mul(dr, bl) - re_mul(dr, br)
            del bp, bl, br, dr
            if len(blocks) == 1:
                return np.asarray(change.norm(dim=1).cpu().numpy(), dtype=np.float64)
            out += (change.norm(dim=1) ** 2).cpu().numpy()
        return np.sqrt(out)

    # first mesh: FIRST_INTERVALS leaves per row on 4 * FIRST_INTERVALS + 1 grid points
    # and, when the budget allows, their second level in the same model call (the first
    # round bisects every first-mesh sub-interval with the points evaluated here)
    n_pts = 4 * FIRST_INTERVALS + 1
    ahead = max_steps >= 2 * n_pts - 1
    n_first = 2 * n_pts - 1 if ahead else n_pts
    pos = np.arange(n_first, dtype=np.int64) * (_GRID // (n_first - 1))
    point_rows = np.repeat(np.arange(n_rows), n_first)
    slots, fvals = evaluate(point_rows, np.tile(pos, n_rows))
    slots, fvals = slots.reshape(n_rows, n_first), fvals.reshape(n_rows, n_first)
    if ahead:  # the first mesh is every other point; the rest wait for the first round
        second = (slots[:, 1::2], fvals[:, 1::2])
        slots, fvals = slots[:, ::2], fvals[:, ::2]
    leaf_rows = np.repeat(np.arange(n_rows), FIRST_INTERVALS)
    k = np.tile(np.arange(FIRST_INTERVALS), n_rows)
    width = _GRID // FIRST_INTERVALS
    at = (leaf_rows[:, None], 4 * k[:, None] + np.arange(5))
    add_leaves(leaf_rows, k * width, np.full(len(k), width, dtype=np.int64), slots[at], fvals[at])

    active = np.ones(n_rows, dtype=bool)
    status = np.full(n_rows, "max_steps", dtype=STATUS_DTYPE)
    alive = np.ones(len(mesh.row), dtype=bool)  # leaves not bisected
    first_round = True
    while active.any():
        # the attributions of the running sums, taken in blocks of coefficients
        sum_int, abs_int, norm_int = _attribution_stats(diff_flat, total, acc_bytes)
        comp_err = np.abs(sum_int - target)
        # the one rounding floor: model outputs and the sum of the attributions in model
        # precision (the engine reports the error with the same floor)
        floor = rounding_floor(real, scale + abs_int)
        tol_c = rtol * np.abs(target) + atol
        # the estimate must account for the exact completeness error (see consistent_error)
        est_sum, _, est_norm = _attribution_stats(diff_flat, total_err, acc_bytes, False)
        if measures:  # the vector test in every domain of the pass; rows still active
            act = np.flatnonzero(active)
            r_act = rows[torch.as_tensor(act, device=dev)]
            norm_a, vec_err = np.zeros(n_rows), np.zeros(n_rows)
            # every row active (a long recording's one row): the sums themselves, no copy
            whole = len(act) == n_rows
            total_act = total if whole else total[act]
            err_act = total_err if whole else total_err[act]
            for measure in measures:
                a, _ = measure(r_act, total_act.reshape(-1, *shape))
                a_err, n_coef = measure(r_act, err_act.reshape(-1, *shape))
                e = consistent_error(a_err, est_sum[act], comp_err[act], floor[act], n_coef)
                # the domain where the error is largest relative to its tolerance decides
                worse = e * (rtol * norm_a[act] + atol + floor[act]) > vec_err[act] * (
                    rtol * a + atol + floor[act]
                )
                worse |= vec_err[act] == 0
                norm_a[act] = np.where(worse, a, norm_a[act])
                vec_err[act] = np.where(worse, e, vec_err[act])
        else:
            norm_a = norm_int
            vec_err = consistent_error(est_norm, est_sum, comp_err, floor, d)
        # root-sum-square of the per-interval error norms: errors of opposite sign in
        # different sub-intervals cannot cancel in it
        rss = _rss(mesh.err[alive], mesh.row[alive], n_rows)
        tol_v = rtol * norm_a + atol
        tol_r = rtol * norm_int + atol
        ok_v = (vec_err <= tol_v) & (rss <= tol_r)
        ok_c = comp_err <= tol_c
        at_floor = (vec_err <= tol_v + floor) & (rss <= tol_r + floor) & (comp_err <= tol_c + floor)
        if not first_round:  # no row is accepted on its first mesh alone
            strict = active & ok_v & ok_c
            status[strict] = "converged"
            status[active & ~strict & at_floor] = "floor"
            active &= ~(ok_v & ok_c) & ~at_floor
        chosen: list[np.ndarray] = []
        for r in np.flatnonzero(active):
            budget = (max_steps - steps[r]) // 4
            leaves = np.flatnonzero(alive & (mesh.row == r) & (mesh.width >= 8))
            base = leaves[mesh.lo[leaves] == 0]  # the sub-interval at the baseline
            if (
                not ok_c[r]
                and len(base)
                and _singular(mesh.width[base[0]], target[r], leaf_f[base[0]])
            ):
                status[r], active[r] = "singular", False
                continue
            if first_round:  # the second level: every sub-interval of the first mesh
                pick = leaves if ahead else leaves[:budget]
            else:
                ratio_v = max(vec_err[r] / max(tol_v[r], _TINY), rss[r] / max(tol_r[r], _TINY))
                if ok_v[r]:  # completeness fails: refine where the local tests fail
                    share = 1.0 - tol_c[r] / (2 * comp_err[r])
                    key = np.abs(gap[leaves])
                else:
                    share = 1.0 - 1.0 / (2 * ratio_v)
                    key = mesh.err[leaves]
                pick = _pick(leaves, key, share, budget)
                if comp_err[r] > tol_c[r]:  # the stretch next to the baseline goes first
                    pick = np.concatenate([base, pick[~np.isin(pick, base)]])[: max(budget, 0)]
                    zoom = len(base) and mesh.width[base[0]] / _GRID > SINGULAR_WIDTH / 2
                    if zoom and abs(gap[base[0]]) > 0.5 * abs(target[r]):
                        # it holds most of the miss: zoom in on it alone (a jump at the
                        # baseline is named, a transition next to it resolved, cheaply)
                        pick = pick[:1]
            if len(pick) == 0:
                active[r] = False  # budget spent (or the mesh is at its finest)
            else:
                chosen.append(pick)
        if not chosen:
            break
        parents = np.concatenate(chosen)
        alive[parents] = False
        add_row_sums(parents, -1, (total, total_err))
        # new points at 1/8, 3/8, 5/8, 7/8 of each parent
        w8 = mesh.width[parents] // 8
        lo = mesh.lo[parents]
        new_pos = (lo[:, None] + w8[:, None] * np.array([1, 3, 5, 7])).reshape(-1)
        if first_round and ahead:  # evaluated with the first mesh
            at = (mesh.row[parents][:, None], 4 * (lo // width)[:, None] + np.arange(4))
            new_slots, new_f = second[0][at], second[1][at]
        else:
            new_slots, new_f = evaluate(np.repeat(mesh.row[parents], 4), new_pos)
            new_slots, new_f = new_slots.reshape(-1, 4), new_f.reshape(-1, 4)
        old = mesh.slots[parents]
        left = np.stack([old[:, 0], new_slots[:, 0], old[:, 1], new_slots[:, 1], old[:, 2]], 1)
        right = np.stack([old[:, 2], new_slots[:, 2], old[:, 3], new_slots[:, 3], old[:, 4]], 1)
        of = leaf_f[parents]
        f_left = np.stack([of[:, 0], new_f[:, 0], of[:, 1], new_f[:, 1], of[:, 2]], 1)
        f_right = np.stack([of[:, 2], new_f[:, 2], of[:, 3], new_f[:, 3], of[:, 4]], 1)
        half = mesh.width[parents] // 2
        n_par = len(parents)
        idx = add_leaves(
            np.concatenate([mesh.row[parents]] * 2),
            np.concatenate([lo, lo + half]),
            np.concatenate([half, half]),
            np.concatenate([left, right]),
            np.concatenate([f_left, f_right]),
        )
        alive = np.concatenate([alive, np.ones(2 * n_par, dtype=bool)])
        # the two levels must agree at the expected rate: the change from the parent's sum
        # to its halves' sums estimates the parent's error independently of its five
        # points; a half is trusted to no better than 1 / _RATE of that change (a kink's
        # error falls 4x per bisection; a smooth integrand's change is tiny anyway), so a
        # parent whose points aliased a feature passes its doubt on to its halves until
        # a bisection changes nothing
        seen = bisection_change(parents, idx) / _RATE
        for half_idx in (idx[:n_par], idx[n_par:]):
            mesh.err[half_idx] = np.maximum(mesh.err[half_idx], seen)
        first_round = False

    # final sums from the leaves themselves (no drift from the running totals)
    keep = np.flatnonzero(alive)
    gradient = torch.zeros(n_rows, d, dtype=acc, device=dev)
    error = torch.zeros(n_rows, d, dtype=acc, device=dev)
    step = max(1, (64 << 20) // max(1, 5 * d * 16))
    for i in range(0, len(keep), step):
        add_row_sums(keep[i : i + step], 1, (gradient, error))
    mesh.store.close()  # on an error, when the mesh is dropped
    _, abs_final, norm_int = _attribution_stats(diff_flat, gradient, acc_bytes)
    floor = rounding_floor(real, scale + abs_final)
    rss = _rss(mesh.err[keep], mesh.row[keep], n_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        rss_rel = np.where(rss == 0, 0.0, rss / norm_int)
    return AdaptiveResult(
        gradient.reshape(n_rows, *shape),
        error.reshape(n_rows, *shape),
        steps,
        status == "converged",
        status,
        floor,
        rss_rel,
    )


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
    diff: Tensor, sums: Tensor, item: int, with_abs: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: sum, sum of absolute values (zeros unless ``with_abs``) and 2-norm of the
    attributions ``Re[diff * conj(sums)]`` (float64), ``diff`` and ``sums`` of shape (R, d).

    Taken in blocks of coefficients of at most :func:`block_bytes` of temporaries, never
    as an (R, d) float64 product. With one block the numbers are bitwise those of the
    whole product; with several, the sums add per block and the norm is the root of the
    summed squares, so only their last bits differ."""
    n, d = sums.shape
    out = np.zeros((3, n))
    blocks = list(_column_blocks(d, n, item))
    for c0, c1 in blocks:
        part = diff if len(blocks) == 1 else diff[:, c0:c1]
        a = re_mul(part, sums if len(blocks) == 1 else sums[:, c0:c1])
        out[0] += a.sum(dim=1).cpu().numpy()
        if with_abs:
            out[1] += a.abs().sum(dim=1).cpu().numpy()
        if len(blocks) == 1:
            out[2] = a.norm(dim=1).cpu().numpy()
        else:
            out[2] += (a.norm(dim=1) ** 2).cpu().numpy()
        del a
    if len(blocks) > 1:
        out[2] = np.sqrt(out[2])
    return out[0], out[1], out[2]


def attribution_norms(diff_of: Callable[[int, int], Tensor], sums: Tensor) -> np.ndarray:
    """2-norm per row of the attributions ``Re[diff * conj(sums)]`` (float64), ``sums``
    of shape (R, d) and ``diff_of(c0, c1)`` the path difference's coefficients
    ``[c0, c1)`` (R, c1 - c0) in any dtype, in blocks of coefficients of at most
    :func:`block_bytes` of temporaries: bitwise the norm of the whole product when one
    block holds it, else the root of the blocks' summed squares."""
    n, d = sums.shape
    item = torch.empty((), dtype=accumulator_dtype(sums)).element_size()
    blocks = list(_column_blocks(d, n, item))
    if len(blocks) == 1:
        return _norms(re_mul(diff_of(0, d), sums))
    out = np.zeros(n)
    for c0, c1 in blocks:
        out += (re_mul(diff_of(c0, c1), sums[:, c0:c1]).norm(dim=1) ** 2).cpu().numpy()
    return np.sqrt(out)


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


#: Input-sized temporaries per leaf while its statistics are taken (Boole sum, error, their
#: attributions, and the products on the way).
_LEAF_TEMPS = 6


def _leaf_blocks(n: int, d: int, item: int) -> Iterator[tuple[int, int, int, int]]:
    """Blocks ``(i0, i1, c0, c1)`` of ``n`` leaves' statistics: all at once when their
    six temporaries of (n, d) values (sums, errors, their attributions) fit in
    :data:`BLOCK_BYTES`, else whole rows in blocks of leaves, else one leaf at a time in
    ranges of coefficients."""
    row = _LEAF_TEMPS * d * item
    block = block_bytes(d, item)
    if not _leaf_blocks_split(n, d, item):
        step = n if n * row <= block else max(1, block // row)
        for i0 in range(0, n, step):
            yield i0, min(i0 + step, n), 0, d
        return
    width = max(MIN_COLUMNS, block // (_LEAF_TEMPS * item))
    for i in range(n):
        for c0 in range(0, d, width):
            yield i, i + 1, c0, min(c0 + width, d)


def _leaf_blocks_split(n: int, d: int, item: int) -> bool:
    """Whether :func:`_leaf_blocks` splits rows into ranges of coefficients."""
    return _LEAF_TEMPS * d * item > block_bytes(d, item)


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


def _singular(width: int, target: float, f5: np.ndarray) -> bool:
    """The row's output jumps next to the baseline: its sub-interval there (outputs ``f5``
    at its points) is at most :data:`SINGULAR_WIDTH` wide, and the output changes across
    it by more than half of ``f(x) - f(x')``."""
    if path_alpha(np.array(width / _GRID)) > SINGULAR_WIDTH or not abs(target) > 0:
        return False
    return bool(abs(f5[4] - f5[0]) > 0.5 * abs(target))


def _rss(err: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
    """``sqrt(sum err**2)`` per row."""
    out = np.zeros(n_rows)
    np.add.at(out, row, err**2)
    return np.sqrt(out)


def rounding_floor(dtype: torch.dtype, magnitude: np.ndarray) -> np.ndarray:
    """Completeness and error below this are rounding: 64 ulps of ``magnitude`` (per row:
    ``|f(x)| + |f(x')| + sum |A|``) in the model's precision ``dtype``."""
    return 64 * float(torch.finfo(dtype).eps) * magnitude


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
    above the rounding ``floor`` only.

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
    return np.maximum(est_norm * factor, need / np.sqrt(max(1, n_coef)))


def _row_sums(rows: np.ndarray, values: Tensor, n_rows: int) -> Tensor:
    """``out[r] = sum of values[i] with rows[i] == r``, shape (n_rows, d).

    One matrix product with a 0/1 matrix: its summation order does not depend on the
    number of threads (``index_add_``'s may), so results are bitwise the same on a laptop
    and on a one-CPU Ray worker."""
    onehot = torch.zeros(n_rows, len(rows), dtype=values.dtype, device=values.device)
    onehot[torch.as_tensor(rows, device=values.device), torch.arange(len(rows))] = 1
    return onehot @ values


def _norms(a: Tensor) -> np.ndarray:
    """2-norm of each row of ``a`` (n, ...), as numpy."""
    return np.asarray(a.reshape(a.shape[0], -1).norm(dim=1).cpu().numpy(), dtype=np.float64)


def _pick(leaves: np.ndarray, key: np.ndarray, share: float, budget: int) -> np.ndarray:
    """Leaves of one row to bisect this round: the fewest, by decreasing local error
    ``key``, that hold ``share`` of the row's summed local error (at most ``budget``).

    Bisecting a leaf removes most of its error, so refining a share ``1 - tol / (2 err)`` of
    the error brings the row near half its tolerance in one round. When the local errors
    see nothing although a test fails (a feature between the points), every leaf is
    bisected."""
    if budget <= 0 or len(leaves) == 0:
        return leaves[:0]
    order = np.argsort(-key, kind="stable")
    total = key.sum()
    if not total > 0:
        return leaves[order][:budget]
    n = int(np.searchsorted(np.cumsum(key[order]) / total, min(share, 1.0) - 1e-12)) + 1
    return leaves[order][: min(n, budget)]
