"""Model files are programs: explicit trust, hostile files refused, a data-only way in.

Each hostile file is built here, in a temporary folder, and the test checks both the
refusal (its words) and that nothing happened (the file an operator or a ``__setstate__``
would write is untouched, the marker an unpickled object would create does not exist).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Tuple  # noqa: UP035 (TorchScript reads the annotation)

import numpy as np
import pytest
import torch

import cdig
from cdig.cli import main
from cdig.models import UntrustedModelError, load, load_weights

T = 16


class Small(torch.nn.Module):
    """A conv net of a known architecture (the MODULE:FACTORY tests import it by name)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 2, 3, padding=1)
        self.head = torch.nn.Linear(2 * T, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x)).flatten(1))


def build() -> Small:
    """The factory the MODULE:FACTORY tests name (``tests.test_model_trust:build``)."""
    return Small()


class _OpenOnUnpickle:
    """Unpickling this creates ``marker`` (a stand-in for any code an attacker runs)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _WritesOnLoad(torch.nn.Module):
    """TorchScript whose ``__setstate__`` overwrites a file (it runs inside torch.jit.load)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.w = torch.ones(T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).sum(-1).flatten(1)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, torch.Tensor, bool]:  # noqa: UP006
        return (self.path, self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, torch.Tensor, bool]) -> None:  # noqa: UP006
        self.path = state[0]
        self.training = state[2]
        t = torch.from_file(state[0], shared=True, size=4, dtype=torch.uint8)
        t.fill_(65)
        self.w = state[1] + t[:0].sum()


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    net = Small().eval()
    x = torch.randn(3, 1, T)
    return net, x


@pytest.fixture(scope="module")
def saved(tmp_path_factory, trained):
    net, x = trained
    d = tmp_path_factory.mktemp("trust")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(net), str(d / "net.ts"))
    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(net, (x,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(d / "dyn.pt2"))
    torch.save(net, d / "pickled.pt")
    return d


def _rewrite(src: Path, dst: Path, edit) -> None:
    """Copy the zip ``src`` to ``dst`` through ``edit(rel_name, data) -> bytes``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            rel = info.filename.split("/", 1)[1]
            zout.writestr(info, edit(rel, zin.read(info.filename)))


def _program_edit(fn):
    def edit(rel, data):
        return json.dumps(fn(json.loads(data))).encode() if rel == "models/model.json" else data

    return edit


# ---------------------------------------------------------------------- trust is explicit
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("net.ts", "a TorchScript archive"),
        ("dyn.pt2", "a torch.export program"),
        ("pickled.pt", "a pickle written by torch.save"),
    ],
)
def test_code_carrying_files_need_trust_and_the_message_says_what_to_use(saved, name, kind):
    with pytest.raises(UntrustedModelError) as err:
        load(saved / name)
    text = str(err.value)
    assert kind in text and "a program, not data" in text
    assert "--trust-model-file" in text and "trust=True" in text
    assert "ONNX" in text and "MODULE:FACTORY" in text


def test_trusted_files_load_and_compute_the_models_numbers(saved, trained):
    net, x = trained
    with torch.no_grad():
        want = net(x)
        for name in ("net.ts", "dyn.pt2", "pickled.pt"):
            got = load(saved / name, trust=True)(x)
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_a_pickle_runs_nothing_without_trust(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"w": torch.ones(2), "evil": _OpenOnUnpickle(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UntrustedModelError, match="Unpickling runs whatever code"):
        load(tmp_path / "evil.pt")
    assert not marker.exists()
    # nor as weights: read weights-only, the object is refused, not called
    with pytest.raises(ValueError, match="weights-only state dict"):
        load_weights(tmp_path / "evil.pt")
    assert not marker.exists()


def test_torchscript_setstate_runs_at_load_only_with_trust(tmp_path):
    target = tmp_path / "target.txt"
    target.write_bytes(b"keep")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(_WritesOnLoad(str(target))), str(tmp_path / "evil.ts"))
    target.write_bytes(b"keep")
    with pytest.raises(UntrustedModelError, match="__setstate__ methods run inside"):
        load(tmp_path / "evil.ts")
    assert target.read_bytes() == b"keep"
    code = main(["explain", str(tmp_path / "evil.ts"), str(tmp_path / "x.npy"), "--quiet"])
    assert code == 1 and target.read_bytes() == b"keep"
    # what the docs say trust means: the file's code runs, at load already
    load(tmp_path / "evil.ts", trust=True)
    assert target.read_bytes() == b"AAAA"


def test_the_cli_refuses_programs_without_the_flag(saved, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, T), np.float32))
    code = main(["explain", str(saved / "net.ts"), str(tmp_path / "x.npy"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "--trust-model-file" in err and "a program, not data" in err
    code = main(["explain", str(saved / "net.ts"), str(tmp_path / "x.npy"), "--quiet",
                 "--target", "0", "--domain", "time", "--trust-model-file"])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_trust_must_be_a_bool(saved):
    with pytest.raises(TypeError, match="trust must be True or False"):
        load(saved / "net.ts", trust="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- .pt2 vetting, trusted
def _first_node(doc):
    return doc["graph_module"]["graph"]["nodes"][0]


def _set_target(target):
    def fn(doc):
        _first_node(doc)["target"] = target
        return doc

    return fn


def _as_operator(doc):
    _first_node(doc)["inputs"].append(
        {"name": "fn", "arg": {"as_operator": "torch.os.system"}, "kind": 1}
    )
    return doc


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set_target("torch.ops.aten.from_file.default"), "reads or writes files"),
        (_set_target("torch.ops.aten.save.default"), "reads or writes files"),
        (_set_target("torch.ops.profiler._record_function_enter.default"), "namespace"),
        (_as_operator, "'torch.os.system', which is not a torch operator"),
    ],
    ids=["from_file", "save", "foreign-namespace", "as_operator"],
)
def test_a_trusted_pt2_is_still_vetted_for_file_touching_operators(saved, tmp_path, edit, message):
    target = tmp_path / "target.txt"
    target.write_bytes(b"keep")
    evil = tmp_path / "evil.pt2"
    _rewrite(saved / "dyn.pt2", evil, _program_edit(edit))
    with pytest.raises(ValueError, match="is refused: ") as err:
        load(evil, trust=True)
    assert message in str(err.value)
    assert target.read_bytes() == b"keep"


def test_a_shape_expression_bomb_is_refused_fast(saved, tmp_path):
    def bomb(rel, data):
        if rel != "models/model.json":
            return data
        text = data.decode()
        assert "Symbol('s" in text
        return text.replace('"expr_str": "', '"expr_str": "s77 + 9**9**9**9 + ', 1).encode()

    evil = tmp_path / "bomb.pt2"
    _rewrite(saved / "dyn.pt2", evil, bomb)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="bounded sympy arithmetic"):
        load(evil, trust=True)
    assert time.perf_counter() - start < 5.0


def test_declared_tensor_sizes_are_checked_against_the_bytes(saved, tmp_path):
    def huge(rel, data):
        if rel == "data/weights/model_weights_config.json":
            cfg = json.loads(data)
            meta = next(iter(cfg["config"].values()))["tensor_meta"]
            meta["sizes"] = [{"as_int": 1 << 16}, {"as_int": 1 << 15}]  # 8 GiB of float32
            meta["strides"] = [{"as_int": 1 << 15}, {"as_int": 1}]
            return json.dumps(cfg).encode()
        return data

    evil = tmp_path / "huge.pt2"
    _rewrite(saved / "dyn.pt2", evil, huge)
    with pytest.raises(ValueError, match="declares 8589934592 bytes, but the file holds"):
        load(evil, trust=True)

    def emptied(rel, data):  # torch.zeros(declared size) for an empty file
        return b"" if rel == "data/weights/weight_0" else data

    _rewrite(saved / "dyn.pt2", evil, emptied)
    with pytest.raises(ValueError, match="merely declares"):
        load(evil, trust=True)


def _with_zip_bomb(archive, evil):
    """A copy of the zip ``archive`` at ``evil`` with a 48 MiB run of zeros under extra/,
    deflated to a few KB."""
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(evil, "w") as zout:
        root = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        info = zipfile.ZipInfo(f"{root}/extra/bomb")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(info, "w", force_zip64=True) as fh:
            for _ in range(48):
                fh.write(b"\0" * (1 << 20))


def test_a_zip_bomb_in_a_pt2_is_refused_before_reading(saved, tmp_path):
    evil = tmp_path / "bomb.pt2"
    _with_zip_bomb(saved / "dyn.pt2", evil)
    assert evil.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="compression bomb"):
        load(evil, trust=True)


def test_a_padded_keras_config_is_refused_before_keras_reads_it(tmp_path):
    evil = tmp_path / "padded.keras"
    with zipfile.ZipFile(evil, "w", zipfile.ZIP_DEFLATED) as zout:
        zout.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        with zout.open("config.json", "w", force_zip64=True) as fh:
            fh.write(b'{"class_name": "Sequential", "config": {}}')
            for _ in range(48):
                fh.write(b" " * (1 << 20))
    with pytest.raises(ValueError, match=r"'config\.json' declares \d+ bytes .* compression bomb"):
        load(evil)


def test_keras_stays_in_safe_mode_with_trust(tmp_path):
    keras = pytest.importorskip("keras")
    inp = keras.Input((T, 1))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp)).save(tmp_path / "lam.keras")
    with pytest.raises(ValueError, match="refused by Keras safe mode"):
        load(tmp_path / "lam.keras", trust=True)


# ---------------------------------------------------------------------- MODULE:FACTORY + weights
@pytest.fixture
def weights(tmp_path, trained):
    from safetensors.torch import save_file

    net, _ = trained
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pt")
    return tmp_path


SPEC = "tests.test_model_trust:build"


@pytest.mark.parametrize("file", ["w.safetensors", "w.pt"])
def test_factory_plus_weights_is_the_model(weights, trained, file):
    net, x = trained
    adapter = load(SPEC, weights=weights / file)
    with torch.no_grad():
        torch.testing.assert_close(adapter(x), net(x), rtol=0, atol=0)
    xg = x.clone().requires_grad_(True)
    adapter(xg)[:, 0].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_factory_errors_name_what_is_wrong(weights, tmp_path):
    with pytest.raises(ValueError, match="cannot be imported"):
        load("no_such_pkg_xyz.nets:build", weights=weights / "w.pt")
    with pytest.raises(ValueError, match="has no attribute 'nothing'"):
        load("tests.test_model_trust:nothing", weights=weights / "w.pt")
    torch.save({"conv.weight": torch.zeros(2, 1, 3), "extra": torch.zeros(1)}, tmp_path / "b.pt")
    with pytest.raises(ValueError, match=r"missing: conv\.bias.*unexpected: extra"):
        load(SPEC, weights=tmp_path / "b.pt")
    with pytest.raises(ValueError, match="is not MODULE:FACTORY"):
        load("not a spec", weights=weights / "w.pt")
    with pytest.raises(ValueError, match="holds weights only"):
        load(weights / "w.safetensors")


def test_weights_of_the_wrong_shape_are_refused(tmp_path):
    state = {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in Small().state_dict().items()}
    torch.save(state, tmp_path / "w.pt")
    wrong = r"do not fit the architecture: size mismatch of conv\.weight \(3, 1, 3\)"
    with pytest.raises(ValueError, match=wrong):
        load(SPEC, weights=tmp_path / "w.pt")


def test_a_zip_bomb_in_a_trusted_torchscript_file_is_refused(saved, tmp_path):
    evil = tmp_path / "bomb.ts"
    _with_zip_bomb(saved / "net.ts", evil)
    with pytest.raises(ValueError, match="compression bomb"):
        load(evil, trust=True)


def test_a_safetensors_header_declaring_more_than_the_file_is_refused(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 10],
                               "data_offsets": [0, 1 << 32]}}).encode()  # fmt: skip
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 16)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load(SPEC, weights=bad)
    bad.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="header declares"):
        load(SPEC, weights=bad)


def test_the_cli_takes_module_factory_and_weights_without_trust(weights, trained, capsys):
    net, x = trained
    np.save(weights / "x.npy", x.numpy())
    js = weights / "r.json"
    common = ["explain", SPEC, str(weights / "x.npy"), "--target", "0", "--quiet"]
    code = main([*common, "--weights", str(weights / "w.safetensors"), "--domain", "time",
                 "--json", str(js)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    whole = json.loads(js.read_text())
    assert whole["settings"]["model"] == f"{SPEC} (weights {weights / 'w.safetensors'})"
    doc = whole["domains"]["time"]
    want = cdig.explain(net, x, "time", target=0)
    np.testing.assert_allclose(np.asarray(doc["values"]), want.values, rtol=1e-5, atol=1e-7)
    # --weights is never overwritten by --json
    code = main([*common, "--weights", str(weights / "w.pt"), "--json", str(weights / "w.pt"),
                 "--force"])  # fmt: skip
    assert code == 1 and "--weights" in capsys.readouterr().err


def test_import_cdig_loads_no_onnx():
    import subprocess

    code = "import cdig, sys; print('onnx' in sys.modules, 'safetensors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------------- the limits themselves
def test_zip_limits_ratio_total_and_members(tmp_path, monkeypatch):
    from cdig.models import _archive

    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps({"layers": list(range(2000))}))
        zf.writestr("w.bin", np.random.default_rng(0).normal(size=4096).tobytes())
        zf.writestr("small.txt", b" " * 100_000)  # very regular, but under the 1 MiB slack
    with zipfile.ZipFile(ok) as zf:
        assert len(_archive.check_zip(zf, ok)) == 3
        # the same archive under tighter limits: each rule refuses on its own
        monkeypatch.setattr(_archive, "MAX_MEMBERS", 2)
        with pytest.raises(_archive.UnsafeArchiveError, match="3 members, more than the 2"):
            _archive.check_zip(zf, ok)
        monkeypatch.setattr(_archive, "MAX_MEMBERS", 100)
        monkeypatch.setattr(_archive, "SLACK", 0)
        with pytest.raises(_archive.UnsafeArchiveError, match=r"'small\.txt' declares 100000"):
            _archive.check_zip(zf, ok)
        monkeypatch.setattr(_archive, "SLACK", 1 << 20)
        monkeypatch.setattr(_archive, "TOTAL_SLACK", 0)
        monkeypatch.setattr(_archive, "MAX_RATIO", 3)
        with pytest.raises(_archive.UnsafeArchiveError, match="bytes in all from a file of"):
            _archive.check_zip(zf, ok)


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("Symbol('s0', positive=True, integer=True)", True),
        ("s0**2 + 3*s1 - 1", True),
        ("Pow(Symbol('s0'), Integer(2))", True),
        ("Mod(s0, 4) + FloorDiv(s1, 2)", True),
        ("s77 + 9**9**9**9", False),
        ("2**s0", False),
        ("Pow(Integer(9), Integer(99999))", False),
        ("s0 << 100000", False),
        ("s0 + " + "1" * 20, False),
        (" + ".join(["s0"] * 1500), False),
        ("__import__('os')", False),
    ],
)
def test_shape_expressions_are_bounded(expr, ok):
    from cdig.models import _pt2

    if ok:
        _pt2._check_expr(Path("m.pt2"), "models/model.json", expr)
    else:
        with pytest.raises(_pt2.UnsafePt2Error):
            _pt2._check_expr(Path("m.pt2"), "models/model.json", expr)


def test_guards_are_bounded_like_shape_expressions():
    from cdig.models import _pt2

    assert _pt2._safe_guard("L['x'].size()[0] ** 2 <= 64")
    assert not _pt2._safe_guard("L['x'].size()[0] <= 9**9**9**9")
    assert not _pt2._safe_guard("2 ** L['x'].size()[0] <= 64")
    assert not _pt2._safe_guard("L['x'].size()[0] << 99999 > 0")


class _Zeros(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.zeros(2, T)


def test_a_pt2_operator_declaring_a_huge_tensor_is_refused(tmp_path):
    torch.export.save(torch.export.export(_Zeros(), (torch.ones(2, T),)), str(tmp_path / "z.pt2"))
    torch.testing.assert_close(load(tmp_path / "z.pt2", trust=True)(torch.ones(2, T)),
                               torch.ones(2, T))  # fmt: skip

    def huge(doc):
        node = next(n for n in doc["graph_module"]["graph"]["nodes"] if "zeros" in n["target"])
        node["inputs"][0]["arg"]["as_ints"] = [1 << 20, 1 << 20, 1 << 10]
        return doc

    _rewrite(tmp_path / "z.pt2", tmp_path / "huge.pt2", _program_edit(huge))
    with pytest.raises(ValueError, match=r"aten\.zeros\.default with the size .* above the limit"):
        load(tmp_path / "huge.pt2", trust=True)
