"""The seasonal-trend domain: attributions to the trend, seasonal and residual parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .._optional import require
from ._base import register
from ._persample import PerSampleDomain, gather, warn_ignored_baseline

__all__ = ["SeasonalTrend"]

_METHODS = ("stl", "classical")
# STL arguments that SeasonalTrend sets itself
_RESERVED = ("endog", "period", "periods", "seasonal", "robust", "windows")


@register
class SeasonalTrend(PerSampleDomain):
    """Seasonal-trend decomposition of every sample and channel (STL, MSTL, or classical).

    Each series is split into additive components ``x = trend + seasonal_p (per period p)
    + resid`` (statsmodels' STL for one period, MSTL for several, or the moving-average
    ``seasonal_decompose``), and the components stay fixed. Two ways to read attributions:

    * ``resolved=False``: one weight per component, ``x = sum_k w_k c_k``; the input has
      ``w = 1``. Attribution of component ``k`` = its share of ``f(x) - f(x')``.
    * ``resolved=True``: the components' samples are the coefficients, ``x(t) = sum_k
      c_k(t)``, so attributions show *when* the trend or a season mattered.

    Parameters
    ----------
    period : int or sequence of int
        Season length(s) in samples, e.g. ``52`` for weekly data with a yearly cycle or
        ``(48, 336)`` for half-hourly data with daily and weekly cycles (MSTL). Each must be
        at least 2, and the series longer than twice the longest period. Required (the
        domain cannot be built by name alone).
    seasonal : int or sequence of int, default=7
        Length of STL's seasonal smoother (odd, >= 3); one per period, or one for all.
        Unused by ``method="classical"``.
    robust : bool, default=False
        Robust (outlier down-weighting) STL fitting.
    method : {"stl", "classical"}, default="stl"
        ``"stl"``: :class:`statsmodels.tsa.seasonal.STL`, or
        :class:`statsmodels.tsa.seasonal.MSTL` for several periods. ``"classical"``:
        :func:`statsmodels.tsa.seasonal.seasonal_decompose` (additive, trend extrapolated at
        the ends; one period only).
    resolved : bool, default=False
        Attribute to every sample of every component instead of to one weight per component.
    stl_kwargs : mapping, optional
        More STL arguments (``trend``, ``low_pass``, ``seasonal_deg`` ...), copied, never
        modified. ``period``, ``seasonal`` and ``robust`` are set by the arguments above.

    Attributes
    ----------
    components_ : ndarray of shape (batch, channels, n_components, time), float64
        The components of each fitted series; they sum to the series.
    component_names_ : tuple of str
        ``("trend", "seasonal_<period>", ..., "resid")``, periods in increasing order.
    periods_ : tuple of int

    Notes
    -----
    Coefficients: ``(batch, channels, n_components)`` with dims ``("channel", "component")``,
    or with ``resolved=True`` ``(batch, channels, n_components, time)`` with dims
    ``("channel", "component", "time")``; coordinate ``"component"`` holds the names.

    Both views are linear (:math:`x = \\sum_k w_k c_k`, :math:`x = \\sum_k c_k`). The
    coefficient baseline is zero (all weights 0, or all component samples 0), so the
    effective time baseline is the zero series, whatever ``baselines`` the user passes (a
    non-zero one draws a ``UserWarning``); the domain then shares the time pass of the time
    domain with its default zero baseline. The straight path scales every component
    together, :math:`x(\\alpha) = \\alpha x`, so component ``k`` gets
    :math:`\\sum_t c_k(t) G(t)` with :math:`G` the path-integrated time gradient: the
    time-domain attributions with zero baseline, shared out in proportion to the components'
    samples. Summed over components the resolved view is exactly the time-domain IG
    attribution; summed over time it equals the weights view.

    Examples
    --------
    >>> import torch, cdig
    >>> t = torch.arange(120, dtype=torch.float64)
    >>> x = (0.05 * t + torch.sin(2 * torch.pi * t / 12))[None, None]
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(120, 1)).double()
    >>> attr = cdig.explain(model, x, domain=cdig.domains.SeasonalTrend(period=12))
    >>> attr.coords["component"].tolist()
    ['trend', 'seasonal_12', 'resid']
    """

    name = "seasonal_trend"

    components_: np.ndarray
    _components_: Tensor
    component_names_: tuple[str, ...]
    periods_: tuple[int, ...]
    _pinv_: Tensor  # (batch, channels, K, time): pseudo-inverse of each (time, K) basis
    _x_: Tensor  # (batch, channels, time)

    def __init__(
        self,
        period: int | Sequence[int] | None = None,
        seasonal: int | Sequence[int] = 7,
        robust: bool = False,
        method: Literal["stl", "classical"] = "stl",
        resolved: bool = False,
        stl_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.period = period
        self.seasonal = seasonal
        self.robust = robust
        self.method = method
        self.resolved = resolved
        self.stl_kwargs = stl_kwargs

    # ------------------------------------------------------------------ settings
    def _check_params(self, n_times: int) -> None:
        periods = _periods(self.period, n_times)
        windows = _windows(self.seasonal, len(periods))
        for flag in ("robust", "resolved"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag}={getattr(self, flag)!r} must be True or False.")
        if self.method not in _METHODS:
            raise ValueError(f"method={self.method!r} must be one of {_METHODS}.")
        if self.stl_kwargs is not None:
            if not isinstance(self.stl_kwargs, Mapping):
                raise TypeError(
                    f"stl_kwargs must be a mapping of STL arguments or None; got "
                    f"{type(self.stl_kwargs).__name__}."
                )
            clash = sorted(set(self.stl_kwargs) & set(_RESERVED))
            if clash:
                raise ValueError(
                    f"stl_kwargs sets {clash}; pass period=, seasonal= and robust= to "
                    "SeasonalTrend instead."
                )
        if self.method == "classical":
            if len(periods) > 1:
                raise ValueError(
                    f"method='classical' takes one period; got period={self.period!r}. Use "
                    "method='stl' (MSTL) for several periods."
                )
            if self.robust or self.stl_kwargs:
                raise ValueError(
                    "robust= and stl_kwargs= apply to method='stl' only; drop them or use "
                    "method='stl'."
                )
        order = np.argsort(periods, kind="stable")
        self.periods_ = tuple(periods[i] for i in order)
        self._windows_ = tuple(windows[i] for i in order)

    # ------------------------------------------------------------------ fitting
    def _fit(self, x: Tensor) -> None:
        xs = x.detach().to("cpu", torch.float64).numpy()  # (B, C, T)
        batch, channels, times = xs.shape
        n_comp = len(self.periods_) + 2
        comps = np.empty((batch, channels, n_comp, times))  # (B, C, K, T)
        for i in range(batch):
            for c in range(channels):
                trend, seasonals = self._decompose(xs[i, c])
                comps[i, c, 0] = trend
                comps[i, c, 1:-1] = seasonals
                comps[i, c, -1] = xs[i, c] - trend - seasonals.sum(axis=0)
        self.component_names_ = ("trend", *(f"seasonal_{p}" for p in self.periods_), "resid")
        self.components_ = comps  # numpy, as every fitted attribute; computing uses a copy
        self._components_ = torch.from_numpy(comps.copy())
        self._pinv_ = torch.linalg.pinv(self._components_.transpose(-1, -2))  # (B, C, K, T)
        self._x_ = torch.from_numpy(xs)

    def _decompose(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Trend (T,) and seasonal components (n_periods, T) of one series."""
        seasonal = require("statsmodels.tsa.seasonal", "the seasonal-trend domain")
        extra = dict(self.stl_kwargs or {})  # a copy: MSTL empties the dict it is given
        try:
            if self.method == "classical":
                p = self.periods_[0]
                # extrapolate the trend's ends from one period of points ('freq'/'period')
                res = seasonal.seasonal_decompose(
                    y, model="additive", period=p, extrapolate_trend=p - 1
                )
                return np.asarray(res.trend), np.asarray(res.seasonal)[None]
            if len(self.periods_) == 1:
                iters = {k: extra.pop(k) for k in ("inner_iter", "outer_iter") if k in extra}
                stl = seasonal.STL(
                    y,
                    period=self.periods_[0],
                    seasonal=self._windows_[0],
                    robust=self.robust,
                    **extra,
                )
                res = stl.fit(**iters)
                return np.asarray(res.trend), np.asarray(res.seasonal)[None]
            mstl = seasonal.MSTL(
                y,
                periods=self.periods_,
                windows=self._windows_,
                stl_kwargs={**extra, "robust": self.robust},
            )
            res = mstl.fit()
            return np.asarray(res.trend), np.asarray(res.seasonal).T.reshape(len(self.periods_), -1)
        except (ValueError, TypeError) as err:
            raise ValueError(f"statsmodels rejected the settings of {self!r}: {err}") from err

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """Component weights, or with ``resolved=True`` component samples, of ``x``.

        Parameters
        ----------
        x : Tensor of shape (n, channels, time)
        index : LongTensor of shape (n,), optional
            Fitted sample of each row; ``None`` means row ``i`` is sample ``i``.

        Returns
        -------
        Tensor of shape (n, channels, n_components), or (n, channels, n_components, time)

        Notes
        -----
        For the fitted series the weights are exactly 1 and the samples exactly the
        components. For any other ``x`` the difference ``x - x_fit`` goes to least-squares
        weights (``w = 1 + C^+ (x - x_fit)``), or to the residual in the resolved view.
        """
        rows = self._rows(index, x.shape[0])
        diff = x - gather(self._x_, rows, x)  # (n, C, T)
        if self.resolved:
            comps = gather(self._components_, rows, x).clone()  # (n, C, K, T)
            comps[:, :, -1] += diff
            return comps
        step = torch.einsum("nct,nckt->nck", diff, gather(self._pinv_, rows, x))
        return 1.0 + step

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        """The series ``sum_k w_k c_k`` (or ``sum_k c_k``) of shape (n, channels, time)."""
        rows = self._rows(index, X.shape[0])
        if self.resolved:
            return X.sum(dim=2)
        return torch.einsum("nck,nckt->nct", X, gather(self._components_, rows, X))

    def coefficient_baseline(self, xb: Tensor, index: Tensor | None = None) -> Tensor:
        """Zero coefficients: the effective time baseline is the zero series.

        ``xb`` is not used; a warning says so when it is not zero.
        """
        rows = self._rows(index, xb.shape[0])
        warn_ignored_baseline("SeasonalTrend", xb, xb.new_zeros(()), "all weights 0: x' = 0")
        shape: tuple[int, ...] = (rows.shape[0], self.n_channels_, len(self.component_names_))
        if self.resolved:
            shape = (*shape, self.n_times_)
        return xb.new_zeros(shape)

    # ------------------------------------------------------------------ meaning
    def component_series(self, sample: int) -> np.ndarray:
        """The components of fitted sample ``sample``, shape (channels, n_components, time)."""
        self._check_fitted()
        return self.components_[int(sample)].copy()

    @property
    def dims(self) -> tuple[str, ...]:
        if self.resolved:
            return ("channel", "component", "time")
        return ("channel", "component")

    def _coords(self) -> dict[str, np.ndarray]:
        coords = {"component": np.array(self.component_names_)}
        if self.resolved:
            coords["time"] = np.arange(self.n_times_, dtype=np.float64)
        return coords

    @property
    def units(self) -> dict[str, str]:
        return {"time": "sample"} if self.resolved else {}


def _periods(period: Any, n_times: int) -> list[int]:
    if period is None:
        raise ValueError(
            "SeasonalTrend needs period= (season length in samples), e.g. "
            "cdig.domains.SeasonalTrend(period=52) for weekly data with a yearly cycle."
        )
    items = [period] if isinstance(period, (int, np.integer)) else period
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise TypeError(f"period={period!r} must be an int or a non-empty sequence of ints.")
    out = []
    for p in items:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
            raise TypeError(f"period={period!r} must hold integers (samples per season).")
        if p < 2:
            raise ValueError(f"period={period!r}: every period must be at least 2 samples.")
        if 2 * p >= n_times:
            raise ValueError(
                f"period={period!r}: a period of {int(p)} samples needs series longer than "
                f"{2 * int(p)} samples (two full cycles); got time={n_times}. Use longer "
                "windows or a shorter period."
            )
        out.append(int(p))
    if len(set(out)) != len(out):
        raise ValueError(f"period={period!r} repeats a period; give each season once.")
    return out


def _windows(seasonal: Any, n_periods: int) -> list[int]:
    items = [seasonal] * n_periods if isinstance(seasonal, (int, np.integer)) else seasonal
    if isinstance(items, str) or not isinstance(items, Sequence) or len(items) != n_periods:
        raise ValueError(
            f"seasonal={seasonal!r} must be an odd int >= 3 or one per period ({n_periods})."
        )
    for s in items:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 3 or s % 2 == 0:
            raise ValueError(
                f"seasonal={seasonal!r}: STL's seasonal smoother length must be an odd "
                "integer >= 3 (e.g. 7)."
            )
    return [int(s) for s in items]
