"""The adaptive default's call split into its model calls and the rest (its bookkeeping).

The tiny conv net of ``speed.py`` (T = 256, 32 samples, Fourier, ``n_steps="auto"``), warm
calls, thread CPU time (``time.thread_time``) with one torch thread. Each round times, in
this order, one adaptive call (and, inside it, the time spent in its model calls: forward,
backward and the path guard, through the gradient callables the engine hands to
``integrate_adaptive``) and the floor over the same evaluations (``speed.floor_points``,
every point the default used, spread evenly on each sample's path) at chunks of 64, 128
and 256. "rest" is the call minus its model calls: validation, end points, the loop's rounds,
sums, norms, decisions and the result object.

Run: ``.venv/bin/python benchmarks/auto_split.py [--rounds 15] [--internal-batch-size N]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from speed import GeluTransformer, floor_points, tiny, wide

import cdig
import cdig._adaptive
import cdig.engine

FLOOR_CHUNKS = (64, 128, 256)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--internal-batch-size", type=int, default=None)
    parser.add_argument(
        "--as-speed",
        action="store_true",
        help="the net and input of speed.py's adaptive row (seed 0 after its five rows' nets)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.as_speed:
        for make in (tiny, tiny, wide, wide, GeluTransformer):
            make()
    model = tiny().eval()
    x = torch.randn(args.samples, 1, 256)
    inside = [0.0]
    original = cdig.engine.integrate_adaptive

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(points: torch.Tensor, rows: torch.Tensor) -> Any:
            t0 = time.thread_time()
            out = fn(points, rows)
            inside[0] += time.thread_time() - t0
            return out

        return call

    def integrate(gradient_at: Any, *a: Any, **k: Any) -> Any:
        return original(timed(gradient_at), *a, **k)

    cdig.engine.integrate_adaptive = integrate  # type: ignore[assignment]
    ig = cdig.CrossDomainIG(model, cdig.domains.Fourier())
    kw: dict[str, Any] = {"target": 0}
    if args.internal_batch_size is not None:
        kw["internal_batch_size"] = args.internal_batch_size
    used = ig.explain(x, **kw).n_evaluations
    points = torch.cat(
        [torch.linspace(0, 1, int(n))[:, None, None] * x[i] for i, n in enumerate(used)]
    )
    t: dict[str, list[float]] = {k: [] for k in ("auto", "model", *map(str, FLOOR_CHUNKS))}
    for _ in range(args.rounds):
        inside[0] = 0.0
        t0 = time.thread_time()
        ig.explain(x, **kw)
        t["auto"].append(time.thread_time() - t0)
        t["model"].append(inside[0])
        for s in FLOOR_CHUNKS:
            t0 = time.thread_time()
            floor_points(model, points, s)
            t[str(s)].append(time.thread_time() - t0)
    cdig.engine.integrate_adaptive = original  # type: ignore[assignment]
    a = {k: np.asarray(v) for k, v in t.items()}
    best = min(map(str, FLOOR_CHUNKS), key=lambda k: float(np.median(a[k])))
    out = {
        "evaluations": float(used.sum()),
        "auto_ms": 1e3 * float(np.median(a["auto"])),
        "model_ms": 1e3 * float(np.median(a["model"])),
        "rest_ms": 1e3 * float(np.median(a["auto"] - a["model"])),
        "floor_ms": 1e3 * float(np.median(a[best])),
        "floor_chunk": float(best),
        "floor256_ms": 1e3 * float(np.median(a["256"])),
        "auto_over_floor": float(np.median(a["auto"] / a[best])),
        "rest_over_floor": float(np.median((a["auto"] - a["model"]) / a[best])),
    }
    print(
        f"{int(out['evaluations'])} evaluations: auto {out['auto_ms']:.1f} ms = model calls "
        f"{out['model_ms']:.1f} + rest {out['rest_ms']:.1f}; floor {out['floor_ms']:.1f} ms "
        f"at chunk {best} ({out['floor256_ms']:.1f} at 256); auto / floor "
        f"{out['auto_over_floor']:.2f}, rest / floor {out['rest_over_floor']:.2f}"
    )
    return out


if __name__ == "__main__":
    main()
