"""The `cdig` command: loading models and inputs, the numbers it writes, and its errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import cdig
from cdig.cli import CLIError, load_input, load_model, main

from .conftest import SmoothCNN, linear_net, run_cli, same_result, short_series, write_cli_files


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


# only the HTML report (--report) and the demo's figure need matplotlib
needs_matplotlib = pytest.mark.skipif(
    not _installed("matplotlib"), reason="the HTML report needs matplotlib"
)

FS = 32.0
T = 64


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    net = SmoothCNN(channels=1, n_out=2, n_times=T).eval()
    rng = np.random.default_rng(0)
    t = np.arange(T) / FS
    x = rng.normal(size=(3, 1, T)) * 0.3 + np.cos(2 * np.pi * 4.0 * t)
    write_cli_files(d, net, x)
    # exported with a static batch of 2: the adapter must split and pad a batch of 3
    program = torch.export.export(net, (torch.as_tensor(x[:2]),))
    torch.export.save(program, str(d / "net.pt2"))
    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(net, (torch.as_tensor(x),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(d / "dyn.pt2"))
    torch.save(net, d / "pickled.pt")
    torch.save(net.state_dict(), d / "state.pt")
    (d / "junk.pt2").write_bytes(b"not a zip archive")
    np.save(d / "x1d.npy", x[0, 0])
    np.save(d / "short.npy", x[:, :, :32])
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(d / "both.npz", first=x, second=x[:1])
    np.savetxt(d / "one.csv", x[0].T, delimiter=",", header="ppg", comments="")
    np.savetxt(d / "rows.csv", x[0], delimiter=",")
    np.save(d / "base.npy", np.full(T, 0.1))
    (d / "x.txt").write_text("1 2 3")
    return d, net, x


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------- results
def test_explain_json_equals_the_python_api_and_is_complete(files, tmp_path, capsys):
    d, net, x = files
    js = tmp_path / "out.json"
    argv = ["explain", d / "net.ts", d / "x.npy", "--domain", "fourier", "--domain", "time",
            "--fs", FS, "--target", 1, "--json", js, "--quiet"]  # fmt: skip
    code, out, err = run_cli(argv, capsys)
    assert (code, out, err) == (0, "", "")
    doc = read_json(js)
    want = cdig.explain(net, x, ["fourier", "time"], target=1, fs=FS)
    assert list(doc["domains"]) == ["fourier", "time"]
    for name, attr in want.items():
        got = doc["domains"][name]
        np.testing.assert_allclose(got["values"], attr.values, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(got["outputs"], attr.outputs, rtol=1e-12)
        values = np.asarray(got["values"])
        diff = np.asarray(got["outputs"]) - np.asarray(got["baseline_outputs"])
        np.testing.assert_allclose(values.reshape(3, -1).sum(1) - diff, got["delta"], atol=1e-12)
        assert got["dims"] == list(attr.dims)
    np.testing.assert_allclose(
        doc["domains"]["fourier"]["coords"]["frequency"], np.fft.rfftfreq(T, 1 / FS)
    )
    assert doc["domains"]["fourier"]["units"] == {"frequency": "Hz"}
    with torch.no_grad():
        np.testing.assert_allclose(doc["model_outputs"], net(torch.as_tensor(x)).numpy())
    assert doc["settings"]["target"] == "1" and doc["input_shape"] == [3, 1, T]


def test_exported_program_with_a_static_batch_gives_the_same_numbers(files, tmp_path, capsys):
    d, _, _ = files
    docs = []
    for model in ("net.ts", "net.pt2"):
        js = tmp_path / f"{model}.json"
        code, _, err = run_cli(
            [
                "explain",
                d / model,
                d / "x.npy",
                "--domain",
                "fourier",
                "--fs",
                FS,
                "--target",
                "predicted",
                "--json",
                js,
                "--quiet",
            ],
            capsys,
        )
        assert code == 0, err
        full = read_json(js)
        docs.append(full["domains"]["fourier"])
    np.testing.assert_allclose(docs[1]["values"], docs[0]["values"], rtol=1e-9, atol=1e-13)
    assert docs[0]["target"] == "predicted class"
    # the classes explained are the arg-max of the model outputs the JSON also holds
    want = np.argmax(np.asarray(full["model_outputs"]), axis=1)
    np.testing.assert_array_equal(docs[0]["target_index"], want)


@needs_matplotlib
def test_summary_progress_and_report(files, tmp_path, capsys):
    d, _, _ = files
    html = tmp_path / "deep" / "report.html"
    code, out, err = run_cli(
        [
            "explain",
            d / "net.ts",
            d / "x.npy",
            "--fs",
            FS,
            "--target",
            0,
            "--report",
            html,
            "--sample",
            0,
            "--sample",
            2,
            "--unit",
            "bpm",
            "--mark",
            240,
            "--domain",
            "time",
            "--domain",
            "fourier",
        ],
        capsys,
    )
    assert code == 0
    assert "explaining" in err  # the progress bar
    assert "top fourier (sample 2):" in out and " Hz" in out and f"report: {html}" in out
    text = html.read_text()
    assert text.count("<img ") == 4  # samples 0 and 2, time and fourier
    assert "<h2>Sample 2</h2>" in text and "<h2>Sample 1</h2>" not in text
    assert f"<th>input shape</th><td>3, 1, {T}</td>" in text


def test_csv_npz_and_single_series_inputs(files):
    d, _, x = files
    np.testing.assert_allclose(load_input(d / "one.csv"), x[:1])  # header row skipped
    np.testing.assert_allclose(load_input(d / "rows.csv", layout="channels-time"), x[:1])
    np.testing.assert_allclose(load_input(d / "one.csv", time_axis=1), x[:1].transpose(0, 2, 1))
    np.testing.assert_allclose(load_input(d / "both.npz", key="second"), x[:1])
    np.testing.assert_allclose(load_input(d / "x1d.npy"), x[:1])
    np.testing.assert_allclose(load_input(d / "x1d.npy", time_axis=1), x[:1].transpose(0, 2, 1))
    single = d / "single.npy"
    np.save(single, x[0])
    np.testing.assert_allclose(load_input(single, single=True), x[:1])
    assert load_input(single).shape == (1, T)  # 2-d without --single: (batch, time)


def test_csv_input_explained_like_the_array(files, tmp_path, capsys):
    d, net, x = files
    js = tmp_path / "csv.json"
    code, _, err = run_cli(
        [
            "explain",
            d / "net.ts",
            d / "one.csv",
            "--domain",
            "time",
            "--target",
            0,
            "--json",
            js,
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    want = cdig.explain(net, x[:1], "time", target=0)
    np.testing.assert_allclose(read_json(js)["domains"]["time"]["values"], want.values, rtol=1e-10)


@pytest.mark.parametrize("baseline", ["mean", "0.25", "base.npy"])
def test_baselines(files, tmp_path, capsys, baseline):
    d, net, x = files
    js = tmp_path / "b.json"
    arg = str(d / baseline) if baseline.endswith(".npy") else baseline
    code, _, err = run_cli(
        [
            "explain",
            d / "net.ts",
            d / "x.npy",
            "--domain",
            "time",
            "--target",
            0,
            "--baselines",
            arg,
            "--n-steps",
            32,
            "--json",
            js,
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    if baseline == "mean":
        b = np.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape)
    elif baseline == "0.25":
        b = 0.25
    else:
        b = np.full(T, 0.1)
    want = cdig.explain(net, x, "time", target=0, baselines=b, n_steps=32)
    doc = read_json(js)["domains"]["time"]
    np.testing.assert_allclose(doc["values"], want.values, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(doc["baseline_outputs"], want.baseline_outputs, rtol=1e-12)


def test_auto_steps_method_and_batch_size_reach_the_engine(files, tmp_path, capsys):
    d, net, x = files
    js = tmp_path / "auto.json"
    code, _, err = run_cli(["explain", d / "net.ts", d / "x.npy", "--domain", "time", "--target", 0,
                        "--n-steps", "auto", "--rtol", 1e-7, "--internal-batch-size", 7,
                        "--json", js, "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    doc = read_json(js)["domains"]["time"]
    assert doc["settings"]["n_steps"] == "auto" and min(doc["n_steps"]) >= 17
    diff = np.asarray(doc["outputs"]) - np.asarray(doc["baseline_outputs"])
    assert np.all(np.abs(doc["delta"]) <= 1e-7 * np.abs(diff) + 1e-12)
    assert doc["n_evaluations"] == doc["n_steps"] and all(doc["converged"])
    assert max(doc["error"]) <= 1e-7
    js = tmp_path / "left.json"
    code, _, err = run_cli(["explain", d / "net.ts", d / "x.npy", "--domain", "time", "--target", 0,
                        "--n-steps", 8, "--method", "riemann_left", "--json", js, "--quiet"],
                       capsys)  # fmt: skip
    assert code == 0
    # in the command line's words: its options, not Python keywords
    assert (
        "cdig: warning: completeness error above --rtol 0.01 of f(x) - f(x') with --n-steps 8"
        in err
    )
    assert "Use --n-steps auto (adaptive, the default) or more steps." in err
    assert "n_steps=" not in err and "rtol=" not in err
    doc = read_json(js)["domains"]["time"]
    with pytest.warns(cdig.CompletenessWarning):
        want = cdig.explain(net, x, "time", target=0, n_steps=8, method="riemann_left")
    assert doc["settings"]["method"] == "riemann_left"
    np.testing.assert_allclose(doc["values"], want.values, rtol=1e-10, atol=1e-14)
    assert np.abs(doc["delta"]).max() > 1e-6  # a crude rule really was used


def test_atol_reaches_the_engine_as_in_the_library(files, tmp_path, capsys):
    d, net, x = files
    js = tmp_path / "atol.json"
    argv = ["explain", d / "net.ts", d / "x.npy", "--domain", "time", "--target", 0, "--rtol",
            1e-9, "--atol", 0.5, "--json", js, "--quiet"]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    doc = read_json(js)["domains"]["time"]
    want = cdig.explain(net, x, "time", target=0, rtol=1e-9, atol=0.5)
    assert doc["settings"]["atol"] == 0.5 and doc["n_evaluations"] == want.n_evaluations.tolist()
    np.testing.assert_allclose(doc["values"], want.values, rtol=1e-10, atol=1e-14)
    # rtol 1e-9 alone needs more evaluations than with the absolute tolerance of 0.5
    strict = cdig.explain(net, x, "time", target=0, rtol=1e-9, max_steps=4096)
    assert (strict.n_evaluations > want.n_evaluations).all()
    code, _, err = run_cli(
        ["explain", d / "net.ts", d / "x.npy", "--target", 0, "--atol", -1], capsys
    )
    assert code == 1 and "--atol -1.0 must be finite and >= 0" in err


# ---------------------------------------------------------------------- errors
ERRORS = [
    (["explain", "{d}/absent.ts", "{d}/x.npy"], "MODEL file not found"),
    (["explain", "{d}/net.ts", "{d}/absent.npy"], "INPUT file not found"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--domain", "nope"], "unknown domain 'nope'"),
    (["explain", "{d}/state.pt", "{d}/x.npy"], "is a state dict, not a model"),
    (["explain", "{d}/junk.pt2", "{d}/x.npy"], "is not a readable torch.export program"),
    (
        ["explain", "{d}/net.ts", "{d}/short.npy"],
        "the model rejected the input of shape (3, 1, 32): RuntimeError: mat1 and mat2 shapes",
    ),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--n-steps", "many"], "--n-steps 'many'"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--baselines", "median"], "--baselines 'median'"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--baselines", "{d}/no.npy"], "--baselines file not"),
    (["explain", "{d}/net.ts", "{d}/both.npz"], "holds the arrays first, second; choose one"),
    (["explain", "{d}/net.ts", "{d}/both.npz", "--key", "third"], "--key third is not in"),
    (["explain", "{d}/net.ts", "{d}/x.txt"], "unsupported type '.txt'"),
    (["explain", "{d}/net.ts", "{d}/objects.npy"], "without unpickling"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--unit", "bpm"], "--unit bpm needs --fs"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--sample", "7"], "--sample 7 is out of range"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--target", "5"], "target index 5 is out of range"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--target", "a"], "--target 'a' must be"),
    (["explain", "{d}/net.ts", "{d}/x.npy"], "pass --target"),
    (["explain", "{d}/net.ts", "{d}/x.npy", "--device", "nodevice"], "--device nodevice is not"),
]


@pytest.mark.parametrize(("argv", "message"), ERRORS, ids=[m for _, m in ERRORS])
def test_errors_are_one_line_without_traceback(files, capsys, argv, message):
    d, _, _ = files
    code, out, err = run_cli([a.format(d=d) for a in argv], capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("cdig: error: ") and message in lines[0]
    assert "Traceback" not in err and out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_device_without_cuda_is_an_error(files, capsys):
    d, _, _ = files
    code, _, err = run_cli(["explain", d / "net.ts", d / "x.npy", "--device", "cuda"], capsys)
    assert code == 1 and "CUDA is not available" in err


def test_debug_shows_the_exception(files):
    d, _, _ = files
    with pytest.raises(CLIError, match="INPUT file not found"):
        main(["explain", str(d / "net.ts"), str(d / "absent.npy"), "--debug"])


def test_usage_errors_help_and_version(capsys):
    assert main(["explain"]) == 2
    assert "required: MODEL, INPUT" in capsys.readouterr().err
    assert main(["bogus"]) == 2
    assert main([]) == 2
    capsys.readouterr()
    assert main(["explain", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--trust-model-file" in text and "--weights" in text and "ONNX" in text
    assert "--baselines" in text and "--internal-batch-size" in text and "--progress" in text
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cdig {cdig.__version__}"


@pytest.mark.parametrize(
    ("old", "value"), [("--batch-size", "7"), ("--out", "r.html"), ("--baseline", "zero")]
)
def test_retired_spellings_are_usage_errors(files, capsys, old, value):
    """0.1.0 renamed the options to the library's keywords outright: no aliases."""
    d, _, _ = files
    assert main(["explain", str(d / "net.ts"), str(d / "x.npy"), old, value]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_progress_and_quiet_are_two_switches(files, tmp_path, capsys):
    """--progress/--no-progress: the bar (stderr); --quiet: nothing on stdout, and no bar
    unless --progress asks for it."""
    pytest.importorskip("tqdm")  # the bar's package (an optional dependency)
    d, _, _ = files
    common = ["explain", d / "net.ts", d / "x.npy", "--target", 0, "--n-steps", 8]
    seen = {}
    for flags in ([], ["--no-progress"], ["--quiet"], ["--quiet", "--progress"]):
        code, out, err = run_cli([*common, *flags], capsys)
        assert code == 0, err
        seen[" ".join(flags)] = ("explaining" in err, "top time (sample 0):" in out)
    assert seen == {
        "": (True, True),
        "--no-progress": (False, True),
        "--quiet": (False, False),
        "--quiet --progress": (True, False),
    }


def test_the_default_domain_is_time_as_in_the_library(files, tmp_path, capsys):
    d, model, x = files
    js = tmp_path / "o.json"
    argv = ["explain", d / "net.ts", d / "x.npy", "--target", 1, "--json", js, "--quiet"]
    assert run_cli(argv, capsys)[0] == 0
    doc = read_json(js)
    assert list(doc["domains"]) == ["time"]
    assert doc["settings"]["baselines"] == "zero"
    want = cdig.explain(model, torch.as_tensor(x), target=1).values
    np.testing.assert_allclose(doc["domains"]["time"]["values"], want, rtol=1e-6, atol=1e-9)


def test_export_loading_restores_the_environment(files, monkeypatch):
    d, _, _ = files
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    seen = {}
    real = torch.export.load

    def spy(path, *args, **kwargs):
        import os

        seen["force"] = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
        seen["no"] = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(torch.export, "load", spy)
    adapter = load_model(d / "net.pt2", trust=True)
    assert seen == {"force": "1", "no": None}  # weights-only while loading
    import os

    assert os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") == "1"
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ
    assert adapter.batch == 2 and adapter.dtype == torch.float64


# ---------------------------------------------------------------------- Keras
def test_keras_models_load_in_safe_mode(tmp_path):
    keras = pytest.importorskip("keras")
    inp = keras.Input((T, 1))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(inp)))
    model.save(tmp_path / "m.keras")
    try:
        adapter = load_model(tmp_path / "m.keras")
    except CLIError as err:  # this cdig has no Keras bridge yet
        assert "Keras bridge" in str(err)
    else:
        x = np.random.default_rng(0).normal(size=(2, T, 1)).astype(np.float32)
        got = adapter(torch.as_tensor(x)).detach().numpy()
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # a Lambda layer holds Python bytecode: safe mode refuses to load it
    lam = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp))
    lam.save(tmp_path / "lam.keras")
    with pytest.raises(CLIError, match="refused by Keras safe mode"):
        load_model(tmp_path / "lam.keras")


# ---------------------------------------------------------------------- demo
@needs_matplotlib
def test_demo_writes_a_report_next_to_its_figure(tmp_path, capsys, monkeypatch):
    demo = pytest.importorskip("cdig.demo")
    calls = {}

    def quick_run(out, quiet=False, plot=True):
        """The demo's own return structure, on a shorter series so that the test is fast."""
        model = demo.make_model()
        x = demo.make_data()[0][:, :, :256]
        res = cdig.explain(model, x, ["time", "fourier"], target=[0, 1], fs=demo.FS, n_steps=16)
        calls["out"] = out
        return {**res, "x": x, "labels": np.arange(2), "model": model, "figure": None}

    monkeypatch.setattr(demo, "run", quick_run)
    code, out, _ = run_cli(["demo", "--out", tmp_path], capsys)
    assert code == 0 and str(calls["out"]) == str(tmp_path)
    html = tmp_path / "report.html"
    assert f"report: {html}" in out
    text = html.read_text()
    assert text.count("<img ") == 4 and "<h2>Sample 1</h2>" in text
    assert "channel 0, 4.0 Hz" in text.split("<h2>Sample 1</h2>")[1]  # class 1 is the 4 Hz one
    code, out, _ = run_cli(["demo", "--out", tmp_path / "b", "--no-report", "--quiet"], capsys)
    assert code == 0 and out == "" and not (tmp_path / "b" / "report.html").exists()


# ---------------------------------------------------------------------- untrusted files
class _OpenOnUnpickle:
    """Unpickling this creates the file ``marker`` (a stand-in for any code an attacker runs)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _rewrite_pt2(src: Path, dst: Path, edit) -> None:
    """Copy the zip archive ``src`` to ``dst``; ``edit(rel_name, data, add)`` may change entries."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        root = zin.namelist()[0].split("/")[0]
        extra: dict[str, bytes] = {}

        def add(name: str, data: bytes) -> None:
            extra[f"{root}/{name}"] = data

        for info in zin.infolist():
            rel = info.filename.split("/", 1)[1]
            zout.writestr(info, edit(rel, zin.read(info.filename), add))
        for name, data in extra.items():
            zout.writestr(name, data)


def _opaque_constant(marker: Path):
    import pickle

    def edit(rel, data, add):
        if rel == "data/constants/model_constants_config.json":
            cfg = json.loads(data)
            cfg["config"]["evil"] = {"path_name": "opaque_obj_0", "is_param": False,
                                     "use_pickle": True, "tensor_meta": None}  # fmt: skip
            add("data/constants/opaque_obj_0", pickle.dumps(_OpenOnUnpickle(marker)))
            return json.dumps(cfg).encode()
        return data

    return edit


def _pickled_weight(marker: Path):
    import pickle

    def edit(rel, data, add):
        if rel == "data/weights/model_weights_config.json":
            cfg = json.loads(data)
            name = next(iter(cfg["config"]))
            cfg["config"][name]["use_pickle"] = True
            cfg["config"][name]["path_name"] = "weight_99"
            add("data/weights/weight_99", pickle.dumps(_OpenOnUnpickle(marker)))
            return json.dumps(cfg).encode()
        return data

    return edit


def _guard_code(marker: Path):
    def edit(rel, data, add):
        if rel == "models/model.json":
            doc = json.loads(data)
            doc["guards_code"] = [f"open({str(marker)!r}, 'w') is not None"]
            return json.dumps(doc).encode()
        return data

    return edit


def _shape_expr(marker: Path):
    def edit(rel, data, add):
        if rel == "models/model.json":
            text = data.decode()
            assert "Symbol('" in text  # a dynamic batch: shape expressions torch sympifies
            return text.replace("Symbol('", f"open({str(marker)!r}, 'w') and Symbol('", 1).encode()
        return data

    return edit


def _foreign_operator(marker: Path):
    def edit(rel, data, add):
        if rel == "models/model.json":
            text = data.decode()
            assert '"torch.ops.aten.linear.default"' in text
            return text.replace('"torch.ops.aten.linear.default"', '"torch.os.system"').encode()
        return data

    return edit


def _aoti_library(marker: Path):
    def edit(rel, data, add):
        if rel == "archive_format":
            add("data/aotinductor/model/model.so", b"\x7fELF not really")
        return data

    return edit


@pytest.mark.parametrize(
    ("source", "craft", "message"),
    [
        ("net.pt2", _opaque_constant, "opaque_obj_0"),
        ("net.pt2", _pickled_weight, "stored as a pickle"),
        ("net.pt2", _guard_code, "not a plain size comparison"),
        ("dyn.pt2", _shape_expr, "not plain, bounded sympy arithmetic"),
        ("net.pt2", _aoti_library, "compiled code"),
        ("net.pt2", _foreign_operator, "'torch.os.system', which is not a torch operator"),
    ],
    ids=["opaque-constant", "pickled-weight", "guard-code", "shape-expression", "aoti", "op"],
)
def test_a_crafted_pt2_runs_no_code_and_is_refused(files, tmp_path, capsys, source, craft, message):
    d, _, _ = files
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt2"
    _rewrite_pt2(d / source, evil, craft(marker))
    with pytest.raises(CLIError, match=r"MODEL .* is refused: ") as err:
        adapter = load_model(evil, trust=True)
        adapter(torch.zeros(2, 1, T, dtype=torch.float64))  # guards run on a call
    assert message in str(err.value)
    assert not marker.exists()
    code, out, stderr = run_cli(["explain", evil, d / "x.npy", "--target", 0, "--quiet"], capsys)
    assert code == 1 and out == "" and message in stderr and "cdig: error: MODEL" in stderr
    assert not marker.exists()


def test_a_plain_pt2_still_loads_and_explains_after_vetting(files, tmp_path, capsys):
    d, net, x = files
    adapter = load_model(d / "net.pt2", trust=True)
    with torch.no_grad():
        got = adapter(torch.as_tensor(x)).numpy()
        np.testing.assert_allclose(got, net(torch.as_tensor(x)).numpy(), rtol=1e-12)
    js = tmp_path / "r.json"
    code, _, err = run_cli(["explain", d / "net.pt2", d / "x.npy", "--target", 0, "--domain",
                        "time", "--json", js, "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    doc = read_json(js)["domains"]["time"]
    diff = np.asarray(doc["outputs"]) - np.asarray(doc["baseline_outputs"])
    np.testing.assert_allclose(np.asarray(doc["values"]).reshape(3, -1).sum(1), diff, atol=1e-6)


def test_a_dynamic_batch_pt2_loads(files):
    d, net, x = files
    adapter = load_model(d / "dyn.pt2", trust=True)
    assert adapter.batch is None
    xt = torch.as_tensor(x)
    with torch.no_grad():
        np.testing.assert_allclose(adapter(xt).numpy(), net(xt).numpy(), rtol=1e-12)


def test_torchscript_archives_with_a_crafted_pickle_run_no_code(files, tmp_path):
    import pickle

    d, _, _ = files
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.ts"

    def edit(rel, data, add):
        return pickle.dumps(_OpenOnUnpickle(marker), protocol=2) if rel == "data.pkl" else data

    _rewrite_pt2(d / "net.ts", evil, edit)
    with pytest.raises(CLIError, match="is not a TorchScript archive"):
        load_model(evil, trust=True)
    assert not marker.exists()


# ---------------------------------------------------------------------- writing files
def test_outputs_never_overwrite_the_model_input_or_baseline(files, tmp_path, capsys):
    d, _, x = files
    for name in ("net.ts", "x.npy", "base.npy"):
        (tmp_path / name).write_bytes((d / name).read_bytes())
    model, inp, base = tmp_path / "net.ts", tmp_path / "x.npy", tmp_path / "base.npy"
    before = {p: p.read_bytes() for p in (model, inp, base)}
    common = ["explain", model, inp, "--target", 0, "--domain", "time", "--quiet",
              "--baselines", base, "--force"]  # fmt: skip
    for option in ("--json", "--report"):
        for target, what in ((inp, "INPUT"), (model, "MODEL"), (base, "--baselines")):
            code, _, err = run_cli([*common, option, target], capsys)
            assert code == 1 and f"{option} {target}" in err and what in err, err
        # the same file reached through another path
        code, _, err = run_cli([*common, option, tmp_path / "sub" / ".." / "x.npy"], capsys)
        assert code == 1 and "INPUT" in err
    # --json and --report naming one file
    same = tmp_path / "both.out"
    code, _, err = run_cli([*common, "--json", same, "--report", same], capsys)
    assert code == 1 and "the same file" in err
    assert {p: p.read_bytes() for p in (model, inp, base)} == before
    np.testing.assert_array_equal(np.load(inp), x)


@needs_matplotlib
def test_existing_outputs_need_force(files, tmp_path, capsys):
    d, _, _ = files
    js, html = tmp_path / "old.json", tmp_path / "old.html"
    js.write_text("keep me")
    html.write_text("keep me too")
    common = ["explain", d / "net.ts", d / "x.npy", "--target", 0, "--domain", "time", "--quiet"]
    code, _, err = run_cli([*common, "--json", js], capsys)
    assert code == 1 and f"--json {js} exists" in err and "--force" in err
    code, _, err = run_cli([*common, "--report", html], capsys)
    assert code == 1 and f"--report {html} exists" in err and "--force" in err
    assert js.read_text() == "keep me" and html.read_text() == "keep me too"
    # nothing is computed before the check: the refusal is immediate, also with both options
    code, _, err = run_cli([*common, "--json", tmp_path / "new.json", "--report", html], capsys)
    assert code == 1 and not (tmp_path / "new.json").exists()
    code, _, err = run_cli([*common, "--json", js, "--report", html, "--force"], capsys)
    assert code == 0, err
    assert read_json(js)["domains"]["time"]["dims"] and "<html" in html.read_text().lower()


def test_report_or_json_naming_a_folder_is_an_error_naming_the_option(files, tmp_path, capsys):
    d, _, _ = files
    common = ["explain", d / "net.ts", d / "x.npy", "--target", 0, "--quiet", "--force"]
    for option in ("--report", "--json"):
        code, _, err = run_cli([*common, option, tmp_path], capsys)
        assert code == 1 and f"{option} {tmp_path} is a folder" in err, err


def test_demo_refuses_a_file_as_out_and_existing_outputs_without_force(tmp_path, capsys):
    pytest.importorskip("cdig.demo")
    afile = tmp_path / "a.txt"
    afile.write_text("keep")
    code, _, err = run_cli(["demo", "--out", afile, "--quiet"], capsys)
    assert code == 1 and f"--out {afile} is a file" in err and afile.read_text() == "keep"
    (tmp_path / "demo.png").write_bytes(b"old figure")
    code, _, err = run_cli(["demo", "--out", tmp_path, "--quiet"], capsys)
    assert code == 1 and "demo.png" in err and "--force" in err
    assert (tmp_path / "demo.png").read_bytes() == b"old figure"


def test_baseline_file_errors_name_the_option_and_the_file(files, capsys):
    d, _, _ = files
    code, _, err = run_cli(["explain", d / "net.ts", d / "x.npy", "--target", 0,
                        "--baselines", d / "objects.npy"], capsys)  # fmt: skip
    assert code == 1
    assert f"--baselines {d / 'objects.npy'}" in err and "INPUT" not in err


def test_keras_safe_mode_refusal_is_explained(tmp_path):
    keras = pytest.importorskip("keras")
    inp = keras.Input((T, 1))
    lam = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp))
    lam.save(tmp_path / "lam.keras")
    with pytest.raises(CLIError) as err:
        load_model(tmp_path / "lam.keras")
    text = str(err.value)
    assert "safe mode" in text and "Lambda" in text and "never" in text
    assert "cdig.explain" in text and "register_keras_serializable" in text


def test_legacy_h5_lambda_is_refused_without_running_it(tmp_path):
    keras = pytest.importorskip("keras")
    marker = tmp_path / "marker"
    # a lambda's bytecode is stored in .h5 files; running it would create the marker
    fn = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t * 2.0)[1]")
    inp = keras.Input((T, 1))
    keras.Model(inp, keras.layers.Lambda(fn)(inp)).save(tmp_path / "lam.h5")
    marker.unlink()  # building the model ran it once, here, on purpose
    with pytest.raises(CLIError, match="refused by Keras safe mode: it holds a Lambda layer"):
        load_model(tmp_path / "lam.h5")
    assert not marker.exists()


def test_npz_with_object_arrays_is_refused(files, tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CLIError, match=r"obj\.npz holds Python objects.*without unpickling"):
        load_input(path)


def test_demo_runs_twice_in_a_row_and_keeps_files_it_did_not_write(tmp_path, capsys):
    # issue 27: `make demo` twice in a row must succeed; a user's file is never overwritten
    pytest.importorskip("cdig.demo")
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert run_cli(["demo", "--out", out, "--quiet"], capsys)[0] == 0
    first = (out / "demo.png").read_bytes()
    code, _, err = run_cli(["demo", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    assert (out / "demo.png").read_bytes()[:8] == first[:8]
    (out / "report.html").write_text("my notes")  # the user replaced it: not the demo's now
    code, _, err = run_cli(["demo", "--out", out, "--quiet"], capsys)
    assert code == 1 and "report.html" in err and "--force" in err and "demo.png" not in err
    assert (out / "report.html").read_text() == "my notes"


@pytest.mark.parametrize("command", ["explain", "demo"])
def test_help_states_each_default_once(command, capsys):
    # issue 27: `cdig explain --help` printed "(default 512) (default: 512)"
    assert main([command, "--help"]) == 0  # main() turns argparse's exit into a code
    text = capsys.readouterr().out
    options = text[text.index("options:") :]
    blocks = re.split(r"\n  (?=-)", options)[1:]  # one block per option
    assert len(blocks) > 3
    for block in blocks:
        flat = " ".join(block.split())
        assert len(re.findall(r"\(default[: ]", flat)) <= 1, flat
    flat = " ".join(options.split())
    assert ("(default 512)" in flat and "(default: 512)" not in flat) or command == "demo"


# ---------------------------------------------------------------------- --json files
def test_cli_json_is_the_attribution_dict(tmp_path, smooth_cnn, series):
    import torch

    from cdig.cli import main

    torch.jit.save(torch.jit.script(smooth_cnn), tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", series)
    args = ["explain", str(tmp_path / "m.pt"), str(tmp_path / "x.npy"), "--fs", "32",
            "--target", "2", "--n-steps", "8", "--domain", "fourier", "--domain", "cepstrum",
            "--json", str(tmp_path / "o.json"), "--quiet", "--trust-model-file"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    with pytest.warns(cdig.CompletenessWarning, match=r"\(cepstrum\)"):  # 8 steps are few
        ref = cdig.explain(
            smooth_cnn, series, ["fourier", "cepstrum"], target=2, fs=32.0, n_steps=8
        )
    assert list(doc["domains"]) == ["fourier", "cepstrum"]
    for name, attr in ref.items():
        back = cdig.Attribution.from_dict(doc["domains"][name])
        same_result(back, attr)
        assert doc["domains"][name]["domain"] == type(attr.domain).__name__


# ---------------------------------------------------------------------- options out of range
@pytest.fixture(scope="module")
def linear_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("raw")
    net = linear_net()
    torch.jit.script(net).save(str(d / "net64.ts"))
    torch.jit.script(linear_net().float()).save(str(d / "net32.ts"))
    np.save(d / "x64.npy", short_series().numpy())
    np.save(d / "x32.npy", short_series(torch.float32).numpy())
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
def test_command_line_options_out_of_range(linear_files, args, match, capsys):
    argv = [
        "explain",
        str(linear_files / args[0]),
        str(linear_files / args[1]),
        "--target",
        "0",
        *args[2:],
    ]
    try:
        code = main([*argv, "--quiet", "--trust-model-file"])
    except CLIError as err:
        message = str(err)
    else:
        assert code != 0
        message = capsys.readouterr().err
    assert __import__("re").search(match, message), message
