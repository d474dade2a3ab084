"""The result of a peer explainer: a :class:`cdig.Attribution` that says what computed it.

A peer's values are put in the same result class as Cross-domain IG's, with the domain,
its coordinates and the inputs' layout, so that metrics, figures and ``to_xarray`` take them
alike; the facts only Integrated Gradients has (completeness error, baseline output, path
points, error estimate, convergence) are left None, and :attr:`Attribution.peer` names the
explainer and its options.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from .._guards import NonFiniteError
from .._prepare import Setup
from ..attribution import Attribution, InputLayout, Peer
from ..domains import Domain
from ..targets import TargetSpec, select_target


def peer_result(
    name: str,
    values: np.ndarray,
    domain: Domain,
    layout: InputLayout,
    fs: float | None,
    options: dict[str, Any],
    *,
    n_evaluations: int | np.ndarray,
    outputs: np.ndarray | None = None,
    target: str = "output",
    target_index: np.ndarray | None = None,
) -> Attribution:
    """A peer's ``values`` (batch, *coefficient_shape) of the fitted ``domain`` as a result.

    Values that are not finite raise :class:`cdig.NonFiniteError` naming the samples (a
    result never holds NaN). ``n_evaluations``: the model evaluations the method spent per
    sample (an int for all); ``outputs``: the explained score at the input per sample, or
    None without a model.
    """
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        samples = np.flatnonzero(bad).tolist()
        raise NonFiniteError(
            f"{name}: the attributions of samples {samples} hold NaN or infinite values (the "
            "model's outputs or gradients were not finite there, or overflowed); check the "
            "model and the inputs, or rescale them.",
            samples=samples,
        )
    batch = int(values.shape[0])
    evals = np.broadcast_to(np.asarray(n_evaluations, dtype=np.int64), (batch,)).copy()
    return Attribution(
        values=values,
        delta=None,
        dims=domain.dims,
        coords=domain.coords,
        units=domain.units,
        outputs=outputs,
        baseline_outputs=None,
        n_steps=None,
        domain=domain,
        target=target,
        target_index=target_index,
        n_evaluations=evals,
        layout=InputLayout(layout.ndim, layout.time_axis, None if fs is None else float(fs)),
        coord_dims=domain.coord_dims,
        peer=Peer(name, {key: _plain(value) for key, value in options.items()}),
    )


def model_result(
    name: str,
    values: np.ndarray,
    setup: Setup,
    spec: TargetSpec,
    fs: float | None,
    options: dict[str, Any],
    *,
    n_evaluations: int,
    probability: bool = False,
    domain: Domain | None = None,
) -> Attribution:
    """:func:`peer_result` of a method that ran the model: target, target index and the
    explained score at the input from the setup's outputs (its softmax probability with
    ``probability``). ``domain``: the values' domain when it is not the setup's."""
    out = setup.outputs.double() if probability else setup.outputs
    if probability:
        out = torch.softmax(out, dim=1)
    score = select_target(spec, out, setup.index).double().cpu().numpy()  # (B,)
    return peer_result(
        name,
        values,
        setup.domain if domain is None else domain,
        setup.layout,
        fs,
        options,
        n_evaluations=n_evaluations,
        outputs=score,
        target=spec.describe(),
        target_index=spec.indices(setup.batch),
    )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number a JSON record holds (``np.int64(3)`` -> 3)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def seed_option(seed: Any) -> int | str | None:
    """A seed as its result records it: the int, None, or ``"Generator"`` (state not kept)."""
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return int(seed)
    return type(seed).__name__
