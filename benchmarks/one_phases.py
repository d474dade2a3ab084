"""Where the one-sample fixed call's time goes, this tree against a reference checkout's.

The reference's ``src/cdig`` is copied to a temporary folder as the package ``cdig_ref`` (as
``one_pair.py`` does), and the same functions of both packages (``PHASES``: the call's
phases, from the settings to the result object) are wrapped with thread CPU timers; warm
calls of ``attribute(x[:1], target=0, n_steps=64)`` of ``speed.py``'s tiny conv net (T =
256, ``Fourier()`` object) alternate between the two versions in a random order, and each
phase's median time per call is printed side by side. Times are inclusive (a phase
contains the phases it calls) and include the timers' own cost (a few hundred ns per
wrapped call, the same in both versions); one thread. The wrappers are removed at the end.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/one_phases.py /path/to/reference/checkout
[--calls 400]``.
"""

from __future__ import annotations

import argparse
import collections
import functools
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
from speed import tiny

import cdig

#: (module, attribute) of each timed phase, in the order printed.
PHASES = (
    ("cdig.engine", "CrossDomainIG.run"),
    ("cdig._settings", "Settings.__init__"),
    ("cdig.models._torch", "TorchModel.dtype_and_device"),
    ("cdig._inputs", "as_series"),
    ("cdig._inputs", "as_baselines"),
    ("cdig.targets", "as_target"),
    ("cdig.engine", "CrossDomainIG._eval_bytes"),
    ("cdig.engine", "CrossDomainIG._run"),
    ("cdig.engine", "CrossDomainIG._plan"),
    ("cdig._evaluate", "evaluate"),
    ("cdig.engine", "CrossDomainIG._integrate_target"),
    ("cdig.engine", "_integrate"),
    ("cdig.engine", "_path_gradient"),
    ("cdig.engine", "_output_gradient"),
    ("cdig.engine", "_attributions"),
    ("cdig.engine", "CrossDomainIG._result"),
    ("cdig.attribution", "Attribution.__init__"),
    ("cdig._warnings", "warn_unconverged_results"),
    ("cdig._warnings", "warn_constant_outputs"),
)


def _wrap(
    package: str, tag: str, module: str, attr: str, spent: dict[tuple[str, str], int]
) -> list[tuple[Any, str, Any]]:
    """Time ``attr`` of ``module`` of ``package`` (also where other modules of the package
    imported it by name); returns what to put back: (owner, name, original)."""
    mod = importlib.import_module(package + module[len("cdig") :])
    owner: Any = mod
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    orig = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    key = (tag, attr)

    @functools.wraps(orig)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time_ns()
        try:
            return orig(*args, **kwargs)
        finally:
            spent[key] += time.thread_time_ns() - t0

    undo = [(owner, name, orig)]
    setattr(owner, name, timed)
    if not path:  # a module-level function: also the names other modules imported
        for other in list(sys.modules.values()):
            mod_name = getattr(other, "__name__", "") or ""
            if other is not mod and mod_name.split(".")[0] == package:
                if other.__dict__.get(name) is orig:
                    undo.append((other, name, orig))
                    setattr(other, name, timed)
    return undo


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", help="a checkout of the reference version")
    parser.add_argument("--calls", type=int, default=400, help="timed calls of each version")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp()
    undo: list[tuple[Any, str, Any]] = []
    try:
        shutil.copytree(Path(args.reference) / "src" / "cdig", Path(tmp) / "cdig_ref")
        sys.path.insert(0, tmp)
        ref = importlib.import_module("cdig_ref")
        spent: dict[tuple[str, str], int] = collections.defaultdict(int)
        for package, tag in (("cdig", "new"), ("cdig_ref", "ref")):
            for module, attr in PHASES:
                undo += _wrap(package, tag, module, attr, spent)
        torch.manual_seed(0)
        model = tiny().eval()
        x = torch.randn(1, 1, 256)
        a = cdig.CrossDomainIG(model, cdig.domains.Fourier())
        b = ref.CrossDomainIG(model, ref.domains.Fourier())
        fns: dict[str, Callable[[], object]] = {
            "new": lambda: a.attribute(x, target=0, n_steps=64),
            "ref": lambda: b.attribute(x, target=0, n_steps=64),
        }
        for _ in range(20):  # past the call that measures the call size
            fns["new"]()
            fns["ref"]()
        per: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        rng = random.Random(0)
        for _ in range(args.calls):
            for tag in rng.sample(list(fns), 2):
                fns[tag]()  # warm, as speed.py times a call
                spent.clear()
                t0 = time.thread_time_ns()
                fns[tag]()
                spent[(tag, "call")] += time.thread_time_ns() - t0
                for key, ns in spent.items():
                    per[key].append(ns)
    finally:
        for owner, name, orig in reversed(undo):
            setattr(owner, name, orig)
        shutil.rmtree(tmp, ignore_errors=True)
        if tmp in sys.path:
            sys.path.remove(tmp)
        for name in [m for m in sys.modules if m == "cdig_ref" or m.startswith("cdig_ref.")]:
            del sys.modules[name]
        torch.set_num_threads(threads)
    out: dict[str, tuple[float, float]] = {}
    print(f"median us of thread CPU time per call, {args.calls} warm calls of each, interleaved")
    print(f"{'phase':34s} {'ref':>8s} {'new':>8s} {'saved':>7s}")
    for attr in ("call", *(a for _, a in PHASES)):
        r, n = (
            float(np.median(per[t, attr])) / 1e3 if per[t, attr] else 0.0 for t in ("ref", "new")
        )
        out[attr] = (r, n)
        print(f"{attr:34s} {r:8.1f} {n:8.1f} {r - n:7.1f}")
    return out


if __name__ == "__main__":
    main()
