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
