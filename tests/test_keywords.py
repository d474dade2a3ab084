"""One meaning per keyword: the public signatures follow the table of docs/architecture.md."""

from __future__ import annotations

import argparse
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


def _rows() -> list[list[str]]:
    """The cells of each row of the table in docs/architecture.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## One meaning per keyword", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def test_the_table_lists_keywords_that_exist():
    rows = ["|" + "|".join(cells) for cells in _rows()]
    keywords = {k for row in rows for k in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert {"inputs", "domain", "seed", "progress", "shard_size", "ax"} <= keywords
    taken = {p for _, fn in CALLABLES for p in inspect.signature(fn).parameters}
    taken |= set(inspect.signature(cdig.runs.DatasetRun.plot).parameters)
    taken |= set(inspect.signature(cdig.demo.run).parameters)  # quiet: print nothing
    assert keywords <= taken, sorted(keywords - taken)
    # quiet keeps one meaning of its own (print nothing: demo.run, --quiet), beside progress
    assert not keywords & (set(RETIRED) - {"quiet"})


def test_the_command_line_spells_each_keyword_as_its_option():
    """The table's CLI column names options of `cdig`, first the row's keyword with dashes;
    `cli._OPTIONS` (the spelling of errors) follows the same rule; no old spelling parses."""
    from cdig.cli import _OPTIONS, build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = {o for p in commands.choices.values() for a in p._actions for o in a.option_strings}
    for name, option in _OPTIONS.items():
        assert option == "--" + name.replace("_", "-") and option in options, (name, option)
    checked = 0
    for cells in _rows():
        dashed = {"--" + k.replace("_", "-") for k in re.findall(r"`(\w+)`", cells[0])}
        named = re.findall(r"`(--[\w-]+)", cells[-1])
        assert "≠" not in cells[-1], cells[0]
        if named:
            assert named[0] in dashed, (cells[0], named[0])
            assert set(named) <= options, (cells[0], set(named) - options)
            checked += 1
    assert checked >= 14
    explain = commands.choices["explain"]
    for old in ("--batch-size", "--baseline", "--out"):  # renamed; prefixes are not accepted
        with pytest.raises(SystemExit):
            explain.parse_args(["MODEL", "INPUT", old, "1"])
