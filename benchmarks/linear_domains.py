"""What linear domains cost: shared time pass vs one integration per domain, side by side.

For a width-16 conv net on 8 two-channel series of length T, it times:

* ``time``: plain IG in time (the baseline of the ratios);
* ``each alone``: each linear domain (STFT, wavelet, DCT, Fourier) explained on its own;
* ``all shared``: ``domain=["time", "fourier", "stft", "dct", "wavelet"]`` in one call, where
  the five share one time pass plus one vector-Jacobian product each;
* ``all unshared``: the same five with ``linear_shortcut=False`` (one pass per domain).

It also checks that the shared and unshared attributions agree. It prints ratios to
``time`` measured in one run (the best of ``--repeats``, settings taking turns).

Run: ``.venv/bin/python benchmarks/linear_domains.py [--length 512] [--steps 64]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

import cdig

DOMAINS = ["time", "fourier", "stft", "dct", "wavelet"]


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(2, 16, 7, padding=3),
        torch.nn.Tanh(),
        torch.nn.Conv1d(16, 16, 5, padding=2),
        torch.nn.Softplus(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 3),
    )


def best(settings: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each setting; settings take turns so load drift hits all alike."""
    times: dict[str, float] = dict.fromkeys(settings, float("inf"))
    for _ in range(repeats):
        for label, fn in settings.items():
            t0 = time.perf_counter()
            fn()
            times[label] = min(times[label], time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    net = model()
    x = np.random.default_rng(0).normal(size=(8, 2, args.length)).astype(np.float32)
    kw = {"fs": 100.0, "target": 0, "n_steps": args.steps}

    def run(domain: object, shortcut: bool = True) -> object:
        ig = cdig.CrossDomainIG(net, domain, fs=100.0, linear_shortcut=shortcut)
        return ig.explain(x, target=0, n_steps=args.steps)

    run(DOMAINS)  # warm-up (imports, allocator)
    settings: dict[str, Callable[[], object]] = {
        "time": lambda: cdig.explain(net, x, domain="time", **kw)
    }
    for name in DOMAINS[1:]:
        settings[f"{name} alone"] = lambda n=name: run(n)
    settings["all 5 shared"] = lambda: run(DOMAINS)
    settings["all 5 unshared"] = lambda: run(DOMAINS, False)
    times = best(settings, args.repeats)
    t_time = times["time"]
    rows = list(times.items())
    shared, unshared = run(DOMAINS), run(DOMAINS, False)
    worst = max(
        float(np.max(np.abs(shared[d].values - unshared[d].values)))  # type: ignore[index]
        / float(np.max(np.abs(unshared[d].values)))  # type: ignore[index]
        for d in DOMAINS
    )
    print(f"T={args.length}, n_steps={args.steps}, batch 8 x 2 channels, float32, CPU")
    print(f"{'setting':<18}{'seconds':>10}{'x time':>10}")
    for label, t in rows:
        print(f"{label:<18}{t:>10.4f}{t / t_time:>10.2f}")
    print(f"shared vs unshared: max relative difference {worst:.2e}")


if __name__ == "__main__":
    main()
