"""Inputs that used to fail with a raw library error or be accepted wrongly: each now gets a
clear error naming the argument and the fix, or correct handling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.cli import CLIError, main

C, T = 1, 16


def _lin() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, 2)).double()


def _x(dtype=torch.float64) -> torch.Tensor:
    return torch.randn(2, C, T, generator=torch.Generator().manual_seed(1)).to(dtype)


def test_an_exactly_constant_output_is_named_not_silently_converged():
    def constant(z):
        return torch.ones(len(z), 2, dtype=z.dtype) + 0 * z.sum()

    with pytest.warns(cdig.ConstantOutputWarning, match=r"samples \[0, 1\].*explains nothing"):
        res = cdig.explain(constant, _x(), target=0)
    assert (res.values == 0).all()
    # a model that does depend on the input gives no such warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", cdig.ConstantOutputWarning)
        cdig.explain(_lin(), _x(), target=0, n_steps=8)


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (lambda z: z.flatten(1)[:, :2] > 0, TypeError, "dtype torch.bool.*before the threshold"),
        (lambda z: z.flatten(1)[:, :2].long(), TypeError, "dtype torch.int64"),
        (
            lambda z: z.flatten(1)[:, :2].to(torch.complex128),
            TypeError,
            r"complex outputs.*\.abs\(\)",
        ),
        (lambda z: z.flatten(1)[:, :0], ValueError, r"empty output of shape \(\d+, 0\)"),
    ],
)
def test_outputs_without_a_gradient_are_refused(model, error, match):
    with pytest.raises(error, match=match):
        cdig.explain(model, _x(), target=0)


def test_zero_channels_and_meta_tensors_are_refused():
    with pytest.raises(ValueError, match=r"inputs has no channels \(shape \(2, 0, 16\)\)"):
        cdig.explain(lambda z: z.sum((1, 2)), torch.zeros(2, 0, T), domain="fourier")
    with pytest.raises(ValueError, match="inputs is on the 'meta' device"):
        cdig.explain(_lin(), _x().to("meta"), target=0)
    meta_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, 2)).to("meta")
    with pytest.raises(ValueError, match="model's weights are on the 'meta' device"):
        cdig.explain(meta_model, _x(torch.float32), target=0)


def test_targets_steps_and_baselines_out_of_range():
    with pytest.raises(ValueError, match=r"target index 10+ is out of range .* use 0\.\.1"):
        cdig.explain(_lin(), _x(), target=10**30)
    with pytest.raises(TypeError, match=r"target=1e\+30 is a float.*integer"):
        cdig.explain(_lin(), _x(), target=1e30)
    with pytest.raises(ValueError, match=r"n_steps=2000000000 is more than 16384 .*'auto'"):
        cdig.explain(_lin(), _x(), target=0, n_steps=2_000_000_000)
    with pytest.raises(ValueError, match=r"baselines=1e\+39 does not fit in torch\.float32"):
        cdig.explain(_lin().float(), _x(torch.float32), target=0, baselines=1e39)
    big = np.full((2, C, T), 1e39)
    with pytest.raises(
        ValueError, match=r"baselines holds values beyond the range of torch\.float32"
    ):
        cdig.explain(_lin().float(), _x(torch.float32), target=0, baselines=big)


def test_a_float64_function_with_float32_inputs_is_cast_up_exactly():
    weights = _lin()[1].weight.detach().numpy()  # float64 numpy weights: invisible to cdig

    def f(z):
        return torch.nn.functional.linear(z.flatten(1), torch.from_numpy(weights))

    x32 = _x(torch.float32)
    with pytest.warns(UserWarning, match="cast to float64, which is exact"):
        res = cdig.explain(f, x32, target=0, n_steps=8)
    ref = cdig.explain(f, x32.double(), target=0, n_steps=8)
    np.testing.assert_array_equal(res.values, ref.values)
    # linear model, zero baseline: attributions are exactly w * x
    np.testing.assert_allclose(
        res.values.reshape(2, -1), weights[0] * x32.double().numpy().reshape(2, -1), atol=1e-12
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("raw")
    net = _lin()
    torch.jit.script(net).save(str(d / "net64.ts"))
    torch.jit.script(_lin().float()).save(str(d / "net32.ts"))
    np.save(d / "x64.npy", _x().numpy())
    np.save(d / "x32.npy", _x(torch.float32).numpy())
    return d


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["net64.ts", "x64.npy", "--top", "-1"], r"--top -1 must be a positive integer"),
        (["net64.ts", "x64.npy", "--device", "meta"], r"--device meta holds shapes but no values"),
        (["net64.ts", "x64.npy", "--n-steps", "2000000000"], r"--n-steps 2000000000 is more"),
        (["net32.ts", "x32.npy", "--baselines", "1e39"], r"--baselines 1e\+39 does not fit"),
    ],
)
def test_command_line_options_out_of_range(files, args, match, capsys):
    argv = ["explain", str(files / args[0]), str(files / args[1]), "--target", "0", *args[2:]]
    try:
        code = main([*argv, "--quiet", "--trust-model-file"])
    except CLIError as err:
        message = str(err)
    else:
        assert code != 0
        message = capsys.readouterr().err
    assert __import__("re").search(match, message), message
