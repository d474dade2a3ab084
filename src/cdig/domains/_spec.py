"""Domains written as text, ``NAME[:KEY=VALUE,...]`` (the command line's ``--domain``).

Only domains whose parameters are plain values can be written so: the ones that take
Python objects (callables, a basis matrix, a fitted estimator, a dict) are left to Python.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._base import Domain, available_domains, domain_class

__all__ = ["parse_spec", "parse_specs", "spec_help", "spec_parameters", "text_domains"]

#: Domains and parameters that take Python objects: usable from Python only. ``fs`` is
#: given apart from the text (the command line's ``--fs``).
PYTHON_ONLY_DOMAINS = ("custom", "linear_basis")
PYTHON_ONLY_PARAMETERS = ("fs", "ica", "stl_kwargs")


def text_domains() -> list[str]:
    """The registered domains that can be written as text."""
    return [d for d in available_domains() if d not in PYTHON_ONLY_DOMAINS]


def spec_parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of a registered domain's constructor, with their defaults."""
    params = inspect.signature(domain_class(name)).parameters
    return {
        k: p.default
        for k, p in params.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in PYTHON_ONLY_PARAMETERS
    }


def spec_help() -> str:
    """Every text domain with its parameters and defaults, ``"stft (n_fft=..., ...); ..."``."""
    parts = []
    for name in text_domains():
        shown = [f"{k}={v!r}" for k, v in spec_parameters(name).items()]
        parts.append(f"{name} ({', '.join(shown)})" if shown else name)
    return "; ".join(parts) + "."


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(spec: str, fs: float | None = None) -> tuple[str, Domain]:
    """A domain written ``NAME[:KEY=VALUE,...]``, as ``(name, unfitted Domain)``.

    Values are read as ``none``, ``true``/``false``, integers, numbers or text; a key may be
    a unique prefix of a parameter name (``hop`` for ``hop_length``); a piece without ``=``
    extends the previous value into a list (``period=24,168``). ``fs`` is passed to domains
    that take it, unless given in ``spec``.

    Raises
    ------
    ValueError
        For an unknown domain or parameter, or a value the domain refuses; the message
        starts with ``repr(spec)``.
    """
    name, _, rest = spec.partition(":")
    key = name.strip().lower()
    if key in PYTHON_ONLY_DOMAINS:
        raise ValueError(
            f"{spec!r}: this domain takes Python objects (callables or a basis matrix) and is "
            "available from Python only (cdig.domains)."
        )
    known = text_domains()
    if key not in known:
        raise ValueError(f"{spec!r}: unknown domain {name!r}; use one of: {', '.join(known)}.")
    accepted = spec_parameters(key)
    kwargs: dict[str, Any] = {}
    last: str | None = None
    for piece in filter(None, (p.strip() for p in rest.split(","))):
        if "=" not in piece:
            if last is None:
                raise ValueError(f"{spec!r}: {piece!r} is not KEY=VALUE.")
            prev = kwargs[last]
            kwargs[last] = [*(prev if isinstance(prev, list) else [prev]), _value(piece)]
            continue
        k, _, v = piece.partition("=")
        k = k.strip()
        match = [a for a in accepted if a == k] or [a for a in accepted if a.startswith(k)]
        if len(match) != 1:
            what = "is ambiguous" if match else "is not a parameter"
            raise ValueError(
                f"{spec!r}: {k!r} {what} of {key}; its parameters: {', '.join(accepted) or 'none'}."
            )
        last = match[0]
        kwargs[last] = _value(v)
    if fs is not None and "fs" in inspect.signature(domain_class(key)).parameters:
        kwargs["fs"] = fs
    try:
        return key, domain_class(key)(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{spec!r}: {err}") from None


def parse_specs(specs: list[str], fs: float | None = None) -> list[tuple[str, Domain]]:
    """``(label, domain)`` per distinct spec; a label repeats the spec only when two specs
    name the same domain (``["stft", "stft:n_fft=32"]`` -> labels ``stft``, ``stft:n_fft=32``).
    """
    parsed: list[tuple[str, str, Domain]] = []
    for spec in specs:
        if spec.strip().lower() not in [s for s, _, _ in parsed]:
            name, domain = parse_spec(spec, fs)
            parsed.append((spec.strip().lower(), name, domain))
    names = [n for _, n, _ in parsed]
    return [(name if names.count(name) == 1 else spec, dom) for spec, name, dom in parsed]
