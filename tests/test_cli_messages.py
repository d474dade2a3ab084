"""The command line's words: option names in errors, f(x') in tables, optional packages
checked before any work."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from cdig.cli import _option_words, main

T = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_messages")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(T, 3)).double().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), str(d / "net.ts"))
    np.save(d / "x.npy", np.random.default_rng(0).normal(size=(2, 1, T)))
    return d


def run(argv, capsys, trust=True):
    """Run the command; the tests' own TorchScript and .pt2 files are trusted unless trust=False."""
    argv = [str(a) for a in argv]
    if trust and argv[:1] == ["explain"]:
        argv.append("--trust-model-file")
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_api_words_become_option_names():
    assert (
        _option_words("target='biggest' is not understood") == "--target biggest is not understood"
    )
    assert _option_words("pass target= (an int index)") == "pass --target (an int index)"
    assert _option_words("internal_batch_size=0 must be") == "--batch-size 0 must be"
    assert _option_words("increase n_steps or use n_steps='auto'.") == (
        "increase --n-steps or use --n-steps auto."
    )
    assert _option_words("target index 5 is out of range") == "target index 5 is out of range"


def test_missing_target_names_the_option(files, capsys):
    code, _, err = run(["explain", files / "net.ts", files / "x.npy"], capsys)
    assert code == 1 and "pass --target" in err and "target=" not in err


def test_summary_says_f_of_x_prime(files, capsys):
    code, out, _ = run(["explain", files / "net.ts", files / "x.npy", "--target", 0], capsys)
    assert code == 0
    assert "f(x')" in out and "f(x0)" not in out


def _block_matplotlib(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError


def test_report_without_matplotlib_fails_before_any_work(files, capsys, monkeypatch, tmp_path):
    _block_matplotlib(monkeypatch)
    # the model file is absent: had any work started, that would be the error
    argv = ["explain", files / "absent.ts", files / "x.npy", "--out", tmp_path / "r.html"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert "--out" in err and "pip install cdig[plot]" in err and "MODEL" not in err
    assert not (tmp_path / "r.html").exists()


def test_demo_without_matplotlib(capsys, monkeypatch, tmp_path):
    _block_matplotlib(monkeypatch)
    code, _, err = run(["demo", "--out", tmp_path], capsys)
    assert code == 1 and "--no-report" in err and "cdig[plot]" in err
    code, out, err = run(["demo", "--out", tmp_path, "--no-report"], capsys)
    assert code == 0
    assert "peak Hz" in out and "4.00" in out  # the table is there
    assert "no figure" in err and not list(tmp_path.iterdir())
