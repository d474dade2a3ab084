"""The benchmark scripts run (quick mode) and their numbers say what each script claims.

Speed itself is measured by the scripts, not asserted here: a quick run times one round on
a shared machine. What is asserted is what does not depend on the load: results that must
agree, counts that are deterministic, and ratios that are finite and within a range that
only a broken measurement leaves.
"""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.scripts

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

#: A paired ratio of two timings of one round on a loaded 2-core machine: anything outside
#: this range is a broken measurement (a method that did not run, a floor of zero), not load.
SANE = (1e-3, 1e3)


@pytest.fixture(autouse=True)
def _bench_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


def _module(name):
    if name in sys.modules:
        return importlib.reload(sys.modules[name])
    return importlib.import_module(name)


def _sane(ratio: float) -> bool:
    return math.isfinite(ratio) and SANE[0] < ratio < SANE[1]


def test_speed_quick(capsys):
    from cdig._settings import MAX_STEPS, MIN_MAX_STEPS

    rows = _module("speed").main(["--quick"])
    out = capsys.readouterr().out
    fixed = [r for r in rows if "cdig" in r]
    auto = [r for r in rows if "auto" in r]
    # the quick run: one fixed-step row and one adaptive row, of the tiny net, 4 x 256
    assert len(fixed) == 1 and len(auto) == 1 and len(rows) == 2
    for r in rows:
        assert (r["regime"], r["model"], r["T"], r["B"]) == ("overhead", "tiny", 256, 4)
        assert r["floor_ms"] > 0 and r["chunk"] in (16, 64)  # the quick run's chunk sizes
    for key in ("cdig", "captum", "loop", "ends"):
        assert _sane(fixed[0][key]), (key, fixed[0][key])
    # 4 x 16 evaluations in one default call of 64: cdig measured 64, 32 or 16 per call
    assert fixed[0]["calls"] in (16, 32, 64)
    for key in ("auto", "fixed64"):
        assert _sane(auto[0][key]), (key, auto[0][key])
    # the adaptive row's floor evaluates as many points as the default used: the first
    # mesh of every sample at least, max_steps per sample at most
    assert 4 * MIN_MAX_STEPS <= auto[0]["evaluations"] <= 4 * MAX_STEPS
    assert "floor ms" in out


def test_reference_quick_agrees_with_the_reference():
    pytest.importorskip("cross_domain_saliency_maps", reason="reference package not installed")
    rows = _module("reference").main(["--quick"])
    assert len(rows) == 1 and rows[0]["B"] == 4 and rows[0]["T"] == 128
    # same model, steps and rule: the attributions agree to float32 precision
    assert all(r["max_rel_diff"] < 1e-4 for r in rows)
    for key in ("cdig", "ref_loop", "ref_captum", "ends"):
        assert _sane(rows[0][key]), (key, rows[0][key])
    assert rows[0]["floor_ms"] > 0


def test_steps_quick_default_is_certified_and_about_as_dear_as_fixed_64():
    rows = _module("steps").main(["--quick"])
    by = {r["method"]: r for r in rows}
    default, fixed = by["default (auto)"], by["GL 64"]
    assert default["lucky"] == 0 and default["over1_named"] and default["exact"]
    assert default["err_max"] <= 0.02
    # an easy trained CNN: about the old default of 64 (the certificate's second level and
    # checks cost 65 on these 4 series when the Fourier result was certified on its time
    # coordinates' root-sum-square; 73 since each domain meets its own), and fewer than
    # old auto
    assert default["evals_mean"] <= 1.2 * fixed["evals_mean"]
    adversarial = [r for r in rows if r["method"] == "adversarial (auto)"]
    assert adversarial and sum(r["lucky"] for r in adversarial if r["resolvable"]) == 0
    assert default["evals_mean"] < by["old auto (GL doubling)"]["evals_mean"]
    assert by["GL 256"]["err_median"] <= by["GL 32"]["err_median"]


def test_scaling_quick():
    rows = _module("scaling").main(["--quick"])
    assert [(r["T"], r["batch"], r["steps"]) for r in rows] == [(256, 4, 16), (1024, 4, 16)]
    for r in rows:
        assert r["work"] == r["T"] * r["batch"] * r["steps"]
        assert np.isfinite(r["time"]) and r["time"] > 0
        # the peak of the child process includes what it had before the call
        assert 0 < r["base_mb"] <= r["peak_mb"]
        # chunked evaluation: a 16 KiB input and 16 steps need a few MB, not hundreds
        assert r["peak_mb"] - r["base_mb"] < 200, r


def test_multidomain_quick(monkeypatch):
    res = _module("multidomain").main(["--quick"])
    assert set(res) == {"one", "together", "separate", "unshared", "max_rel_diff"}
    assert all(np.isfinite(res[k]) and res[k] > 0 for k in ("one", "together", "separate"))
    assert np.isfinite(res["unshared"]) and res["unshared"] > 0
    assert _sane(res["together"] / res["one"]) and _sane(res["separate"] / res["one"])
    assert res["max_rel_diff"] < 1e-4  # float32: shared and unshared passes agree
    # the claim "five domains in one call cost at most 1.3x one domain" cannot be timed in
    # one quick round on a shared machine; what makes it true can be counted: the five
    # linear domains in one call evaluate the model on exactly the rows of one domain
    import cdig

    md = sys.modules["multidomain"]
    model = sys.modules["speed"].wide().eval()
    # the rows of the path only: a measured call size times the model in extra calls once
    monkeypatch.setattr(cdig.engine, "MEASURE_CALLS", False)
    rows: list[int] = []
    model.register_forward_hook(lambda m, args, out: rows.append(len(args[0])))
    x = torch.randn(2, 1, 128, generator=torch.Generator().manual_seed(0))
    counts = []
    # the activation probe runs once per model and input shape, on the first call
    cdig.explain(model, x, "fourier", target=0, n_steps=64, fs=100.0)
    for domains in ("fourier", md.WANTED):
        rows.clear()
        with warnings.catch_warnings():  # 16 steps of a ReLU net: flagged, and only counted
            warnings.simplefilter("ignore", cdig.CompletenessWarning)
            cdig.explain(model, x, domains, target=0, n_steps=16, fs=100.0)
        counts.append(sum(rows))
    assert counts[0] == counts[1] > 0, counts


def test_profile_call_quick(capsys, monkeypatch):
    import cdig

    # the call size is not measured: a measured size is a timing, which may differ between
    # two profiles (and so would the number of model calls, and of Python calls)
    monkeypatch.setattr(cdig.engine, "MEASURE_CALLS", False)
    profile_call = _module("profile_call")
    rows = profile_call.main(["--quick"])
    out = capsys.readouterr().out
    # every part of the breakdown is printed
    for part in ("validation", "guards", "eval mode", "adaptive bookkeeping", "function calls"):
        assert part in out
    assert [(b, n) for b, n, _, _ in rows] == [(1, 64), (1, "auto")]
    for _, n, per, counts in rows:
        total = sum(per.values())
        assert np.isfinite(total) and total > 0
        # the parts do not overlap: the engine's own glue ("other") is what is left of the
        # call's time, so it is not negative beyond the profiler's clock resolution
        assert per["other"] >= -0.05 * total, per
        # only the adaptive call has adaptive bookkeeping
        assert (per["adaptive bookkeeping"] > 0) == (n == "auto")
        assert counts["function calls"] > 0
    # the counts do not depend on the machine: the same call profiled again counts the same
    torch.manual_seed(0)
    ig = cdig.CrossDomainIG(sys.modules["speed"].tiny().eval(), cdig.domains.Fourier())
    for batch, n, _, counts in rows:
        x = torch.randn(batch, 1, 256)
        again = profile_call.profile(ig, x, n, 2)[1]
        assert again == counts, (n, again, counts)


def test_cold_start_quick():
    res = _module("cold_start").main(["--quick"])
    assert res["import torch"]["ratio"] == 1.0
    for name in ("import cdig", "cdig --help"):
        assert res[name]["s"] > 0 and _sane(res[name]["ratio"]), (name, res[name])


def test_auto_sections_splits_the_rest_of_this_tree(capsys):
    """``auto_sections.py`` finds every section marker of the adaptive loop in this tree
    (it fails loudly where one is gone), and its sections with the part outside the loop
    add up to the call: each a sane, non-negative time, the model calls inside the call."""
    auto_sections = _module("auto_sections")
    out = auto_sections.main(["--samples", "2", "--calls", "2"])
    names = [name for _, name in auto_sections.MARKS if name is not None]
    assert set(names) <= set(out), out
    parts = [out[name] for name in names] + [out["outside the loop"]]
    assert all(p > -0.5 for p in parts), out  # CPU-clock granularity only
    assert sum(parts) + out["model_ms"] == pytest.approx(out["call_ms"], rel=1e-6, abs=1e-6)
    assert 0 < out["model_ms"] < out["call_ms"]
    assert "outside the loop" in capsys.readouterr().out


def test_auto_traffic_counts_the_loops_operations_deterministically(capsys):
    """``auto_traffic.py`` counts the adaptive loop's torch operations and bytes per section
    of this tree (its markers found, as ``auto_sections.py``'s): the loop's sections are
    there, each moves bytes, the total is their sum, and a second count of the same call
    gives the same numbers (no timing in it)."""
    auto_traffic = _module("auto_traffic")
    first = auto_traffic.main(["--samples", "2", "--calls", "1"])
    assert {"setup", "read", "bisect"} <= set(first), first
    for name in ("setup", "read", "bisect"):
        ops, read, written = first[name]
        assert ops > 0 and read > 0 and written > 0, (name, first[name])
    parts = [v for k, v in first.items() if k != "total"]
    for i in range(3):
        assert sum(p[i] for p in parts) == pytest.approx(first["total"][i], rel=1e-12)
    assert auto_traffic.main(["--samples", "2", "--calls", "1"]) == first
    assert "largest writers" in capsys.readouterr().out


def test_auto_pair_against_this_tree_itself(capsys):
    """``auto_pair.py`` loads a reference checkout's package beside this one and times
    both in one process: against this very tree the results are bitwise the same (it
    checks that itself) and every timing and paired ratio is a sane number."""
    auto_pair = _module("auto_pair")
    out = auto_pair.main([str(BENCH.parent), "--samples", "2", "--calls", "2"])
    assert out["evaluations"] >= 2 * 33
    for key in ("call_ratio", "rest_ratio"):
        assert SANE[0] < out[key] < SANE[1], out
    assert 0 < out["rest_new_ms"] < out["call_new_ms"]
    assert "paired ratio" in capsys.readouterr().out


def test_one_pair_against_this_tree_itself(capsys):
    """``one_pair.py`` loads a reference checkout's package beside this one and times the
    one-sample fixed call of both in one process: against this very tree the results are
    bitwise the same (it checks that itself) and every timing and ratio is a sane number."""
    one_pair = _module("one_pair")
    out = one_pair.main([str(BENCH.parent), "--rounds", "3", "--model", "free"])
    for key in ("new_over_ref", "new_over_floor_ends", "ref_over_floor_ends"):
        assert SANE[0] < out[key] < SANE[1], out
    assert 0 < out["floor_ms"] and 0 < out["ends_ms"]
    assert "paired ratio" in capsys.readouterr().out


def test_one_phases_against_this_tree_itself(capsys):
    """``one_phases.py`` times the one-sample call's phases in this tree and in a copy of a
    reference beside it: against this very tree every phase ran in both, each phase takes
    at most its caller's time, and the timers are gone afterwards."""
    import cdig.engine
    from cdig import _evaluate

    before = (cdig.engine.evaluate, cdig.engine.CrossDomainIG._result, cdig.engine.as_series)
    one_phases = _module("one_phases")
    out = one_phases.main([str(BENCH.parent), "--calls", "3"])
    for phase in ("call", "_path_gradient", "CrossDomainIG._result", "evaluate"):
        assert out[phase][0] > 0 and out[phase][1] > 0, (phase, out[phase])
    for tag in (0, 1):
        assert out["_path_gradient"][tag] <= out["_integrate"][tag] <= out["call"][tag]
    assert (
        cdig.engine.evaluate,
        cdig.engine.CrossDomainIG._result,
        cdig.engine.as_series,
    ) == before
    assert cdig.engine.evaluate is _evaluate.evaluate
    assert "saved" in capsys.readouterr().out
