"""The adaptive default of this tree against a reference checkout's, paired in one process.

The reference's ``src/cdig`` is copied to a temporary folder as the package ``cdig_ref``
(cdig imports itself relatively only), so both run in the same process on the same
model and input: the tiny conv net of ``speed.py`` (T = 256, the net of its adaptive row),
``B`` samples, one domain, ``n_steps="auto"``, warm calls alternating (new, ref, ref, new,
...), thread CPU time with one torch thread. "rest" is a call minus its model calls
(forward, backward and guard, through the gradient callable handed to
``integrate_adaptive``). Both results are first checked to be bitwise the same.

With ``--row NAME``: the first row of ``steps.py`` whose name holds ``NAME`` instead (its
trained model from the cache, 16 series, its domain and target), and a fixed 64-step call
of this tree timed in the same rounds (the three in a random order per round): the
default against GL 64, as ``steps.py --wall`` reports it, for both versions.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/auto_pair.py /path/to/reference/checkout
[--samples 32] [--calls 30] [--domain fourier] [--row "hard attention"]``.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from speed import GeluTransformer, tiny, wide

import cdig


def _timed_engine(engine: Any, inside: list[float]) -> Callable[..., Any]:
    """Time ``engine``'s model calls into ``inside``; returns its original integrator."""
    original = engine.integrate_adaptive

    def integrate(gradient_at: Any, *a: Any, **k: Any) -> Any:
        def timed(points: torch.Tensor, rows: torch.Tensor) -> Any:
            t0 = time.thread_time()
            out = gradient_at(points, rows)
            inside[0] += time.thread_time() - t0
            return out

        return original(timed, *a, **k)

    engine.integrate_adaptive = integrate
    return original


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", type=Path, help="a checkout holding src/cdig")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--domain", default="fourier")
    parser.add_argument("--row", default=None, help="a steps.py row instead of the tiny net")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cdig-ref-"))
    try:
        return _pair(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pair(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    shutil.copytree(args.reference / "src" / "cdig", tmp / "cdig_ref")
    sys.path.insert(0, str(tmp))
    try:
        ref = importlib.import_module("cdig_ref")
        ref_engine = importlib.import_module("cdig_ref.engine")
    finally:
        sys.path.remove(str(tmp))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    inside = [0.0]
    engine = importlib.import_module("cdig.engine")
    original = _timed_engine(engine, inside)
    _timed_engine(ref_engine, inside)
    try:
        return _timed(args, ref, inside)
    finally:  # this process's engine and threads as they were
        engine.integrate_adaptive = original
        torch.set_num_threads(threads)


def _timed(args: argparse.Namespace, ref: Any, inside: list[float]) -> dict[str, float]:
    if args.row is not None:
        import steps

        row = next(steps.corpus(16, False, lambda name: args.row in name))
        model, x, domain = row.model, torch.as_tensor(row.x), row.domain
        kw: dict[str, Any] = {"target": row.target}
        axis = row.time_axis
        label = row.name
    else:
        for make in (tiny, tiny, wide, wide, GeluTransformer):  # speed.py's adaptive row's net
            make()
        model, domain = tiny().eval(), args.domain
        x = torch.randn(32, 1, 256)[: args.samples]
        kw = {"target": 0}
        axis = -1
        label = f"{args.samples} samples"
    igs = {
        "new": cdig.CrossDomainIG(model, domain, time_axis=axis),
        "ref": ref.CrossDomainIG(model, domain, time_axis=axis),
    }
    fns: dict[str, Callable[[], Any]] = {
        "new": lambda: igs["new"].explain(x, **kw),
        "ref": lambda: igs["ref"].explain(x, **kw),
    }
    if args.row is not None:
        fns["gl64"] = lambda: igs["new"].explain(x, n_steps=64, **kw)
    call: dict[str, list[float]] = {k: [] for k in fns}
    rest: dict[str, list[float]] = {k: [] for k in fns}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = {k: fns[k]() for k in ("new", "ref")}
        for f in ("values", "error", "n_evaluations", "status", "delta"):
            a, b = np.asarray(getattr(first["new"], f)), np.asarray(getattr(first["ref"], f))
            assert a.tobytes() == b.tobytes(), f"{f} differs from the reference's"
        for fn in fns.values():
            fn()
        rng = np.random.default_rng(0)
        for i in range(args.calls):
            if args.row is not None:
                order = [str(k) for k in rng.permutation(list(fns))]
            else:
                order = ["new", "ref"] if i % 2 == 0 else ["ref", "new"]
            for k in order:
                inside[0] = 0.0
                t0 = time.thread_time()
                fns[k]()
                dt = time.thread_time() - t0
                call[k].append(dt)
                rest[k].append(dt - inside[0])
    c = {k: np.asarray(v) for k, v in call.items()}
    r = {k: np.asarray(v) for k, v in rest.items()}
    out = {
        "evaluations": float(first["new"].n_evaluations.sum()),
        "call_new_ms": 1e3 * float(np.median(c["new"])),
        "call_ref_ms": 1e3 * float(np.median(c["ref"])),
        "rest_new_ms": 1e3 * float(np.median(r["new"])),
        "rest_ref_ms": 1e3 * float(np.median(r["ref"])),
        "call_ratio": float(np.median(c["new"] / c["ref"])),
        "rest_ratio": float(np.median(r["new"] / r["ref"])),
    }
    load = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
    line = (
        f"{label}, {domain}, {int(out['evaluations'])} evaluations, {args.calls} rounds, "
        f"load {load}: call {out['call_new_ms']:.1f} ms (ref {out['call_ref_ms']:.1f}; "
        f"paired ratio {out['call_ratio']:.3f}), rest {out['rest_new_ms']:.1f} ms (ref "
        f"{out['rest_ref_ms']:.1f}; paired ratio {out['rest_ratio']:.3f})"
    )
    if "gl64" in c:
        out["new_over_gl64"] = float(np.median(c["new"] / c["gl64"]))
        out["ref_over_gl64"] = float(np.median(c["ref"] / c["gl64"]))
        line += (
            f"; GL 64 {1e3 * float(np.median(c['gl64'])):.1f} ms: default / GL 64 "
            f"{out['new_over_gl64']:.2f} (ref {out['ref_over_gl64']:.2f})"
        )
    print(line)
    return out


if __name__ == "__main__":
    main()
