"""The default model calls of the path against one call per block of sums (issue 25 item 4).

For each compute row of ``speed.py`` (and the tiny net), times in one run, interleaved: the
floor at chunks of 8 .. 256 evaluations, cdig's default (blocks of sums by memory, model
calls of at most ``CALL_BYTES``) and cdig with ``internal_batch_size`` set to the default
block (one model call per block: the default before this change; the same sums, so the
same results). Ratios are medians of paired per-round ratios to the best floor.

Run: ``.venv/bin/python benchmarks/call_split.py [--rows w512,w2048,gelu] [--seconds 60]
[--clock cpu]`` (one thread).
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from speed import GeluTransformer, floor_run, tiny, wide

import cdig
from cdig.engine import auto_batch_size

ROWS = {
    "w512": (wide, 512, 8),
    "w2048": (wide, 2048, 8),
    "gelu": (GeluTransformer, 96, 32),
    "t32": (tiny, 256, 32),
    "t1": (tiny, 256, 1),
}


def measure_row(name: str, seconds: float, clock) -> tuple[dict[str, float], str]:
    """Paired ratios to the best floor of one row, and a line describing it."""
    make, n_times, batch = ROWS[name]
    model = make().eval()
    x = torch.randn(batch, 1, n_times)
    ig = cdig.CrossDomainIG(model, cdig.domains.Fourier())
    eval_bytes = ig._eval_bytes(model, x)
    block = auto_batch_size(eval_bytes, batch * 64)
    fns = {
        f"floor@{c}": (lambda c=c: floor_run(model, x, 64, c))
        for c in (8, 16, 32, 64, 128, 256)
        if c <= batch * 64
    }
    fns["default"] = lambda: ig.explain(x, target=0, n_steps=64)
    fns["one call per block"] = lambda: ig.explain(
        x, target=0, n_steps=64, internal_batch_size=block
    )
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    rng, t_end = random.Random(0), time.time() + seconds
    while time.time() < t_end or len(times["default"]) < 3:
        order = list(fns)
        rng.shuffle(order)
        for k in order:
            t0 = clock()
            fns[k]()
            times[k].append(clock() - t0)
    t = {k: np.array(v) for k, v in times.items()}
    floor = min((k for k in t if k.startswith("floor")), key=lambda k: np.median(t[k]))
    ratio = {k: float(np.median(t[k] / t[floor])) for k in t}
    cells = "  ".join(f"{k}: {v:.2f}" for k, v in ratio.items())
    line = (
        f"{name}: {eval_bytes} bytes per evaluation, block {block}, {len(t[floor])} rounds, "
        f"floor {floor} {1e3 * np.median(t[floor]):.1f} ms; {cells}"
    )
    return ratio, line


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="w512,w2048,gelu")
    parser.add_argument("--seconds", type=float, default=60.0, help="per row, at least")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    print(f"{args.clock} clock, one thread")
    out = {}
    for name in args.rows.split(","):
        out[name], line = measure_row(name, args.seconds, clock)
        print(line, flush=True)
    return out


if __name__ == "__main__":
    main()
