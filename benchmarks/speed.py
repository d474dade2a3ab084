"""Speed of cdig against the floor, Captum and a per-step loop, measured side by side.

The *floor* is the fastest plain forward + backward of the same model over the same path
points (the input repeated ``n_steps`` times), with gradients taken w.r.t. the input only,
at the best chunk size found by searching 8 .. 4096 evaluations per call (``chunk``). Nothing
that computes the same gradients can be much faster, so every method is reported as a multiple
of it, in two regimes (``calls``: the evaluations per model call that cdig measured for the
row's model, 0 where it measured none):

* overhead-bound: a tiny conv net, T = 256, 1 and 32 samples;
* compute-bound: a width-32 conv net, T = 512 and 2048, 8 samples;
* a GELU transformer encoder (patch embedding, two layers of width 64), T = 96 as in
  ElectricDevices, 32 samples: many small operators per call, where the default chunk size
  matters most (chunks of 8 made it 20x slower than chunks of 1024).

Run: ``.venv/bin/python benchmarks/speed.py [--steps 64] [--repeats 5] [--tuned-malloc] [--quick]
[--regime overhead] [--threads 1]``;
see ``_timing.py`` for how times are taken and compared.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from _timing import add_arguments, allocator, apply, best_of, paired_ratio, rounds

import cdig


def tiny() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )


def wide() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 32, 7, padding=3),
        torch.nn.ReLU(),
        torch.nn.Conv1d(32, 32, 7, padding=3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 2),
    )


class GeluTransformer(torch.nn.Module):
    """Patch embedding, two GELU encoder layers of width 64, mean pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Conv1d(1, 64, 4, stride=4)
        layer = torch.nn.TransformerEncoderLayer(
            64, 4, 128, dropout=0.0, activation="gelu", batch_first=True
        )
        self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(64, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x).transpose(1, 2)).mean(dim=1))


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time (s) of each function over ``repeats`` interleaved rounds (``_timing.rounds``)."""
    return {k: float(v.min()) for k, v in rounds(fns, repeats).items()}


def floor_fns(
    model: torch.nn.Module, x: torch.Tensor, n_steps: int, chunks=None
) -> dict[str, Callable[[], object]]:
    """The floor's candidates: one per chunk size, keyed ``floor@<chunk>``."""
    total = x.shape[0] * n_steps
    sizes = [s for s in (chunks or CHUNKS) if s <= max(16, total)]
    return {f"floor@{s}": (lambda s=s: floor_run(model, x, n_steps, s)) for s in sizes}


def floor_run(model: torch.nn.Module, x: torch.Tensor, n_steps: int, chunk: int) -> None:
    alphas = torch.linspace(0, 1, n_steps)
    points = (alphas[None, :, None, None] * x[:, None]).reshape(-1, *x.shape[1:])
    for lo in range(0, points.shape[0], chunk):
        inp = points[lo : lo + chunk].requires_grad_(True)
        torch.autograd.grad(model(inp)[:, 0].sum(), inp)


CHUNKS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def per_step_loop(model: torch.nn.Module, x: torch.Tensor, n_steps: int) -> None:
    """One forward and one backward per path point, as the reference implementation does."""
    X = torch.fft.rfft(x)
    for a in np.arange(1, n_steps + 1) / n_steps:
        Xp = (float(a) * X).detach().requires_grad_(True)
        out = model(torch.fft.irfft(Xp, n=x.shape[-1]))[:, 0].sum()
        torch.autograd.grad(out, Xp)


def end_points(model: torch.nn.Module, x: torch.Tensor) -> None:
    """f(x) and f(x'): one forward pass of 2B rows without a graph. Any method that reports
    the completeness error pays it on top of the floor (cdig does; Captum does only when
    asked for the delta, and then with a graph)."""
    with torch.no_grad():
        model(torch.cat([x, torch.zeros_like(x)]))


def measure(
    model: torch.nn.Module,
    n_times: int,
    batch: int,
    n: int,
    repeats: int,
    chunks=CHUNKS,
    min_seconds: float = 0.5,
    warm: bool = True,
) -> dict:
    """Floor time and paired ratios of cdig Fourier IG, Captum time IG and the per-step loop."""
    from captum.attr import IntegratedGradients

    model.eval()
    x = torch.randn(batch, 1, n_times)
    ig = cdig.CrossDomainIG(model, cdig.domains.Fourier())
    cap = IntegratedGradients(model)
    fns = floor_fns(model, x, n, chunks)
    fns["cdig"] = lambda: ig.attribute(x, target=0, n_steps=n)
    fns["captum"] = lambda: cap.attribute(x, target=0, n_steps=n, method="gausslegendre")
    fns["loop"] = lambda: per_step_loop(model, x, n)
    fns["ends"] = lambda: end_points(model, x)
    t = rounds(fns, repeats, min_seconds, warm=warm)
    floor = best_of(t, "floor@")
    return {
        "floor_ms": 1e3 * float(np.median(t[floor])),
        "chunk": int(floor.split("@")[1]),
        "calls": measured_calls(model),
        "rounds": len(t[floor]),
        "cdig": paired_ratio(t, "cdig", floor),
        "captum": paired_ratio(t, "captum", floor),
        "loop": paired_ratio(t, "loop", floor),
        "ends": paired_ratio(t, "ends", floor),
    }


def measured_calls(model: torch.nn.Module) -> int:
    """The evaluations per model call that cdig measured for ``model`` (its fixed-step
    path's default; 0 when none was measured: a model too large to measure)."""
    facts = cdig.engine._model_facts(model) or {}
    sizes = [int(v.size) for k, v in facts.items() if k[0] == "calls"]
    return sizes[-1] if sizes else 0


def floor_points(model: torch.nn.Module, points: torch.Tensor, chunk: int) -> None:
    """The floor over given path points (n, C, T): forward + backward, ``chunk`` at a time."""
    for lo in range(0, points.shape[0], chunk):
        inp = points[lo : lo + chunk].detach().requires_grad_(True)
        torch.autograd.grad(model(inp)[:, 0].sum(), inp)


def measure_auto(
    model: torch.nn.Module,
    n_times: int,
    batch: int,
    repeats: int,
    chunks=CHUNKS,
    min_seconds: float = 0.5,
    warm: bool = True,
) -> dict:
    """The adaptive default (``n_steps="auto"``) against the floor at its own evaluations.

    The floor evaluates, for every sample, as many path points as the default used for it
    (``Attribution.n_evaluations``), spread evenly on its path, at the best chunk size: what
    the default's evaluations cost without its rounds, error estimates and bookkeeping.
    """
    model.eval()
    x = torch.randn(batch, 1, n_times)
    ig = cdig.CrossDomainIG(model, cdig.domains.Fourier())
    used = ig.explain(x, target=0).n_evaluations
    points = torch.cat(
        [torch.linspace(0, 1, int(n))[:, None, None] * x[i] for i, n in enumerate(used)]
    )
    sizes = [s for s in chunks if s <= max(16, len(points))]
    fns: dict[str, Callable[[], object]] = {
        f"floor@{s}": (lambda s=s: floor_points(model, points, s)) for s in sizes
    }
    fns["auto"] = lambda: ig.explain(x, target=0)
    fns["fixed"] = lambda: ig.explain(x, target=0, n_steps=64)
    t = rounds(fns, repeats, min_seconds, warm=warm)
    floor = best_of(t, "floor@")
    return {
        "evaluations": int(used.sum()),
        "floor_ms": 1e3 * float(np.median(t[floor])),
        "chunk": int(floor.split("@")[1]),
        "auto": paired_ratio(t, "auto", floor),
        "fixed64": paired_ratio(t, "fixed", floor),
    }


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser, repeats=5)
    parser.add_argument(
        "--regime",
        choices=("all", "overhead", "compute", "auto"),
        default="all",
        help="rows to run (auto: only the adaptive default's rows, 32 samples and 1)",
    )
    args = parser.parse_args(argv)
    apply(args)
    torch.manual_seed(0)
    configs = [
        ("overhead", "tiny", tiny(), 256, 1),
        ("overhead", "tiny", tiny(), 256, 32),
        ("compute", "wide", wide(), 512, 8),
        ("compute", "wide", wide(), 2048, 8),
        ("compute", "gelu-tf", GeluTransformer(), 96, 32),
    ]
    configs = [c for c in configs if args.regime in ("all", c[0])]
    auto = [("overhead", "tiny", tiny(), 256, 4 if args.quick else 32)]
    if args.regime == "auto":
        auto.append(("overhead", "tiny", tiny(), 256, 1))
    chunks = CHUNKS
    if args.quick:  # a smoke run: one small config, two chunk sizes, one repeat
        configs, args.repeats, args.steps, chunks = (
            [("overhead", "tiny", tiny(), 256, 4)],
            1,
            16,
            (16, 64),
        )
        args.min_seconds = 0.0
    print(
        f"n_steps={args.steps}, threads={torch.get_num_threads()}, {allocator()}, "
        f"{args.clock} clock, "
        f"{'cold' if args.cold else 'warm'} calls; median of paired per-round ratios "
        f"(>= {args.repeats} rounds, >= {args.min_seconds} s)"
    )
    print(
        f"{'regime':9} {'model':5} {'T':>5} {'B':>3} {'floor ms':>9} {'chunk':>5} "
        f"{'cdig':>6} {'captum':>7} {'loop':>6} {'ends':>6} {'calls':>5}"
    )
    rows = []
    for regime, name, model, n_times, batch in configs:
        row = measure(
            model, n_times, batch, args.steps, args.repeats, chunks, args.min_seconds, not args.cold
        )
        rows.append({"regime": regime, "model": name, "T": n_times, "B": batch, **row})
        print(
            f"{regime:9} {name:5} {n_times:>5} {batch:>3} {row['floor_ms']:>9.2f} "
            f"{row['chunk']:>5} {row['cdig']:>6.2f} {row['captum']:>7.2f} {row['loop']:>6.2f} "
            f"{row['ends']:>6.2f} {row['calls']:>5}"
        )
    auto = auto if args.regime in ("all", "overhead", "auto") else []
    print(
        "\nthe adaptive default (n_steps='auto') vs the floor at its own evaluations "
        "(fixed64: the fixed 64-step call, same floor)"
    )
    print(
        f"{'regime':9} {'model':5} {'T':>5} {'B':>3} {'evals':>6} {'floor ms':>9} {'chunk':>5} "
        f"{'auto':>6} {'fixed64':>8}"
    )
    for regime, name, model, n_times, batch in auto:
        row = measure_auto(
            model, n_times, batch, args.repeats, chunks, args.min_seconds, not args.cold
        )
        rows.append({"regime": regime, "model": name, "T": n_times, "B": batch, **row})
        print(
            f"{regime:9} {name:5} {n_times:>5} {batch:>3} {row['evaluations']:>6} "
            f"{row['floor_ms']:>9.2f} {row['chunk']:>5} {row['auto']:>6.2f} "
            f"{row['fixed64']:>8.2f}"
        )
    return rows


if __name__ == "__main__":
    main()
