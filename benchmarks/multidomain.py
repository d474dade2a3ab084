"""Five linear domains in one call vs five separate calls vs one domain.

Linear domains share one time-domain integration pass; each adds one vector-Jacobian
product through its inverse. Target: five domains cost at most 1.3x one domain. Also timed:
the five in one call with ``linear_shortcut=False`` (one integration per domain, in its own
coefficients), and how far its attributions are from the shared pass's.

Run: ``.venv/bin/python benchmarks/multidomain.py [--repeats 5] [--quick]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from speed import interleaved, wide

import cdig

WANTED = ["time", "fourier", "stft", "dct", "wavelet"]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    domains = [d for d in WANTED if d in cdig.domains.available_domains()]
    if len(domains) < len(WANTED):
        print(f"note: only {domains} exist; missing {sorted(set(WANTED) - set(domains))}")
    torch.manual_seed(0)
    model = wide().eval()
    batch, n_times = (2, 256) if args.quick else (8, 1024)
    rep = 1 if args.quick else args.repeats
    x = torch.randn(batch, 1, n_times)
    n = args.steps

    def one() -> object:
        return cdig.explain(model, x, "fourier", target=0, n_steps=n, fs=100.0)

    def together() -> object:
        return cdig.explain(model, x, domains, target=0, n_steps=n, fs=100.0)

    def separate() -> object:
        return [cdig.explain(model, x, d, target=0, n_steps=n, fs=100.0) for d in domains]

    unshared_ig = cdig.CrossDomainIG(model, domains, fs=100.0, linear_shortcut=False)

    def unshared() -> dict[str, cdig.Attribution]:
        return unshared_ig.explain(x, target=0, n_steps=n)  # type: ignore[return-value]

    t = interleaved(
        {"one": one, "together": together, "separate": separate, "unshared": unshared}, rep
    )
    a, b = together(), unshared()
    diff = max(
        float(np.abs(a[d].values - b[d].values).max() / np.abs(b[d].values).max())  # type: ignore[index]
        for d in domains
    )
    print(f"wide conv net, batch {batch}, T={n_times}, {n} steps, {len(domains)} domains")
    rows = [
        ("one domain", "one"),
        ("all in one call", "together"),
        ("separate calls", "separate"),
        ("one call, unshared", "unshared"),
    ]
    for label, key in rows:
        print(f"{label:22} {t[key] * 1e3:9.1f} ms   {t[key] / t['one']:.2f}x")
    print(f"shared vs unshared attributions: max relative difference {diff:.1e}")
    return {**t, "max_rel_diff": diff}


if __name__ == "__main__":
    main()
