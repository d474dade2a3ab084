"""The PCA domain: attributions to the loadings of each sample's principal components."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._base import register
from ._mixing import MixingDomain
from ._persample import check_count

__all__ = ["PCA"]


@register
class PCA(MixingDomain):
    """Principal component analysis of each sample's channels.

    Each sample ``x`` of shape ``(channels, time)`` is decomposed on its own (singular value
    decomposition of the centered ``(time, channels)`` matrix) as ``x = A S + m 1^T``:
    loadings ``A`` (channels, n_components) with orthonormal columns, component scores ``S``
    (n_components, time) and channel means ``m``. The scores stay fixed; the coefficients are
    the loadings, so an attribution says how much component ``k``'s presence in channel ``c``
    moved the output. Needs no optional dependency.

    Parameters
    ----------
    n_components : int, optional
        Components per sample; default ``min(channels, time)``, which is always exact. Fewer
        only work for samples whose centered channels have at most that rank (otherwise
        :meth:`fit` raises with the reconstruction error).
    baseline : {"mean", "zero"}, default="mean"
        ``"mean"``: the path starts at ``A = 0``, i.e. at every channel constant at its mean.
        ``"zero"``: the channel means are coefficients too (extra component ``"mean"`` with
        the constant 1 as its source), and the path starts at a zero signal.

    Attributes
    ----------
    mixing_ : ndarray of shape (batch, channels, n_components), float64
        Loadings (principal axes as columns).
    sources_ : ndarray of shape (batch, n_components, time), float64
        Scores: the components' time series, by decreasing variance.
    mean_ : ndarray of shape (batch, channels), float64
    explained_variance_ : ndarray of shape (batch, n_components)
        Variance of each component's scores (``ddof=1``).
    n_components_ : int

    Notes
    -----
    Coefficient array shape ``(batch, n_components, channels)`` (``n_components + 1`` with
    ``baseline="zero"``), dims ``("component", "channel")``, components named ``"pc0",
    "pc1", ...`` (and ``"mean"``); per-component attributions: ``attr.sum_over("channel")``.
    The inverse :math:`x = A S + m` is affine in :math:`A` (a linear domain). Signs are fixed
    so that each component's largest-magnitude loading is positive. The user's
    ``baselines`` are not used: the coefficient baseline is fixed at zero (a ``UserWarning``
    says so when a non-zero ``baselines=`` differs from that start).

    Examples
    --------
    >>> import torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 50, 1)).double()
    >>> attr = cdig.explain(model, torch.randn(3, 2, 50, dtype=torch.float64), domain="pca")
    >>> attr.coords["component"].tolist(), bool(abs(attr.delta).max() < 1e-8)
    (['pc0', 'pc1'], True)
    """

    name = "pca"
    _prefix = "pc"
    explained_variance_: np.ndarray

    def __init__(
        self, n_components: int | None = None, baseline: Literal["mean", "zero"] = "mean"
    ) -> None:
        self.n_components = n_components
        self.baseline = baseline

    def _check_params(self, n_times: int) -> None:
        self._check_baseline()
        check_count(self.n_components, "n_components")

    def _inexact_hint(self) -> str:
        return (
            "use n_components=None (min(channels, time) components), or the rank of the "
            "centered samples."
        )

    def _decompose(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _batch, channels, times = x.shape
        full = min(channels, times)
        k = check_count(self.n_components, "n_components", upper=full) or full
        mean = x.mean(axis=2)  # (B, C)
        centered = x - mean[:, :, None]
        # (B, C, C') (B, C') (B, C', T): x_c = sum_k u_ck s_k v_k
        u, sv, vt = np.linalg.svd(centered, full_matrices=False)
        u, sv, vt = u[:, :, :k], sv[:, :k], vt[:, :k]
        peak = np.take_along_axis(u, np.abs(u).argmax(axis=1)[:, None, :], axis=1)  # (B, 1, K)
        sign = np.where(peak < 0, -1.0, 1.0)
        mixing = u * sign
        sources = vt * sv[:, :, None] * sign.transpose(0, 2, 1)
        self.explained_variance_ = sv**2 / max(times - 1, 1)
        return mixing, sources, mean
