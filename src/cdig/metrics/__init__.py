"""Faithfulness metrics that work in any domain.

Metrics (:mod:`cdig.metrics.faithfulness`) perturb the coefficients of a domain in the
order an attribution ranks them and watch the model: :func:`deletion` and :func:`insertion`
curves with their area under the curve, the cumulative prediction difference :func:`cpd` and
preservation :func:`cpp`, and :func:`random_reference`, the same metric for random rankings.

The peer explainers they are compared with (gradient x input, FreqRISE, DFT-LRP, TIMING,
FLEXtime) live in :mod:`cdig.peers`.

>>> import cdig
>>> curve = cdig.metrics.deletion(model, x, attr, target=y)  # doctest: +SKIP
"""

from .faithfulness import (
    FLEXTIME_INSERTION,
    FREQRISE_DELETION,
    Cumulative,
    Curve,
    cpd,
    cpp,
    deletion,
    insertion,
    random_reference,
)

__all__ = [
    "FLEXTIME_INSERTION",
    "FREQRISE_DELETION",
    "Cumulative",
    "Curve",
    "cpd",
    "cpp",
    "deletion",
    "insertion",
    "random_reference",
]
