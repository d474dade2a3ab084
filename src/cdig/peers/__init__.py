"""Peer explainers: other attribution methods, to compare Cross-domain IG with.

They return attributions shaped like a domain's coefficients, ready for the faithfulness
metrics of :mod:`cdig.metrics`; none of them is a metric.

In any domain (:mod:`cdig.peers.methods`): :func:`gradient` (the gradient's modulus, or
gradient x input), :func:`freqrise` (FreqRISE: random smooth masks over the coefficients)
and :func:`virtual_inspection` (DFT-LRP: a time-domain relevance carried onto the
coefficients of a linear domain).

Recent time-series explainers (:mod:`cdig.peers.recent`): :func:`timing` (TIMING,
time-domain relevance) and :func:`flextime` (FLEXtime, importance per rFFT bin).

>>> import cdig
>>> importance = cdig.peers.freqrise(model, x, "fourier", target=y)  # doctest: +SKIP
>>> cdig.metrics.deletion(model, x, importance, "fourier", target=y)  # doctest: +SKIP
"""

from .methods import freqrise, gradient, virtual_inspection
from .recent import flextime, timing

__all__ = ["flextime", "freqrise", "gradient", "timing", "virtual_inspection"]
