"""The domain protocol every transform follows, and the registry of domain names.

A domain is an invertible transform ``T`` of a batch of time series with a differentiable
inverse written in torch. The engine integrates the model ``f(T^-1(X))`` along the straight
path between coefficient baseline and input coefficients, so all a domain must provide is:

``fit(x)``
    learn what depends on the data (nothing for fixed transforms; one fit per sample for
    sample-wise decompositions); returns ``self``.
``forward(x, index=None)`` and ``inverse(X, index=None)``
    ``x`` has shape ``(n, channels, time)``; ``index`` (long tensor of shape ``(n,)``) says
    which fitted sample each row belongs to, for domains fitted per sample. ``X`` may be
    complex.
``inverse_vjp(X, G, index=None)``
    ``J^T G``, the gradient with respect to the coefficients of ``<G, inverse(X)>``; the
    default differentiates :meth:`inverse` with autograd, domains with a closed form (time,
    Fourier, DCT) override it for speed.
``coefficient_baseline(xb, index=None)``
    the coefficients of the path start for a time baseline ``xb``; ``forward(xb)`` unless the
    domain defines its own (decompositions whose coefficients are weights of fixed components).
``dims``, ``coords``, ``units``
    the name of every coefficient axis after the batch axis, what each coefficient means,
    and the unit of each coordinate.
``linear``
    ``True`` when ``inverse`` is (real-)affine. The straight path in coefficients is then the
    straight path in time, which lets the engine integrate once in time and read every linear
    domain off that one pass (exact, not an approximation).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import Tensor

from .._text import ArgumentError, ArgumentTypeError, Name

__all__ = [
    "Domain",
    "NotFittedError",
    "available_domains",
    "domain_class",
    "get_domain",
    "register",
]


class NotFittedError(ValueError, AttributeError):
    """A data-dependent domain was used before :meth:`Domain.fit`."""


_D = TypeVar("_D", bound="Domain")
#: ``__init__`` function -> its parameter names (:meth:`Domain._param_names`).
_PARAM_NAMES: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


class Domain:
    """Base class of all domains; see the module docstring for the protocol.

    Subclasses implement :meth:`_fit` (optional), :meth:`forward`, :meth:`inverse` and
    :meth:`_coords`. ``__init__`` only stores parameters; they are checked in :meth:`fit`.
    """

    #: Registry name (``domain="fourier"``).
    name: ClassVar[str] = "domain"
    #: ``True`` when :meth:`inverse` is (real-)affine in the coefficients.
    linear: ClassVar[bool] = True
    #: ``True`` when the coefficients are complex.
    is_complex: ClassVar[bool] = False
    #: ``True`` when every channel is transformed on its own, with no state that depends on
    #: the channel: coefficients of shape ``(n, channels, ...)``, and ``forward``,
    #: ``inverse`` and ``inverse_vjp`` of channels ``[c0, c1)`` (at least two) give those
    #: channels of the whole transform, bitwise. The engine then maps a long recording's
    #: sums a few channels at a time.
    per_channel: ClassVar[bool] = False
    #: (h25-rest, private) ``True`` when ``inverse_vjp`` maps each row on its own and gives
    #: it bitwise whatever the other rows of the call: the adaptive loop's measure then maps
    #: several sums of the same rows in one call.
    _rows_apart: ClassVar[bool] = False
    #: Attribute holding each ``__init__`` parameter stored under another name.
    _param_attributes: ClassVar[Mapping[str, str]] = {}

    n_samples_: int
    n_channels_: int
    n_times_: int

    # ------------------------------------------------------------------ fitting
    def fit(self: _D, x: Tensor) -> _D:
        """Learn what the transform needs to know about ``x``.

        Parameters
        ----------
        x : Tensor of shape (batch, channels, time)
            The series to explain (float, finite).

        Returns
        -------
        self
        """
        if x.ndim != 3:
            raise ValueError(
                f"{type(self).__name__}.fit expects x of shape (batch, channels, time); "
                f"got shape {tuple(x.shape)}."
            )
        self._check_params(x.shape[-1])
        self.n_samples_, self.n_channels_, self.n_times_ = (int(s) for s in x.shape)
        self._fit(x)
        return self

    def _check_params(self, n_times: int) -> None:
        """Raise ``ValueError`` for settings that cannot work with series of ``n_times``."""

    def _fit(self, x: Tensor) -> None:
        """Hook for data-dependent domains; the default learns nothing."""

    @classmethod
    def _param_names(cls) -> list[str]:
        """The parameters of ``__init__`` (without ``self``, ``*args`` and ``**kwargs``).

        Read once per ``__init__`` function (every call clones its domains).
        """
        init = cls.__init__
        if init is object.__init__:
            return []
        try:
            hit = _PARAM_NAMES.get(init)
        except TypeError:  # pragma: no cover - an __init__ that takes no weak reference
            hit = None
        if hit is not None:
            return list(hit)
        params = inspect.signature(init).parameters.values()
        skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        names = tuple(p.name for p in params if p.name != "self" and p.kind not in skip)
        with contextlib.suppress(TypeError):
            _PARAM_NAMES[init] = names
        return list(names)

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their values, as in scikit-learn.

        Read from the ``__init__`` signature: each parameter is the attribute of the same
        name (or the one :attr:`_param_attributes` names). ``type(d)(**d.get_params())`` is
        an unfitted copy of ``d``; :meth:`clone` and ``repr`` use it.

        Returns
        -------
        dict
            Parameter name -> value, in signature order (values are not copied).

        Raises
        ------
        AttributeError
            When a subclass does not store a parameter under its name.
        """
        out = {}
        for name in self._param_names():
            attr = self._param_attributes.get(name, name)
            try:
                out[name] = getattr(self, attr)
            except AttributeError:
                raise AttributeError(
                    f"{type(self).__name__}.__init__ takes {name!r} but does not store it as "
                    f"self.{attr}; store each parameter under its own name (cdig domains, "
                    "like scikit-learn estimators, only store parameters in __init__)."
                ) from None
        return out

    def clone(self: _D) -> _D:
        """An unfitted copy with the same parameters: ``type(self)(**self.get_params())``."""
        return type(self)(**self.get_params())

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_times_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call .fit(x) first "
                "(the engine does this for you in cdig.explain / CrossDomainIG)."
            )

    # ------------------------------------------------------------------ transform
    def forward(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """Coefficients of ``x``.

        Parameters
        ----------
        x : Tensor of shape (n, channels, time)
        index : LongTensor of shape (n,), optional
            Fitted sample of each row (sample-wise domains only).

        Returns
        -------
        Tensor of shape (n, *coefficient_shape)
        """
        raise NotImplementedError

    def inverse(self, X: Tensor, index: Tensor | None = None) -> Tensor:
        """Time series of coefficients ``X``; exact inverse of :meth:`forward`.

        Parameters
        ----------
        X : Tensor of shape (n, *coefficient_shape)
        index : LongTensor of shape (n,), optional

        Returns
        -------
        Tensor of shape (n, channels, time), real
        """
        raise NotImplementedError

    def inverse_vjp(self, X: Tensor, G: Tensor, index: Tensor | None = None) -> Tensor:
        """Vector-Jacobian product of :meth:`inverse` at ``X``: the gradient of
        ``sum(G * inverse(X))`` with respect to ``X``.

        Parameters
        ----------
        X : Tensor of shape (n, *coefficient_shape)
            Where the Jacobian is taken (any point, for a linear domain).
        G : Tensor of shape (n, channels, time), real
            Gradient with respect to the reconstructed series.
        index : LongTensor of shape (n,), optional

        Returns
        -------
        Tensor shaped and typed like ``X``, or in ``G``'s precision when that is higher.
        For complex ``X`` it follows PyTorch's convention, ``d/dRe + i d/dIm``.
        """
        Xg = X.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            rec = self.inverse(Xg, index)
            (gX,) = torch.autograd.grad(rec, Xg, grad_outputs=G.to(rec.dtype))
        return gX

    def coefficient_baseline(self, xb: Tensor, index: Tensor | None = None) -> Tensor:
        """Coefficients where the integration path starts, for the time baseline ``xb``.

        The default is ``forward(xb)``; the effective time baseline is always
        ``inverse(coefficient_baseline(xb))``.
        """
        return self.forward(xb, index)

    # ------------------------------------------------------------------ meaning
    @property
    def dims(self) -> tuple[str, ...]:
        """Names of the coefficient axes after the batch axis, e.g. ``("channel", "frequency")``."""
        raise NotImplementedError

    @property
    def coords(self) -> dict[str, np.ndarray]:
        """What each coefficient means: one array per named axis (and extra labels)."""
        self._check_fitted()
        coords = {"channel": np.arange(self.n_channels_)} if "channel" in self.dims else {}
        coords.update(self._coords())
        return coords

    def _coords(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    @property
    def coord_dims(self) -> dict[str, tuple[str, ...]]:
        """The axes each coordinate of :attr:`coords` labels (as xarray binds them): a
        coordinate named like an axis labels that axis; domains with other labels (the
        wavelet's ``band``) override this to say which axes those run along.

        Raises
        ------
        ValueError
            For a label not named like an axis that this method does not bind.
        """
        dims = self.dims
        unbound = [name for name in self.coords if name not in dims]
        if unbound:
            raise ValueError(
                f"{type(self).__name__}.coords has the labels {unbound}, which are not axes of "
                f"{dims}; override coord_dims to say which axes each labels, e.g. "
                f"{{{unbound[0]!r}: ({dims[-1]!r},)}}."
            )
        return {name: (name,) for name in self.coords}

    @property
    def units(self) -> dict[str, str]:
        """Unit of each coordinate in :attr:`coords` (``"Hz"``, ``"s"``, ``"bin"`` ...)."""
        return {}

    # ------------------------------------------------------------------ checks
    def check_invertible(self, x: Tensor, rtol: float | None = None) -> float:
        """Relative reconstruction error ``max|inverse(forward(x)) - x| / max(1, max|x|)``.

        Raises ``ValueError`` when it exceeds ``rtol`` (default: ``1e4 * eps`` of the dtype).

        Notes
        -----
        A domain is usable for Cross-domain IG only if :math:`T^{-1}(T(x)) = x`; completeness
        :math:`\\sum_i A_i = f(x) - f(x')` rests on it.
        """
        self._check_fitted()
        rec = self.inverse(self.forward(x))
        scale = max(1.0, float(x.abs().max()))
        err = float((rec - x).abs().max()) / scale
        tol = rtol if rtol is not None else 1e4 * torch.finfo(x.dtype).eps
        if not math.isfinite(err) or err > tol:
            raise ValueError(
                f"{type(self).__name__} does not reconstruct its input: relative "
                f"reconstruction error {err:.3g} > tolerance {tol:.3g}. Its inverse must "
                "reproduce x exactly for attributions to be complete; check the settings."
            )
        return err

    def component_series(self, sample: int) -> np.ndarray | None:
        """The fixed series the coefficients weight in fitted sample ``sample``, or None.

        For domains whose coefficients are weights of per-sample component series (the
        figures draw these series); ``None`` for every other domain.

        Returns
        -------
        ndarray, float64, last axis time, or None
            Mixing domains (ICA, PCA): shape ``(n_components, time)``, one series per
            coefficient row (``baseline="zero"`` adds the constant 1 of the ``"mean"``
            component). Seasonal-trend: shape ``(channels, n_components, time)``.
        """
        return None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


# ---------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[Domain]] = {}


def register(cls: type[_D]) -> type[_D]:
    """Class decorator: make ``cls`` available by its :attr:`Domain.name`."""
    _REGISTRY[cls.name] = cls
    return cls


def available_domains() -> tuple[str, ...]:
    """Names accepted by ``domain=`` everywhere."""
    return tuple(sorted(_REGISTRY))


def domain_class(name: str) -> type[Domain]:
    """The class registered under ``name`` (see :func:`available_domains`)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(
            f"domain={name!r} is not a known domain; use one of "
            f"{', '.join(available_domains())}, or pass a cdig.domains.Domain object."
        )
    return _REGISTRY[key]


#: The constructor's parameter names of each domain class that :func:`get_domain` built.
_ACCEPTED: dict[type, frozenset[str]] = {}


def get_domain(domain: str | Domain, **kwargs: Any) -> Domain:
    """Resolve a domain name or object to an (unfitted) domain object.

    ``kwargs`` (such as ``fs``) are passed to the constructor of a named domain when it
    accepts them, and ignored otherwise; a domain object is returned unchanged.
    """
    if isinstance(domain, Domain):
        return domain
    if isinstance(domain, str):
        cls = domain_class(domain)
        accepted = _ACCEPTED.get(cls)
        if accepted is None:  # read once per class: ``inspect.signature`` is slow
            accepted = _ACCEPTED[cls] = frozenset(inspect.signature(cls).parameters)
        return cls(**{k: v for k, v in kwargs.items() if k in accepted and v is not None})
    raise TypeError(
        f"domain must be a domain name (str) or a cdig.domains.Domain; got {type(domain).__name__}."
    )


def check_fs(fs: float | None) -> float | None:
    """Validate a sampling rate (Hz): None or a positive finite number."""
    if fs is None:
        return None
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.floating, np.integer)):
        raise ArgumentTypeError(Name("fs", fs), " must be a number (sampling rate in Hz) or None.")
    if not math.isfinite(fs) or fs <= 0:
        raise ArgumentError(Name("fs", fs), " must be a positive, finite sampling rate in Hz.")
    return float(fs)
