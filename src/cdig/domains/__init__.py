"""Domains: invertible transforms of the time axis in which attributions are read.

Every domain follows the protocol of :class:`Domain` and is registered under a name usable
as ``domain="..."`` in :func:`cdig.explain` and :class:`cdig.CrossDomainIG`.
"""

from ._base import (
    Domain,
    NotFittedError,
    available_domains,
    domain_class,
    get_domain,
    register,
)
from .cepstrum import Cepstrum
from .custom import Custom
from .dct import DCT
from .fourier import Fourier
from .ica import ICA
from .linear_basis import LinearBasis
from .pca import PCA
from .seasonal import SeasonalTrend
from .stft import STFT, check_nola
from .time import Time
from .wavelet import Wavelet

__all__ = [
    "Domain",
    "NotFittedError",
    "available_domains",
    "domain_class",
    "get_domain",
    "register",
    "Time",
    "Fourier",
    "ICA",
    "PCA",
    "SeasonalTrend",
    "STFT",
    "check_nola",
    "Wavelet",
    "DCT",
    "Cepstrum",
    "Custom",
    "LinearBasis",
]
