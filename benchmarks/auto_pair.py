"""The adaptive default of this tree against a reference checkout's, paired in one process.

The reference's ``src/cdig`` is copied to a temporary folder as the package ``cdig_ref``
(cdig imports itself relatively only), so both run in the same process on the same
model and input: the tiny conv net of ``speed.py`` (T = 256, the net of its adaptive row),
``B`` samples, one domain, ``n_steps="auto"``, warm calls alternating (new, ref, ref, new,
...), thread CPU time with one torch thread. "rest" is a call minus its model calls
(forward, backward and guard, through the gradient callable handed to
``integrate_adaptive``). Both results are first checked to be bitwise the same.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/auto_pair.py /path/to/reference/checkout
[--samples 32] [--calls 30] [--domain fourier]``.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from speed import GeluTransformer, tiny, wide

import cdig


def _timed_engine(engine: Any, inside: list[float]) -> None:
    original = engine.integrate_adaptive

    def integrate(gradient_at: Any, *a: Any, **k: Any) -> Any:
        def timed(points: torch.Tensor, rows: torch.Tensor) -> Any:
            t0 = time.thread_time()
            out = gradient_at(points, rows)
            inside[0] += time.thread_time() - t0
            return out

        return original(timed, *a, **k)

    engine.integrate_adaptive = integrate


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", type=Path, help="a checkout holding src/cdig")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--domain", default="fourier")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cdig-ref-"))
    shutil.copytree(args.reference / "src" / "cdig", tmp / "cdig_ref")
    sys.path.insert(0, str(tmp))
    try:
        ref = importlib.import_module("cdig_ref")
        ref_engine = importlib.import_module("cdig_ref.engine")
    finally:
        sys.path.remove(str(tmp))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for make in (tiny, tiny, wide, wide, GeluTransformer):  # speed.py's adaptive row's net
        make()
    model = tiny().eval()
    x = torch.randn(32, 1, 256)[: args.samples]
    inside = [0.0]
    _timed_engine(importlib.import_module("cdig.engine"), inside)
    _timed_engine(ref_engine, inside)
    igs = {
        "new": cdig.CrossDomainIG(model, args.domain),
        "ref": ref.CrossDomainIG(model, args.domain),
    }
    first = {k: ig.explain(x, target=0) for k, ig in igs.items()}
    for f in ("values", "error", "n_evaluations", "status", "delta"):
        a, b = np.asarray(getattr(first["new"], f)), np.asarray(getattr(first["ref"], f))
        assert a.tobytes() == b.tobytes(), f"{f} differs from the reference's"
    for ig in igs.values():
        ig.explain(x, target=0)
    call: dict[str, list[float]] = {k: [] for k in igs}
    rest: dict[str, list[float]] = {k: [] for k in igs}
    for i in range(args.calls):
        for k in ("new", "ref") if i % 2 == 0 else ("ref", "new"):
            inside[0] = 0.0
            t0 = time.thread_time()
            igs[k].explain(x, target=0)
            dt = time.thread_time() - t0
            call[k].append(dt)
            rest[k].append(dt - inside[0])
    shutil.rmtree(tmp, ignore_errors=True)
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
    print(
        f"{args.samples} samples, {args.domain}, {int(out['evaluations'])} evaluations, "
        f"{args.calls} pairs, load {load}: call {out['call_new_ms']:.1f} ms (ref "
        f"{out['call_ref_ms']:.1f}; paired ratio {out['call_ratio']:.3f}), rest "
        f"{out['rest_new_ms']:.1f} ms (ref {out['rest_ref_ms']:.1f}; paired ratio "
        f"{out['rest_ratio']:.3f})"
    )
    return out


if __name__ == "__main__":
    main()
