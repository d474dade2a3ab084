"""Which frequencies carry the PPG heart-rate attribution, baseline by baseline?

The KID-PPG network of ``ppg_heart_rate.py`` explained in the one-sided Fourier domain
(frequencies in BPM) from each baseline of :mod:`cdig.baselines`: zeros, the window's mean,
the window low-pass filtered below 30 BPM (0.5 Hz), noise around the window, the other
subject's window (the only other real window at hand, standing in for a training set) and
TIMING-style segment-masked copies. For every window and baseline it prints the model's
output at the baseline, the completeness error, the three bins with the largest |attribution|
and the share of |attribution| within 10 BPM of the true heart rate, writes the table to
``ppg_baselines.md`` and draws the attribution per frequency to ``ppg_baselines.png``.

Run from anywhere (needs ``pip install cdig[keras,plot]``)::

    python examples/ppg_baselines.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppg_heart_rate as ppg

FS = ppg.FS
DEFAULT_OUT = ppg.ROOT / "out" / "ppg_baselines"
NEAR_BPM = 10.0  # "near the heart rate": within this many BPM of the true rate


def baseline_stacks(x: np.ndarray, other: np.ndarray) -> dict[str, np.ndarray]:
    """Every named baseline for one window ``x`` of shape (1, 256, 1) (Keras layout)."""
    from cdig import baselines

    kw: dict[str, Any] = {"time_axis": 1}
    return {
        "zeros": baselines.zeros(x, **kw),
        "mean": baselines.mean(x, **kw),
        "low-pass 30 BPM": baselines.lowpass(x, cutoff=0.5, fs=FS, **kw),
        "noise (8, 0.1 sd)": baselines.noise(x, n=8, seed=0, **kw),
        "other window": baselines.training_samples(other, x, n=1, seed=0, **kw),
        "TIMING-style (8)": baselines.segment_masked(x, n=8, seed=0, **kw),
    }


def explain_all(
    data: Path,
    rtol: float,
    max_steps: int,
    subjects: tuple[str, ...] = ppg.SUBJECTS,
    names: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """One row per (window, baseline): numbers that say where the attribution sits.

    ``subjects`` and ``names`` (baseline names, default all) restrict what is explained.
    """
    import cdig

    windows = ppg.load_windows(data)
    rows = []
    for subject in subjects:
        x, truth = windows[subject]
        other = np.concatenate([w for s, (w, _) in windows.items() if s != subject])
        model = ppg.load_model(data, subject)
        for name, b in baseline_stacks(x, other).items():
            if names is not None and name not in names:
                continue
            attr = cdig.explain(
                model, x, cdig.domains.Fourier(fs=FS), baselines=b, time_axis=1,
                rtol=rtol, max_steps=max_steps, internal_batch_size=256,
            )  # fmt: skip
            attr = ppg.in_bpm(attr)
            bpm = np.asarray(attr.coords["frequency"])
            a = np.asarray(attr.values)[0, 0]  # (n_bins,)
            top = np.argsort(-np.abs(a))[:3]
            near = np.abs(bpm - truth) <= NEAR_BPM
            rows.append(
                {
                    "subject": subject,
                    "truth": truth,
                    "baseline": name,
                    "prediction": float(attr.outputs[0]),
                    "baseline_output": float(attr.baseline_outputs[0]),
                    "delta": float(attr.delta[0]),
                    "evaluations": int(attr.n_evaluations[0]),
                    "top_bpm": [float(bpm[i]) for i in top],
                    "top_values": [float(a[i]) for i in top],
                    "near_share": float(np.abs(a[near]).sum() / np.abs(a).sum()),
                    "bpm": bpm,
                    "values": a,
                }
            )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| window (true HR) | baseline | f(x) | mean f(x') | delta | evaluations | "
        f"top bins (BPM) | share of abs attribution within {NEAR_BPM:.0f} BPM of the true HR |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        tops = ", ".join(f"{b:.1f}" for b in r["top_bpm"])
        lines.append(
            f"| {r['subject']} ({r['truth']:.1f}) | {r['baseline']} | {r['prediction']:.1f} | "
            f"{r['baseline_output']:.1f} | {r['delta']:+.2f} | {r['evaluations']} | {tops} | "
            f"{r['near_share']:.2f} |"
        )
    return head + "\n".join(lines) + "\n"


def draw(rows: list[dict[str, Any]], out: Path) -> Path:
    """Attribution per frequency: one panel per window, one line per baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subjects = list(dict.fromkeys(r["subject"] for r in rows))
    fig, axes = plt.subplots(len(subjects), 1, figsize=(8.0, 3.2 * len(subjects)))
    for ax, subject in zip(np.atleast_1d(axes), subjects, strict=True):
        mine = [r for r in rows if r["subject"] == subject]
        for r in mine:
            scale = np.abs(r["values"]).max() or 1.0
            ax.plot(r["bpm"], r["values"] / scale, label=r["baseline"], lw=1.2)
        ax.axvline(mine[0]["truth"], color="k", ls="--", lw=1, label="true heart rate")
        ax.set_xlim(0, 480)
        ax.set_title(f"{subject}: attribution per frequency, each scaled to max |a| = 1")
        ax.set_ylabel("attribution / max |a|")
        ax.legend(fontsize="x-small", ncol=2)
    np.atleast_1d(axes)[-1].set_xlabel("frequency (BPM)")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ppg_baselines.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ppg.DEFAULT_DATA, help="KID-PPG folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the outputs")
    parser.add_argument("--rtol", type=float, default=0.01, help="tolerance of n_steps='auto'")
    parser.add_argument("--max-steps", type=int, default=2048, help="budget per baseline path")
    args = parser.parse_args(argv)
    data = args.data.resolve()
    if not (data / "ppg_samples.npz").is_file():
        parser.error(f"{data} lacks ppg_samples.npz; pass the KID-PPG folder with --data.")
    rows = explain_all(data, args.rtol, args.max_steps)
    text = table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ppg_baselines.md").write_text(text)
    print(text)
    print(f"figure: {draw(rows, args.out)}")
    return rows


if __name__ == "__main__":
    main()
