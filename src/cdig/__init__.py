"""cdig: Cross-domain Integrated Gradients for time-series models.

Explain a model in the domain where the meaning of a time series lives (frequencies,
time-frequency tiles, wavelet bands, independent sources, trend and season) with attributions
that are complete: they sum to ``f(x) - f(x')`` in every domain.

>>> import cdig
>>> attr = cdig.explain(model, x, domain="fourier", target=0, fs=32.0)  # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from . import baselines, domains, horizon, models, quadrature, targets
from ._settings import Settings
from ._version import __version__
from ._warnings import ConstantOutputWarning
from .api import explain, explain_horizon
from .attribution import Attribution
from .engine import CompletenessWarning, ConvergenceWarning, CrossDomainIG, NonFiniteError
from .targets import Horizon, TimeColumns

if TYPE_CHECKING:  # pragma: no cover - imported on first use, below
    from . import datasets, demo, metrics, peers, plot, report, runs  # noqa: F401
    from .runs import DatasetRun, explain_dataset, open_run

# Submodules reached as ``cdig.<name>`` after a plain ``import cdig``, imported on first use
# so that ``import cdig`` stays light (no matplotlib, no optional dataset packages) and close
# to ``import torch`` alone (benchmarks/cold_start.py).
_LAZY_SUBMODULES = ("datasets", "demo", "metrics", "peers", "plot", "report", "runs")
#: Names of submodules, also imported on first use: name -> submodule.
_LAZY_NAMES = {"DatasetRun": "runs", "explain_dataset": "runs", "open_run": "runs"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES) | set(_LAZY_NAMES))


__all__ = [
    "Attribution",
    "baselines",
    "CompletenessWarning",
    "ConstantOutputWarning",
    "ConvergenceWarning",
    "CrossDomainIG",
    "DatasetRun",
    "Horizon",
    "TimeColumns",
    "NonFiniteError",
    "Settings",
    "datasets",
    "models",
    "__version__",
    "domains",
    "explain",
    "explain_dataset",
    "explain_horizon",
    "horizon",
    "metrics",
    "open_run",
    "peers",
    "plot",
    "quadrature",
    "report",
    "targets",
]
