"""`cdig explain --domain NAME:KEY=VALUE,...`: every command-line domain with its parameters."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import cdig
from cdig.domains._spec import parse_spec as parse_domain

from .conftest import SmoothCNN, run_cli, write_cli_files

FS = 8.0
T = 96


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_domains")
    net = SmoothCNN(channels=1, n_out=2).eval()
    x = np.random.default_rng(0).normal(size=(2, 1, T))
    write_cli_files(d, net, x)
    return d, net, x


CASES = [
    ("stft:n_fft=16,hop=4", cdig.domains.STFT(n_fft=16, hop_length=4, fs=FS)),
    ("wavelet:wavelet=db2,level=3", cdig.domains.Wavelet(wavelet="db2", level=3, fs=FS)),
    ("seasonal_trend:period=12", cdig.domains.SeasonalTrend(period=12)),
    ("seasonal_trend:period=8,24,seasonal=7,11", cdig.domains.SeasonalTrend([8, 24], [7, 11])),
    ("fourier:onesided=false", cdig.domains.Fourier(onesided=False, fs=FS)),
    ("pca:n_components=1", cdig.domains.PCA(n_components=1)),
]


@pytest.mark.parametrize(("spec", "domain"), CASES, ids=[c[0] for c in CASES])
def test_domain_parameters_give_the_python_api_result(files, tmp_path, capsys, spec, domain):
    if "wavelet" in spec:
        pytest.importorskip("pywt")
    if "seasonal" in spec:
        pytest.importorskip("statsmodels")
    d, net, x = files
    js = tmp_path / "out.json"
    argv = ["explain", d / "net.ts", d / "x.npy", "--domain", spec, "--fs", FS, "--target", 1,
            "--json", js, "--quiet"]  # fmt: skip
    code, _out, err = run_cli(argv, capsys)
    assert code == 0, err
    name = spec.split(":")[0]
    got = json.loads(js.read_text())["domains"][name]
    want = cdig.explain(net, x, {name: domain}, target=1)[name]
    np.testing.assert_allclose(got["values"], want.values, rtol=1e-9, atol=1e-13)
    assert got["dims"] == list(want.dims)


def test_the_same_domain_twice_with_different_parameters(files, tmp_path, capsys):
    d, _, _ = files
    js = tmp_path / "out.json"
    argv = ["explain", d / "net.ts", d / "x.npy", "--domain", "stft", "--domain",
            "stft:n_fft=32", "--target", 0, "--json", js, "--quiet"]  # fmt: skip
    assert run_cli(argv, capsys)[0] == 0
    doc = json.loads(js.read_text())["domains"]
    assert list(doc) == ["stft", "stft:n_fft=32"]
    assert np.shape(doc["stft"]["values"])[2] == 33  # n_fft=64 -> 33 bins
    assert np.shape(doc["stft:n_fft=32"]["values"])[2] == 17


ERRORS = [
    ("seasonal_trend", "SeasonalTrend needs period="),
    ("stft:nope=3", "'nope' is not a parameter of stft; its parameters: n_fft, hop_length"),
    ("stft:n_fft=abc", "n_fft='abc' must be a positive integer"),
    ("stft:n_fft=512", "n_fft"),  # longer than the series of 96 samples
    ("custom", "available from Python only"),
    ("nope", "unknown domain 'nope'"),
    ("stft:16", "'16' is not KEY=VALUE"),
]


@pytest.mark.parametrize(("spec", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_domain_parameters_fail_before_the_model_is_loaded(files, capsys, spec, message):
    if "seasonal" in spec:
        pytest.importorskip("statsmodels")
    d, _, _ = files
    # the model file does not exist: the domain error must come first
    code, _out, err = run_cli(["explain", d / "absent.ts", d / "x.npy", "--domain", spec], capsys)
    assert code == 1
    assert message in err and "MODEL file" not in err and err.count("\n") == 1


def test_help_lists_every_domain_with_its_parameters(capsys):
    from cdig.domains._base import _REGISTRY

    code, out, _ = run_cli(["explain", "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    for name in cdig.domains.available_domains():
        if name in ("custom", "linear_basis"):
            continue
        assert name in text
        for param in inspect.signature(_REGISTRY[name]).parameters:
            if param not in ("fs", "ica", "stl_kwargs"):
                assert param in text, (name, param)


def test_parse_domain_values_and_prefixes():
    name, st = parse_domain("seasonal_trend:period=52,robust=true,method=classical", fs=52.0)
    assert (name, st.period, st.robust, st.method) == ("seasonal_trend", 52, True, "classical")
    _, stft = parse_domain("stft:n_fft=64,hop=16,window=hamming")
    assert (stft.n_fft, stft.hop_length, stft.window, stft.fs) == (64, 16, "hamming", None)
    _, w = parse_domain("wavelet:level=none", fs=100.0)
    assert w.level is None and w.fs == 100.0
