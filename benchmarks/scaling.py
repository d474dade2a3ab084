"""Time and peak memory against series length, batch size and n_steps.

Each configuration runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``) is its own. The model is a width-16 ReLU conv net; the domain is the
onesided Fourier domain. Memory should stay bounded by ``internal_batch_size`` (chunked
evaluation), so it must not grow with ``n_steps``; time should follow the cost model
``t = t0 + c * batch * n_steps * T`` (model evaluations times their size), which the script
fits by least squares and reports with the largest relative residual.

Two long-recording cases measure the bounded memory of the adaptive default (see "Memory" in
``docs/accuracy.md``): ``--memory`` explains one sample of 64 channels x 100,000 points
(float32, 24 MiB) with a width-8 conv net in the time, Fourier, STFT and cepstrum domains;
``--hour`` explains one hour of a 64-channel EEG at 256 Hz (921,600 points, 236 MB) in the
Fourier domain. Both report the peak resident memory net of the RSS after imports, the model,
the input and a warm-up call, and its ratio to the input.

Run: ``.venv/bin/python benchmarks/scaling.py [--quick] [--memory] [--hour]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, resource, sys, time, torch, cdig
T, B, N, IBS, THREADS = (int(v) for v in sys.argv[1:6])
if THREADS:
    torch.set_num_threads(THREADS)
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


LONG = r"""
import json, resource, sys, time, warnings, torch, cdig
warnings.simplefilter("ignore")
DOMAIN, C, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv1d(C, 8, 7, padding=3), torch.nn.ReLU(),
    torch.nn.Conv1d(8, 8, 7, padding=3), torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(8, 2)).eval()
x = torch.randn(1, C, T)
cdig.explain(model, x[:, :, :256], DOMAIN, target=0, n_steps=4)  # warm-up
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
a = cdig.explain(model, x, DOMAIN, target=0)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"time": dt, "net_mb": (peak - base) / 1024, "input_mb": x.numel() * 4 / 2**20,
                  "evaluations": int(a.n_steps.max())}))
"""


def long_recording(domain: str, channels: int, n_times: int) -> dict:
    """Peak RSS (net of the baseline) and time of one default call on a long recording."""
    out = subprocess.run(
        [sys.executable, "-c", LONG, domain, str(channels), str(n_times)],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["ratio"] = r["net_mb"] / r["input_mb"]
    print(
        f"{domain:9} {channels} x {n_times}: {r['input_mb']:.0f} MB input, "
        f"{r['evaluations']} evaluations, {r['time']:.1f} s, peak +{r['net_mb']:.0f} MB "
        f"({r['ratio']:.1f}x the input)"
    )
    return r


def run(n_times: int, batch: int, n_steps: int, ibs: int = 0, threads: int = 0) -> dict:
    args = [str(v) for v in (n_times, batch, n_steps, ibs, threads)]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--memory", action="store_true", help="the 24 MiB request per domain")
    parser.add_argument("--hour", action="store_true", help="one hour of 64-channel EEG")
    args = parser.parse_args(argv)
    if args.memory or args.hour:
        out = []
        if args.memory:
            for domain in ("time", "fourier", "stft", "cepstrum"):
                out.append({"domain": domain, **long_recording(domain, 64, 100_000)})
        if args.hour:
            out.append({"domain": "fourier", **long_recording("fourier", 64, 3600 * 256)})
        return out
    if args.quick:
        grid = [(256, 4, 16), (1024, 4, 16)]
    else:
        grid = [(t, 8, 64) for t in (256, 1024, 4096, 16384)]
        grid += [(1024, b, 64) for b in (1, 4, 32, 64)]
        grid += [(1024, 8, n) for n in (16, 128, 256, 512)]
    rows = []
    print(f"{'T':>6} {'batch':>5} {'steps':>5} {'evals*T':>10} {'time s':>8} {'peak MB':>8}")
    for n_times, batch, n_steps in grid:
        r = run(n_times, batch, n_steps, threads=args.threads)
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
        fixed = run(1024, 8, 512, ibs=64, threads=args.threads)
        print(f"internal_batch_size=64, T=1024, batch 8, 512 steps: peak {fixed['peak_mb']:.0f} MB")
    return rows


if __name__ == "__main__":
    main()
