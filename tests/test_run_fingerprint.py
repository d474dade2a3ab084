"""The fingerprint of a dataset run changes with everything that changes a number.

Each case builds a model (and target, domain) from a mutable state, finishes a run, changes
one thing that changes the attributions, and expects the second call with the same ``out=``
to be refused rather than to return the first run's numbers.
"""

from __future__ import annotations

import functools
import types
import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.domains import Domain

N, C, T = 4, 2, 16
KW = dict(domain="time", shard_size=N, n_steps=4, progress=False)


def _x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, C, T))


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(C * T, 3).double()
        self.temperature = 1.0
        self.register_buffer("shift", torch.zeros(3, dtype=torch.float64), persistent=False)
        self.gain = torch.ones(3, dtype=torch.float64)  # a plain tensor attribute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x.flatten(1)) / self.temperature) * self.gain + self.shift

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


class Caller:
    def __init__(self, net: Net) -> None:
        self.net = net

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _scaled(net: Net, scale: float, x: torch.Tensor) -> torch.Tensor:
    return net(x) * scale


class Rotate(Domain):
    """Channels rotated by an angle: a custom linear domain with a parameter and a state."""

    name = "rotate-test"
    linear = True
    turns = 1.0  # class-level state the methods read

    def __init__(self, angle: float = 0.3) -> None:
        self.angle = angle
        self._mix = self._matrix(angle)

    @staticmethod
    def _matrix(angle: float) -> torch.Tensor:
        c, s = np.cos(angle * Rotate.turns), np.sin(angle * Rotate.turns)
        return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)

    def forward(self, x, index=None):  # type: ignore[no-untyped-def]
        return torch.einsum("ij,bjt->bit", self._matrix(self.angle) @ self._mix, x)

    def inverse(self, X, index=None):  # type: ignore[no-untyped-def]
        m = self._matrix(self.angle) @ self._mix
        return torch.einsum("ij,bjt->bit", torch.linalg.inv(m), X)

    @property
    def dims(self) -> tuple[str, ...]:
        return ("component", "time")

    def _coords(self):  # type: ignore[no-untyped-def]
        return {}


def _class_of(out: torch.Tensor, k: int = 0) -> torch.Tensor:
    return out[:, k]


def _cases() -> dict[str, tuple]:
    """name -> (build() -> (model, kwargs, state), change(state))."""

    def plain():
        net = Net()
        return (lambda x: net(x)), {}, net

    def weights_in_closure(net):
        with torch.no_grad():
            net.fc.weight[0, 0] += 0.5

    def method():
        net = Net()
        return net.predict, {}, net

    def callable_object():
        net = Net()
        return Caller(net), {}, net

    def partial_arg():
        net = Net()
        box = {"f": functools.partial(_scaled, net, 2.0)}
        return (lambda x: box["f"](x)), {}, (box, net)

    def change_partial(state):
        box, net = state
        box["f"] = functools.partial(_scaled, net, 3.0)

    def lambda_default():
        net = Net()
        holder = {}
        holder["f"] = lambda x, s=2.0: net(x) * s
        return (lambda x: holder["f"](x)), {}, (holder, net)

    def change_default(state):
        holder, _net = state
        holder["f"].__defaults__ = (3.0,)

    def module_only():
        net = Net()
        return net, {}, net

    def temperature(net):
        net.temperature = 2.0

    def buffer(net):
        net.shift += 0.25

    def tensor_attr(net):
        net.gain *= 2.0

    def module_weights(net):
        with torch.no_grad():
            net.fc.bias += 0.1

    def domain_param():
        net, dom = Net(), Rotate(0.3)
        return net, {"domain": {"s": dom}}, dom

    def change_c(dom):
        dom.angle = 1.0

    def change_offset(dom):
        type(dom).turns = 2.0

    def partial_target():
        net = Net()
        box = {"target": functools.partial(_class_of, k=0)}
        return net, {"target_box": box}, box

    def change_target(box):
        box["target"] = functools.partial(_class_of, k=1)

    def global_float():
        net = Net()
        return (lambda x: net(x) * _GLOBAL["scale"]), {}, _GLOBAL

    def change_global(g):
        g["scale"] = 5.0

    return {
        "weights of a module reached through a plain function": (plain, weights_in_closure),
        "weights of a module reached through a bound method": (method, weights_in_closure),
        "weights of a module reached through a callable object": (
            callable_object,
            weights_in_closure,
        ),
        "a functools.partial's argument": (partial_arg, change_partial),
        "a lambda's default argument": (lambda_default, change_default),
        "a module attribute (temperature)": (module_only, temperature),
        "a non-persistent buffer": (module_only, buffer),
        "a plain tensor attribute": (module_only, tensor_attr),
        "a module's weights": (module_only, module_weights),
        "a custom domain's parameter": (domain_param, change_c),
        "a custom domain's class-level state": (domain_param, change_offset),
        "a target built with functools.partial": (partial_target, change_target),
        "a global a function reads": (global_float, change_global),
    }


_GLOBAL = {"scale": 1.0}
CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_a_change_that_changes_numbers_is_refused(tmp_path, name):
    build, change = CASES[name]
    _GLOBAL["scale"] = 1.0
    Rotate.turns = 1.0
    model, kwargs, state = build()
    kw = {**KW, "target": 0, **{k: v for k, v in kwargs.items() if k != "target_box"}}
    box = kwargs.get("target_box")
    if box is not None:
        kw["target"] = box["target"]
    out = tmp_path / "run"
    first = cdig.explain_dataset(model, _x(), out=out, **kw)
    before = np.concatenate([first.open(first.domains[0])[:].ravel(), first.outputs])
    # the same call resumes (a finished run: nothing recomputed, same numbers)
    again = cdig.explain_dataset(model, _x(), out=out, **kw)
    np.testing.assert_array_equal(again.open(first.domains[0])[:].ravel(), before[:-N])
    change(state)
    if box is not None:
        kw["target"] = box["target"]
    # the change does change the numbers (so resuming would return stale ones) ...
    fresh = cdig.explain_dataset(model, _x(), out=tmp_path / "fresh", **kw)
    now = np.concatenate([fresh.open(first.domains[0])[:].ravel(), fresh.outputs])
    assert not np.array_equal(now, before)
    # ... and the second call with the first out= is refused
    with pytest.raises(ValueError, match="different settings"):
        cdig.explain_dataset(model, _x(), out=out, **kw)


def test_what_cdig_cannot_read_asks_for_a_key(tmp_path):
    """A traced function: compiled code whose captured constants cdig cannot read."""
    net = Net().requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opaque = torch.jit.trace(lambda x: net(x), torch.zeros(1, C, T, dtype=torch.float64))
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="cannot read inside.*fingerprint=KEY"):
        cdig.explain_dataset(opaque, _x(), out=out, target=0, **KW)
    with pytest.raises(ValueError, match=r"cannot be resumed safely.*fingerprint=KEY"):
        cdig.explain_dataset(opaque, _x(), out=out, target=0, **KW)
    keyed = tmp_path / "keyed"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no warning with a key
        cdig.explain_dataset(opaque, _x(), out=keyed, target=0, fingerprint="v1", **KW)
        cdig.explain_dataset(opaque, _x(), out=keyed, target=0, fingerprint="v1", **KW)
    with pytest.raises(ValueError, match=r"different settings \(key: 'v1' -> 'v2'\)"):
        cdig.explain_dataset(opaque, _x(), out=keyed, target=0, fingerprint="v2", **KW)
    with pytest.raises(TypeError, match="fingerprint=3 must be a non-empty string"):
        cdig.explain_dataset(net, _x(), out=tmp_path / "x", target=0, fingerprint=3, **KW)


def test_fingerprint_is_stable_across_calls_of_an_unchanged_model():
    from cdig.runs._job import model_fingerprint

    net = Net()
    a = model_fingerprint(lambda x: net(x))
    cdig.explain(net, torch.from_numpy(_x()), target=0, n_steps=4)
    assert model_fingerprint(lambda x: net(x)) == a
    assert "blind" not in a


def test_an_adapters_own_settings_count():
    """A JAX adapter's params live in the adapter, not in the function it wraps."""
    jnp = pytest.importorskip("jax.numpy")
    import jax

    from cdig.models import wrap
    from cdig.runs._job import model_fingerprint

    fn = jax.jit(lambda p, x: x.reshape(x.shape[0], -1) @ p)
    w = jnp.ones((C * T, 2))
    a = model_fingerprint(wrap(fn, framework="jax", params=w))
    assert a == model_fingerprint(wrap(fn, framework="jax", params=jnp.ones((C * T, 2))))
    assert a["sha256"] != model_fingerprint(wrap(fn, framework="jax", params=w * 2))["sha256"]
    assert "blind" not in a  # the jitted function is read through its __wrapped__


def test_graph_modules_and_deep_structures():
    from cdig.runs._job import model_fingerprint

    gm = torch.fx.symbolic_trace(torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(50)]))
    a = model_fingerprint(gm)
    assert "blind" not in a and model_fingerprint(gm) == a
    with torch.no_grad():
        gm.get_submodule("7").bias += 1
    assert model_fingerprint(gm)["sha256"] != a["sha256"]
    # a linked structure deeper than the walk goes: a blind spot, not a RecursionError
    head = cur = types.SimpleNamespace()
    for _ in range(500):
        cur.next = types.SimpleNamespace()
        cur = cur.next
    net = torch.nn.Linear(2, 2)
    net.chain = head
    (spot,) = model_fingerprint(net)["blind"]
    assert "nested more than 100 references deep" in spot and len(spot) < 200
