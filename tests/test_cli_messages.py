"""The command line's words: option names in errors, f(x') in tables, optional packages
checked before any work."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from cdig.cli import _one_line, _phrase

from .conftest import SmoothCNN, run_cli, write_cli_files

T = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_messages")
    net = SmoothCNN(channels=1, n_out=3).eval()
    write_cli_files(d, net, np.random.default_rng(0).normal(size=(2, 1, T)))
    return d


def _raised(fn, *args, **kwargs):
    with pytest.raises((ValueError, TypeError)) as err:
        fn(*args, **kwargs)
    return err.value


def test_library_errors_carry_the_argument_and_the_command_line_spells_it():
    from cdig._settings import Settings
    from cdig.targets import as_target, resolve_target

    err = _raised(Settings, internal_batch_size=0)
    assert err.argument == "internal_batch_size" and str(err).startswith("internal_batch_size=0")
    assert _one_line(err).startswith("--internal-batch-size 0 must be a positive integer")
    err = _raised(as_target, "biggest")
    assert err.argument == "target" and str(err).startswith("target='biggest' is not understood")
    assert _one_line(err).startswith("--target biggest is not understood")
    err = _raised(Settings, n_steps="auto", rtol=0.0, atol=0.0)
    assert str(err) == "n_steps='auto' needs rtol > 0 or atol > 0."
    assert _one_line(err).startswith("--n-steps auto needs --rtol > 0 or --atol > 0.")
    err = _raised(Settings, n_steps="auto", method="riemann_left")
    assert "Drop method, or pass an integer n_steps" in str(err)
    assert "Drop --method, or pass an integer --n-steps" in _one_line(err)
    err = _raised(resolve_target, as_target(None), torch.zeros(2, 3))
    assert "pass target= (an int" in str(err) and "pass --target (an int" in _one_line(err)
    err = _raised(resolve_target, as_target((1, 2)), torch.zeros(2))
    assert "target=(1, 2) was given" in str(err) and "--target 1,2 was given" in _one_line(err)
    # a parameter the command line has no option for keeps its Python name
    err = _raised(Settings, progress=1)
    assert _one_line(err).startswith("progress=1 must be True or False")


def test_argument_errors_survive_pickling_with_their_parts():
    import pickle

    from cdig._settings import Settings

    err = pickle.loads(pickle.dumps(_raised(Settings, rtol=-1.0)))
    assert isinstance(err, ValueError) and err.argument == "rtol"
    assert str(err) == "rtol=-1.0 must be finite and >= 0." and _one_line(err).startswith(
        "--rtol -1.0"
    )


def test_warnings_name_options():
    from cdig._text import KEYWORD, Name
    from cdig._warnings import ConstantOutputWarning

    w = ConstantOutputWarning(("check ", Name("target", KEYWORD), "."), samples=[0], domains=[])
    assert str(w) == "check target=." and _phrase(w) == "check --target."
    assert _phrase(UserWarning("x=1")) == "UserWarning: x=1"


def test_missing_target_names_the_option(files, capsys):
    code, _, err = run_cli(["explain", files / "net.ts", files / "x.npy"], capsys)
    assert code == 1 and "pass --target" in err and "target=" not in err


def test_summary_says_f_of_x_prime(files, capsys):
    code, out, _ = run_cli(["explain", files / "net.ts", files / "x.npy", "--target", 0], capsys)
    assert code == 0
    assert "f(x')" in out and "f(x0)" not in out


def _block_matplotlib(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError


def test_report_without_matplotlib_fails_before_any_work(files, capsys, monkeypatch, tmp_path):
    _block_matplotlib(monkeypatch)
    # the model file is absent: had any work started, that would be the error
    argv = ["explain", files / "absent.ts", files / "x.npy", "--report", tmp_path / "r.html"]
    code, _, err = run_cli(argv, capsys)
    assert code == 1
    assert "--report" in err and "pip install cdig[plot]" in err and "MODEL" not in err
    assert not (tmp_path / "r.html").exists()


def test_progress_without_tqdm_is_off_by_default_and_an_error_when_asked_for(
    files, capsys, monkeypatch
):
    for name in [m for m in sys.modules if m == "tqdm" or m.startswith("tqdm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    argv = ["explain", files / "net.ts", files / "x.npy", "--target", 0, "--n-steps", 8]
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and "explaining" not in err and "top time (sample 0):" in out
    code, _, err = run_cli([*argv, "--progress"], capsys)
    assert code == 1 and "'tqdm'" in err and "pip install cdig[" in err


def test_demo_without_matplotlib(capsys, monkeypatch, tmp_path):
    _block_matplotlib(monkeypatch)
    code, _, err = run_cli(["demo", "--out", tmp_path], capsys)
    assert code == 1 and "--no-report" in err and "cdig[plot]" in err
    code, out, err = run_cli(["demo", "--out", tmp_path, "--no-report"], capsys)
    assert code == 0
    assert "peak Hz" in out and "4.00" in out  # the table is there
    assert "no figure" in err and not list(tmp_path.iterdir())


def test_load_refuses_a_bad_device_before_reading_the_file(tmp_path):
    from cdig.models import load

    for device, words in (("meta", "holds shapes but no values"), ("nodevice", "not a torch")):
        with pytest.raises(ValueError, match=words) as err:
            load(tmp_path / "absent.onnx", device)  # had the file been read: FileNotFoundError
        assert err.value.argument == "device"


def test_the_summary_and_json_of_the_command_line_from_python(tmp_path):
    import json

    import cdig
    from cdig.attribution import Attribution
    from cdig.report import summary_text, write_json

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(T, 3)).double().eval()
    x = np.random.default_rng(1).normal(size=(2, 1, T))
    res = cdig.explain(net, x, ["time", "fourier"], target=1, n_steps=8)
    outputs = net(torch.as_tensor(x)).detach().numpy()
    path = write_json(tmp_path / "r.json", res, outputs, {"note": "test"}, x.shape)
    doc = json.loads(path.read_text())
    assert doc["input_shape"] == [2, 1, T] and doc["settings"] == {"note": "test"}
    np.testing.assert_array_equal(doc["model_outputs"], outputs)
    for name, attr in res.items():  # the numbers read back exactly
        back = Attribution.from_dict(doc["domains"][name])
        np.testing.assert_array_equal(back.values, attr.values)
    lines = summary_text(res, [1, 0], top=2).splitlines()
    assert lines[0] == "explained output: 1; batch of 2" and "f(x')" in lines[1]
    rows = [line.split() for line in lines[2:6]]
    assert [(r[0], int(r[1])) for r in rows] == [("time", 1), ("time", 0), ("fourier", 1),
                                                  ("fourier", 0)]  # fmt: skip
    for r, (name, s) in zip(rows, [("time", 1), ("time", 0), ("fourier", 1), ("fourier", 0)]):
        assert float(r[2]) == pytest.approx(res[name].outputs[s], rel=1e-4)
    assert len([line for line in lines if line.startswith("top ")]) == 4
