"""The forecast-horizon names where they were first published; they live elsewhere now.

:class:`~cdig.targets.Horizon`, :class:`~cdig.targets.TimeColumns` and
:data:`~cdig.targets.TIMESFM_QUANTILES` are target kinds (:mod:`cdig.targets`),
:func:`cdig.explain_horizon` is :func:`cdig.explain` for ``Horizon("each")``
(:mod:`cdig.api`), and :func:`~cdig.plot.plot_horizon` is a figure (:mod:`cdig.plot`,
imported on first use so that ``import cdig`` loads no plotting code). This module only
re-exports them.
"""

from typing import TYPE_CHECKING, Any

from .api import explain_horizon
from .targets import TIMESFM_QUANTILES, Horizon, TimeColumns

if TYPE_CHECKING:  # pragma: no cover - imported on first use, below
    from .plot import plot_horizon

__all__ = ["Horizon", "TimeColumns", "explain_horizon", "plot_horizon", "TIMESFM_QUANTILES"]


def __getattr__(name: str) -> Any:
    if name == "plot_horizon":
        from .plot import plot_horizon

        return plot_horizon
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
