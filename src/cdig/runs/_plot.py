"""The figure of a dataset run: class-wise mean attribution along one axis, with its spread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._optional import require

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .run import RunSummary

__all__ = ["plot_summary"]

_LEGEND = {"target": "class", "prediction": "predicted", "custom": "group"}
_TITLE = {
    "target": "per explained class",
    "label": "per label",
    "prediction": "per predicted class",
    "custom": "per group",
}


def plot_summary(
    summary: RunSummary,
    spread: Literal["std", "sem"] | None = "std",
    ax: Axes | None = None,
) -> Figure:
    """Mean attribution per group along the summary's one axis.

    Numeric coordinates (frequency in Hz, time in s) give one line per group with a shaded
    band ``mean +- spread``; labels (bands, components) give grouped bars with error bars.

    Parameters
    ----------
    summary : RunSummary
        With exactly one axis after the group axis (use ``keep=`` or ``bands=`` in
        :meth:`DatasetRun.summary`, or :meth:`DatasetRun.plot`).
    spread : {"std", "sem"} or None, default="std"
        Standard deviation across samples, standard error of the mean, or no band.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if len(summary.dims) != 1:
        raise ValueError(
            f"plotting needs a summary with one axis; this one has {summary.dims}. Use "
            "run.summary(domain, keep='frequency') or run.plot(domain, dim=...)."
        )
    if spread not in ("std", "sem", None):
        raise ValueError(f"spread={spread!r} must be 'std', 'sem' or None.")
    plt = require("matplotlib.pyplot", "plotting")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 3.6), layout="constrained")
    else:
        fig = ax.figure
    dim = summary.dims[0]
    coord = np.asarray(summary.coords.get(dim, np.arange(summary.mean.shape[1])))
    band = None if spread is None else (summary.std if spread == "std" else summary.sem)
    numeric = np.issubdtype(coord.dtype, np.number)
    width = 0.8 / max(1, len(summary.groups))
    for i, (g, n) in enumerate(zip(summary.groups, summary.counts)):
        name = "all samples" if summary.by is None else f"{_LEGEND.get(summary.by, summary.by)} {g}"
        label = f"{name} (n={int(n)})"
        m = summary.mean[i]
        err = None if band is None else np.nan_to_num(band[i])
        if numeric:
            (line,) = ax.plot(coord, m, label=label, lw=1.4)
            if err is not None:
                ax.fill_between(coord, m - err, m + err, color=line.get_color(), alpha=0.2, lw=0)
        else:
            pos = np.arange(len(coord)) + (i - (len(summary.groups) - 1) / 2) * width
            ax.bar(pos, m, width=width, yerr=err, label=label, capsize=2)
    if not numeric:
        ax.set_xticks(np.arange(len(coord)))
        ax.set_xticklabels([str(c) for c in coord])
    ax.axhline(0.0, color="0.5", lw=0.6)
    unit = summary.units.get(dim, "")
    ax.set_xlabel(f"{dim} [{unit}]" if unit else dim)
    shown = "band" if numeric else "error bars"
    what: dict[Any, str] = {
        "std": f"\n({shown}: ±1 std across samples)",
        "sem": f"\n({shown}: ±1 s.e.m.)",
    }
    ax.set_ylabel("mean attribution")
    per = _TITLE.get(summary.by, f"per {summary.by}") if summary.by else "over all samples"
    ax.set_title(f"{summary.domain}: mean attribution {per}{what.get(spread, '')}")
    ax.legend(frameon=False, fontsize="small")
    return fig
