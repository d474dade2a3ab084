"""Peer explainers: other attribution methods, to compare Cross-domain IG with.

They return a :class:`cdig.Attribution`, the result class of :func:`cdig.explain`: values
shaped like a domain's coefficients with the fitted domain, its coordinates and the target,
ready for the faithfulness metrics of :mod:`cdig.metrics` and the figures of
:mod:`cdig.plot`; none of them is a metric. ``attr.peer`` names the method and its options;
the facts only Integrated Gradients has (``delta``, ``baseline_outputs``, ``n_steps``,
``error``, ``converged``, ``status``) are None: a peer certifies nothing.

In any domain (:mod:`cdig.peers.methods`): :func:`gradient` (the gradient's modulus, or
gradient x input), :func:`freqrise` (FreqRISE: random smooth masks over the coefficients)
and :func:`virtual_inspection` (DFT-LRP: a time-domain relevance carried onto the
coefficients of a linear domain).

Recent time-series explainers (:mod:`cdig.peers.recent`): :func:`timing` (TIMING,
time-domain relevance) and :func:`flextime` (FLEXtime, importance per rFFT bin).

>>> import cdig
>>> importance = cdig.peers.freqrise(model, x, "fourier", target=y)  # doctest: +SKIP
>>> cdig.metrics.deletion(model, x, importance)  # its domain and target  # doctest: +SKIP
"""

from .methods import freqrise, gradient, virtual_inspection
from .recent import flextime, timing

__all__ = ["flextime", "freqrise", "gradient", "timing", "virtual_inspection"]
