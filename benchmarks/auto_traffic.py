"""The adaptive default's data traffic: its loop's torch operations and bytes, per section.

Every ATen operation of an adaptive call outside the model calls is counted (a
``TorchDispatchMode``) and put in the section of the loop it runs in (the lap markers of
``auto_sections.py``, whose instrumented copy of the package this uses): the number of
operations, the bytes of their tensor inputs (read) and outputs (written; views, empty
tensors and scalar reads count as operations but move no bytes), and the largest writers
by operation and dtype. Counts are deterministic (the same call, the same numbers); they
say how many passes over the points' gradients and the rules' outputs a call makes, and
in which precision, not how long they take (``auto_sections.py``). In-place operations
count their ``self`` as read and as written.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/auto_traffic.py [--samples 32]
[--calls 3] [--domain fourier]``; ``--tree PATH`` counts another checkout's ``src/cdig``
(with this script's harness).
"""

from __future__ import annotations

import argparse
import collections
import importlib
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from auto_sections import _instrumented
from speed import GeluTransformer, tiny, wide
from torch.utils._python_dispatch import TorchDispatchMode

#: operations that make views, empty tensors or read a scalar: counted, no bytes
MOVE_NOTHING = {
    "view",
    "reshape",
    "_reshape_alias",
    "_unsafe_view",
    "slice",
    "select",
    "as_strided",
    "unsqueeze",
    "squeeze",
    "expand",
    "t",
    "transpose",
    "permute",
    "view_as_real",
    "view_as_complex",
    "unbind",
    "split",
    "alias",
    "detach",
    "narrow",
    "lift_fresh",
    "_conj",
    "conj",
    "resolve_conj",
    "resolve_neg",
    "empty",
    "empty_strided",
    "_local_scalar_dense",
    "is_nonzero",
}


def _nbytes(t: Any) -> int:
    return t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--domain", default="fourier")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="cdig-traffic-"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _count(args, _instrumented(tmp, args.tree.resolve()))
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(tmp, ignore_errors=True)


def _count(args: argparse.Namespace, pkg: Any) -> dict[str, list[float]]:
    adaptive = importlib.import_module("cdig_laps._adaptive")
    engine = importlib.import_module("cdig_laps.engine")
    torch.manual_seed(0)
    for make in (tiny, tiny, wide, wide, GeluTransformer):  # speed.py's adaptive row's net
        make()
    model, x = tiny().eval(), torch.randn(32, 1, 256)[: args.samples]
    state = {"model": False, "on": False}
    original = engine.integrate_adaptive

    def integrate(gradient_at: Any, *a: Any, **k: Any) -> Any:
        def marked(*aa: Any, **kk: Any) -> Any:
            state["model"] = True
            try:
                return gradient_at(*aa, **kk)
            finally:
                state["model"] = False

        return original(marked, *a, **k)

    engine.integrate_adaptive = integrate
    # per section: operations, bytes read, bytes written; and the writers by (op, dtype)
    sections: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    writers: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, a: Any = (), kw: Any = None) -> Any:
            out = func(*a, **(kw or {}))
            if state["model"] or not state["on"]:
                return out
            name = func.__name__.split(".")[0]
            sec = adaptive._LAP_STATE["name"] or "outside the loop"
            s = sections[sec]
            s[0] += 1
            if name in MOVE_NOTHING:
                return out
            ins = list(a) + list((kw or {}).values())
            flat = [u for t in ins for u in (t if isinstance(t, (list, tuple)) else [t])]
            s[1] += sum(_nbytes(t) for t in flat)
            outs = out if isinstance(out, (list, tuple)) else [out]
            for t in outs:
                if isinstance(t, torch.Tensor):
                    s[2] += _nbytes(t)
                    writers[sec][(name, str(t.dtype).replace("torch.", ""))] += _nbytes(t)
            return out

    ig = pkg.CrossDomainIG(model, args.domain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            res = ig.explain(x, target=0)
        with Count():
            state["on"] = True
            for _ in range(args.calls):
                adaptive._LAP_STATE["name"] = None
                ig.explain(x, target=0)
            adaptive._LAP_STATE["name"] = None
            state["on"] = False
    n = args.calls
    print(
        f"{args.samples} samples, {args.domain}, {int(res.n_evaluations.sum())} evaluations, "
        f"per call ({args.tree}):"
    )
    print(
        f"  {'section':18s} {'ops':>6s} {'read MB':>8s} {'written MB':>10s}   largest writers (MB)"
    )
    total = [0.0, 0.0, 0.0]
    out: dict[str, list[float]] = {}
    for sec, (ops, rd, wr) in sections.items():
        total = [total[0] + ops, total[1] + rd, total[2] + wr]
        out[sec] = [ops / n, rd / n / 1e6, wr / n / 1e6]
        top = ", ".join(
            f"{op} {dt} {b / n / 1e6:.2f}" for (op, dt), b in writers[sec].most_common(5)
        )
        print(f"  {sec:18s} {ops / n:6.0f} {rd / n / 1e6:8.2f} {wr / n / 1e6:10.2f}   {top}")
    out["total"] = [total[0] / n, total[1] / n / 1e6, total[2] / n / 1e6]
    print(
        f"  {'total':18s} {total[0] / n:6.0f} {total[1] / n / 1e6:8.2f} {total[2] / n / 1e6:10.2f}"
    )
    return out


if __name__ == "__main__":
    main()
