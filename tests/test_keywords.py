"""One meaning per keyword: the public signatures follow the table of docs/architecture.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import cdig
import cdig.demo
import cdig.horizon
import cdig.metrics
import cdig.peers
import cdig.plot
import cdig.report
import cdig.runs

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _public_callables():
    """(name, callable) of every public function and method that takes user keywords."""
    found = [
        ("cdig.explain", cdig.explain),
        ("CrossDomainIG", cdig.CrossDomainIG.__init__),
        ("CrossDomainIG.explain", cdig.CrossDomainIG.explain),
        ("CrossDomainIG.attribute", cdig.CrossDomainIG.attribute),
        ("explain_dataset", cdig.runs.explain_dataset),
        ("Attribution.plot", cdig.Attribution.plot),
        ("plot_horizon", cdig.horizon.plot_horizon),
    ]
    for module in (cdig.metrics, cdig.peers, cdig.plot, cdig.report, cdig.baselines):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                found.append((f"{module.__name__}.{name}", obj))
    return found


CALLABLES = _public_callables()
#: Spellings replaced by the keyword of the table: old -> new.
RETIRED = {"x": "inputs", "data": "inputs", "quiet": "progress", "batch_size": "shard_size"}


def test_every_public_signature_was_collected():
    names = {n for n, _ in CALLABLES}
    assert {"cdig.metrics.cpd", "cdig.peers.timing", "cdig.plot.plot_time"} <= names
    assert len(CALLABLES) > 30


@pytest.mark.parametrize(("name", "fn"), CALLABLES, ids=[n for n, _ in CALLABLES])
def test_no_retired_spelling_and_one_type_per_keyword(name, fn):
    params = inspect.signature(fn).parameters
    retired = sorted(set(params) & set(RETIRED))
    assert not retired, f"{name} takes {retired}; the keyword is {[RETIRED[r] for r in retired]}"
    if "seed" in params:
        assert params["seed"].annotation == "Seed", f"{name}: seed must accept Seed"
    if "progress" in params:
        assert params["progress"].annotation == "bool"
    if "n_steps" in params:  # integration steps only; the metrics count perturbation steps
        assert not name.startswith(("cdig.metrics", "cdig.peers")), name
    if "domain" in params:
        default = params["domain"].default
        if name.startswith("cdig.metrics"):  # the Attribution's own, or required
            assert default in (None, inspect.Parameter.empty), name
        else:
            assert default in ("time", inspect.Parameter.empty), (name, default)


def test_every_figure_takes_ax():
    plotters = [fn for n, fn in CALLABLES if n.split(".")[-1].startswith("plot_")]
    plotters += [cdig.runs.plot_summary]
    assert len(plotters) >= 10
    for fn in plotters:
        if fn is cdig.plot.plot_kind:  # names a kind, draws nothing
            continue
        assert "ax" in inspect.signature(fn).parameters, fn.__name__


def test_the_table_lists_keywords_that_exist():
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## One meaning per keyword", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    keywords = {k for row in rows for k in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert {"inputs", "domain", "seed", "progress", "shard_size", "ax"} <= keywords
    taken = {p for _, fn in CALLABLES for p in inspect.signature(fn).parameters}
    taken |= set(inspect.signature(cdig.runs.DatasetRun.plot).parameters)
    taken |= set(inspect.signature(cdig.demo.run).parameters)  # quiet: print nothing
    assert keywords <= taken, sorted(keywords - taken)
    # quiet keeps one meaning of its own (print nothing: demo.run, --quiet); no progress switch
    assert not keywords & (set(RETIRED) - {"quiet"})
