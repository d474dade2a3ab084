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

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from . import quadrature
from ._guards import (
    LOW_PRECISION,
    NonFiniteError,
    check_outputs_finite,
    first_bad,
    guarded_call,
    path_error,
    work_dtype,
)
from ._inputs import TargetSpec, as_baselines, as_series, as_target, resolve_target, select_target
from ._optional import require
from .attribution import Attribution
from .domains import Domain, get_domain
from .models import wrap

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


class CompletenessWarning(UserWarning):
    """The completeness error of an attribution is large: more steps are needed."""


class ConvergenceWarning(UserWarning):
    """``n_steps="auto"`` reached its cap before the completeness tolerance was met."""


#: Relative completeness error above which a :class:`CompletenessWarning` is issued.
WARN_RTOL = 0.05


#: Saved activations per chunk that the default ``internal_batch_size`` aims at, bytes.
CHUNK_BYTES = 16 * 2**20
#: Largest default chunk, in model evaluations.
MAX_CHUNK = 512


def auto_batch_size(eval_bytes: int, n_evaluations: int) -> int:
    """Default ``internal_batch_size``: model evaluations per forward pass.

    Parameters
    ----------
    eval_bytes : int
        Bytes that autograd saves for the backward pass per model evaluation (see
        :func:`activation_bytes`).
    n_evaluations : int
        Evaluations still to do; the chunk is never larger.

    Notes
    -----
    Aims at :data:`CHUNK_BYTES` (8 MiB) of saved activations per chunk, as a power of two
    between 1 and :data:`MAX_CHUNK`: small enough that the activations of a chunk stay in a
    CPU's caches (and far from a GPU's memory limit), large enough to amortize the per-call
    overhead. On this project's CPU benchmarks (``benchmarks/speed.py``) the fastest chunk of
    a plain forward + backward held 6 to 12 MiB of activations for a width-32 conv net at
    T = 512 and 2048, and any chunk of 64 or more was close to best for a tiny conv net.
    """
    chunk = 2 ** round(np.log2(max(1.0, CHUNK_BYTES / max(1, eval_bytes))))
    return int(min(chunk, MAX_CHUNK, max(1, n_evaluations)))


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
class _Settings:
    """How to integrate: validated once in :meth:`CrossDomainIG.explain`."""

    n_steps: Any  # int, or "auto"
    method: str
    chunk: int | None  # internal_batch_size
    rtol: float
    atol: float
    max_steps: int
    progress: Any = None  # a tqdm bar, or None
    eval_bytes: int = 0  # saved activations per model evaluation (default chunk size)

    def chunk_for(self, n_evaluations: int, extra: int = 1) -> int:
        """``internal_batch_size`` or the default for ``n_evaluations`` evaluations."""
        return self.chunk or auto_batch_size(self.eval_bytes * extra, n_evaluations)

    @property
    def auto(self) -> bool:
        return bool(self.n_steps == "auto")


@dataclass
class _Pass:
    """One path integral shared by one or more domains."""

    kind: Literal["time", "coefficients"]
    domains: list[tuple[str, Domain, Tensor]]  # (label, fitted domain, coefficient baseline)
    start: Tensor  # (R, ...) path start (time baseline or coefficient baseline)
    end: Tensor  # (R, ...) path end
    time_baseline: Tensor  # (R, C, T)
    gradient: Tensor | None = None  # (R, ...) weighted path-gradient sum
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


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
    def attribute(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        n_steps: int | Literal["auto"] = 64,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
    ) -> Any:
        """Captum-style call: attributions as numpy arrays.

        Returns ``values`` (or a dict of them, one per domain, when several domains were
        given), plus ``delta`` of shape ``(batch,)`` when ``return_convergence_delta``.
        See :meth:`explain` for the parameters.
        """
        res = self.explain(
            inputs,
            baselines=baselines,
            target=target,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
        )
        if isinstance(res, Attribution):
            return (res.values, res.delta) if return_convergence_delta else res.values
        values = {k: a.values for k, a in res.items()}
        if return_convergence_delta:
            return values, {k: a.delta for k, a in res.items()}
        return values

    def explain(
        self,
        inputs: Any,
        baselines: Any = None,
        target: Any = None,
        n_steps: int | Literal["auto"] = 64,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        rtol: float = 1e-3,
        atol: float = 0.0,
        max_steps: int = 1024,
        progress: bool = False,
    ) -> Attribution | dict[str, Attribution]:
        """Explain ``inputs``; returns an :class:`Attribution` (a dict of them for several domains).

        Parameters
        ----------
        inputs : array-like of shape (batch, channels, time)
            Or the layout given by ``time_axis``; numpy or torch, real, finite.
        baselines : None, float, or array-like, default=None
            ``None``: zeros. A number: a constant series. An array broadcastable to
            ``inputs``: one baseline. An array with one extra leading axis
            ``(n_baselines, *inputs.shape)``: several, attributions averaged over them.
            The coefficient baseline is the domain's ``coefficient_baseline`` of it.
        target : int, tuple, sequence of int, "predicted", or callable, optional
            Which output to explain: an index into axis 1 (a tuple for more axes), one
            index per sample, the arg-max class, or ``outputs -> (batch,)``. ``None`` for
            models with one output per sample.
        n_steps : int or "auto", default=64
            Path points. ``"auto"``: start at 16 and double, per sample, until
            ``|delta| <= rtol * |f(x) - f(x')| + atol`` or ``max_steps`` is reached.
        method : str, default="gausslegendre"
            Integration rule, one of :data:`cdig.quadrature.METHODS`.
        internal_batch_size : int, optional
            Model evaluations per forward pass; default chosen from the input size.
        rtol, atol : float
            Tolerances of ``n_steps="auto"``.
        max_steps : int, default=1024
            Cap of ``n_steps="auto"``.
        progress : bool, default=False
            Show a progress bar (``tqdm``) over the model evaluations.

        Raises
        ------
        ValueError, TypeError
            For invalid inputs, before the integration starts.
        """
        adapter = wrap(self.model)
        model_dtype = adapter.dtype
        x, layout = as_series(inputs, self.time_axis, work_dtype(model_dtype), adapter.device)
        if model_dtype is None and x.dtype in LOW_PRECISION:  # a function given half inputs
            model_dtype, x = x.dtype, x.float()
        xb = as_baselines(baselines, x, layout)  # (S, B, C, T)
        _check_steps(n_steps, method, internal_batch_size, rtol, atol, max_steps)
        spec = as_target(target)
        named = _resolve_domains(self.domain, self.fs)
        fitted = [(label, d.clone().fit(x)) for label, d in named]

        low = model_dtype if model_dtype in LOW_PRECISION else None  # else: no casts
        call = guarded_call(adapter, layout, self.time_axis, low)

        with _progress_bar(progress) as bar, adapter.inference(), torch.enable_grad():
            eval_bytes = 0 if internal_batch_size else self._eval_bytes(call, x)
            settings = _Settings(
                n_steps, method, internal_batch_size, rtol, atol, max_steps, bar, eval_bytes
            )
            results = self._run(call, x, xb, spec, fitted, settings)
        ordered = {label: results[label] for label, _ in named}
        for label, attr in ordered.items():
            _warn_completeness(label, attr)
        if isinstance(self.domain, (str, Domain)):
            return ordered[named[0][0]]
        return ordered

    def _eval_bytes(self, call: Callable[[Tensor], Tensor], x: Tensor) -> int:
        """:func:`activation_bytes` of the model, cached per input shape, dtype and device."""
        key = (tuple(x.shape[1:]), x.dtype, str(x.device))
        cache: dict[Any, int] = self.__dict__.setdefault("_eval_bytes_cache", {})
        if key not in cache:
            cache[key] = activation_bytes(call, x)
        return cache[key]

    def _run(
        self,
        call: Callable[[Tensor], Tensor],
        x: Tensor,
        xb: Tensor,
        spec: TargetSpec,
        fitted: list[tuple[str, Domain]],
        settings: _Settings,
    ) -> dict[str, Attribution]:
        """Plan the passes, evaluate the end points, integrate, and build the results."""
        n_base, batch = xb.shape[0], x.shape[0]
        rows_b = torch.arange(n_base * batch, device=x.device) % batch  # row -> sample
        xb_rows = xb.reshape(n_base * batch, *x.shape[1:])  # (S*B, C, T)
        passes = self._plan(fitted, x[rows_b], xb_rows, rows_b)
        # f(x) and every pass's f(x'_t): (B + P*S*B, ...), one batched evaluation without
        # graphs. (Riding along in the first path chunk saves a model call but breaks its
        # power-of-two size, which costs more on CPUs than the call: benchmarks/README.md.)
        ends = torch.cat([x, *(p.time_baseline for p in passes)])
        out = _evaluate(call, ends, settings.chunk_for(len(ends)))
        spec = resolve_target(spec, out[:batch])
        owner = torch.arange(len(ends), device=x.device) % batch
        selected = select_target(spec, out, owner)
        fx, fbs = selected[:batch], selected[batch:].split(n_base * batch)
        check_outputs_finite(fx, owner[:batch], "inputs", 1.0)
        check_outputs_finite(selected[batch:], owner[batch:], "baseline", 0.0)
        if settings.progress is not None:
            steps = 16 if settings.auto else settings.n_steps
            settings.progress.reset(total=len(passes) * n_base * batch * steps)

        def f(xc: Tensor, rows: Tensor) -> Tensor:
            return select_target(spec, call(xc), rows_b[rows])

        results: dict[str, Attribution] = {}
        last: dict[str, Tensor] = {}  # the latest path points and rows, to name a failure
        for i, p in enumerate(passes):
            func = f if p.kind == "time" else _through_inverse(f, p.domains[0][1], rows_b)
            try:
                _integrate(p, _traced(func, last), fx[rows_b] - fbs[i], settings)
            except _PathNonFinite as err:
                raise err.on_path(last["points"], last["rows"], p.start, p.end, rows_b) from None
            for label, dom, X0 in p.domains:
                values = _attributions(p, dom, X0, rows_b)  # (S*B, *coef), float64
                if not bool(torch.isfinite(values).all()):
                    raise NonFiniteError(
                        f"{label}: the attributions overflowed (NaN or infinite values) although "
                        "the model was finite on the path; rescale the inputs or the model."
                    )
                results[label] = self._result(values, dom, fx, fbs[i], p, n_base, spec, settings)
        return results

    # ------------------------------------------------------------------ helpers
    def _plan(
        self, fitted: list[tuple[str, Domain]], x_rows: Tensor, xb_rows: Tensor, rows_b: Tensor
    ) -> list[_Pass]:
        """Group domains into integration passes."""
        passes: list[_Pass] = []
        for label, dom in fitted:
            X0 = dom.coefficient_baseline(xb_rows, rows_b).detach()
            # effective time baseline (S*B, C, T): T^-1(X0), which is xb itself when X0 is
            # the default forward(xb) (the round trip is exact; no need to compute it)
            default_start = type(dom).coefficient_baseline is Domain.coefficient_baseline
            tb = xb_rows if default_start else dom.inverse(X0, rows_b).detach()
            if dom.linear and self.linear_shortcut:
                for p in passes:
                    if p.kind == "time" and (p.time_baseline is tb or _same(p.time_baseline, tb)):
                        p.domains.append((label, dom, X0))
                        break
                else:
                    passes.append(_Pass("time", [(label, dom, X0)], tb, x_rows, tb))
            else:
                X = dom.forward(x_rows, rows_b).detach()
                passes.append(_Pass("coefficients", [(label, dom, X0)], X0, X, tb))
        return passes

    def _result(
        self,
        values: Tensor,
        dom: Domain,
        fx: Tensor,
        fb: Tensor,
        p: _Pass,
        n_base: int,
        spec: TargetSpec,
        settings: _Settings,
    ) -> Attribution:
        batch = fx.shape[0]
        vals, fb_mean = values, fb.double()
        if n_base > 1:
            vals = values.reshape(n_base, batch, *values.shape[1:]).mean(dim=0)
            fb_mean = fb_mean.reshape(n_base, batch).mean(dim=0)
        fx64 = fx.detach().double()
        delta = vals.reshape(batch, -1).sum(dim=1) - (fx64 - fb_mean)
        steps = p.steps.reshape(n_base, batch).max(axis=0)
        return Attribution(
            values=vals.to(p.time_baseline.dtype).cpu().numpy(),
            delta=delta.cpu().numpy(),
            dims=dom.dims,
            coords=dom.coords,
            units=dom.units,
            outputs=fx64.cpu().numpy(),
            baseline_outputs=fb_mean.cpu().numpy(),
            n_steps=steps,
            domain=dom,
            target=spec.describe(),
            target_index=spec.indices(batch),
            settings={
                "method": settings.method,
                "n_steps": settings.n_steps,
                "n_baselines": n_base,
                "pass": p.kind,
                "shared_with": [lbl for lbl, d, _ in p.domains if d is not dom],
            },
        )


# ---------------------------------------------------------------------- validation
def _check_steps(
    n_steps: Any,
    method: str,
    internal_batch_size: Any,
    rtol: float,
    atol: float,
    max_steps: int,
) -> None:
    quadrature.get_rule(method)
    if internal_batch_size is not None and (
        isinstance(internal_batch_size, bool)
        or not isinstance(internal_batch_size, (int, np.integer))
        or internal_batch_size < 1
    ):
        raise ValueError(
            f"internal_batch_size={internal_batch_size!r} must be a positive integer or None."
        )
    if n_steps == "auto":
        if not (rtol >= 0 and atol >= 0) or (rtol == 0 and atol == 0):
            raise ValueError(
                f"n_steps='auto' needs rtol >= 0 and atol >= 0, not both 0; got {rtol=}, {atol=}."
            )
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 16:
            raise ValueError(f"max_steps={max_steps!r} must be an integer >= 16.")
        return
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r} must be an integer >= 1 or 'auto'.")


def _resolve_domains(domain: DomainsArg, fs: float | None) -> list[tuple[str, Domain]]:
    if isinstance(domain, (str, Domain)):
        items: list[tuple[str | None, DomainArg]] = [(None, domain)]
    elif isinstance(domain, Mapping):
        items = [(str(k), v) for k, v in domain.items()]
    elif isinstance(domain, Sequence):
        items = [(None, d) for d in domain]
    else:
        raise TypeError(
            f"domain must be a name, a Domain, or a list/dict of them; got {type(domain).__name__}."
        )
    if not items:
        raise ValueError("domain is empty; give at least one domain.")
    out: list[tuple[str, Domain]] = []
    for label, d in items:
        dom = get_domain(d, fs=fs)
        dom_fs = getattr(dom, "fs", None)
        if fs is not None and dom_fs not in (None, fs):
            raise ValueError(
                f"fs={fs} conflicts with {type(dom).__name__}(fs={dom_fs}); set it in one place."
            )
        name = label or (d if isinstance(d, str) else dom.name)
        if any(name == n for n, _ in out):
            raise ValueError(
                f"domain {name!r} is given twice; pass a dict {{label: domain}} to name them."
            )
        out.append((name, dom))
    return out


def _same(a: Tensor, b: Tensor) -> bool:
    scale = max(1.0, float(a.abs().max()), float(b.abs().max()))
    tol = 1e3 * torch.finfo(a.dtype).eps * scale
    return a.shape == b.shape and bool(((a - b).abs() <= tol).all())


# ---------------------------------------------------------------------- integration
def _evaluate(call: Callable[[Tensor], Tensor], xs: Tensor, size: int) -> Tensor:
    """Model outputs for ``xs`` of shape (n, C, T), ``size`` rows at a time, no graphs."""
    with torch.no_grad():
        return torch.cat([call(xs[lo : lo + size]) for lo in range(0, xs.shape[0], size)])


def _through_inverse(
    f: Callable[[Tensor, Tensor], Tensor], dom: Domain, rows_b: Tensor
) -> Callable[[Tensor, Tensor], Tensor]:
    def g(points: Tensor, rows: Tensor) -> Tensor:
        return f(dom.inverse(points, rows_b[rows]), rows)

    return g


def _accumulator_dtype(t: Tensor) -> torch.dtype:
    if t.device.type == "mps":
        return t.dtype
    return torch.complex128 if t.is_complex() else torch.float64


def _path_gradient(
    func: Callable[[Tensor, Tensor], Tensor],
    start: Tensor,
    end: Tensor,
    alphas: np.ndarray,
    weights: np.ndarray,
    chunk: int,
    bar: Any = None,
) -> Tensor:
    """``sum_k w_k * grad func(start + alpha_k (end - start))`` per row.

    ``start``, ``end``: (R, ...). ``func(points, rows) -> (n,)`` gets path points of shape
    (n, ...) and the row each belongs to. Evaluations are ordered row-major
    (row r, step k) -> r * K + k, in blocks of whole rows (``chunk // K`` rows) or, when a
    row has more than ``chunk`` steps, of ``chunk`` steps of one row; each block's points
    are one broadcast multiply-add and its weighted sum one matrix product (in the model's
    precision, at least float32; the sum over blocks is float64), so the cost beyond the
    model is a few tensor operations per block.
    """
    n_rows, n_k = start.shape[0], len(alphas)
    dev = start.device
    diff = end - start
    real = start.real.dtype if start.is_complex() else start.dtype
    acc = _accumulator_dtype(start)
    # each block's weighted sum runs in the model's precision (at least float32): one matmul,
    # no float64 copy of the gradients; blocks are accumulated in float64
    red = torch.promote_types(start.dtype, torch.float32)
    a_t = _constant(alphas, real, dev)
    w_t = _constant(weights, red, dev)
    row_of = torch.arange(n_rows, device=dev).repeat_interleave(n_k)  # evaluation -> row
    grad = torch.empty(start.shape, dtype=acc, device=dev)
    grad_flat = grad.view(n_rows, -1)
    shape = start.shape[1:]
    a_view = (1, -1) + (1,) * len(shape)
    for r0, r1, k0, k1 in _blocks(n_rows, n_k, chunk):
        m, nk = r1 - r0, k1 - k0
        points = torch.addcmul(
            start[r0:r1].unsqueeze(1), a_t[k0:k1].view(a_view), diff[r0:r1].unsqueeze(1)
        ).reshape(m * nk, *shape)
        points.requires_grad_(True)
        rows = row_of[r0 * n_k + k0 : (r1 - 1) * n_k + k1]
        y = func(points, rows)
        if not y.requires_grad:
            raise ValueError(
                "the model's output does not depend differentiably on its input (no "
                "gradient flows back); check that the forward pass does not detach, use "
                "numpy, or run under torch.no_grad()."
            )
        (g,) = torch.autograd.grad(y.sum(), points, allow_unused=True)
        if g is None:
            raise ValueError("the model's output does not depend on its input (no gradient).")
        _check_path_finite(y, g, rows)
        part = torch.matmul(w_t[k0:k1], g.to(red).reshape(m, nk, -1))  # (m, D)
        if k0 == 0:
            grad_flat[r0:r1] = part
        else:
            grad_flat[r0:r1] += part
        if bar is not None:
            bar.update(m * nk)
    return grad


class _PathNonFinite(NonFiniteError):
    """Raised on the path; :meth:`on_path` restates it with samples and path positions."""

    def __init__(self, what: str, positions: Tensor, rows: Tensor) -> None:
        self.what, self.positions = what, positions
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


def _traced(
    func: Callable[[Tensor, Tensor], Tensor], last: dict[str, Tensor]
) -> Callable[[Tensor, Tensor], Tensor]:
    """``func`` that keeps its latest ``points`` and ``rows`` in ``last``."""

    def h(points: Tensor, rows: Tensor) -> Tensor:
        last["points"], last["rows"] = points, rows
        return func(points, rows)

    return h


def _check_path_finite(y: Tensor, g: Tensor, rows: Tensor) -> None:
    """Raise when path outputs ``y`` (n,) or gradients ``g`` (n, ...) are not all finite.

    Call it right after ``func(points, rows)`` and its gradient, ``rows`` being the rows
    given to ``func``: :meth:`CrossDomainIG._run` names the samples and the path positions
    from that call. One device sync per call; the details are only computed on failure.
    """
    if bool(torch.isfinite(y).all() & torch.isfinite(g).all()):
        return
    what, positions = first_bad(y, g)
    raise _PathNonFinite(what, positions, rows)


_CONSTANTS: dict[tuple[int, torch.dtype, torch.device], tuple[np.ndarray, Tensor]] = {}


def _constant(arr: np.ndarray, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``arr`` as a tensor, cached while ``arr`` (a cached quadrature rule) is alive."""
    key = (id(arr), dtype, device)
    hit = _CONSTANTS.get(key)
    if hit is not None and hit[0] is arr:
        return hit[1]
    if len(_CONSTANTS) > 256:
        _CONSTANTS.clear()
    t = torch.tensor(arr, dtype=dtype, device=device)
    _CONSTANTS[key] = (arr, t)
    return t


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
    target_diff: Tensor,
    settings: _Settings,
) -> None:
    """Fill ``p.gradient`` and ``p.steps``; with ``auto``, double steps per row as needed.

    ``target_diff`` holds the (R,) differences f(x) - f(x'_t) that ``auto`` must match.
    """
    n_rows = p.start.shape[0]
    method, n_steps, bar = settings.method, settings.n_steps, settings.progress
    size = settings.chunk_for

    if not settings.auto:
        alphas, weights = quadrature.rule(method, n_steps)
        chunk = size(n_rows * n_steps)
        p.gradient = _path_gradient(func, p.start, p.end, alphas, weights, chunk, bar)
        p.steps = np.full(n_rows, n_steps, dtype=np.int64)
        return
    p.gradient = torch.zeros(
        p.start.shape, dtype=_accumulator_dtype(p.start), device=p.start.device
    )
    p.steps = np.zeros(n_rows, dtype=np.int64)
    todo = torch.arange(n_rows, device=p.start.device)
    n, max_steps = 16, settings.max_steps
    tol = settings.rtol * target_diff.double().abs() + settings.atol
    failed = todo[:0]  # rows accepted at the cap without meeting the tolerance
    while True:
        alphas, weights = quadrature.rule(method, n)
        if bar is not None and n > 16:
            bar.total += len(todo) * n
        chunk = size(len(todo) * n)  # re-chosen as the steps double
        g = _path_gradient(
            _subset(func, todo), p.start[todo], p.end[todo], alphas, weights, chunk, bar
        )
        total = _dot(p.end[todo] - p.start[todo], g)
        ok = (total - target_diff[todo].double()).abs() <= tol[todo]
        done = ok if n * 2 <= max_steps else torch.ones_like(ok)
        failed = torch.cat([failed, todo[done & ~ok]])
        p.gradient[todo[done]] = g[done]
        p.steps[todo[done].cpu().numpy()] = n
        todo = todo[~done]
        if todo.numel() == 0:
            break
        n *= 2
    if failed.numel():
        warnings.warn(
            f"n_steps='auto' reached max_steps={max_steps} without meeting the tolerance for "
            f"rows {sorted(failed.tolist())[:10]} (sample index = row % batch); raise max_steps or "
            "loosen rtol/atol.",
            ConvergenceWarning,
            stacklevel=4,
        )


def _subset(
    func: Callable[[Tensor, Tensor], Tensor], rows: Tensor
) -> Callable[[Tensor, Tensor], Tensor]:
    """``func`` for a subset of rows: local row ``r`` is global row ``rows[r]``."""

    def g(points: Tensor, r: Tensor) -> Tensor:
        return func(points, rows[r])

    return g


def _dot(diff: Tensor, grad: Tensor) -> Tensor:
    """Per-row ``sum Re[diff * conj(grad)]`` in float64, shape (R,)."""
    prod = _re_mul(diff, grad)
    return prod.reshape(prod.shape[0], -1).sum(dim=1)


def _re_mul(diff: Tensor, grad: Tensor) -> Tensor:
    """Elementwise ``Re[diff * conj(grad)]`` in float64."""
    if diff.is_complex() or grad.is_complex():
        d = torch.view_as_real(diff.to(torch.complex128))
        g = torch.view_as_real(grad.to(torch.complex128))
        return (d * g).sum(dim=-1)
    return diff.double() * grad.double()


def _attributions(p: _Pass, dom: Domain, X0: Tensor, rows_b: Tensor) -> Tensor:
    """Per-row attributions (R, *coef) of ``dom`` from the pass's path gradient, float64."""
    assert p.gradient is not None
    if p.kind == "coefficients":
        return _re_mul(p.end - p.start, p.gradient)
    X = dom.forward(p.end, rows_b).detach()
    # gradient wrt coefficients = J^T G: one vector-Jacobian product through the inverse
    return _re_mul(X - X0, dom.inverse_vjp(X, p.gradient, rows_b))


@contextlib.contextmanager
def _progress_bar(show: bool) -> Iterator[Any]:
    """A tqdm bar over model evaluations (total set once the passes are known), or None."""
    if not show:
        yield None
        return
    tqdm = require("tqdm", "progress=True").tqdm
    bar = tqdm(total=0, unit="eval", desc="cdig", leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _warn_completeness(label: str, attr: Attribution) -> None:
    err = np.abs(attr.delta)
    if not (err > 1e-6).any():
        return
    idx = np.flatnonzero((attr.relative_delta > WARN_RTOL) & (err > 1e-6))
    if idx.size:
        warnings.warn(
            f"{label}: completeness error above {WARN_RTOL:.0%} of f(x) - f(x') for samples "
            f"{idx.tolist()[:10]} (largest relative delta "
            f"{float(attr.relative_delta[idx].max()):.3g}); increase n_steps or use "
            "n_steps='auto'.",
            CompletenessWarning,
            stacklevel=4,
        )
