"""Where the adaptive default's rest goes: its loop's sections timed, model calls taken out.

This tree's ``src/cdig`` is copied to a temporary folder as the package ``cdig_laps``
(cdig imports itself relatively only) and a lap timer is put at the section markers of
``_integrate_group`` in the copy (the comments that head each part of the loop: the
round's read, the new points and leaves, the tests, the choice of sub-intervals, the
bisection, the mesh update). Each section's thread CPU time, less the model calls made in
it (forward, backward and guard, through the gradient callable handed to
``integrate_adaptive``), is its share of the rest; "setup" is the first mesh (its
evaluation and sums), "outside the loop" the engine's work before and after it
(validation, end points, the result). One torch thread, warm calls, the mean per call.

The copy is the code as it is: a marker that is no longer found fails loudly (the script
needs updating with the loop), and the results are those of the package itself.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/auto_sections.py [--samples 32]
[--calls 40] [--domain fourier] [--row "hard attention"]``.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from speed import GeluTransformer, tiny, wide

#: the section markers of ``_integrate_group`` (a lap is put before each) and their names
MARKS = (
    ("    n_pts = 4 * FIRST_INTERVALS + 1\n", "setup"),
    ("        # --- one read of everything the round's decisions need", "read"),
    ("        # --- the new points and leaves", "leaves"),
    ("        # --- the tests", "tests"),
    ("        # --- which sub-intervals to bisect", "choice"),
    ("        # --- bisect: new points", "bisect"),
    ("        # the halves replace their parents", "mesh update"),
    ("    gradient, error = total, total_err\n", None),
)

LAP = """

import time as _lap_time

_LAPS: dict = {}
_LAP_STATE: dict = {"t": 0.0, "name": None}


def _LAP(name):
    now = _lap_time.thread_time()
    if _LAP_STATE["name"] is not None:
        _LAPS[_LAP_STATE["name"]] = _LAPS.get(_LAP_STATE["name"], 0.0) + now - _LAP_STATE["t"]
    _LAP_STATE["name"], _LAP_STATE["t"] = name, now
"""


def _instrumented(tmp: Path, tree: Path | None = None) -> Any:
    """``tree``'s (default: this checkout's) ``src/cdig`` copied to ``tmp`` as ``cdig_laps``,
    with a lap timer at each of ``MARKS``, imported."""
    tree = Path(__file__).resolve().parents[1] if tree is None else tree
    shutil.copytree(tree / "src" / "cdig", tmp / "cdig_laps")
    path = tmp / "cdig_laps" / "_adaptive.py"
    text = path.read_text()
    for mark, name in MARKS:
        if text.count(mark) != 1:
            raise SystemExit(f"marker not found once in _adaptive.py: {mark.strip()!r}")
        indent = mark[: len(mark) - len(mark.lstrip())]
        text = text.replace(mark, f"{indent}_LAP({name!r})\n{mark}")
    path.write_text(text + LAP)
    sys.path.insert(0, str(tmp))
    try:
        return importlib.import_module("cdig_laps")
    finally:
        sys.path.remove(str(tmp))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--domain", default="fourier")
    parser.add_argument("--row", default=None, help="a steps.py row instead of the tiny net")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cdig-laps-"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _sections(args, _instrumented(tmp))
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(tmp, ignore_errors=True)


def _sections(args: argparse.Namespace, pkg: Any) -> dict[str, float]:
    adaptive = importlib.import_module("cdig_laps._adaptive")
    engine = importlib.import_module("cdig_laps.engine")
    torch.manual_seed(0)
    if args.row is not None:
        import steps

        row = next(steps.corpus(16, False, lambda name: args.row in name))
        model, x, domain = row.model, torch.as_tensor(row.x), row.domain
        kw: dict[str, Any] = {"target": row.target}
        axis, label = row.time_axis, row.name
    else:
        for make in (tiny, tiny, wide, wide, GeluTransformer):  # speed.py's adaptive row's net
            make()
        model, domain = tiny().eval(), args.domain
        x = torch.randn(32, 1, 256)[: args.samples]
        kw, axis, label = {"target": 0}, -1, f"{args.samples} samples"
    model_time: dict[Any, float] = {}
    original = engine.integrate_adaptive

    def integrate(gradient_at: Any, *a: Any, **k: Any) -> Any:
        def timed(*aa: Any, **kk: Any) -> Any:
            t0 = time.thread_time()
            try:
                return gradient_at(*aa, **kk)
            finally:
                sec = adaptive._LAP_STATE["name"]
                model_time[sec] = model_time.get(sec, 0.0) + time.thread_time() - t0

        return original(timed, *a, **k)

    engine.integrate_adaptive = integrate
    ig = pkg.CrossDomainIG(model, domain, time_axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            res = ig.explain(x, **kw)
        adaptive._LAPS.clear()
        model_time.clear()
        t0 = time.thread_time()
        for _ in range(args.calls):
            ig.explain(x, **kw)
        total = time.thread_time() - t0
    n = args.calls
    model_ms = 1e3 * sum(model_time.values()) / n
    out = {"call_ms": 1e3 * total / n, "model_ms": model_ms}
    out["rest_ms"] = out["call_ms"] - model_ms
    load = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"{label}, {domain}, {int(res.n_evaluations.sum())} evaluations, {n} calls, load "
        f"{load}: call {out['call_ms']:.2f} ms, model calls {model_ms:.2f} ms, rest "
        f"{out['rest_ms']:.2f} ms"
    )
    for name, t in adaptive._LAPS.items():
        ms = 1e3 * (t - model_time.get(name, 0.0)) / n
        out[name] = ms
        print(f"  {name:18s} {ms:7.2f} ms")
    out["outside the loop"] = 1e3 * (total - sum(adaptive._LAPS.values())) / n
    print(f"  {'outside the loop':18s} {out['outside the loop']:7.2f} ms")
    return out


if __name__ == "__main__":
    main()
