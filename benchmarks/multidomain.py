"""Five linear domains in one call vs five separate calls vs one domain.

Linear domains share one time-domain integration pass; each adds one vector-Jacobian
product through its inverse. Target: five domains cost at most 1.3x one domain.

Run: ``.venv/bin/python benchmarks/multidomain.py [--repeats 5] [--quick]``.
"""

from __future__ import annotations

import argparse

import torch
from speed import interleaved, wide

import cdig

WANTED = ["time", "fourier", "stft", "dct", "wavelet"]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
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

    t = interleaved({"one": one, "together": together, "separate": separate}, rep)
    t_one, t_all, t_sep = t["one"], t["together"], t["separate"]
    print(f"wide conv net, batch {batch}, T={n_times}, {n} steps, {len(domains)} domains")
    print(f"{'one domain':22} {t_one * 1e3:9.1f} ms   1.00x")
    print(f"{'all in one call':22} {t_all * 1e3:9.1f} ms   {t_all / t_one:.2f}x")
    print(f"{'separate calls':22} {t_sep * 1e3:9.1f} ms   {t_sep / t_one:.2f}x")
    return {"one": t_one, "together": t_all, "separate": t_sep}


if __name__ == "__main__":
    main()
