"""Bitwise snapshot of explanations, to show that a change leaves results unchanged.

Computes a fixed set of explanations (a small conv net, a module and a lambda around it,
1 and 5 samples, float32 and float64, Time/Fourier/DCT/STFT/Cepstrum and three domains in
one call, ``n_steps=64`` and ``"auto"``, an index target and ``"predicted"``; then PCA, ICA,
Wavelet, SeasonalTrend, STFT and DCT with two baselines) and saves every field of every
result to an ``.npz``; ``compare`` checks two such files with ``np.array_equal``.

Run (pin the reference with ``git worktree add /tmp/ref <commit>``)::

    PYTHONPATH=/tmp/ref/src .venv/bin/python benchmarks/bitwise.py save /tmp/before.npz
    PYTHONPATH=src .venv/bin/python benchmarks/bitwise.py save /tmp/after.npz
    .venv/bin/python benchmarks/bitwise.py compare /tmp/before.npz /tmp/after.npz
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch

FIELDS = (
    "values",
    "delta",
    "outputs",
    "baseline_outputs",
    "error",
    "converged",
    "n_evaluations",
    "n_steps",
)


def _net(dtype: torch.dtype, n_out: int) -> torch.nn.Module:
    torch.manual_seed(0)
    layers = [
        torch.nn.Conv1d(2, 4, 5, padding=2),
        torch.nn.Tanh(),
        torch.nn.AdaptiveAvgPool1d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(16, n_out),
    ]
    return torch.nn.Sequential(*layers).to(dtype).eval()


def snapshot() -> dict[str, np.ndarray]:
    import cdig
    from cdig.domains import DCT, ICA, PCA, STFT, SeasonalTrend, Wavelet

    out: dict[str, np.ndarray] = {}
    for dtype in (torch.float32, torch.float64):
        m = _net(dtype, 3)
        g = torch.Generator().manual_seed(1)
        for batch in (1, 5):
            x = torch.randn(batch, 2, 128, generator=g, dtype=dtype)
            for name, model in {"mod": m, "lam": (lambda t, m=m: m(t))}.items():
                for dom in ("time", "fourier", "dct", "stft", "cepstrum", "fourier+time+dct"):
                    if name == "lam" and dom not in ("fourier", "time"):
                        continue
                    domain = dom.split("+") if "+" in dom else dom
                    ig = cdig.CrossDomainIG(model, domain, fs=10.0)
                    for n in (64, "auto"):
                        for tgt in (0, "predicted") if batch == 5 else (1,):
                            base = None if tgt == "predicted" else x.mean() * 0.5
                            res = ig.explain(x, target=tgt, n_steps=n, baselines=base)
                            for lab, a in (res if isinstance(res, dict) else {"_": res}).items():
                                key = f"{dtype}-{batch}-{name}-{dom}-{n}-{tgt}-{lab}"
                                for f in FIELDS:
                                    out[f"{key}-{f}"] = np.asarray(getattr(a, f))
    m = _net(torch.float64, 1)
    x = torch.randn(6, 2, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    bases = x[:2, None].expand(2, 6, 2, 64).clone()
    makers = {
        "pca": PCA,
        "ica": ICA,
        "wavelet": Wavelet,
        "seasonal": lambda: SeasonalTrend(period=8),
        "stft": STFT,
        "dct": DCT,
    }
    for name, make in makers.items():
        for n in ("auto", 64):
            try:
                a = cdig.CrossDomainIG(m, make()).explain(x, n_steps=n, baselines=bases)
            except ImportError:  # an optional package (PyWavelets, scikit-learn) missing
                continue
            for f in FIELDS:
                out[f"2base-{name}-{n}-{f}"] = np.asarray(getattr(a, f))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "save":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = snapshot()
        np.savez(args[1], **res)
        print(f"{len(res)} arrays saved to {args[1]}")
        return 0
    if len(args) == 3 and args[0] == "compare":
        a, b = np.load(args[1]), np.load(args[2])
        if set(a.files) != set(b.files):
            print("different sets of arrays:", sorted(set(a.files) ^ set(b.files))[:10])
            return 1
        bad = [k for k in a.files if not np.array_equal(a[k], b[k], equal_nan=True)]
        print(f"{len(a.files)} arrays compared; {len(bad)} differ {bad[:10]}")
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
