"""Domains: invertible transforms of the time axis in which attributions are read.

Every domain follows the protocol of :class:`Domain` and is registered under a name usable
as ``domain="..."`` in :func:`cdig.explain` and :class:`cdig.CrossDomainIG`.
"""

from ._base import Domain, NotFittedError, available_domains, get_domain, register
from .fourier import Fourier
from .ica import ICA
from .pca import PCA
from .seasonal import SeasonalTrend
from .time import Time

__all__ = [
    "Domain",
    "NotFittedError",
    "available_domains",
    "get_domain",
    "register",
    "Time",
    "Fourier",
    "ICA",
    "PCA",
    "SeasonalTrend",
]
