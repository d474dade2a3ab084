"""Run folders and array files that lie: links, other versions, missing digests, manifests and
headers declaring more than they hold. Each is refused with a clear error before anything big is
allocated, and nothing outside the run folder is touched."""

from __future__ import annotations

import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import cdig
from cdig._io import read_series
from cdig._npy import read_npy
from cdig.runs import CorruptShardError

N, C, T = 6, 1, 16
KW = dict(domain="time", shard_size=4, n_steps=4, progress=False, target=0)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * T, 2)).double()


def _x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, C, T))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    cdig.explain_dataset(_model(), _x(), out=out, **KW)
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _edit(root: Path, **changes) -> None:
    path = root / "manifest.json"
    m = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            m.pop(key, None)
        else:
            m[key] = value
    path.write_text(json.dumps(m))


class _Peak:
    def __enter__(self):
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        self.mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return False


# ---------------------------------------------------------------------- the lock
@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX links")
def test_a_linked_lock_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("do not truncate me\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    with pytest.raises(ValueError, match=r"\.lock' is a symbolic link.*Remove the link"):
        cdig.explain_dataset(_model(), _x(), out=out, **KW)
    assert victim.read_text() == "do not truncate me\n"


# ---------------------------------------------------------------------- versions, digests
def test_a_run_of_another_version_is_refused_not_rewritten(tmp_path, finished):
    out = _copy(finished, tmp_path / "old")
    _edit(out, cdig_version="0.0.1")
    before = (out / "manifest.json").read_text()
    with pytest.raises(ValueError, match=r"written by cdig 0\.0\.1; this is cdig .*open_run"):
        cdig.explain_dataset(_model(), _x(), out=out, **KW)
    assert (out / "manifest.json").read_text() == before
    assert cdig.open_run(out).n_samples == N  # reading it still works


def test_shard_digests_are_required(tmp_path, finished):
    out = _copy(finished, tmp_path / "nodigest")
    _edit(out, shards=None)
    with pytest.raises(ValueError, match="'shards' must record the SHA-256"):
        cdig.open_run(out)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"shard_size": 0}, "shard_size=0 must be a positive integer"),
        ({"shard_size": "4"}, "shard_size='4' must be a positive integer"),
        ({"n_samples": None}, "n_samples=None must be a non-negative integer"),
        ({"settings": None}, "'settings' is missing"),
        ({"fingerprint": None}, "'fingerprint' is missing"),
        ({"n_samples": 10**9}, "n_shards=2 does not match 1000000000 samples"),
        ({"complete": "yes"}, "complete='yes' must be true or false"),
        ({"columns": "outputs"}, "'columns' must be a list of strings"),
    ],
)
def test_damaged_manifests_are_refused_by_name(tmp_path, finished, changes, match):
    out = _copy(finished, tmp_path / "bad")
    _edit(out, **changes)
    with pytest.raises(ValueError, match=match):
        cdig.open_run(out)


def test_a_declared_billion_samples_allocates_nothing(tmp_path, finished):
    out = _copy(finished, tmp_path / "huge")
    m = json.loads((out / "manifest.json").read_text())
    m.update(n_samples=10**9, shard_size=10**9, n_shards=1)
    m["shards"] = {"000000": m["shards"]["000000"]}
    (out / "manifest.json").write_text(json.dumps(m))
    with _Peak() as peak, pytest.raises(CorruptShardError, match="holds 4 samples"):
        cdig.open_run(out).open("time")[:3]
    assert peak.mib < 20


def test_a_sub_array_coordinate_dtype_in_a_manifest_is_refused(tmp_path, finished):
    out = _copy(finished, tmp_path / "coord")
    m = json.loads((out / "manifest.json").read_text())
    m["domains"]["time"]["coords"]["time"] = {"dtype": "(50000000,)f8", "shape": [1], "values": [0]}
    (out / "manifest.json").write_text(json.dumps(m))
    with _Peak() as peak, pytest.raises(ValueError, match="sub-arrays"):
        cdig.open_run(out)
    assert peak.mib < 20


# ---------------------------------------------------------------------- array files
def test_an_npy_header_declaring_1e15_elements_is_refused(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (10**15,)}
        )
        fh.write(np.zeros(4).tobytes())
    with _Peak() as peak, pytest.raises(ValueError, match="declares an array of shape"):
        read_series(path, name="INPUT")
    assert peak.mib < 20


def test_an_npz_zip_bomb_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.npz"
    n = 100 * 2**20 // 8  # 100 MiB of zeros: about 100 KB compressed
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f8", "fortran_order": False, "shape": (n,)}
            )
            block = bytes(2**20)
            for _ in range(100):
                fh.write(block)
    assert path.stat().st_size < 2 * 2**20
    with _Peak() as peak, pytest.raises(ValueError, match="zip bomb"):
        read_series(path, name="INPUT")
    assert peak.mib < 20


def test_a_corrupt_npz_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((2, 1, 8)))
    raw = bytearray(path.read_bytes())
    path.write_bytes(bytes(raw[: len(raw) // 2]))  # cut: no central directory
    with pytest.raises(ValueError, match=r"INPUT .*bad\.npz is not a readable \.npz"):
        read_series(path, name="INPUT")


def test_big_endian_arrays_are_read_in_native_order(tmp_path):
    x = np.random.default_rng(0).normal(size=(N, C, T))
    np.save(tmp_path / "be.npy", x.astype(">f8"))
    np.savez(tmp_path / "be.npz", x=x.astype(">f4"))
    a = read_series(tmp_path / "be.npy")
    assert a.dtype.isnative and a.dtype == np.float64
    np.testing.assert_array_equal(a, x)
    b = read_series(tmp_path / "be.npz")
    assert b.dtype.isnative and b.dtype == np.float32
    np.testing.assert_array_equal(b, x.astype(np.float32))
    torch.from_numpy(a)  # torch takes it
    # a dataset streamed from a big-endian .npy (memory-mapped) is explained as the array is
    run = cdig.explain_dataset(_model(), str(tmp_path / "be.npy"), out=tmp_path / "r", **KW)
    ref = cdig.explain_dataset(_model(), x, out=tmp_path / "ref", **KW)
    np.testing.assert_array_equal(run.open("time")[:], ref.open("time")[:])


def test_object_npy_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="cannot be read without unpickling"):
        read_npy(path)
    np.save(path, np.zeros(3, dtype=[("a", "<f8")]))
    with pytest.raises(ValueError, match="only plain numbers"):
        read_npy(path)
