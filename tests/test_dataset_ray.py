"""explain_dataset(engine="ray"): the same results as the local engine, on one and several nodes.

The same to the last bits but one: a Ray worker of one CPU runs torch on one thread, and
torch's FFT rounds differently on one and two threads (about 1e-15 relative), so files are
compared array by array to 1e-12 instead of byte by byte.

Ray starts slowly, so the module starts it twice only: once inside explain_dataset (a local
instance of 2 CPUs, shut down by the call) and once as a simulated two-node cluster shared
by the remaining tests. Deselect with ``-m "not ray"``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import cdig

ray = pytest.importorskip("ray")
from .test_dataset import KW, N, data_arrays, make_model  # noqa: E402

pytestmark = pytest.mark.ray


def assert_same_results(a: Path, b: Path) -> None:
    """The two runs hold the same shard files with the same arrays (floats to 1e-12; the
    model outputs are of order 1, so deltas of 1e-17 are compared to 1e-14)."""
    files_a = sorted(p.relative_to(a) for p in (a / "shards").rglob("*.npy"))
    files_b = sorted(p.relative_to(b) for p in (b / "shards").rglob("*.npy"))
    assert files_a == files_b
    for rel in files_a:
        x, y = np.load(a / rel), np.load(b / rel)
        assert x.dtype == y.dtype and x.shape == y.shape, rel
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14, err_msg=str(rel))
        else:
            np.testing.assert_array_equal(x, y, err_msg=str(rel))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> cdig.DatasetRun:
    x, y = data_arrays()
    out = tmp_path_factory.mktemp("local") / "run"
    return cdig.explain_dataset(make_model(), x, target="predicted", labels=y, out=out, **KW)


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine, connected to this process."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # pragma: no cover - only if a previous test leaked Ray
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()


def test_local_ray_started_by_the_call_matches_local_engine(tmp_path, local_run, monkeypatch):
    """Ray not running: the call starts a local instance with 2 CPUs and shuts it down."""
    assert not ray.is_initialized()
    src = str(Path(cdig.__file__).parents[1])  # workers import this cdig
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    x, y = data_arrays()
    out = tmp_path / "ray"
    run = cdig.explain_dataset(
        make_model(), x, target="predicted", labels=y, out=out, engine="ray", workers=2, **KW
    )
    assert not ray.is_initialized()
    assert_same_results(out, local_run.path)
    assert run.manifest["fingerprint"] == local_run.manifest["fingerprint"]
    np.testing.assert_allclose(
        run.summary("fourier").mean, local_run.summary("fourier").mean, rtol=1e-12, atol=1e-300
    )


def test_cluster_of_two_nodes_matches_and_resumes(tmp_path, cluster, local_run):
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    x, y = data_arrays()
    out = tmp_path / "cluster"
    run = cdig.explain_dataset(
        make_model(), x, target="predicted", labels=y, out=out, engine="ray", **KW
    )
    assert_same_results(out, local_run.path)
    # a local run that lost two shards is finished by the cluster, with the same results
    mixed = tmp_path / "mixed"
    shutil.copytree(local_run.path, mixed)
    for k in ("000001", "000003"):
        shutil.rmtree(mixed / "shards" / k)
    run = cdig.explain_dataset(
        make_model(), x, target="predicted", labels=y, out=mixed, engine="ray", **KW
    )
    assert run.n_samples == N
    assert_same_results(mixed, local_run.path)


def test_worker_errors_reach_the_caller_with_their_message(tmp_path, cluster):
    x, y = data_arrays()
    bad = y.copy()
    bad[N - 1] = 9
    with pytest.raises(ValueError, match=rf"sample {N - 1}: class index 9 .* 3 outputs"):
        cdig.explain_dataset(
            make_model(), x, target="label", labels=bad, out=tmp_path / "bad", engine="ray", **KW
        )
    done = sorted(p.name for p in (tmp_path / "bad" / "shards").iterdir())
    assert done == ["000000", "000001", "000002"]  # shards of good samples are kept
    assert ray.is_initialized()  # a cluster the caller started is left running
