"""One batch prepared for a metric or a peer method, and the checks both kinds share.

A metric (:mod:`cdig.metrics`) and a peer explainer (:mod:`cdig.peers`) start the same way:
normalize the inputs once (``cdig._inputs``), fit the domain, compute the coefficients and
the model's outputs in chunks without gradients (:class:`Setup`, built by :func:`prepare`),
and validate the target against those outputs (:func:`resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ._checks import check_choice, check_optional_int
from ._evaluate import evaluate
from ._inputs import as_series
from ._layout import InputLayout
from .attribution import Attribution
from .domains import Domain, get_domain
from .engine import MAX_CHUNK
from .models import ModelAdapter, wrap
from .targets import TargetSpec, as_target, resolve_target

__all__ = [
    "SCORES",
    "Score",
    "Setup",
    "check_batch_size",
    "check_probabilities",
    "evaluate_series",
    "fitted_domain",
    "prepare",
    "resolve",
]

Score = Literal["probability", "output"]
SCORES: tuple[str, ...] = ("probability", "output")


@dataclass
class Setup:
    """Everything a metric needs about one batch, computed once.

    ``x``: (B, C, T) canonical inputs; ``coefficients``: (B, *coef) ``domain.forward(x)``;
    ``index``: (B,) sample ids passed to ``domain.inverse``; ``outputs``: (B, ...) model
    outputs at ``x``.
    """

    adapter: ModelAdapter
    layout: InputLayout
    x: Tensor
    domain: Domain
    index: Tensor
    coefficients: Tensor
    outputs: Tensor
    chunk: int

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])

    @property
    def coefficient_shape(self) -> tuple[int, ...]:
        return tuple(self.coefficients.shape[1:])

    @property
    def n_coefficients(self) -> int:
        return int(np.prod(self.coefficient_shape))

    def call(self, xc: Tensor) -> Tensor:
        """Model outputs for canonical series ``xc`` of shape (n, C, T)."""
        return self.adapter(self.layout.to_user(xc))


def check_batch_size(value: Any) -> int | None:
    return check_optional_int(value, "internal_batch_size")


def fitted_domain(attribution: Any, domain: Any, x: Tensor, fs: float | None) -> Domain:
    """The domain the attribution lives in, fitted on ``x``.

    A name or an unfitted Domain is fitted on ``x``; a fitted Domain (such as
    ``Attribution.domain``) is used as is and must match the inputs' channels and length.
    """
    if domain is None:
        if isinstance(attribution, Attribution) and attribution.domain is not None:
            domain = attribution.domain
        else:
            raise ValueError(
                "domain is None and the attribution does not carry one; pass domain= (a name "
                "such as 'fourier', or a cdig.domains.Domain), or pass the Attribution that "
                "cdig.explain returned."
            )
    dom = get_domain(domain, fs=fs)
    if not dom.is_fitted:
        return dom.clone().fit(x)
    if (dom.n_channels_, dom.n_times_) != (x.shape[1], x.shape[2]):
        raise ValueError(
            f"the fitted {type(dom).__name__} expects series of {dom.n_channels_} channel(s) x "
            f"{dom.n_times_} samples, but inputs have {x.shape[1]} x {x.shape[2]}; pass the "
            "inputs that were explained, or an unfitted domain to fit on these inputs."
        )
    return dom


def prepare(
    model: Any,
    inputs: Any,
    attribution: Any,
    domain: Any,
    *,
    time_axis: int,
    fs: float | None,
    internal_batch_size: int | None,
) -> Setup:
    """Normalize inputs, fit the domain, compute coefficients and the model's outputs."""
    adapter = wrap(model)
    x, layout = as_series(inputs, time_axis, adapter.dtype, adapter.device)
    chunk = check_batch_size(internal_batch_size)
    dom = fitted_domain(attribution, domain, x, fs)
    index = torch.arange(x.shape[0], device=x.device)
    with torch.no_grad():
        coefficients = dom.forward(x, index).detach()
    chunk = chunk or MAX_CHUNK  # forward passes only (no graph): the largest default chunk
    setup = Setup(adapter, layout, x, dom, index, coefficients, x.new_zeros(0), chunk)
    with adapter.inference(), torch.no_grad():
        setup.outputs = evaluate_series(setup, x)  # (B, ...)
    return setup


def evaluate_series(setup: Setup, xs: Tensor) -> Tensor:
    """Model outputs for canonical series ``xs`` (n, C, T), in chunks, no gradients."""
    return evaluate(setup.call, xs, setup.chunk)


def resolve(target: Any, setup: Setup, score: str) -> TargetSpec:
    """Validate ``target`` (and the output shape ``score`` needs) against the outputs."""
    check_choice(score, "score", SCORES)
    if score == "probability":
        check_probabilities(setup.outputs)
    return resolve_target(as_target(target), setup.outputs)


def check_probabilities(outputs: Tensor) -> None:
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise ValueError(
            "score='probability' applies a softmax over classes and needs outputs of shape "
            f"(batch, n_classes >= 2); the model returns shape {tuple(outputs.shape)}. Use "
            "score='output' for raw outputs (regression, a single logit)."
        )
