"""The paper's mechanistic experiment: a model that separates 1 Hz from 4 Hz cosines.

Two classes of cosines, 1 Hz (class 0) and 4 Hz (class 1), sampled at 32 Hz for 80 s. The
model is a convolution with two fixed FIR filters (31 taps; low-pass and high-pass at
2.5 Hz, from :func:`scipy.signal.firwin`), a ReLU and global average pooling, so output
``c`` measures the energy that passes filter ``c``. Time-domain IG spreads the evidence over
every sample; Fourier-domain IG puts it on one coefficient, the class frequency.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import signal

from ._checks import Seed, as_rng
from ._text import ArgumentError, Name
from .api import explain
from .attribution import Attribution, ig_facts

__all__ = ["FS", "DURATION", "FREQUENCIES", "make_model", "make_data", "run", "write"]

FS = 32.0  #: sampling rate, Hz
DURATION = 80.0  #: series length, s
FREQUENCIES = (1.0, 4.0)  #: class frequencies, Hz
CUTOFF = 2.5  #: filter cut-off, Hz
TAPS = 31


def make_model() -> torch.nn.Module:
    """Conv1d(1 -> 2, 31 taps, fixed FIR low-/high-pass) -> ReLU -> global average pool."""
    low = signal.firwin(TAPS, CUTOFF, fs=FS)
    high = signal.firwin(TAPS, CUTOFF, fs=FS, pass_zero=False)
    conv = torch.nn.Conv1d(1, 2, TAPS, bias=False)
    with torch.no_grad():
        # conv1d is a correlation; flip so that the layer applies the filters as convolutions
        conv.weight.copy_(torch.tensor(np.stack([low, high])[:, None, ::-1].copy()))
    conv.weight.requires_grad_(False)
    return torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten()
    )


def make_data(seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """One cosine per class with a random phase: x of shape (2, 1, 2560), labels (2,)."""
    rng = as_rng(seed)
    t = np.arange(int(FS * DURATION)) / FS
    x = np.stack([np.cos(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in FREQUENCIES])
    return x[:, None, :].astype(np.float32), np.arange(len(FREQUENCIES))


def run(out: str | Path = "out/demo", quiet: bool = False, plot: bool = True) -> dict[str, Any]:
    """Run the experiment, print a table, save ``demo.png`` under ``out``.

    Returns
    -------
    dict
        ``{"time": Attribution, "fourier": Attribution, "x": ndarray, "labels": ndarray,
        "model": Module, "figure": Path | None, "peak_hz": ndarray}``.
    """
    model = make_model()
    x, labels = make_data()
    attrs = explain(model, x, ["time", "fourier"], target=labels, fs=FS, n_steps=32)
    assert isinstance(attrs, dict)
    fourier = attrs["fourier"]
    freq = fourier.coords["frequency"]
    peak = freq[np.argmax(fourier.values[:, 0, :], axis=1)]
    if not quiet:
        print("Cross-domain IG demo: 1 Hz vs 4 Hz cosines, fs = 32 Hz, 80 s")
        diff_head = "f(x)-f(x')"
        print(f"{'class':>5} {diff_head:>11} {'sum(attr)':>10} {'delta':>9} {'peak Hz':>8}")
        facts = ig_facts(fourier)
        for i, lab in enumerate(labels):
            diff = facts.outputs[i] - facts.baseline_outputs[i]
            print(
                f"{FREQUENCIES[lab]:>4.0f}H {diff:>11.5f} {fourier.total[i]:>10.5f} "
                f"{facts.delta[i]:>9.1e} {peak[i]:>8.2f}"
            )
    figure = _figure(x, attrs["time"], fourier, Path(out)) if plot else None
    if figure is not None and not quiet:
        print(f"figure: {figure}")
    return {**attrs, "x": x, "labels": labels, "model": model, "figure": figure, "peak_hz": peak}


def _figure(x: np.ndarray, time: Attribution, fourier: Attribution, out: Path) -> Path:
    from ._optional import require

    require("matplotlib", "the demo figure")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    t = time.coords["time"]
    freq = fourier.coords["frequency"]
    fig, axes = plt.subplots(3, 2, figsize=(11, 7), constrained_layout=True)
    for i, f0 in enumerate(FREQUENCIES):
        span = t < 10  # first 10 s, for legibility
        axes[0, i].plot(t[span], x[i, 0, span], lw=0.8)
        axes[0, i].set(title=f"class {i}: {f0:g} Hz cosine", xlabel="time (s)", ylabel="x")
        axes[1, i].plot(t[span], time.values[i, 0, span], lw=0.8, color="tab:purple")
        axes[1, i].set(
            title=f"time IG (delta {ig_facts(time).delta[i]:.1e})",
            xlabel="time (s)",
            ylabel="attribution",
        )
        axes[2, i].stem(freq, fourier.values[i, 0], markerfmt=" ", basefmt=" ")
        axes[2, i].set(
            xlim=(0, 8),
            title=f"Fourier IG (delta {ig_facts(fourier).delta[i]:.1e})",
            xlabel="frequency (Hz)",
            ylabel="attribution",
        )
    path = out / "demo.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


#: Digests of the files the demo wrote in its folder: it rewrites them, and nothing else.
_MANIFEST = ".cdig-demo.json"


def write(
    out: str | Path = "out/demo",
    *,
    report: bool = True,
    force: bool = False,
    quiet: bool = False,
    plot: bool = True,
) -> dict[str, Any]:
    """Run the experiment and write ``demo.png`` and ``report.html`` in the folder ``out``.

    Files an earlier run of ``write`` wrote (the same bytes as then; their SHA-256 digests
    are kept in ``out/.cdig-demo.json``) are rewritten, so the demo runs twice in a row; any
    other file of those names is kept unless ``force``.

    Parameters
    ----------
    out : str or Path
        The folder.
    report : bool, default=True
        Also write the self-contained HTML report (``report.html``).
    force : bool, default=False
        Overwrite ``demo.png`` and ``report.html`` even when the demo did not write them.
    quiet : bool, default=False
        Print nothing.
    plot : bool, default=True
        Draw ``demo.png`` (``False``: no figure, for a Python without matplotlib).

    Returns
    -------
    dict
        What :func:`run` returns, and ``"report"``: the report's path or None.

    Raises
    ------
    ValueError
        When ``out`` is a file, or holds a ``demo.png`` or ``report.html`` the demo did not
        write and ``force`` is False (before any work).
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(
            Name("out", str(out)),
            " is a file; the demo writes a folder (demo.png, report.html). Choose a folder.",
        )
    names = ["demo.png"] + (["report.html"] if report else [])
    made = _manifest(folder)
    existing = [n for n in names if (folder / n).exists() and made.get(n) != _sha256(folder / n)]
    if existing and not force:
        raise ArgumentError(
            Name("out", str(out)),
            f" already holds {', '.join(existing)}, which an earlier `cdig demo` did not write "
            "(or which changed since); pass ",
            Name("force", True),
            " to overwrite, or choose another folder.",
        )
    res = run(folder, quiet=quiet, plot=plot)
    res["report"] = None
    if report:
        from .report import write_report

        attrs = {k: res[k] for k in ("time", "fourier")}
        res["report"] = write_report(
            folder / "report.html",
            attrs,
            res["x"],
            samples=range(attrs["time"].batch_size),
            title="cdig demo: 1 Hz vs 4 Hz cosines",
            settings={"experiment": "demo (cdig.demo.run)"},
            # the series are long: show their first 10 s, as the demo's own figure does
            plot_kwargs={
                "frequency": {"mark": list(FREQUENCIES), "xlim": (0.0, 2.0 * max(FREQUENCIES))},
                "time": {"xlim": (0.0, 10.0)} if DURATION > 10.0 else {},
            },
        )
        if not quiet:
            print(f"report: {res['report']}")
    mine = (["demo.png"] if plot else []) + (["report.html"] if report else [])
    written = {n: _sha256(folder / n) for n in mine if (folder / n).is_file()}
    if written:
        (folder / _MANIFEST).write_text(json.dumps({**made, **written}, indent=1), "utf-8")
    return res


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the files an earlier :func:`write` wrote in ``folder``."""
    try:
        doc = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): v for k, v in doc.items() if isinstance(v, str)}
