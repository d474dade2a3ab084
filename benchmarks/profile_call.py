"""Where the time of one ``explain`` call goes: a cProfile breakdown by part of the engine.

The tiny conv net of ``speed.py`` (T = 256), Fourier domain, warm calls, 1 and 32 samples,
a fixed ``n_steps=64`` and the adaptive default. Each part is the cumulative time of the
functions that do it (so the parts do not overlap; ``other`` is the engine's own glue), next
to the number of Python-level function calls and host reads (``.item()``, ``.tolist()``,
``.cpu()``, ``.numpy()``) per call, which do not depend on the machine's load.

Run: ``.venv/bin/python benchmarks/profile_call.py [--calls 30] [--threads 1] [--quick]``.
Timings under cProfile are inflated for Python-heavy parts (every function call is
recorded); read them as shares, and the call counts as exact.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
from collections.abc import Callable
from typing import Any

import torch
from speed import tiny

import cdig

Key = tuple[str, int, str]

#: Host reads: each one waits for the device (a no-op wait on CPU, but a Python call).
SYNCS = ("item", "tolist", "cpu", "numpy")
#: Torch operations counted per call (each is a dispatch; ``isfinite`` is what a guard costs).
OPS = ("isfinite",)


def _match(key: Key, file: str, names: tuple[str, ...]) -> bool:
    return key[0].replace(os.sep, "/").endswith(file) and key[2] in names


class Breakdown:
    """Cumulative times of chosen functions in a :class:`pstats.Stats`, optionally by caller."""

    def __init__(self, stats: pstats.Stats) -> None:
        self.raw: dict[Key, Any] = stats.stats  # type: ignore[attr-defined]

    def ct(self, file: str, *names: str, caller: Callable[[Key], bool] | None = None) -> float:
        total = 0.0
        for key, (_, _, _, ct, callers) in self.raw.items():
            if not _match(key, file, names):
                continue
            if caller is None:
                total += ct
            else:
                total += sum(v[3] for c, v in callers.items() if caller(c))
        return total

    def ct_calls(self, name: str) -> int:
        """Calls of the torch function ``name`` (e.g. ``"isfinite"``)."""
        return sum(
            v[1]
            for k, v in self.raw.items()
            if k[0] == "~" and k[2] == f"<built-in method torch.{name}>"
        )

    def calls(self, name: str) -> int:
        """Calls of the C method ``name`` (e.g. ``"item"``) of any object."""
        return sum(
            v[1]
            for k, v in self.raw.items()
            if k[0] == "~" and (k[2].endswith(f"'{name}' of 'torch._C.TensorBase' objects>"))
        )


def profile(ig: Any, x: torch.Tensor, n_steps: Any, calls: int) -> tuple[dict[str, float], dict]:
    """Per-call seconds of each part, and per-call counts."""
    for _ in range(3):
        ig.explain(x, target=0, n_steps=n_steps)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        ig.explain(x, target=0, n_steps=n_steps)
    prof.disable()
    st = pstats.Stats(prof)
    b = Breakdown(st)
    total = b.ct("cdig/engine.py", "explain")

    def from_path(c: Key) -> bool:  # the model on the path (not the end points)
        return c[0].endswith("cdig/engine.py") and c[2] in ("f", "g")

    parts = {
        "validation": b.ct("cdig/_settings.py", "__post_init__")
        + b.ct("cdig/models/_wrap.py", "wrap")
        + b.ct(
            "cdig/_inputs.py",
            "as_series",
            "as_forward_args",
            "as_baselines",
            "as_target",
            "resolve_domains",
            "resolve_target",
        ),
        "module search": b.ct("cdig/models/_reach.py", "reachable"),
        "dtype/device": b.ct("cdig/models/_torch.py", "dtype", "device", "dtype_and_device")
        - b.ct("cdig/models/_torch.py", "modules"),
        "layout probes": b.ct("cdig/engine.py", "_eval_bytes")
        + b.ct("cdig/_guards.py", "float64_if_needed"),
        "eval mode": b.ct("cdig/models/_torch.py", "inference"),
        "guards": b.ct("cdig/_guards.py", "check_outputs_finite")
        + b.ct("cdig/engine.py", "_check_path_finite", "_check_values_finite"),
        "domain transforms": b.ct("cdig/domains/_base.py", "clone")
        + b.ct("cdig/engine.py", "_plan", "measure")
        + sum(b.ct(f"cdig/domains/{m}.py", "fit") for m in ("fourier", "_base")),
        "end points": b.ct("cdig/_evaluate.py", "evaluate"),
        "model forward (path)": b.ct("cdig/_guards.py", "call", caller=from_path),
        "backward (path)": b.ct("~", "<method 'run_backward' of 'torch._C._EngineBase' objects>"),
        "adaptive bookkeeping": b.ct("cdig/_adaptive.py", "integrate_adaptive"),
        "result object": b.ct("cdig/engine.py", "_result")
        + b.ct("cdig/_warnings.py", "warn_unconverged_results", "warn_constant_outputs"),
    }

    def in_path_gradient(c: Key) -> bool:
        return c[0].endswith("cdig/engine.py") and c[2] == "_path_gradient"

    # the gradient of a block: _gradient (checked) or _output_gradient (unchecked, the
    # fixed path's fused guard), whichever the engine calls
    gradient = (
        b.ct("cdig/engine.py", "_gradient")
        + b.ct("cdig/engine.py", "_output_gradient")
        - b.ct("cdig/engine.py", "_output_gradient", caller=lambda c: c[2] == "_gradient")
    )
    if parts["adaptive bookkeeping"]:
        # integrate_adaptive minus what it calls that is counted elsewhere (the model, its
        # gradient, the guards on the path, the domain maps of the error estimate)
        parts["adaptive bookkeeping"] -= gradient + b.ct(
            "cdig/engine.py", "measure", caller=lambda c: "_adaptive" in c[0]
        )
        path_glue = 0.0
    else:
        path_glue = b.ct("cdig/engine.py", "_path_gradient") - b.ct(
            "cdig/engine.py", "_gradient", "_output_gradient", caller=in_path_gradient
        )
    parts["path points + weighted sums"] = path_glue
    parts["autograd call (grad, sum)"] = (
        gradient
        - b.ct("cdig/_guards.py", "call", caller=from_path)
        - b.ct("~", "<method 'run_backward' of 'torch._C._EngineBase' objects>")
        - b.ct("cdig/engine.py", "_check_path_finite")
    )
    parts["other"] = total - sum(parts.values())
    per = {k: v / calls for k, v in parts.items()}
    counts = {
        "function calls": st.total_calls / calls,  # type: ignore[attr-defined]
        **{f".{s}()": b.calls(s) / calls for s in SYNCS},
        **{f"torch.{o}": b.ct_calls(o) / calls for o in OPS},
    }
    return per, counts


def main(argv: list[str] | None = None) -> list[tuple[int, object, dict, dict]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 calls, 1 sample")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = tiny().eval()
    ig = cdig.CrossDomainIG(model, cdig.domains.Fourier())
    configs = [(1, 64), (1, "auto"), (32, 64), (32, "auto")]
    if args.quick:
        configs, args.calls = [(1, 64), (1, "auto")], 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f}, threads={torch.get_num_threads()}, {args.calls} calls each")
    rows = []
    for batch, n in configs:
        x = torch.randn(batch, 1, 256)
        rows.append((batch, n, *profile(ig, x, n, args.calls)))
    names = list(rows[0][2])
    head = "".join(f"{f'B={b} n={n}':>14}" for b, n, _, _ in rows)
    print(f"{'part (ms per call, share)':28}{head}")
    for name in names:
        cells = "".join(
            f"{1e3 * per[name]:7.2f} {100 * per[name] / sum(per.values()):4.0f}%"
            for _, _, per, _ in rows
        )
        print(f"{name:28}{cells}")
    total = "".join(f"{1e3 * sum(per.values()):7.2f}      " for _, _, per, _ in rows)
    print(f"{'total':28}{total}")
    for name in rows[0][3]:
        print(f"{name:28}" + "".join(f"{c[name]:12.0f}  " for _, _, _, c in rows))
    return rows


if __name__ == "__main__":
    main()
