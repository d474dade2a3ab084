"""explain_dataset: streaming to disk, resuming, refusing mixed runs, global views, bad input."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import cdig
from cdig._settings import Settings
from cdig.runs import CorruptShardError, _store

from .conftest import SmoothCNN, linear_net

N, C, T, BS = 40, 1, 64, 12  # 4 shards: 12, 12, 12, 4 samples


def make_model(seed: int = 4) -> torch.nn.Module:
    """The shared smooth conv net of conftest for one-channel series, three classes.

    Seed 4 predicts two different classes on :func:`data_arrays` (27 and 13 samples).
    """
    return SmoothCNN(channels=C, n_out=3, seed=seed)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return make_model()


def data_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Seeded series with a class-dependent tone, and their classes."""
    rng = np.random.default_rng(1)
    t = np.arange(T) / 32.0
    x = rng.normal(size=(N, C, T)) * 0.5
    y = rng.integers(0, 3, N)
    x[:, 0] += np.sin(2 * np.pi * (2.0 + 3.0 * y[:, None]) * t)
    return x, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return data_arrays()


KW = dict(domain=["time", "fourier"], fs=32.0, shard_size=BS, n_steps=16, progress=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model, data) -> cdig.DatasetRun:
    """One uninterrupted run that the other tests compare against."""
    x, y = data
    out = tmp_path_factory.mktemp("ref") / "run"
    return cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)


def shard_files(root: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every .npy file of a run."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "shards").rglob("*.npy"))
    }


# ---------------------------------------------------------------------- results
def test_shards_equal_explain_on_each_batch(reference, model, data):
    x, _ = data
    assert reference.n_samples == N and reference.n_shards == 4
    for k in range(4):
        lo, hi = k * BS, min(N, (k + 1) * BS)
        direct = cdig.explain(
            model, x[lo:hi], ["time", "fourier"], target="predicted", fs=32.0, n_steps=16
        )
        for dom in ("time", "fourier"):
            np.testing.assert_array_equal(reference.open(dom)[lo:hi], direct[dom].values)
            np.testing.assert_array_equal(reference.delta(dom)[lo:hi], direct[dom].delta)
        np.testing.assert_array_equal(reference.outputs[lo:hi], direct["time"].outputs)
    # the explained class is the arg-max of the model output
    logits = model(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_array_equal(reference.targets, logits.argmax(1))
    np.testing.assert_array_equal(reference.predictions, logits.argmax(1))


def test_completeness_holds_for_every_stored_sample(reference):
    for dom in reference.domains:
        total = reference.open(dom)[:].reshape(N, -1).sum(axis=1)
        expected = reference.outputs - reference.baseline_outputs(dom) + reference.delta(dom)
        np.testing.assert_allclose(total, expected, rtol=1e-10, atol=1e-12)
        assert np.max(np.abs(reference.delta(dom))) < 1e-3 * np.max(np.abs(reference.outputs))


def test_linear_model_closed_form(tmp_path, data):
    """For f(x) = <w, x> with a zero baseline, time-domain IG is exactly x * w."""
    x, _ = data
    w = torch.linspace(-1, 1, C * T, dtype=torch.float64).reshape(1, C, T)

    def linear(z: torch.Tensor) -> torch.Tensor:
        return (z * w).sum(dim=(1, 2))

    run = cdig.explain_dataset(
        linear, x, "time", out=tmp_path / "lin", shard_size=BS, n_steps=4, progress=False
    )
    np.testing.assert_allclose(run.open("time")[:], x * w.numpy(), rtol=1e-12, atol=1e-14)
    assert run.targets is None and run.predictions is None


def test_every_kind_of_data_gives_the_same_shards(tmp_path, model, data, reference):
    x, y = data
    np.save(tmp_path / "x.npy", x)

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return N

        def __getitem__(self, i):
            return torch.as_tensor(x[i]), int(y[i])

    class Stream(torch.utils.data.IterableDataset):  # yields single samples
        def __iter__(self):
            return iter(zip(torch.as_tensor(x), torch.as_tensor(y)))

    def batches():  # uneven user batches are re-cut into shards of BS
        for lo, hi in [(0, 5), (5, 23), (23, 24), (24, N)]:
            yield x[lo:hi], y[lo:hi]

    kinds = {
        "npy": (str(tmp_path / "x.npy"), y),
        "tensor": (torch.as_tensor(x), torch.as_tensor(y)),
        "dataset": (DS(), None),
        "loader": (torch.utils.data.DataLoader(DS(), batch_size=7), None),
        "generator": (batches(), None),
        "iterable dataset": (Stream(), None),
    }
    want = shard_files(reference.path)
    for name, (d, lab) in kinds.items():
        run = cdig.explain_dataset(
            model, d, target="predicted", labels=lab, out=tmp_path / name, **KW
        )
        assert shard_files(run.path) == want, name
        assert run.manifest["fingerprint"] == reference.manifest["fingerprint"], name


def test_format_is_readable_without_cdig(reference):
    """Follow docs/datasets.md with json and numpy only."""
    root = reference.path
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format"] == "cdig.dataset-run" and manifest["complete"]
    parts, deltas = [], []
    for k in range(manifest["n_shards"]):
        folder = root / "shards" / f"{k:06d}"
        meta = json.loads((folder / "shard.json").read_text())
        assert (meta["start"], meta["stop"]) == (k * manifest["shard_size"], min(N, (k + 1) * BS))
        for name, info in meta["files"].items():
            raw = (folder / f"{name}.npy").read_bytes()
            assert hashlib.sha256(raw).hexdigest() == info["sha256"]
        parts.append(np.load(folder / "fourier.values.npy"))
        deltas.append(np.load(folder / "fourier.delta.npy"))
    dom = manifest["domains"]["fourier"]
    values = np.concatenate(parts)
    assert list(values.shape[1:]) == dom["shape"] and dom["dims"] == ["channel", "frequency"]
    freq = np.asarray(dom["coords"]["frequency"]["values"])
    np.testing.assert_array_equal(freq, np.fft.rfftfreq(T, 1 / 32.0))
    np.testing.assert_array_equal(values, reference.open("fourier")[:])
    np.testing.assert_array_equal(np.concatenate(deltas), reference.delta("fourier"))


# ---------------------------------------------------------------------- lazy reading
def test_lazy_array_indexing(reference):
    arr = reference.open("fourier")
    full = np.asarray(arr)
    assert arr.shape == full.shape == (N, C, T // 2 + 1) and len(arr) == N
    np.testing.assert_array_equal(arr[3], full[3])
    np.testing.assert_array_equal(arr[-1], full[-1])
    np.testing.assert_array_equal(arr[10:40:3], full[10:40:3])  # crosses shards
    np.testing.assert_array_equal(arr[[39, 0, 17]], full[[39, 0, 17]])
    mask = np.arange(N) % 7 == 0
    np.testing.assert_array_equal(arr[mask], full[mask])
    np.testing.assert_array_equal(arr[5:20, 0, 2], full[5:20, 0, 2])
    np.testing.assert_array_equal(arr[5, 0], full[5, 0])
    with pytest.raises(IndexError, match=f"sample {N} is out of range"):
        arr[N]
    attr = reference.attribution("fourier", slice(10, 20))
    np.testing.assert_array_equal(attr.values, full[10:20])
    bands = attr.bands({"low": (0, 4), "high": (4, 17)})
    np.testing.assert_allclose(bands.values.sum(axis=-1), full[10:20].sum(axis=-1))


# ---------------------------------------------------------------------- global views
def test_summary_matches_numpy_per_class(reference):
    full = reference.open("fourier")[:].astype(np.float64)
    s = reference.summary("fourier")  # auto: by the explained (predicted) class
    assert s.by == "target"
    cls = reference.targets
    np.testing.assert_array_equal(s.groups, np.unique(cls))
    for i, g in enumerate(s.groups):
        rows = full[cls == g]
        assert s.counts[i] == len(rows)
        np.testing.assert_allclose(s.mean[i], rows.mean(0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(s.mean_abs[i], np.abs(rows).mean(0), rtol=1e-12, atol=1e-15)
        if len(rows) > 1:
            np.testing.assert_allclose(s.std[i], rows.std(0, ddof=1), rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(
                s.sem[i], rows.std(0, ddof=1) / np.sqrt(len(rows)), rtol=1e-9
            )


def test_summary_groupings_keep_and_bands(reference, data):
    _, y = data
    full = reference.open("fourier")[:]
    by_label = reference.summary("fourier", by="label", keep="frequency")
    assert by_label.dims == ("frequency",) and by_label.by == "label"
    np.testing.assert_array_equal(by_label.groups, np.unique(y))
    totals = full.sum(axis=1)  # sum over channels per sample, then statistics
    for i, g in enumerate(by_label.groups):
        np.testing.assert_allclose(by_label.mean[i], totals[y == g].mean(0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(
            by_label.std[i], totals[y == g].std(0, ddof=1), rtol=1e-9, atol=1e-15
        )
    everything = reference.summary(
        "fourier", by=None, bands={"low": (0, 5), "high": (5, 17)}, keep="band"
    )
    assert everything.groups.tolist() == ["all"] and everything.counts.tolist() == [N]
    freq = np.fft.rfftfreq(T, 1 / 32.0)
    low = full[..., freq < 5].sum(axis=(1, 2))
    np.testing.assert_allclose(everything.mean[0, 0], low.mean(), rtol=1e-12)
    np.testing.assert_array_equal(everything.coords["band"], ["low", "high"])
    custom = reference.summary("fourier", by=np.arange(N) < 10)
    assert custom.counts.tolist() == [N - 10, 10]
    with pytest.raises(ValueError, match="one group key per sample"):
        reference.summary("fourier", by=np.zeros(3))
    with pytest.raises(ValueError, match="by='colour' is not understood"):
        reference.summary("fourier", by="colour")
    with pytest.raises(ValueError, match="dim='time' is not an axis"):
        reference.summary("fourier", keep="time")
    with pytest.raises(ValueError, match="domain='stft' is not in this run"):
        reference.summary("stft")


def test_plot_class_means(reference):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = reference.plot("fourier")
    ax = fig.axes[0]
    s = reference.summary("fourier", keep="frequency")
    assert len(s.groups) == 2 and len(ax.lines) == len(s.groups) + 1  # + the zero line
    np.testing.assert_allclose(ax.lines[0].get_ydata(), s.mean[0])
    assert ax.get_xlabel() == "frequency [Hz]"
    bars = reference.summary("fourier", bands={"low": (0, 5), "high": (5, 17)}, keep="band").plot(
        spread="sem"
    )
    assert len(bars.axes[0].patches) == 2 * len(s.groups)
    with pytest.raises(ValueError, match="one axis"):
        reference.summary("fourier").plot()
    mine, given = plt.subplots()  # ax=: drawn into the caller's axes, its figure returned
    assert reference.plot("fourier", ax=given) is mine
    np.testing.assert_allclose(given.lines[0].get_ydata(), s.mean[0])
    plt.close("all")


# ---------------------------------------------------------------------- resuming
_KILLED = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import cdig
    from tests.test_dataset import KW, data_arrays, make_model

    x, y = data_arrays()

    def slow():  # a slow data source: one batch every 0.4 s
        for lo in range(0, len(x), 10):
            time.sleep(0.4)
            yield x[lo:lo + 10], y[lo:lo + 10]

    cdig.explain_dataset(make_model(), slow(), target="predicted", out=sys.argv[1], **KW)
    """
)


def test_resume_after_kill_is_identical(tmp_path, model, data, reference):
    x, y = data
    out = tmp_path / "killed"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(Path(cdig.__file__).parents[1]), str(Path(__file__).parents[1])]
        ),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(out)], env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    try:
        while not (out / "shards" / "000000").is_dir():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no shard appeared within 60 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()  # waits, and closes the stderr pipe
    finished = sorted(p.name for p in (out / "shards").iterdir() if p.name.isdigit())
    assert 1 <= len(finished) < 4, finished  # really interrupted
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    with pytest.raises(ValueError, match="not finished"):
        cdig.open_run(out)
    run = cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    assert shard_files(out) == shard_files(reference.path)
    assert run.manifest["fingerprint"] == reference.manifest["fingerprint"]
    np.testing.assert_array_equal(run.labels, y)


def test_rerun_skips_finished_shards_and_cleans_leftovers(tmp_path, model, data, reference):
    x, y = data
    out = tmp_path / "partial"
    cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    stamp = (out / "shards" / "000000" / "time.values.npy").stat().st_mtime_ns
    shutil.rmtree(out / "shards" / "000002")
    leftover = out / "shards" / ".000002.tmp-deadbeef"
    leftover.mkdir()
    (leftover / "time.values.npy").write_bytes(b"half a file")
    calls = []
    wrapped = torch.nn.Linear.forward

    def counting(self, z):
        calls.append(len(z))
        return wrapped(self, z)

    # counted at the class of the model's head, one call per model call (torch's code, named
    # in the fingerprint, not read): an instance attribute `forward` or another forward of the
    # model's own class would be a change of the model, which the fingerprint refuses
    torch.nn.Linear.forward = counting
    try:
        cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    finally:
        torch.nn.Linear.forward = wrapped
    assert not leftover.exists()
    assert (out / "shards" / "000000" / "time.values.npy").stat().st_mtime_ns == stamp
    # killed after the last shard but before the manifest was updated: nothing to compute,
    # the layout comes back from the shards
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(domains=None, columns=None, complete=False)
    (out / "manifest.json").write_text(json.dumps(manifest))
    run = cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    assert run.manifest["domains"] == reference.manifest["domains"]
    np.testing.assert_array_equal(run.summary("fourier").mean, reference.summary("fourier").mean)
    # only shard 2 (BS of N samples) was recomputed: about BS * (16 steps + 3) evaluations
    assert BS * 16 <= sum(calls) <= BS * 24
    assert shard_files(out) == shard_files(reference.path)


# ---------------------------------------------------------------------- refusing to mix
def test_other_settings_model_or_data_are_refused(tmp_path, model, data):
    x, y = data
    out = tmp_path / "run"
    cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    before = shard_files(out)
    with pytest.raises(ValueError, match=r"different settings \(explain.n_steps: 16 -> 8\)"):
        cdig.explain_dataset(
            model, x, target="predicted", labels=y, out=out, **{**KW, "n_steps": 8}
        )
    with pytest.raises(ValueError, match=r"model\.sha256"):
        cdig.explain_dataset(make_model(seed=1), x, target="predicted", labels=y, out=out, **KW)
    with pytest.raises(ValueError, match=r"explain.target.kind: 'predicted' -> 'index'"):
        cdig.explain_dataset(model, x, target=0, labels=y, out=out, **KW)
    changed = x.copy()
    changed[20, 0, 5] += 1.0
    with pytest.raises(ValueError, match=r"samples 12..23 differ from the data shard 1"):
        cdig.explain_dataset(model, changed, target="predicted", labels=y, out=out, **KW)
    with pytest.raises(ValueError, match="holds a run over 40 samples; the data given now has 30"):
        cdig.explain_dataset(model, x[:30], target="predicted", labels=y[:30], out=out, **KW)
    assert shard_files(out) == before  # nothing lost or changed
    other = tmp_path / "notarun"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no cdig run"):
        cdig.explain_dataset(model, x, out=other, target=0, **KW)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]  # not even a lock file
    with pytest.raises(ValueError, match="is not a cdig dataset run"):
        cdig.open_run(other)


def test_corrupted_shard_is_reported_and_kept(tmp_path, model, data, reference):
    x, y = data
    out = tmp_path / "run"
    cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    bad = out / "shards" / "000001" / "fourier.values.npy"
    raw = bytearray(bad.read_bytes())
    raw[-3] ^= 0xFF
    bad.write_bytes(bytes(raw))
    before = shard_files(out)
    with pytest.raises(
        CorruptShardError,
        match=r"corrupted shard file .*000001/fourier.values.npy.*delete the folder",
    ):
        cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    assert shard_files(out) == before
    shutil.rmtree(out / "shards" / "000001")  # follow the advice
    (out / "shards" / "000003" / "shard.json").write_text("{not json")
    with pytest.raises(CorruptShardError, match=r"000003/shard.json"):
        cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    shutil.rmtree(out / "shards" / "000003")
    cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    assert shard_files(out) == shard_files(reference.path)


# ---------------------------------------------------------------------- bad input
def test_inconsistent_sample_shapes_name_the_samples(tmp_path, model, data):
    x, _ = data

    def batches():
        yield x[:20]
        yield x[20:30, :, :60]

    out = tmp_path / "run"
    with pytest.raises(
        ValueError,
        match=r"samples 20..29 have shape \(1, 60\), but earlier samples have shape \(1, 64\)",
    ):
        cdig.explain_dataset(model, batches(), target=0, out=out, **KW)
    assert (out / "shards" / "000000" / "shard.json").is_file()  # the first shard is kept

    class Ragged(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.zeros(1, 64 if i != 7 else 63)

    with pytest.raises(ValueError, match=r"sample 7 has shape \(1, 63\)"):
        cdig.explain_dataset(model, Ragged(), target=0, out=tmp_path / "ragged", **KW)
    nan = x.copy()
    nan[33, 0, 3] = np.nan
    with pytest.raises(ValueError, match="sample 33 contains NaN"):
        cdig.explain_dataset(model, nan, target=0, out=tmp_path / "nan", **KW)


def test_targets_the_model_cannot_serve(tmp_path, model, data):
    x, y = data

    def scalar(z):
        return model(z)[:, 0]

    with pytest.raises(
        ValueError,
        match=r"target='predicted' needs a model with outputs of shape \(batch, n_classes\)",
    ):
        cdig.explain_dataset(scalar, x, target="predicted", out=tmp_path / "a", **KW)
    bad = y.copy()
    bad[30] = 5
    with pytest.raises(ValueError, match=r"sample 30: class index 5 .* 3 outputs"):
        cdig.explain_dataset(model, x, target="label", labels=bad, out=tmp_path / "b", **KW)
    assert len(list((tmp_path / "b" / "shards").iterdir())) == 2  # shards before sample 30 kept
    with pytest.raises(ValueError, match="target='label' needs labels"):
        cdig.explain_dataset(model, x, target="label", out=tmp_path / "c", **KW)
    with pytest.raises(ValueError, match="target index 7 is out of range"):
        cdig.explain_dataset(model, x, target=7, out=tmp_path / "d", **KW)
    with pytest.raises(ValueError, match="one class index per sample"):
        cdig.explain_dataset(model, x, target=np.zeros(3, dtype=int), out=tmp_path / "e", **KW)
    with pytest.raises(ValueError, match="target='colour' is not understood"):
        cdig.explain_dataset(model, x, target="colour", out=tmp_path / "f", **KW)


def test_label_and_array_targets(tmp_path, model, data):
    x, y = data
    x, y = x[: BS + 3], y[: BS + 3]  # two shards
    run = cdig.explain_dataset(model, x, target="label", labels=y, out=tmp_path / "l", **KW)
    np.testing.assert_array_equal(run.targets, y)
    run2 = cdig.explain_dataset(model, x, target=y, out=tmp_path / "arr", **KW)
    np.testing.assert_array_equal(run2.open("fourier")[:], run.open("fourier")[:])
    direct = cdig.explain(model, x[:BS], "fourier", target=y[:BS], fs=32.0, n_steps=16)
    np.testing.assert_array_equal(run.open("fourier")[:BS], direct.values)


def test_read_only_location(tmp_path, model, data):
    x, _ = data
    if os.geteuid() != 0:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o555)
        out = parent / "run"
    elif Path("/sys/kernel").is_dir():
        out = Path("/sys/cdig-test-run")  # sysfs refuses new folders, even to root
    else:  # pragma: no cover
        pytest.skip("no read-only location available to this user")
    with pytest.raises(
        OSError, match=r"cannot create the run folder .*(permission denied|not permitted|read-only)"
    ):
        cdig.explain_dataset(model, x, target=0, out=out, **KW)


def test_resume_in_unwritable_location_keeps_results(tmp_path, model, data, monkeypatch):
    x, _ = data
    out = tmp_path / "run"
    cdig.explain_dataset(model, x, target=0, out=out, **KW)
    before = shard_files(out)

    def refuse(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(_store, "_write_bytes", refuse)
    with pytest.raises(
        PermissionError,
        match=r"cannot write to the run folder .* permission denied\. The results already there",
    ):
        cdig.explain_dataset(model, x, target=0, out=out, **KW)
    assert shard_files(out) == before


def test_full_disk_mid_run(tmp_path, model, data, monkeypatch, reference):
    x, y = data
    out = tmp_path / "run"
    real = _store._write_bytes

    def fill_up(path, blob):
        if ".000002.tmp-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, blob)

    monkeypatch.setattr(_store, "_write_bytes", fill_up)
    with pytest.raises(
        OSError,
        match=r"cannot write shard 2 \(samples 24..35\) .* disk is full\. Shards written before",
    ):
        cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    names = sorted(p.name for p in (out / "shards").iterdir())
    assert names == ["000000", "000001"]  # no temporary folder left behind
    monkeypatch.setattr(_store, "_write_bytes", real)
    cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    assert shard_files(out) == shard_files(reference.path)


def test_bad_arguments(tmp_path, model, data):
    x, y = data
    o = tmp_path / "o"
    with pytest.raises(ValueError, match="shard_size=0 must be a positive integer"):
        cdig.explain_dataset(model, x, target=0, out=o, shard_size=0)
    with pytest.raises(ValueError, match="engine='spark' must be 'local' or 'ray'"):
        cdig.explain_dataset(model, x, target=0, out=o, engine="spark")
    with pytest.raises(ValueError, match="workers=0"):
        cdig.explain_dataset(model, x, target=0, out=o, engine="ray", workers=0)
    with pytest.raises(ValueError, match="domain label 'a/b' cannot name files"):
        cdig.explain_dataset(model, x, {"a/b": "time"}, target=0, out=o)
    with pytest.raises(ValueError, match=r"baselines has shape \(3, 5\)"):
        cdig.explain_dataset(model, x, target=0, out=o, baselines=np.zeros((3, 5)))
    with pytest.raises(
        ValueError, match=r"labels has shape \(3,\); give one label per sample \(40"
    ):
        cdig.explain_dataset(model, x, target=0, out=o, labels=y[:3])
    with pytest.raises(ValueError, match="shuffle=True"):
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.as_tensor(x)), shuffle=True
        )
        cdig.explain_dataset(model, loader, target=0, out=o)
    with pytest.raises(ValueError, match="inputs holds no samples"):
        cdig.explain_dataset(model, iter([]), target=0, out=o)
    with pytest.raises(ValueError, match=r"inputs has shape \(64,\)"):
        cdig.explain_dataset(model, x[0, 0], target=0, out=o)
    with pytest.raises(TypeError, match="inputs of type int is not supported"):
        cdig.explain_dataset(model, 5, target=0, out=o)
    with pytest.raises(ValueError, match="time_axis=2 is not valid for 2-d inputs"):
        cdig.explain_dataset(model, x[:, 0], target=0, out=o, time_axis=2)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module or a callable"):
        cdig.explain_dataset("resnet", x, target=0, out=o)
    with pytest.raises(ValueError, match="n_steps=0"):
        cdig.explain_dataset(model, x, target=0, out=o, n_steps=0)
    assert not o.exists()  # nothing was created for invalid calls


def test_baselines_are_used(tmp_path, model, data):
    x = data[0][:BS]
    base = np.full((C, T), 0.25)
    run = cdig.explain_dataset(model, x, target=0, baselines=base, out=tmp_path / "b", **KW)
    direct = cdig.explain(
        model, x[:BS], ["time", "fourier"], target=0, baselines=base, fs=32.0, n_steps=16
    )
    np.testing.assert_array_equal(run.open("time")[:BS], direct["time"].values)
    stacked = np.stack([np.zeros((C, T)), base])
    run2 = cdig.explain_dataset(model, x, target=0, baselines=stacked, out=tmp_path / "s", **KW)
    direct2 = cdig.explain(
        model, x[:BS], "time", target=0, baselines=stacked[:, None], fs=32.0, n_steps=16
    )
    np.testing.assert_array_equal(run2.open("time")[:BS], direct2.values)


def test_progress_bar_on_and_off(tmp_path, model, data, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    x, _ = data
    cdig.explain_dataset(
        model,
        x[:20],
        "time",
        target=0,
        out=tmp_path / "q",
        shard_size=BS,
        n_steps=8,
        progress=False,
    )
    assert capsys.readouterr().err == ""
    # not a terminal (capsys): one plain line at the end, no bar redrawn line by line
    cdig.explain_dataset(
        model, x[:20], "time", target=0, out=tmp_path / "log", shard_size=BS, n_steps=8
    )
    err = capsys.readouterr().err
    assert "20/20 samples" in err and "\r" not in err and len(err.splitlines()) == 1
    monkeypatch.setattr("cdig._progress._terminal", lambda: True)  # a terminal: tqdm's bar
    cdig.explain_dataset(
        model, x[:20], "time", target=0, out=tmp_path / "loud", shard_size=BS, n_steps=8
    )
    err = capsys.readouterr().err
    assert "20/20" in err and "sample/s" in err


def test_completeness_warning_names_samples_once(tmp_path, model, data):
    x, _ = data
    with pytest.warns(
        cdig.CompletenessWarning,
        match=r"completeness error above rtol=0.01 .* for \d+ of 40 samples \(time: \d+\)",
    ) as rec:
        cdig.explain_dataset(
            model,
            x * 4,
            "time",
            target=0,
            out=tmp_path / "w",
            shard_size=BS,
            n_steps=1,
            method="riemann_left",
            progress=False,
        )
    ours = [w for w in rec if issubclass(w.category, cdig.CompletenessWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__
    run = cdig.open_run(tmp_path / "w")
    assert ours[0].message.samples == run.unconverged("time").tolist()


def test_adaptive_runs_store_error_convergence_and_evaluations(tmp_path, model, data):
    x, _ = data
    with pytest.warns(cdig.ConvergenceWarning, match=r"max_steps=21 .* of 40 samples") as rec:
        run = cdig.explain_dataset(
            model, x * 4, ["time", "fourier"], target=0, out=tmp_path / "a", shard_size=BS,
            rtol=1e-9, max_steps=21, progress=False,
        )  # fmt: skip
    assert len([w for w in rec if issubclass(w.category, cdig.ConvergenceWarning)]) == 1
    with pytest.warns(cdig.ConvergenceWarning, match="max_steps=21"):
        direct = cdig.explain(model, x * 4, ["time", "fourier"], target=0, rtol=1e-9, max_steps=21)
    for label in ("time", "fourier"):
        attr = run.attribution(label)
        np.testing.assert_allclose(attr.error, direct[label].error, rtol=1e-6)
        np.testing.assert_array_equal(attr.converged, direct[label].converged)
        np.testing.assert_array_equal(attr.n_evaluations, direct[label].n_evaluations)
        assert (run.n_evaluations(label) <= 21).all()
        assert run.unconverged(label).tolist() == np.flatnonzero(~attr.converged).tolist()


def test_ray_engine_without_ray_says_how_to_install(tmp_path, model, data, monkeypatch):
    x, _ = data
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r"pip install cdig\[ray\]"):
        cdig.explain_dataset(model, x, target=0, out=tmp_path / "r", engine="ray", **KW)
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------- one writer, one model
_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import cdig
    from tests.test_dataset import KW, data_arrays, make_model

    x, y = data_arrays()

    def slow():  # a slow data source: one batch every 3 s
        for lo in range(0, len(x), 10):
            time.sleep(3.0)
            yield x[lo:lo + 10], y[lo:lo + 10]

    cdig.explain_dataset(make_model(), slow(), target="predicted", out=sys.argv[1], **KW)
    """
)


def _subprocess_env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(Path(cdig.__file__).parents[1]), str(Path(__file__).parents[1])]
        ),
    )


def test_a_second_writer_is_refused_while_another_process_writes(tmp_path, model, data, reference):
    x, y = data
    out = tmp_path / "shared"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(out)],
        env=_subprocess_env(),
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while not (out / "manifest.json").is_file():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the writer did not start within 60 s"
            time.sleep(0.02)
        before = json.loads((out / "manifest.json").read_text())
        for kw in ({**KW, "n_steps": 8}, KW):  # other settings, and the same settings
            with pytest.raises(ValueError, match="is being written by another process") as err:
                cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **kw)
            assert str(out) in str(err.value)
        assert json.loads((out / "manifest.json").read_text()) == before
        assert proc.poll() is None  # the first writer is undisturbed
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: the operating system drops its lock
        proc.communicate()  # waits, and closes the stderr pipe
    run = cdig.explain_dataset(model, x, target="predicted", labels=y, out=out, **KW)
    assert shard_files(out) == shard_files(reference.path)
    assert run.n_samples == N


def test_the_lock_is_released_after_a_call_and_after_an_error(tmp_path, model, data):
    x, _ = data
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="n_steps"):
        cdig.explain_dataset(model, x, target=0, out=out, **{**KW, "n_steps": -1})
    cdig.explain_dataset(model, x[:12], target=0, out=out, **KW)
    lock = _store.RunLock.acquire(out)  # free again
    lock.release()
    assert cdig.explain_dataset(model, x[:12], target=0, out=out, **KW).n_samples == 12


def _tanh_and_relu() -> tuple[torch.nn.Module, torch.nn.Module]:
    tanh = make_model()
    relu = make_model()
    relu.act1 = torch.nn.ReLU()  # the same weights, another function
    for a, b in zip(tanh.state_dict().values(), relu.state_dict().values()):
        assert torch.equal(a, b)
    return tanh, relu


def test_same_weights_with_another_forward_are_refused(tmp_path, data):
    x, _ = data
    tanh, relu = _tanh_and_relu()
    out = tmp_path / "run"
    cdig.explain_dataset(tanh, x, target=0, out=out, **KW)
    with pytest.raises(ValueError, match=r"model\.structure.*not the model the run was started"):
        cdig.explain_dataset(relu, x, target=0, out=out, **KW)
    # TorchScript: the scripted code is part of the fingerprint
    out = tmp_path / "scripted"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s_tanh, s_relu = torch.jit.script(tanh), torch.jit.script(relu)
    cdig.explain_dataset(s_tanh, x[:12], target=0, out=out, **KW)
    with pytest.raises(ValueError, match=r"model\.structure"):
        cdig.explain_dataset(s_relu, x[:12], target=0, out=out, **KW)
    # the same model rebuilt (another object, same weights and code) resumes
    assert cdig.explain_dataset(make_model(), x, target=0, out=tmp_path / "run", **KW).n_samples


def test_fingerprint_of_a_function_is_the_same_in_another_process(tmp_path):
    script = textwrap.dedent(
        """
        import json, torch
        from cdig.runs._job import model_fingerprint
        from tests.test_dataset import make_model
        net = make_model()
        def f(z):
            return net(torch.stack([v for v in z]))  # a comprehension: a nested code object
        print(json.dumps([model_fingerprint(net), model_fingerprint(f)]))
        """
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", script], env=_subprocess_env(), capture_output=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert json.loads(outs[0]) == json.loads(outs[1])


# ---------------------------------------------------------------------- reading checks
def test_open_run_detects_a_flipped_byte(tmp_path, reference):
    out = tmp_path / "copy"
    shutil.copytree(reference.path, out)
    bad = out / "shards" / "000001" / "fourier.values.npy"
    raw = bytearray(bad.read_bytes())
    raw[-3] ^= 0x01
    bad.write_bytes(bytes(raw))
    run = cdig.open_run(out)
    np.testing.assert_array_equal(run.open("time")[15], reference.open("time")[15])
    np.testing.assert_array_equal(run.open("fourier")[3], reference.open("fourier")[3])
    with pytest.raises(CorruptShardError, match=r"000001/fourier\.values\.npy.*SHA-256"):
        run.open("fourier")[15]
    with pytest.raises(CorruptShardError, match=r"000001/fourier\.values\.npy"):
        run.summary("fourier")
    # a forged shard.json (its checksums updated) is caught by the manifest's record of it
    meta_path = out / "shards" / "000001" / "shard.json"
    meta = json.loads(meta_path.read_text())
    meta["files"]["fourier.values"]["sha256"] = hashlib.sha256(bytes(raw)).hexdigest()
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    with pytest.raises(CorruptShardError, match=r"000001/shard\.json"):
        cdig.open_run(out).open("fourier")[15]


def test_open_run_detects_swapped_shard_folders(tmp_path, reference):
    out = tmp_path / "copy"
    shutil.copytree(reference.path, out)
    shards = out / "shards"
    (shards / "000000").rename(shards / "tmp")
    (shards / "000002").rename(shards / "000000")
    (shards / "tmp").rename(shards / "000002")
    run = cdig.open_run(out)
    np.testing.assert_array_equal(run.open("time")[15], reference.open("time")[15])
    with pytest.raises(CorruptShardError, match=r"000000"):
        run.open("time")[0]
    with pytest.raises(CorruptShardError, match=r"000000"):
        _ = run.outputs
    # the same check guards a resume
    with pytest.raises(CorruptShardError, match=r"shard 2.*000000|000000.*shard 2"):
        cdig.explain_dataset(make_model(), data_arrays()[0], target="predicted",
                             labels=data_arrays()[1], out=out, **KW)  # fmt: skip


# ---------------------------------------------------------------------- text labels
def test_explain_dataset_maps_text_labels_in_sorted_order(tmp_path):
    X = np.random.default_rng(2).normal(size=(6, 1, 16)).astype(np.float32)
    names = np.array(["walk", "run", "walk", "run", "run", "walk"])
    run = cdig.explain_dataset(
        linear_net().float(),
        X,
        "fourier",
        target="label",
        labels=names,
        out=tmp_path / "r",
        progress=False,
    )
    np.testing.assert_array_equal(run.targets, (names == "walk").astype(np.int64))  # run<walk
    assert list(run.labels) == list(names)  # the names are kept
    summary = run.summary("fourier", by="label")
    assert sorted(summary.groups.tolist()) == ["run", "walk"]
    # the explained output is the labelled class's logit
    with torch.no_grad():
        logits = linear_net().float()(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(run.outputs, logits[np.arange(6), run.targets], rtol=1e-5)


# ---------------------------------------------------------------------- settings and targets kept
def test_dataset_manifest_records_the_settings_dict(tmp_path, smooth_cnn, series):
    run = cdig.explain_dataset(
        smooth_cnn, series, "fourier", out=tmp_path / "r", target=0, n_steps=8, progress=False
    )
    recorded = run.manifest["settings"]["explain"]
    expected = Settings(n_steps=8).as_dict()
    assert {k: recorded[k] for k in expected} == expected


@pytest.mark.parametrize("target", [1, "predicted"])
def test_a_run_keeps_the_target_index_so_metrics_default_it(tmp_path, smooth_cnn, series, target):
    run = cdig.explain_dataset(
        smooth_cnn, series, "fourier", out=tmp_path / "r", fs=32.0, target=target, n_steps=8,
        shard_size=3, progress=False,
    )  # fmt: skip
    one = cdig.explain(smooth_cnn, series, "fourier", target=target, fs=32.0, n_steps=8)
    from_run = cdig.open_run(tmp_path / "r").attribution("fourier")
    np.testing.assert_array_equal(from_run.target_index, one.target_index)
    np.testing.assert_array_equal(from_run.values, one.values)
    kwargs = dict(domain=cdig.domains.Fourier(fs=32.0), fractions=[0.0, 0.5, 1.0])
    by_default = cdig.metrics.deletion(smooth_cnn, series, from_run, **kwargs)
    given = cdig.metrics.deletion(smooth_cnn, series, from_run, target=one.target_index, **kwargs)
    np.testing.assert_array_equal(by_default.scores, given.scores)
    sub = run.attribution("fourier", samples=[2, 0])
    np.testing.assert_array_equal(sub.target_index, one.target_index[[2, 0]])
