"""The ICA domain: attributions to the mixing weights of independent components."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from .._optional import require
from .._warnings import warn
from ._base import register
from ._mixing import MixingDomain
from ._persample import check_count

__all__ = ["ICA"]


@register
class ICA(MixingDomain):
    """Independent component analysis of each sample's channels (FastICA).

    Each sample ``x`` of shape ``(channels, time)`` is unmixed on its own into independent
    sources and written ``x = A S + m 1^T`` with mixing matrix ``A`` (channels,
    n_components), sources ``S`` (n_components, time) and channel means ``m``. The sources
    stay fixed; the coefficients are the entries of ``A``, so an attribution says how much the
    presence of component ``k`` in channel ``c`` moved the output.

    Parameters
    ----------
    n_components : int, optional
        Independent components per sample; default: one per channel. Fewer than the
        channels only works for samples whose centered channels have at most that rank
        (reconstruction must be exact; otherwise :meth:`fit` raises with the error).
    random_state : int or None, default=0
        Seed of FastICA's initial unmixing, the same for every sample, so that a sample
        gives the same components alone or inside any batch. ``None``: not reproducible.
    ica : fitted FastICA-like object, optional
        A decomposition fitted beforehand (e.g. on a training set), with ``transform``,
        ``mixing_`` (channels, n_components) and optionally ``mean_`` (channels,) as in
        :class:`sklearn.decomposition.FastICA`. It is then used for every sample instead
        of fitting one per sample, and never modified; ``n_components``, ``random_state``,
        ``max_iter`` and ``tol`` are ignored.
    baseline : {"mean", "zero"}, default="mean"
        ``"mean"``: the path starts at ``A = 0``, i.e. at the effective time baseline where
        every channel is constant at its mean ``m`` (its own mean per sample, or the fitted
        ``ica.mean_``). ``"zero"``: the channel means are coefficients too (an extra
        component ``"mean"`` whose source is the constant 1 and whose mixing weights are
        ``m``), and the path starts at a zero signal.
    max_iter : int, default=200
        FastICA iterations per sample.
    tol : float, default=1e-4
        FastICA convergence tolerance.

    Attributes
    ----------
    mixing_ : ndarray of shape (batch, channels, n_components), float64
    sources_ : ndarray of shape (batch, n_components, time), float64
        The components' time series (unit variance when fitted here).
    mean_ : ndarray of shape (batch, channels), float64
    n_components_ : int
    n_iter_ : ndarray of shape (batch,), int
        FastICA iterations used per sample (0 for a given ``ica``).

    Notes
    -----
    Coefficient array shape: ``(batch, n_components, channels)`` (``n_components + 1`` with
    ``baseline="zero"``), dims ``("component", "channel")``, components named ``"ic0",
    "ic1", ...`` (and ``"mean"``). Per-component attributions:
    ``attr.sum_over("channel")``.

    The inverse :math:`x = A S + m` is affine in :math:`A`, so the domain is linear and the
    coefficient path from :math:`A = 0` is the time path from :math:`m` (or 0) to ``x``.
    The user's ``baselines`` are not used: the coefficient baseline is fixed at zero (a
    ``UserWarning`` says so when a non-zero ``baselines=`` differs from that start).

    Components fitted here are ordered by energy (``||A_k||^2 var(S_k)``, largest first),
    with the sign making each column's largest-magnitude mixing weight positive.

    FastICA runs that stop at ``max_iter`` raise one
    :class:`sklearn.exceptions.ConvergenceWarning` naming the samples.

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 200, 1)).double()
    >>> t = torch.linspace(0, 1, 200, dtype=torch.float64)
    >>> s = torch.stack([torch.sin(40 * t), torch.sign(torch.sin(17 * t)), t - 0.5])
    >>> x = (torch.tensor([[1.0, 0.5, 0.2], [0.3, 1.0, 0.1], [0.2, 0.4, 1.0]],
    ...                   dtype=torch.float64) @ s)[None]
    >>> attr = cdig.explain(model, x, domain=cdig.domains.ICA())
    >>> attr.dims, attr.sum_over("channel").values.shape
    (('component', 'channel'), (1, 3))
    """

    name = "ica"
    _prefix = "ic"
    n_iter_: np.ndarray

    def __init__(
        self,
        n_components: int | None = None,
        random_state: int | None = 0,
        ica: Any = None,
        baseline: Literal["mean", "zero"] = "mean",
        max_iter: int = 200,
        tol: float = 1e-4,
    ) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.ica = ica
        self.baseline = baseline
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self, n_times: int) -> None:
        self._check_baseline()
        check_count(self.max_iter, "max_iter")
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not self.tol > 0:
            raise ValueError(f"tol={self.tol!r} must be a positive number.")
        rs = self.random_state
        if rs is not None and (isinstance(rs, bool) or not isinstance(rs, (int, np.integer))):
            raise TypeError(
                f"random_state={rs!r} must be an int or None; a shared generator would make a "
                "sample's components depend on its position in the batch."
            )
        if self.ica is not None:
            missing = [a for a in ("transform", "mixing_") if not hasattr(self.ica, a)]
            if missing:
                raise TypeError(
                    f"ica={type(self.ica).__name__} lacks {missing}; pass a fitted "
                    "sklearn.decomposition.FastICA (or an object with transform, mixing_ and "
                    "mean_), or ica=None to fit one per sample."
                )

    def _inexact_hint(self) -> str:
        if self.ica is not None:
            return (
                "the given ica must have as many components as channels (a full-rank "
                "mixing_) or the samples must lie in its span."
            )
        return (
            "use n_components=None (one component per channel), or the rank of the "
            "centered samples."
        )

    def _decompose(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.ica is not None:
            return self._apply_given(x)
        batch, channels, times = x.shape
        k = check_count(self.n_components, "n_components", upper=channels) or channels
        if k >= times:
            raise ValueError(
                f"n_components={k} needs series longer than {k} samples; got time={times}."
            )
        _check_rank(x, k)
        decomposition = require("sklearn.decomposition", "the ICA domain")
        exceptions = require("sklearn.exceptions", "the ICA domain")
        mixing = np.empty((batch, channels, k))
        sources = np.empty((batch, k, times))
        mean = np.empty((batch, channels))
        self.n_iter_ = np.zeros(batch, dtype=np.int64)
        stalled = []
        for i in range(batch):
            est = decomposition.FastICA(
                n_components=k,
                whiten="unit-variance",
                random_state=self.random_state,
                max_iter=self.max_iter,
                tol=self.tol,
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                s = est.fit_transform(x[i].T)  # (T, K)
            for w in caught:
                if issubclass(w.category, exceptions.ConvergenceWarning):
                    stalled.append(i)
                else:
                    warn(str(w.message), w.category)
            a, s = _canonical(np.asarray(est.mixing_, dtype=np.float64), s.T)
            mixing[i], sources[i], mean[i] = a, s, est.mean_
            self.n_iter_[i] = est.n_iter_
        if stalled:
            warn(
                f"FastICA did not converge within max_iter={self.max_iter} for sample(s) "
                f"{sorted(set(stalled))[:10]}; the decomposition is still exact (attributions "
                "stay complete) but the components may be less independent. Raise max_iter "
                "or tol.",
                exceptions.ConvergenceWarning,
            )
        return mixing, sources, mean

    def _apply_given(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch, channels, _times = x.shape
        a = np.asarray(self.ica.mixing_, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != channels:
            raise ValueError(
                f"ica.mixing_ has shape {a.shape}; it must be (channels={channels}, "
                "n_components): fit the ica on (time, channels) matrices of these series."
            )
        m = getattr(self.ica, "mean_", None)
        m = np.zeros(channels) if m is None else np.asarray(m, dtype=np.float64)
        if m.shape != (channels,):
            raise ValueError(f"ica.mean_ has shape {m.shape}; expected ({channels},).")
        sources = np.stack([np.asarray(self.ica.transform(x[i].T.copy())).T for i in range(batch)])
        self.n_iter_ = np.zeros(batch, dtype=np.int64)
        mixing = np.broadcast_to(a, (batch, *a.shape)).copy()
        return mixing, sources.astype(np.float64), np.broadcast_to(m, (batch, channels)).copy()


def _check_rank(x: np.ndarray, k: int) -> None:
    """Raise when a centered sample has rank below ``k`` (FastICA would divide by zero)."""
    centered = x - x.mean(axis=2, keepdims=True)
    sv = np.linalg.svd(centered, compute_uv=False)  # (B, min(C, T))
    tol = sv[:, :1] * max(x.shape[1:]) * np.finfo(np.float64).eps
    rank = (sv > tol).sum(axis=1)
    low = np.flatnonzero(rank < k)
    if low.size:
        i = int(low[0])
        raise ValueError(
            f"sample {i} has {int(rank[i])} linearly independent centered channels (constant or "
            f"duplicated channels), fewer than n_components={k}; ICA cannot find {k} "
            f"independent sources in it. Pass n_components={int(rank[low].min())} or remove "
            "the dependent channels."
        )


def _canonical(a: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order components by energy and fix their signs; ``a`` (C, K), ``s`` (K, T)."""
    energy = (a**2).sum(axis=0) * s.var(axis=1)
    order = np.argsort(-energy, kind="stable")
    a, s = a[:, order], s[order]
    peak = a[np.argmax(np.abs(a), axis=0), np.arange(a.shape[1])]
    sign = np.where(peak < 0, -1.0, 1.0)
    return a * sign, s * sign[:, None]
