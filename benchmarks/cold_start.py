"""Cold start: ``import cdig``, ``cdig --help``, ``import torch`` and ``import captum.attr``.

Each is a fresh Python process; one round runs all of them once in a random order, and the
ratios are the median over rounds of ``t / t(import torch)`` within a round (paired, so that
load from elsewhere cancels). The first round is untimed (it warms the disk cache).

Run: ``.venv/bin/python benchmarks/cold_start.py [--repeats 7] [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SRC = str(Path(__file__).resolve().parents[1] / "src")

COMMANDS = {
    "import torch": ["-c", "import torch"],
    "import cdig": ["-c", "import cdig"],
    "cdig --help": [
        "-c",
        "import sys; sys.argv = ['cdig', '--help']; from cdig.cli import main; main()",
    ],
    "import captum.attr": ["-c", "import captum.attr"],
}


def _time(args: list[str], src: str = SRC) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0,):
        raise RuntimeError(f"{args}: {done.stderr.decode()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one timed round")
    parser.add_argument(
        "--compare-src", help="also time `import cdig` from this source tree (an older version)"
    )
    args = parser.parse_args(argv)
    commands = {k: (v, SRC) for k, v in COMMANDS.items()}
    if args.compare_src:
        commands["import cdig (compare)"] = (COMMANDS["import cdig"], args.compare_src)
    if importlib.util.find_spec("captum") is None:
        del commands["import captum.attr"]
    repeats = 1 if args.quick else args.repeats
    times: dict[str, list[float]] = {k: [] for k in commands}
    rng = random.Random(0)
    for r in range(repeats + 1):
        order = list(commands)
        rng.shuffle(order)
        for name in order:
            t = _time(*commands[name])
            if r:  # round 0 warms the disk cache
                times[name].append(t)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ref = np.array(times["import torch"])
    print(f"{repeats} rounds, load average {load:.1f}; median s and paired ratio to import torch")
    out = {}
    for name, ts in times.items():
        arr = np.array(ts)
        out[name] = {"s": float(np.median(arr)), "ratio": float(np.median(arr / ref))}
        print(f"{name:20} {out[name]['s']:7.3f} s {out[name]['ratio']:6.2f}x")
    return out


if __name__ == "__main__":
    main()
