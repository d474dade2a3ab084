"""Property-based tests: random small models, shapes, layouts, domains, targets and baselines.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (the default: few examples, derandomized, about a
minute on two cores) and ``nightly`` (many random examples), e.g.
``HYPOTHESIS_PROFILE=nightly pytest tests/test_properties.py``.

Properties: every call either raises a clear ``ValueError``/``TypeError`` or returns finite
attributions whose completeness error is small for the number of steps; the model (weights,
train/eval flags, ``requires_grad``, ``.grad``) and the inputs are unchanged; a sample
explained alone equals its row in a batch; ``internal_batch_size`` changes nothing; the
shared time pass and per-domain coefficient passes (``linear_shortcut``) agree.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import cdig
from cdig.domains import available_domains

from .conftest import every_domain

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
#: For the tests that are not run once per domain: three times the examples.
PROFILE_X3 = settings(PROFILE, max_examples=3 * PROFILE.max_examples)

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TARGETS = ("none", "index", "tuple", "per_sample", "predicted", "callable")
BASELINES = ("none", "number", "array", "broadcast", "stacked")
LAYOUTS = ("channels-time", "time-channels", "time-only")
MODELS = ("mlp", "conv", "gru", "bn-dropout")
LENGTHS = (16, 17, 19, 24, 31, 32)  # even, odd, prime
#: Wrong arguments that must give a clear error ("" = none; drawn one time in four).
BAD = ("", "", "", "", "", "", "target", "baselines", "time_axis")


def _domain(name: str, n_times: int, seed: int) -> Any:
    """A registered domain with parameters valid for ``n_times``."""
    return every_domain(n_times, fs=4.0, seed=seed)[name]


class Net(torch.nn.Module):
    """A small smooth model taking the user's layout; output shape set by ``out``."""

    def __init__(self, kind: str, channels: int, n_times: int, out: str, layout: str, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.kind, self.out, self.layout = kind, out, layout
        width = 4
        if kind == "mlp":
            self.body = torch.nn.Sequential(
                torch.nn.Flatten(), torch.nn.Linear(channels * n_times, width), torch.nn.Tanh()
            )
        elif kind == "gru":
            self.gru = torch.nn.GRU(channels, width, batch_first=True)
        else:
            layers: list[torch.nn.Module] = [torch.nn.Conv1d(channels, width, 3, padding=1)]
            if kind == "bn-dropout":
                layers += [torch.nn.BatchNorm1d(width), torch.nn.Dropout(0.5)]
            self.body = torch.nn.Sequential(*layers, torch.nn.Tanh())
        self.head = torch.nn.Linear(width, 4 if out == "grid" else 3)
        with torch.no_grad():
            for p in self.parameters():
                p.mul_(0.5)
            if kind == "bn-dropout":
                bn = self.body[1]
                bn.running_mean.uniform_(-0.3, 0.3)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "time-only":
            x = x.unsqueeze(1)
        elif self.layout == "time-channels":
            x = x.transpose(1, 2)
        if self.kind == "gru":
            h = self.gru(x.transpose(1, 2))[0][:, -1]
        else:
            h = self.body(x)
            h = h.mean(dim=-1) if h.ndim == 3 else h
        y = torch.nn.functional.softplus(self.head(h))
        if self.out == "scalar":
            return y[:, 0]
        if self.out == "grid":
            return y.reshape(-1, 2, 2)
        return y


@dataclass
class Case:
    model: Net
    x: np.ndarray | torch.Tensor
    domain_name: str
    seed: int
    kwargs: dict[str, Any]
    time_axis: int
    bad: str = ""

    def domain(self) -> Any:
        return _domain(self.domain_name, self.n_times, self.seed)

    @property
    def n_times(self) -> int:
        return int(self.x.shape[1] if self.time_axis == 1 else self.x.shape[-1])


@st.composite
def cases(draw: Any, domains: tuple[str, ...] = ()) -> Case:
    kind = draw(st.sampled_from(MODELS))
    layout = draw(st.sampled_from(LAYOUTS))
    channels = 1 if layout == "time-only" else draw(st.integers(1, 3))
    n_times = draw(st.sampled_from(LENGTHS))
    batch = draw(st.integers(1, 4))
    dtype = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
    target = draw(st.sampled_from(TARGETS))
    base = draw(st.sampled_from(BASELINES))
    domain_name = draw(st.sampled_from(domains or available_domains()))
    seed = draw(st.integers(0, 2**16))
    as_numpy = draw(st.booleans())
    out = {"none": "scalar", "tuple": "grid"}.get(target, "vector")
    model = Net(kind, channels, n_times, out, layout, seed).to(dtype)
    if kind == "bn-dropout" or draw(st.booleans()):
        model.train()  # cdig must put it in eval mode (and restore it)
    else:
        model.eval()
    rng = np.random.default_rng(seed)
    shape = {
        "channels-time": (batch, channels, n_times),
        "time-channels": (batch, n_times, channels),
        "time-only": (batch, n_times),
    }[layout]
    x_np = rng.normal(size=shape) * 0.8 + 0.3
    x: np.ndarray | torch.Tensor = (
        x_np.astype(np.float64 if dtype == torch.float64 else np.float32)
        if as_numpy
        else torch.tensor(x_np, dtype=dtype)
    )
    kwargs: dict[str, Any] = {
        "target": {
            "none": None,
            "index": 1,
            "tuple": (1, 0),
            "per_sample": list(rng.integers(0, 3, size=batch)),
            "predicted": "predicted",
            "callable": _second_minus_first,
        }[target],
        "baselines": {
            "none": None,
            "number": 0.25,
            "array": rng.normal(size=shape) * 0.1,
            "broadcast": rng.normal(size=shape[1:]) * 0.1,
            "stacked": rng.normal(size=(2, *shape)) * 0.1,
        }[base],
    }
    time_axis = 1 if layout == "time-channels" else -1
    bad = draw(st.sampled_from(BAD))
    if bad == "target":  # out of range, or an index for a model with one output
        kwargs["target"] = {"scalar": 0, "grid": (5, 0), "vector": 7}[out]
    elif bad == "baselines":  # does not broadcast
        kwargs["baselines"] = rng.normal(size=(7, 5))
    elif bad == "time_axis":
        time_axis = 0
    return Case(model, x, domain_name, seed, kwargs, time_axis, bad)


def _second_minus_first(out: torch.Tensor) -> torch.Tensor:
    return out[:, 1] - out[:, 0]


def _explain(case: Case, x: Any = None, n_steps: int = 64, **extra: Any) -> Any:
    kwargs = {**case.kwargs, **extra}
    shortcut = kwargs.pop("linear_shortcut", True)
    ig = cdig.CrossDomainIG(
        case.model, case.domain(), time_axis=case.time_axis, linear_shortcut=shortcut
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # completeness is asserted below; FastICA may warn
        return ig.explain(case.x if x is None else x, n_steps=n_steps, **kwargs)


def _state(model: torch.nn.Module) -> list[Any]:
    return [
        [(k, v.clone()) for k, v in model.state_dict().items()],
        [m.training for m in model.modules()],
        [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
    ]


def _same_state(a: list[Any], b: list[Any]) -> bool:
    (sa, ta, ga), (sb, tb, gb) = a, b
    return (
        all(ka == kb and torch.equal(va, vb) for (ka, va), (kb, vb) in zip(sa, sb))
        and ta == tb
        and all(
            ra == rb and (xa is None) == (xb is None) and (xa is None or torch.equal(xa, xb))
            for (ra, xa), (rb, xb) in zip(ga, gb)
        )
    )


def _tols(dtype: Any) -> tuple[float, float]:
    """(completeness, agreement) relative tolerances for the dtype the model computes in."""
    return (2e-3, 1e-4) if dtype in (torch.float32, np.float32) else (1e-5, 1e-9)


@pytest.mark.parametrize("domain", available_domains())
@PROFILE
@given(data=st.data())
def test_clear_error_or_complete_finite_result_and_nothing_changed(domain, data):
    case = data.draw(cases(domains=(domain,)))
    # grads on the model: they must survive untouched
    first = next(case.model.parameters())
    first.grad = torch.full_like(first, 0.5)
    state = _state(case.model)
    x_before = case.x.copy() if isinstance(case.x, np.ndarray) else case.x.clone()
    try:
        attr = _explain(case)
    except (ValueError, TypeError) as err:
        assert len(str(err)) > 20, "errors must explain themselves"
        assert not isinstance(err, cdig.NonFiniteError), "these models are finite"
    else:
        assert not case.bad, f"bad {case.bad} was accepted"
        assert np.isfinite(attr.values).all() and np.isfinite(attr.delta).all()
        rtol, _ = _tols(case.x.dtype)
        scale = np.maximum(1.0, np.abs(attr.outputs) + np.abs(attr.baseline_outputs))
        assert np.all(np.abs(attr.delta) <= rtol * scale), attr.delta
    assert _same_state(state, _state(case.model))
    if isinstance(case.x, np.ndarray):
        np.testing.assert_array_equal(case.x, x_before)
    else:
        assert torch.equal(case.x, x_before)


def _agree(a: np.ndarray, b: np.ndarray, dtype: Any) -> None:
    _, rtol = _tols(dtype)
    scale = max(1.0, float(np.abs(a).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


def _try(case: Case, **extra: Any) -> Any:
    try:
        return _explain(case, **extra)
    except (ValueError, TypeError):
        return None


@PROFILE_X3
@given(case=cases(), chunk=st.sampled_from([3, 7, 64]))
def test_a_sample_alone_and_the_chunk_size_change_nothing(case, chunk):
    # 12 steps: blocks of part of a row (chunk 3, 7) and of several rows (64)
    full = _try(case, n_steps=12)
    if full is None:
        assert case.bad
        return
    chunked = _explain(case, n_steps=12, internal_batch_size=chunk)
    _agree(full.values, chunked.values, case.x.dtype)
    _agree(full.delta, chunked.delta, case.x.dtype)
    i = len(case.x) - 1
    base = case.kwargs["baselines"]
    extra: dict[str, Any] = {}
    if isinstance(case.kwargs["target"], list):  # one class per sample
        extra["target"] = case.kwargs["target"][i : i + 1]
    if isinstance(base, np.ndarray) and base.ndim == np.ndim(case.x):  # one per sample
        extra["baselines"] = base[i : i + 1]
    elif isinstance(base, np.ndarray) and base.ndim == np.ndim(case.x) + 1:  # stacked
        extra["baselines"] = base[:, i : i + 1]
    alone = _explain(case, x=case.x[i : i + 1], n_steps=12, **extra)
    _agree(full.values[i : i + 1], alone.values, case.x.dtype)


@PROFILE_X3
@given(case=cases())
def test_shared_and_separate_passes_agree(case):
    shared = _try(case, n_steps=16)
    if shared is None:
        assert case.bad
        return
    separate = _explain(case, n_steps=16, linear_shortcut=False)
    _agree(shared.values, separate.values, case.x.dtype)
