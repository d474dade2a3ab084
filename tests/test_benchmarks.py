"""The benchmark scripts run (quick mode) and report sane numbers, so they cannot rot.

Speed is measured by the scripts themselves, not asserted here.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _bench_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


def _module(name):
    if name in sys.modules:
        return importlib.reload(sys.modules[name])
    return importlib.import_module(name)


def test_speed_quick(capsys):
    rows = _module("speed").main(["--quick"])
    fixed = [r for r in rows if "cdig" in r]
    auto = [r for r in rows if "auto" in r]
    assert fixed and all(r["floor_ms"] > 0 and r["cdig"] > 0 for r in fixed)
    # the adaptive default's row: its floor covers the evaluations it used
    assert auto and all(r["evaluations"] > 0 and r["auto"] > 0 for r in auto)
    assert "floor ms" in capsys.readouterr().out


def test_reference_quick_agrees_with_the_reference():
    pytest.importorskip("cross_domain_saliency_maps", reason="reference package not installed")
    rows = _module("reference").main(["--quick"])
    # same model, steps and rule: the attributions agree to float32 precision
    assert all(r["max_rel_diff"] < 1e-4 for r in rows)


def test_steps_quick_default_is_certified_and_about_as_dear_as_fixed_64():
    rows = _module("steps").main(["--quick"])
    by = {r["method"]: r for r in rows}
    default, fixed = by["default (auto)"], by["GL 64"]
    assert default["lucky"] == 0 and default["over1_named"] and default["exact"]
    assert default["err_max"] <= 0.02
    # an easy trained CNN: about the old default of 64 (the certificate's second level and
    # checks cost 65 on these 4 series, 63 on 8), and fewer than old auto
    assert default["evals_mean"] <= 1.1 * fixed["evals_mean"]
    adversarial = [r for r in rows if r["method"] == "adversarial (auto)"]
    assert adversarial and sum(r["lucky"] for r in adversarial if r["resolvable"]) == 0
    assert default["evals_mean"] < by["old auto (GL doubling)"]["evals_mean"]
    assert by["GL 256"]["err_median"] <= by["GL 32"]["err_median"]


def test_scaling_quick():
    rows = _module("scaling").main(["--quick"])
    assert len(rows) == 2 and all(r["peak_mb"] > 0 and np.isfinite(r["time"]) for r in rows)


def test_multidomain_quick():
    res = _module("multidomain").main(["--quick"])
    assert res["one"] > 0 and res["together"] > 0 and res["unshared"] > 0
    assert res["max_rel_diff"] < 1e-4  # float32: shared and unshared passes agree


def test_profile_call_quick(capsys):
    _module("profile_call").main(["--quick"])
    out = capsys.readouterr().out
    # every part of the breakdown is printed, with the deterministic call counts
    for part in ("validation", "guards", "eval mode", "adaptive bookkeeping", "function calls"):
        assert part in out


def test_cold_start_quick():
    res = _module("cold_start").main(["--quick"])
    assert res["import torch"]["ratio"] == 1.0
    assert res["import cdig"]["s"] > 0 and res["cdig --help"]["s"] > 0
