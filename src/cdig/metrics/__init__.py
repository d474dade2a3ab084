"""Faithfulness metrics that work in any domain, and peer methods to compare against.

Metrics (:mod:`cdig.metrics.faithfulness`) perturb the coefficients of a domain in the
order an attribution ranks them and watch the model: :func:`deletion` and :func:`insertion`
curves with their area under the curve, the cumulative prediction difference :func:`cpd` and
preservation :func:`cpp`, and :func:`random_reference`, the same metric for random rankings.

Peer methods (:mod:`cdig.metrics.methods`) return attributions shaped like a domain's
coefficients: :func:`gradient` (and gradient x input), :func:`freqrise` and
:func:`virtual_inspection` (DFT-LRP for time-domain relevance).

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
from .methods import freqrise, gradient, virtual_inspection
from .peers import flextime, timing

__all__ = [
    "FLEXTIME_INSERTION",
    "FREQRISE_DELETION",
    "Cumulative",
    "Curve",
    "cpd",
    "cpp",
    "deletion",
    "flextime",
    "freqrise",
    "gradient",
    "insertion",
    "random_reference",
    "timing",
    "virtual_inspection",
]
