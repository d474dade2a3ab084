"""The one-sample fixed-step call of this tree against a reference checkout's, in one process.

The reference's ``src/cdig`` is copied to a temporary folder as the package ``cdig_ref``
(cdig imports itself relatively only), so both explain the same model and input in the
same process: ``explain(x[:1], target=0, n_steps=64)`` of the tiny conv net of
``speed.py`` (T = 256; ``--model free``: ``Flatten`` + ``Linear(256, 2)``, whose cost is
the call's fixed cost), Fourier given as a name (``--domain name``, how
``cdig.explain(model, x, "fourier")`` is called) or as an object (``speed.py``'s row).
Each round times, in a random order, a call of each version, the floor (forward and
backward of the 64 path points in two model calls of 32, as ``speed.floor_run``) and the
end points (``speed.end_points``); thread CPU time with one torch thread, medians over the
rounds. The two results are first checked to be bitwise the same.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/one_pair.py /path/to/reference/checkout
[--rounds 250] [--model tiny|free] [--domain name|object]``.
"""

from __future__ import annotations

import argparse
import importlib
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from speed import end_points, floor_run, tiny

import cdig


def _size(package: Any, model: torch.nn.Module) -> str:
    """The measured call sizes in use for ``model`` ("-": none measured)."""
    facts = package.engine._MODEL_FACTS.get(id(model))
    if facts is None:
        return "-"
    return ",".join(str(v.size) for k, v in facts[1].items() if k[0] == "calls") or "-"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", help="a checkout of the reference version")
    parser.add_argument("--rounds", type=int, default=250)
    parser.add_argument("--model", choices=("tiny", "free"), default="tiny")
    parser.add_argument("--domain", choices=("name", "object"), default="name")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp()
    try:
        shutil.copytree(Path(args.reference) / "src" / "cdig", Path(tmp) / "cdig_ref")
        sys.path.insert(0, tmp)
        ref = importlib.import_module("cdig_ref")
        torch.manual_seed(0)
        if args.model == "free":
            model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 2)).eval()
        else:
            model = tiny().eval()
        x = torch.randn(1, 1, 256)
        new_dom = "fourier" if args.domain == "name" else cdig.domains.Fourier()
        ref_dom = "fourier" if args.domain == "name" else ref.domains.Fourier()
        a, b = cdig.CrossDomainIG(model, new_dom), ref.CrossDomainIG(model, ref_dom)
        for _ in range(4):  # past the call that measures the call size
            ra, rb = a.explain(x, target=0, n_steps=64), b.explain(x, target=0, n_steps=64)
        if not (np.array_equal(ra.values, rb.values) and np.array_equal(ra.delta, rb.delta)):
            raise SystemExit("the two versions' results differ: not a pure speed comparison")
        fns: dict[str, Callable[[], object]] = {
            "new": lambda: a.explain(x, target=0, n_steps=64),
            "ref": lambda: b.explain(x, target=0, n_steps=64),
            "floor": lambda: floor_run(model, x, 64, 32),
            "ends": lambda: end_points(model, x),
        }
        times: dict[str, list[float]] = {k: [] for k in fns}
        rng = random.Random(0)
        for i in range(20 + args.rounds):
            order = list(fns)
            rng.shuffle(order)
            for k in order:
                t0 = time.thread_time()
                fns[k]()
                if i >= 20:  # the first rounds warm up
                    times[k].append(time.thread_time() - t0)
        med = {k: float(np.median(v)) for k, v in times.items()}
        floor_ends = med["floor"] + med["ends"]
        out = {
            "new_over_ref": float(np.median(np.array(times["new"]) / np.array(times["ref"]))),
            "new_over_floor_ends": med["new"] / floor_ends,
            "ref_over_floor_ends": med["ref"] / floor_ends,
            **{f"{k}_ms": 1e3 * v for k, v in med.items()},
            "sizes": (_size(cdig, model), _size(ref, model)),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if tmp in sys.path:
            sys.path.remove(tmp)
        for name in [m for m in sys.modules if m == "cdig_ref" or m.startswith("cdig_ref.")]:
            del sys.modules[name]  # a later copy (another run) imports its own
        torch.set_num_threads(threads)
    print(
        f"{args.model} model, domain as a {args.domain}, {args.rounds} rounds: "
        f"new/ref {out['new_over_ref']:.3f} (paired ratio)  new/(floor+ends) "
        f"{out['new_over_floor_ends']:.2f}  ref/(floor+ends) {out['ref_over_floor_ends']:.2f}"
        f"  floor {out['floor_ms']:.3f} ms  ends {out['ends_ms']:.3f} ms  new "
        f"{out['new_ms']:.3f} ms  ref {out['ref_ms']:.3f} ms  call sizes (new, ref) "
        f"{out['sizes']}"
    )
    return out


if __name__ == "__main__":
    main()
