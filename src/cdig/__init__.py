"""cdig: Cross-domain Integrated Gradients for time-series models.

Explain a model in the domain where the meaning of a time series lives (frequencies,
time-frequency tiles, wavelet bands, independent sources, trend and season) with attributions
that are complete: they sum to ``f(x) - f(x')`` in every domain.

>>> import cdig
>>> attr = cdig.explain(model, x, domain="fourier", target=0, fs=32.0)  # doctest: +SKIP
"""

from . import domains, metrics, models, quadrature
from .api import explain
from .attribution import Attribution
from .engine import CompletenessWarning, ConvergenceWarning, CrossDomainIG, NonFiniteError
from .runs import DatasetRun, explain_dataset, open_run

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "CompletenessWarning",
    "ConvergenceWarning",
    "CrossDomainIG",
    "DatasetRun",
    "NonFiniteError",
    "models",
    "__version__",
    "domains",
    "explain",
    "explain_dataset",
    "metrics",
    "open_run",
    "quadrature",
]
