"""Common machinery of the mixing-matrix domains (ICA, PCA): ``x = A S + m`` per sample."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from ._persample import PerSampleDomain, gather, relative_error, warn_ignored_baseline

__all__ = ["BASELINES", "RECONSTRUCTION_RTOL", "MixingDomain"]

BASELINES = ("mean", "zero")

#: Largest relative reconstruction error ``max|A S + m - x| / max|x|`` accepted at fit.
RECONSTRUCTION_RTOL = 1e-6


class MixingDomain(PerSampleDomain):
    """Base of domains whose coefficients are a per-sample mixing matrix.

    Each fitted sample ``x`` of shape ``(channels, time)`` is written ``x = A S + m 1^T``
    with sources ``S`` of shape ``(n_components, time)`` and channel offsets ``m`` kept fixed;
    the coefficients are the entries of ``A`` (stored as ``(component, channel)``), and with
    ``baseline="zero"`` also ``m``, as an extra ``"mean"`` component whose source is the
    constant 1. Subclasses implement :meth:`_decompose`.
    """

    linear = True
    #: Prefix of the component names (``"ic"`` -> ``"ic0", "ic1", ...``).
    _prefix: ClassVar[str] = "c"

    baseline: Literal["mean", "zero"]
    n_components_: int
    mixing_: np.ndarray  # (batch, channels, n_components), float64
    sources_: np.ndarray  # (batch, n_components, time), float64
    mean_: np.ndarray  # (batch, channels), float64
    _basis_: Tensor  # (batch, K', time): sources, plus a row of ones for baseline="zero"
    _coef_: Tensor  # (batch, K', channels): coefficients of the fitted sample
    _offset_: Tensor  # (batch, channels, 1): the part of x that is not a coefficient
    _pinv_: Tensor  # (batch, time, K'): pseudo-inverse of _basis_
    _x_: Tensor  # (batch, channels, time): the fitted samples

    # ------------------------------------------------------------------ fitting
    def _check_baseline(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(
                f"baseline={self.baseline!r} must be 'mean' (coefficients A = 0, i.e. the "
                "channel means) or 'zero' (A = 0 and means = 0, i.e. a zero signal)."
            )

    def _decompose(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-sample decomposition of ``x`` (batch, channels, time), float64.

        Returns mixing ``(batch, channels, K)``, sources ``(batch, K, time)`` and means
        ``(batch, channels)``.
        """
        raise NotImplementedError

    def _inexact_hint(self) -> str:
        return "use n_components=None (one component per channel)."

    def _fit(self, x: Tensor) -> None:
        xs = x.detach().to("cpu", torch.float64).numpy()  # (B, C, T)
        mixing, sources, mean = self._decompose(xs)
        rec = np.einsum("bck,bkt->bct", mixing, sources) + mean[:, :, None]
        err = relative_error(rec, xs)
        bad = np.flatnonzero(~(err <= RECONSTRUCTION_RTOL))
        if bad.size:
            raise ValueError(
                f"{self!r} does not reconstruct sample(s) {bad.tolist()[:10]}: relative "
                f"reconstruction error up to {float(err[bad].max()):.3g} (tolerance "
                f"{RECONSTRUCTION_RTOL:g}). Cross-domain IG needs an exact inverse; "
                + self._inexact_hint()
            )
        self.n_components_ = int(mixing.shape[2])
        # public attributes are numpy, as every fitted attribute; the tensors used to compute
        # are private copies, so that changing an attribute never changes the domain
        self.mixing_ = np.array(mixing, dtype=np.float64, order="C")
        self.sources_ = np.array(sources, dtype=np.float64, order="C")
        self.mean_ = np.array(mean, dtype=np.float64, order="C")
        mixing_t = torch.from_numpy(self.mixing_.copy())
        sources_t = torch.from_numpy(self.sources_.copy())
        mean_t = torch.from_numpy(self.mean_.copy())
        coef = mixing_t.transpose(1, 2)  # (B, K, C)
        if self.baseline == "zero":
            ones = torch.ones(sources.shape[0], 1, sources.shape[2], dtype=torch.float64)
            self._basis_ = torch.cat([sources_t, ones], dim=1)  # (B, K+1, T)
            self._coef_ = torch.cat([coef, mean_t[:, None, :]], dim=1)  # (B, K+1, C)
            self._offset_ = torch.zeros_like(mean_t)[:, :, None]
        else:
            self._basis_ = sources_t
            self._coef_ = coef.contiguous()
            self._offset_ = mean_t[:, :, None]
        self._pinv_ = torch.linalg.pinv(self._basis_)  # (B, T, K')
        self._x_ = torch.from_numpy(xs)

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """Mixing coefficients of ``x``.

        Parameters
        ----------
        x : Tensor of shape (n, channels, time)
        index : LongTensor of shape (n,), optional
            Fitted sample of each row; ``None`` means row ``i`` is sample ``i``.

        Returns
        -------
        Tensor of shape (n, n_components, channels), or (n, n_components + 1, channels)
        with ``baseline="zero"`` (last row: channel means).

        Notes
        -----
        ``A(x) = A_fit + (x - x_fit) S^+``: the fitted mixing matrix, exactly, for the fitted
        sample, and the least-squares coefficients of ``x`` on the fixed sources otherwise.
        """
        rows = self._rows(index, x.shape[0])
        diff = x - gather(self._x_, rows, x)  # (n, C, T)
        step = torch.einsum("nct,ntk->nkc", diff, gather(self._pinv_, rows, x))
        return gather(self._coef_, rows, x) + step

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        """The series ``A S + m`` (n, channels, time) of coefficients ``X`` (n, K', channels)."""
        rows = self._rows(index, X.shape[0])
        out = torch.einsum("nkc,nkt->nct", X, gather(self._basis_, rows, X))
        return out + gather(self._offset_, rows, X)

    def coefficient_baseline(self, xb: Tensor, index: Tensor | None = None) -> Tensor:
        """All-zero coefficients; the time baseline ``xb`` is not used (a warning says so
        when it differs from the fixed start).

        ``A = 0`` gives the effective time baseline ``m 1^T`` (every channel constant at its
        mean) with ``baseline="mean"``, and a zero signal with ``baseline="zero"``.
        """
        rows = self._rows(index, xb.shape[0])
        how = "each channel at its mean" if self.baseline == "mean" else "a zero signal"
        warn_ignored_baseline(
            type(self).__name__, xb, gather(self._offset_, rows, xb), f"A = 0: {how}"
        )
        k = self._coef_.shape[1]
        return xb.new_zeros((rows.shape[0], k, self.n_channels_))

    # ------------------------------------------------------------------ meaning
    def component_series(self, sample: int) -> np.ndarray:
        """The series of each coefficient row of fitted sample ``sample``, (K', time).

        The sources, plus the constant 1 of the ``"mean"`` component with
        ``baseline="zero"``: channel ``c`` of the sample is ``sum_k X[k, c] series[k]``
        (plus the channel mean with ``baseline="mean"``).
        """
        self._check_fitted()
        return self._basis_[int(sample)].numpy()

    @property
    def dims(self) -> tuple[str, ...]:
        return ("component", "channel")

    def _coords(self) -> dict[str, np.ndarray]:
        names = [f"{self._prefix}{k}" for k in range(self.n_components_)]
        if self.baseline == "zero":
            names.append("mean")
        return {"component": np.array(names)}
