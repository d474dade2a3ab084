"""Time and peak memory against series length, batch size and n_steps.

Each configuration runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``) is its own. The model is a width-16 ReLU conv net; the domain is the
onesided Fourier domain. Memory should stay bounded by ``internal_batch_size`` (chunked
evaluation), so it must not grow with ``n_steps``; time should follow the cost model
``t = t0 + c * batch * n_steps * T`` (model evaluations times their size), which the script
fits by least squares and reports with the largest relative residual.

Run: ``.venv/bin/python benchmarks/scaling.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, resource, sys, time, torch, cdig
T, B, N, IBS = (int(v) for v in sys.argv[1:5])
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv1d(1, 16, 7, padding=3), torch.nn.ReLU(),
    torch.nn.Conv1d(16, 16, 7, padding=3), torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(16, 2)).eval()
x = torch.randn(B, 1, T)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cdig.explain(model, x[:1, :, :64], "fourier", target=0, n_steps=2)  # warm-up
t0 = time.perf_counter()
cdig.explain(model, x, "fourier", target=0, n_steps=N, internal_batch_size=IBS or None)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"time": dt, "peak_mb": peak / 1024, "base_mb": base / 1024}))
"""


def run(n_times: int, batch: int, n_steps: int, ibs: int = 0) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n_times), str(batch), str(n_steps), str(ibs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        grid = [(256, 4, 16), (1024, 4, 16)]
    else:
        grid = [(t, 8, 64) for t in (256, 1024, 4096, 16384)]
        grid += [(1024, b, 64) for b in (1, 4, 32, 64)]
        grid += [(1024, 8, n) for n in (16, 128, 256, 512)]
    rows = []
    print(f"{'T':>6} {'batch':>5} {'steps':>5} {'evals*T':>10} {'time s':>8} {'peak MB':>8}")
    for n_times, batch, n_steps in grid:
        r = run(n_times, batch, n_steps)
        work = batch * n_steps * n_times
        rows.append({"T": n_times, "batch": batch, "steps": n_steps, "work": work, **r})
        print(
            f"{n_times:>6} {batch:>5} {n_steps:>5} {work:>10.3g} {r['time']:>8.3f} "
            f"{r['peak_mb']:>8.0f}"
        )
    work = np.array([r["work"] for r in rows], dtype=float)
    secs = np.array([r["time"] for r in rows])
    A = np.stack([np.ones_like(work), work], axis=1)
    (t0, c), *_ = np.linalg.lstsq(A, secs, rcond=None)
    resid = np.abs(A @ np.array([t0, c]) - secs) / secs
    print(
        f"fit: t = {t0 * 1e3:.1f} ms + {c * 1e9:.2f} ns * batch*steps*T; "
        f"largest relative residual {resid.max():.0%} at row {int(resid.argmax())}"
    )
    if not args.quick:
        fixed = run(1024, 8, 512, ibs=64)
        print(f"internal_batch_size=64, T=1024, batch 8, 512 steps: peak {fixed['peak_mb']:.0f} MB")
    return rows


if __name__ == "__main__":
    main()
