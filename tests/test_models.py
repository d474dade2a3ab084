"""cdig.models: what cdig does to a torch model it reaches behind a plain function (eval mode
during the call, restored after; the weights' dtype for the inputs)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import cdig


# ---------------------------------------------------------------------- modules behind a function
def _bn_dropout_module() -> torch.nn.Module:
    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3),
        torch.nn.BatchNorm1d(4),
        torch.nn.Dropout(0.5),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 30, 2),
    ).double()
    with torch.no_grad():  # non-trivial running statistics
        m[1].running_mean.uniform_(-0.5, 0.5)
        m[1].running_var.uniform_(0.5, 2.0)
    return m


class _Holder:
    def __init__(self, net):
        self.net = net

    def __call__(self, z):
        return self.net(z)[:, 0]

    def run(self, z):
        return self.net(z)[:, 0]


_GLOBAL_NET = _bn_dropout_module()


def _wrappers(m):
    def default_arg(z, net=m):
        return net(z)[:, 0]

    return {
        "lambda": lambda z: m(z)[:, 0],
        "partial": functools.partial(lambda z, net: net(z)[:, 0], net=m),
        "callable-object": _Holder(m),
        "bound-method": _Holder(m).run,
        "default-arg": default_arg,
    }


@pytest.mark.parametrize("kind", [*_wrappers(torch.nn.Identity()), "global"])
def test_modules_behind_a_function_run_in_eval_mode_and_are_restored(kind):
    m = _GLOBAL_NET if kind == "global" else _bn_dropout_module()
    fn = (lambda z: _GLOBAL_NET(z)[:, 0]) if kind == "global" else _wrappers(m)[kind]
    x = torch.randn(5, 2, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    m.train()
    m[2].eval()  # a mixed state must come back exactly
    m[0].weight.requires_grad_(False)
    m[5].weight.grad = torch.ones_like(m[5].weight)
    flags = [mod.training for mod in m.modules()]
    state = {k: v.clone() for k, v in m.state_dict().items()}
    got = cdig.explain(fn, x, n_steps=16)
    assert [mod.training for mod in m.modules()] == flags
    assert not m[0].weight.requires_grad and m[5].weight.requires_grad
    assert torch.equal(m[5].weight.grad, torch.ones_like(m[5].weight))
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in state.items())  # no BN update
    m.eval()
    ref = cdig.explain(m, x, target=0, n_steps=16)
    m.train()
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-10, atol=1e-12)
    # a sample alone equals its row in the batch (no batch statistics)
    alone = cdig.explain(fn, x[2:3], n_steps=16)
    np.testing.assert_allclose(alone.values[0], got.values[2], rtol=1e-10, atol=1e-12)


def test_weights_of_a_function_give_the_input_dtype():
    w = torch.randn(32, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def make():
        weights = w

        def fn(z):
            return z[:, 0] @ weights  # a float32 z would fail: matmul does not promote

        return fn

    x = np.random.default_rng(0).normal(size=(3, 1, 32)).astype(np.float32)
    attr = cdig.explain(make(), x, n_steps=1)  # float32 inputs, float64 closure weights
    np.testing.assert_allclose(attr.values[:, 0], x[:, 0].astype(np.float64) * w.numpy())


# ---------------------------------------------------------------------- dtype and device
class _BuffersFirst(torch.nn.Module):
    """No parameters of its own; an integer buffer, then a float64 child."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("steps", torch.zeros(2, dtype=torch.int64))
        self.child = torch.nn.Linear(2, 2).double()


class _HalfBuffer(torch.nn.Module):
    """No parameters at all: the dtype comes from the first floating buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(1, dtype=torch.int32))
        self.register_buffer("scale", torch.ones(1, dtype=torch.float16))


class _OwnParameters(torch.nn.Module):
    """A class that lists its parameters its own way (a bfloat16 one first)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(2, 2)
        self.b = torch.nn.Linear(2, 2).to(torch.bfloat16)

    def parameters(self, recurse: bool = True):  # type: ignore[override]
        yield from self.b.parameters()
        yield from self.a.parameters()


def _models_for_the_walk() -> list[torch.nn.Module]:
    shared = torch.nn.Linear(3, 3)
    frozen = torch.nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    return [
        torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv1d(1, 4, 5), torch.nn.Linear(4, 2)),
        torch.nn.Sequential(shared, torch.nn.Sequential(shared, torch.nn.BatchNorm1d(3).half())),
        torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(1, 1).bfloat16())),
        _BuffersFirst(),
        _HalfBuffer(),
        torch.nn.ReLU(),  # no tensors at all: (None, None)
        frozen,
        _OwnParameters(),
        torch.jit.script(torch.nn.Sequential(torch.nn.Linear(2, 2).double())),
    ]


@pytest.mark.parametrize("index", range(9))
def test_dtype_and_device_read_in_one_walk_are_the_properties(index):
    # the one walk over each module's own parameters (then buffers) gives what the
    # properties read through parameters() and buffers(): the first floating tensor's
    # dtype and the first tensor's device, also for shared modules, buffers only, a class
    # with its own parameters() (walked by it) and a scripted module
    model = _models_for_the_walk()[index]
    adapter = cdig.models.wrap(model)
    assert adapter.dtype_and_device() == (adapter.dtype, adapter.device)
    if isinstance(model, _OwnParameters):
        assert adapter.dtype_and_device()[0] == torch.bfloat16
