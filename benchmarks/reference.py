"""cdig against the published reference implementation, as multiples of the floor.

Reference: ``cross-domain-saliency-maps`` (``pip install cross-domain-saliency-maps
--no-deps``; ``make bench`` does it), classes ``FourierIG`` (one forward and one backward per
path point, one sample at a time) and ``CaptumFourierIG`` (the same transform integrated by
Captum; we give it the whole batch at once, which favours it). Same model, same number of
steps (right Riemann sum, the reference's rule), full FFT (the reference's domain). The floor
is defined in ``speed.py``.

Run: ``.venv/bin/python benchmarks/reference.py [--steps 64] [--repeats 3] [--tuned-malloc]
[--quick]``; timing as in ``_timing.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings

import numpy as np
import torch
from _timing import add_arguments, allocator, apply, best_of, paired_ratio, rounds
from speed import CHUNKS, end_points, floor_fns, tiny, wide

import cdig


def reference_fourier(model: torch.nn.Module, x: torch.Tensor, n: int) -> np.ndarray:
    from cross_domain_saliency_maps.torch_ig.cross_domain_integrated_gradients import FourierIG

    out = []
    for i in range(x.shape[0]):  # the reference explains one sample at a time
        ig = FourierIG(model, n, 0, torch.device("cpu"))
        xi = x[i : i + 1].numpy()
        # silence the reference's complex -> float cast warning and its progress bar
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            out.append(ig.run(xi, np.zeros_like(xi)).detach().numpy())
    model.zero_grad(set_to_none=True)  # the reference leaves gradients on the parameters
    return np.concatenate(out)


def reference_captum(model: torch.nn.Module, x: torch.Tensor, n: int) -> np.ndarray:
    from cross_domain_saliency_maps.torch_ig.captum_integrated_gradients import CaptumFourierIG

    ig = CaptumFourierIG(model, n, 0, torch.device("cpu"), method="riemann_right")
    xn = x.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ig.run(xn, np.zeros_like(xn)).detach().numpy()


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser, repeats=3)
    args = parser.parse_args(argv)
    apply(args)
    warnings.simplefilter("ignore", cdig.CompletenessWarning)  # few right-Riemann steps
    torch.manual_seed(0)
    configs = [
        ("overhead", "tiny", tiny(), 256, 1),
        ("overhead", "tiny", tiny(), 256, 64),
        ("compute", "wide", wide(), 512, 1),
        ("compute", "wide", wide(), 512, 64),
    ]
    chunks = CHUNKS
    if args.quick:  # a smoke run
        configs, args.repeats, args.steps, chunks = (
            [("overhead", "tiny", tiny(), 128, 4)],
            1,
            8,
            (16,),
        )
        args.min_seconds = 0.0
    n, rep = args.steps, args.repeats
    print(
        f"n_steps={n}, right Riemann sum, full FFT, threads={torch.get_num_threads()}, "
        f"{allocator()}, {'cold' if args.cold else 'warm'} calls; times as multiples of the "
        f"floor (median of paired per-round ratios, >= {rep} rounds, >= {args.min_seconds} s)"
    )
    print(
        f"{'regime':9} {'model':5} {'T':>4} {'B':>3} {'floor ms':>9} {'cdig':>6} "
        f"{'ref loop':>9} {'ref captum':>11} {'ends':>6} {'max rel diff':>13}"
    )
    rows = []
    for regime, name, model, n_times, batch in configs:
        model.eval()
        x = torch.randn(batch, 1, n_times)
        ig = cdig.CrossDomainIG(model, cdig.domains.Fourier(onesided=False))

        def ours(ig=ig, x=x):
            return ig.attribute(x, target=0, n_steps=n, method="riemann_right")

        fns = floor_fns(model, x, n, chunks)
        fns["cdig"] = ours
        fns["ref_loop"] = lambda m=model, x=x: reference_fourier(m, x, n)
        fns["ref_captum"] = lambda m=model, x=x: reference_captum(m, x, n)
        fns["ends"] = lambda m=model, x=x: end_points(m, x)
        t = rounds(fns, rep, args.min_seconds, warm=not args.cold)
        floor = best_of(t, "floor@")
        a, b = ours(), reference_fourier(model, x, n)
        diff = float(np.abs(a - b).max() / np.abs(a).max())
        row = {
            "regime": regime,
            "model": name,
            "T": n_times,
            "B": batch,
            "floor_ms": 1e3 * float(np.median(t[floor])),
            "cdig": paired_ratio(t, "cdig", floor),
            "ref_loop": paired_ratio(t, "ref_loop", floor),
            "ref_captum": paired_ratio(t, "ref_captum", floor),
            "ends": paired_ratio(t, "ends", floor),
            "max_rel_diff": diff,
        }
        rows.append(row)
        print(
            f"{regime:9} {name:5} {n_times:>4} {batch:>3} {row['floor_ms']:>9.2f} "
            f"{row['cdig']:>6.2f} {row['ref_loop']:>9.2f} {row['ref_captum']:>11.2f} "
            f"{row['ends']:>6.2f} {diff:>13.1e}"
        )
    return rows


if __name__ == "__main__":
    main()
