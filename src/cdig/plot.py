"""Figures of attributions, one kind per family of domains.

:func:`plot_attribution` (also reached as ``attr.plot()``) looks at the names of the
coefficient axes (``attr.dims``) and draws the figure that suits them:

======================================  ==================  =============================
``attr.dims``                           kind                function
======================================  ==================  =============================
``("channel", "frequency")``            ``"frequency"``     :func:`plot_frequency`
``("channel", "time")``                 ``"time"``          :func:`plot_time`
``("channel", "frequency", "time")``    ``"spectrogram"``   :func:`plot_spectrogram`
``("channel", "coefficient")`` with     ``"wavelet"``       :func:`plot_wavelet`
a ``"band"`` coordinate
``("component", "channel")``            ``"components"``    :func:`plot_components`
``("channel", "component"[, "time"])``  ``"seasonal"``      :func:`plot_seasonal`
any dims containing ``"band"``          ``"bands"``         :func:`plot_bands`
``("horizon", ...)`` (forecast steps)   ``"horizon"``       :func:`plot_horizon`
anything else                           ``"values"``        :func:`plot_values`
======================================  ==================  =============================

Positive attributions are drawn in red and negative ones in blue everywhere (colour maps
``"RdBu_r"`` centred at zero). Every figure's title names the model output explained, its
value at the input and the baseline, and the completeness error ``delta``; for the result
of a peer explainer (:mod:`cdig.peers`, ``attr.peer``) it names the peer and the explained
score at the input, which is all a peer has.

Every ``plot_*`` function takes ``ax=`` to draw into axes of your own figure (as pandas,
xarray and statsmodels do) and returns the :class:`~matplotlib.figure.Figure` it drew in. The
rule: a figure of one panel takes one ``Axes``; a figure of several panels takes a sequence
(a list, or the array of ``fig.subplots``) of exactly as many ``Axes`` as it draws panels,
in the order its "Returns" section lists them, row by row (colour bars and the twin axis of
a spectrum are added beside them, not counted). A wrong count is a ``ValueError`` that says
how many it needs. The axes are used as they are (no axes are shared, ``figsize`` cannot be
given with them), and the figure's title is left to you: :func:`describe` gives the line
the figures of cdig use.

matplotlib is imported only when a figure is asked for (``pip install cdig[plot]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._checks import check_sample
from ._optional import require
from ._warnings import warn

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .attribution import Attribution

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "describe",
    "target_label",
    "plot_attribution",
    "plot_bands",
    "plot_components",
    "plot_frequency",
    "plot_horizon",
    "plot_kind",
    "plot_seasonal",
    "plot_spectrogram",
    "plot_time",
    "plot_values",
    "plot_wavelet",
]

#: Colour of positive attributions (pushing the output up).
POSITIVE = "#c0392b"
#: Colour of negative attributions (pushing the output down).
NEGATIVE = "#2166ac"
_CMAP = "RdBu_r"
_SPECTRUM = "0.35"
#: More channels than this are drawn as one channel x frequency heatmap, not a panel each.
MAX_PANELS = 6

Kind = Literal[
    "frequency",
    "time",
    "spectrogram",
    "wavelet",
    "components",
    "seasonal",
    "bands",
    "horizon",
    "values",
]


# ---------------------------------------------------------------------- dispatch
def plot_kind(attr: Attribution) -> Kind:
    """The kind of figure :func:`plot_attribution` draws for ``attr`` (see the module table)."""
    dims = tuple(attr.dims)
    if dims[:1] == ("horizon",):
        return "horizon"
    if dims == ("channel", "frequency"):
        return "frequency"
    if dims == ("channel", "time"):
        return "time"
    if dims == ("channel", "frequency", "time"):
        return "spectrogram"
    if dims == ("channel", "coefficient") and "band" in attr.coords:
        return "wavelet"
    if dims == ("component", "channel"):
        return "components"
    if dims in (("channel", "component"), ("channel", "component", "time")):
        return "seasonal"
    if "band" in dims:
        return "bands"
    return "values"


def plot_attribution(
    attr: Attribution,
    sample: int = 0,
    *,
    kind: Kind | None = None,
    ax: Any = None,
    **kwargs: Any,
) -> Figure:
    """Draw the attributions of one sample in the way that suits their domain.

    Parameters
    ----------
    attr : Attribution
        The result of :func:`cdig.explain` or of a peer explainer (:mod:`cdig.peers`).
    sample : int, default=0
        Which sample of the batch to draw.
    kind : str, optional
        Force a figure kind (see :func:`plot_kind`); by default chosen from ``attr.dims``.
    ax : matplotlib Axes or sequence of Axes, optional
        Where to draw: one Axes per panel of that kind's figure (see the module's rule);
        a new figure when omitted.
    **kwargs
        Passed to the plotting function of that kind, e.g. ``inputs=`` (the explained inputs in
        the layout they were explained in, one sample of them, or ``(time,)``), and for frequency
        plots ``unit="bpm"`` and ``mark=[...]``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, torch, cdig
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> x = torch.randn(1, 1, 64)
    >>> attr = cdig.explain(model, x, domain="fourier", fs=32.0)
    >>> fig = attr.plot(inputs=x, mark=[4.0])
    >>> len(fig.axes)  # attribution bars and the input's amplitude spectrum
    2
    """
    chosen = plot_kind(attr) if kind is None else kind
    if chosen not in _PLOTTERS:
        raise ValueError(f"kind={kind!r} is not a figure kind; use one of {sorted(_PLOTTERS)}.")
    return _PLOTTERS[chosen](attr, sample, ax=ax, **kwargs)


# ---------------------------------------------------------------------- frequency
def plot_frequency(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    unit: str | tuple[str, float] | None = None,
    mark: Sequence[float] | None = None,
    fs: float | None = None,
    xlim: tuple[float, float] | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Figure:
    """Attribution per frequency, with the input's amplitude spectrum on a twin axis.

    Parameters
    ----------
    attr : Attribution
        With dims ``("channel", "frequency")`` (Fourier, DCT).
    sample : int, default=0
    inputs : array-like, optional
        The explained inputs in the layout they were explained in (``(batch, time,
        channels)`` with ``time_axis=1``), one sample of them, or ``(time,)``. Its
        amplitude spectrum ``2 |rfft(x)| / n`` is drawn in grey.
    unit : str or (str, float), optional
        Frequency unit of the horizontal axis; needs frequencies in Hz (a domain with
        ``fs``). ``"bpm"``: beats per minute (Hz x 60). ``"cycles/<unit>"`` relabels the
        axis when ``fs`` was given in samples per another time unit: ``unit="cycles/year"``
        for weekly data explained with ``fs=52``. ``(name, factor)`` converts from Hz:
        ``("cycles/day", 86400)``. Default: the unit of the coordinates.
    mark : sequence of float, optional
        Frequencies to mark with dashed vertical lines, in the unit of the axis (e.g. a known
        heart rate: ``mark=[140], unit="bpm"``).
    fs : float, optional
        Sampling rate in Hz of ``inputs``; by default the domain's ``fs``.
    xlim : (float, float), optional
        Range of the frequency axis, in its unit.
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: one per channel, or one for more than ``MAX_PANELS`` channels
        (see the module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        One row per channel; each row has the attribution bars and a twin axis for the
        spectrum when ``inputs`` is given. With more than ``MAX_PANELS`` (6) channels: one
        channel x frequency heatmap on one colour scale, rows named by ``coords["channel"]``.
    """
    values = _sample_values(attr, sample)  # (C, F)
    freq = np.asarray(attr.coords["frequency"], dtype=np.float64)
    coord_unit = attr.units.get("frequency", "")
    scale, axis_unit = _frequency_unit(unit, coord_unit)
    series = _series(inputs, attr, sample, n_channels=values.shape[0])
    order = np.argsort(freq, kind="stable")  # the full FFT lists negative frequencies last
    f_plot = freq[order] * scale
    width = float(np.min(np.diff(f_plot))) * 0.9 if len(f_plot) > 1 else 1.0
    if xlim is not None:  # draw only the bars in view (long series have thousands of bins)
        keep = (f_plot >= min(xlim) - width) & (f_plot <= max(xlim) + width)
        order, f_plot = order[keep], f_plot[keep]
    spectrum = None if series is None else _amplitude_spectrum(series, attr, coord_unit, fs)

    n_rows = values.shape[0]
    if n_rows > MAX_PANELS:  # one heatmap with a row per (named) channel, one colour scale
        return _channel_heatmap(
            attr, sample, values[:, order], f_plot, "frequency", axis_unit, figsize, ax
        )
    own = ax is None
    fig, axes = _axes(ax, n_rows, 1, figsize, (9.0, 1.2 + 2.4 * n_rows), sharex=True)
    for c, ax in enumerate(axes[:, 0]):
        v = values[c, order]
        colors = _sign_colors(v)
        # an edge as wide as a thin line keeps narrow bars visible at any resolution
        ax.bar(f_plot, v, width=width, color=colors, edgecolor=colors, linewidth=0.6)
        ax.axhline(0.0, color="0.2", linewidth=0.6)
        ax.set_ylabel(_value_label(attr, c, values.shape[0]))
        if spectrum is not None:
            f_s, amp = spectrum
            twin = ax.twinx()
            twin.plot(f_s * scale, amp[c], color=_SPECTRUM, linewidth=1.0, label="input spectrum")
            twin.set_ylabel("input amplitude")
            twin.set_ylim(bottom=0.0)
            ax.set_zorder(twin.get_zorder() + 1)  # bars above the spectrum line
            ax.patch.set_visible(False)
        for m in mark or ():
            ax.axvline(
                float(m),
                color="0.3",
                linestyle="--",
                linewidth=1.0,
                zorder=0.5,  # behind the bars
                label=f"marked: {m:g} {axis_unit}",
            )
        if mark and c == 0:
            ax.legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel(_axis_label("frequency", axis_unit))
    if xlim is not None:
        axes[-1, 0].set_xlim(*xlim)
    return _finish(fig, attr, sample, own)


def _frequency_unit(unit: str | tuple[str, float] | None, coord_unit: str) -> tuple[float, str]:
    if isinstance(unit, tuple):
        if len(unit) != 2 or not isinstance(unit[0], str):
            raise ValueError(f"unit={unit!r}: give (name, factor), e.g. ('cycles/day', 86400).")
        if coord_unit != "Hz":
            raise ValueError(
                f"unit={unit!r} converts from Hz, but these frequencies are in {coord_unit!r}; "
                "give the domain a sampling rate (fs=...) when explaining."
            )
        return float(unit[1]), unit[0]
    if unit is None or unit == coord_unit:
        return 1.0, coord_unit
    if not isinstance(unit, str) or not (
        unit == "bpm" or unit.startswith(("cycles/", "1/", "per "))
    ):
        raise ValueError(
            f"unit={unit!r} must be {coord_unit!r}, 'bpm', 'cycles/<time unit>' (fs given per "
            "that unit, e.g. 'cycles/year' with fs=52 for weekly data), or (name, factor) to "
            "convert from Hz, e.g. ('kHz', 1e-3)."
        )
    if coord_unit != "Hz":
        raise ValueError(
            f"unit={unit!r} needs frequencies in Hz, but these are in {coord_unit!r}; give the "
            "domain a sampling rate (fs=...) when explaining."
        )
    if unit == "bpm":
        return 60.0, "bpm"
    # fs was given in samples per some time unit (52 per year for weekly data): the
    # frequencies are in cycles per that unit, which the name says
    return 1.0, unit


def _amplitude_spectrum(
    series: np.ndarray, attr: Attribution, coord_unit: str, fs: float | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """One-sided amplitude spectrum of ``series`` (C, T) on the coordinates' frequency scale."""
    n = series.shape[-1]
    amp = np.abs(np.fft.rfft(series, axis=-1)) * (2.0 / n)
    amp[:, 0] /= 2.0
    if n % 2 == 0:
        amp[:, -1] /= 2.0
    rate = fs if fs is not None else getattr(attr.domain, "fs", None)
    if coord_unit == "Hz":
        if rate is None:
            warn("the input's spectrum is not drawn: its sampling rate is unknown; pass fs=.")
            return None
        return np.fft.rfftfreq(n, 1.0 / float(rate)), amp
    # bin coordinates: put the Nyquist frequency on the largest coordinate (exact for the
    # Fourier domain, where bin k is k / n cycles per sample; the DCT's bins are twice as fine)
    cycles = np.fft.rfftfreq(n)  # cycles per sample, 0 .. floor(n/2) / n
    top = float(np.max(np.abs(np.asarray(attr.coords["frequency"], dtype=np.float64))))
    return cycles * (top / cycles[-1] if cycles[-1] > 0 else 1.0), amp


# ---------------------------------------------------------------------- time
def plot_time(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    linewidth: tuple[float, float] = (0.8, 4.0),
    cmap: str = _CMAP,
    xlim: tuple[float, float] | None = None,
    figsize: tuple[float, float] | None = None,
    time_unit: str | None = None,
    ax: Any = None,
) -> Figure:
    """The input drawn with colour and width given by each time step's attribution.

    Parameters
    ----------
    attr : Attribution
        With dims ``("channel", "time")``.
    sample : int, default=0
    inputs : array-like, optional
        The input series (see :func:`plot_frequency`). Without it the attribution itself is
        drawn as the line.
    linewidth : (float, float), default=(0.8, 4.0)
        Line width at zero and at the largest absolute attribution.
    cmap : str, default="RdBu_r"
        Diverging colour map, centred at zero.
    xlim : (float, float), optional
        Range of the time axis, in its unit.
    figsize : (float, float), optional
    time_unit : str, optional
        Name of the time unit when ``fs`` was not given in Hz: ``time_unit="year"`` for
        weekly data explained with ``fs=52``. The axis is labelled with it instead of "s".
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: one per channel, or one for more than ``MAX_PANELS`` channels
        (see the module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        One row per channel and a shared colour bar. Each time step is one segment of a
        ``LineCollection`` whose colour value is that step's attribution. With more than
        ``MAX_PANELS`` (6) channels: one channel x time heatmap instead.
    """
    values = _sample_values(attr, sample)  # (C, T)
    t = np.asarray(attr.coords.get("time", np.arange(values.shape[-1])), dtype=np.float64)
    series = _series(inputs, attr, sample, n_channels=values.shape[0])
    norm = _symmetric_norm(values)
    n_rows = values.shape[0]
    if n_rows > MAX_PANELS:  # one channel x time heatmap, rows named
        keep = np.ones(len(t), dtype=bool)
        if xlim is not None:
            keep = (t >= min(xlim)) & (t <= max(xlim))
        unit = _time_unit(attr.units.get("time", ""), time_unit)
        return _channel_heatmap(attr, sample, values[:, keep], t[keep], "time", unit, figsize, ax)
    own = ax is None
    fig, axes = _axes(ax, n_rows, 1, figsize, (9.0, 1.2 + 2.0 * n_rows), sharex=True)
    line = None
    view = np.ones(len(t), dtype=bool)
    if xlim is not None:  # draw only the samples in view, and one beyond each end
        inside = np.flatnonzero((t >= min(xlim)) & (t <= max(xlim)))
        if inside.size:
            view[:] = False
            view[max(inside[0] - 1, 0) : inside[-1] + 2] = True
    for c, ax in enumerate(axes[:, 0]):
        y = series[c] if series is not None else values[c]
        line = _colored_line(ax, t[view], y[view], values[c, view], norm, cmap, linewidth)
        ax.set_ylabel(_channel(attr, c) if series is not None else _value_label(attr, c, n_rows))
    axes[-1, 0].set_xlabel(_axis_label("time", _time_unit(attr.units.get("time", ""), time_unit)))
    if xlim is not None:
        axes[-1, 0].set_xlim(*xlim)
    _colorbar(fig, line, list(axes[:, 0]), attr, shrink=0.9)
    return _finish(fig, attr, sample, own)


def _colored_line(
    ax: Any,
    t: np.ndarray,
    y: np.ndarray,
    v: np.ndarray,
    norm: Any,
    cmap: str,
    linewidth: tuple[float, float],
) -> Any:
    """Add a LineCollection with one segment per point, coloured by ``v``; returns it."""
    LineCollection = require("matplotlib.collections", "plotting").LineCollection
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # segment i runs from the midpoint before point i, through it, to the midpoint after
    tm = np.concatenate([t[:1], (t[:-1] + t[1:]) / 2, t[-1:]])  # (T+1,)
    ym = np.concatenate([y[:1], (y[:-1] + y[1:]) / 2, y[-1:]])
    segs = np.stack(
        [np.stack([tm[:-1], ym[:-1]], -1), np.stack([t, y], -1), np.stack([tm[1:], ym[1:]], -1)],
        axis=1,
    )  # (T, 3, 2)
    lo, hi = linewidth
    scale = max(float(np.max(np.abs(v))), np.finfo(np.float64).tiny)
    widths = lo + (hi - lo) * np.abs(v) / scale
    # a thin dark line through the coloured one keeps the series visible where attributions
    # are near zero (the colour map's middle is near-white, and covered a line underneath)
    ax.plot(t, y, color="0.3", linewidth=0.5, zorder=3)
    lc = LineCollection(
        list(segs), cmap=cmap, norm=norm, linewidths=widths, capstyle="round", zorder=2
    )
    lc.set_array(np.asarray(v, dtype=np.float64))
    ax.add_collection(lc)
    pad = 0.05 * (float(np.ptp(y)) or 1.0)
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.set_ylim(float(np.min(y)) - pad, float(np.max(y)) + pad)
    return lc


# ---------------------------------------------------------------------- STFT
def plot_spectrogram(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    cmap: str = _CMAP,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Figure:
    """Attribution spectrogram beside the input's spectrogram.

    Parameters
    ----------
    attr : Attribution
        With dims ``("channel", "frequency", "time")`` (STFT).
    sample : int, default=0
    inputs : array-like, optional
        The input series. Its spectrogram ``20 log10 |X|`` (dB) is computed with the fitted
        domain's ``forward`` on the same grid; domains without one fall back to
        :func:`scipy.signal.stft`.
    cmap : str, default="RdBu_r"
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: per channel, [the input's spectrogram when ``inputs`` is given,]
        the attribution's (see the module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        One row per channel: [input spectrogram,] attribution. All attribution panels share
        one colour scale symmetric about zero.
    """
    values = _sample_values(attr, sample)  # (C, F, N)
    freq = np.asarray(attr.coords.get("frequency", np.arange(values.shape[1])), dtype=np.float64)
    t = np.asarray(attr.coords.get("time", np.arange(values.shape[2])), dtype=np.float64)
    series = _series(inputs, attr, sample, n_channels=values.shape[0])
    magnitude = None if series is None else _input_spectrogram(attr, series, values.shape)
    norm = _symmetric_norm(values)
    n_rows, n_cols = values.shape[0], 1 if magnitude is None else 2
    own = ax is None
    fig, axes = _axes(
        ax, n_rows, n_cols, figsize, (5.0 * n_cols + 1.5, 1.0 + 2.8 * n_rows), sharey=True
    )
    f_label = _axis_label("frequency", attr.units.get("frequency", ""))
    t_label = _axis_label("time", attr.units.get("time", ""))
    mesh = None
    for c in range(n_rows):
        if magnitude is not None:
            ax_in = axes[c, 0]
            grid_t, grid_f, mag = magnitude[c]
            db = 20.0 * np.log10(np.maximum(mag, 1e-300))
            top = float(db.max())
            # 80 dB of dynamic range: exact zeros would otherwise stretch the scale to -6000
            m_in = ax_in.pcolormesh(
                grid_t, grid_f, db, shading="nearest", cmap="magma", vmin=top - 80.0, vmax=top
            )
            fig.colorbar(m_in, ax=ax_in, label="input |X| (dB)")
            ax_in.set_title(f"input spectrogram, {_channel(attr, c)}", fontsize="medium")
            ax_in.set_ylabel(f_label)
        ax = axes[c, -1]
        mesh = ax.pcolormesh(t, freq, values[c], shading="nearest", cmap=cmap, norm=norm)
        ax.set_title(f"attribution, {_channel(attr, c)}", fontsize="medium")
        if magnitude is None:
            ax.set_ylabel(f_label)
    for ax in axes[-1]:
        ax.set_xlabel(t_label)
    _colorbar(fig, mesh, list(axes[:, -1]), attr)
    return _finish(fig, attr, sample, own)


def _input_spectrogram(
    attr: Attribution, series: np.ndarray, shape: tuple[int, ...]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per channel (time grid, frequency grid, |X|) of the input, on the domain's grid if it can."""
    mag = _domain_magnitude(attr, series, shape)
    if mag is not None:
        freq = np.asarray(attr.coords.get("frequency", np.arange(shape[1])), dtype=np.float64)
        t = np.asarray(attr.coords.get("time", np.arange(shape[2])), dtype=np.float64)
        return [(t, freq, mag[c]) for c in range(mag.shape[0])]
    signal = require("scipy.signal", "the input spectrogram")
    rate = getattr(attr.domain, "fs", None) or 1.0
    nperseg = min(series.shape[-1], max(2, 2 * (shape[1] - 1)))
    f, tt, Z = signal.stft(series, fs=rate, nperseg=nperseg, axis=-1)  # Z: (C, F', N')
    return [(tt, f, np.abs(Z[c])) for c in range(series.shape[0])]


def _domain_magnitude(
    attr: Attribution, series: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray | None:
    """``|domain.forward(series)|`` of shape ``shape`` (C, ...), or None if unavailable."""
    forward = getattr(attr.domain, "forward", None)
    if forward is None:
        return None
    import torch

    try:
        with torch.no_grad():
            out = forward(torch.as_tensor(series[None]), torch.zeros(1, dtype=torch.long))
    except (NotImplementedError, RuntimeError, ValueError, TypeError, AttributeError):
        return None
    mag = np.abs(out.detach().cpu().numpy())[0] if hasattr(out, "detach") else None
    if mag is None or mag.shape != tuple(shape):
        return None
    return mag


# ---------------------------------------------------------------------- wavelet
def plot_wavelet(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    cmap: str = _CMAP,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Figure:
    """Attribution per wavelet band (bars) and per coefficient (scalogram).

    Parameters
    ----------
    attr : Attribution
        With dims ``("channel", "coefficient")`` and per-coefficient coordinates ``"band"``
        (labels such as ``cA4, cD4, ..., cD1``) and ``"time"`` (position of each coefficient;
        optional), plus per-band ``"band_low"``/``"band_high"`` frequencies when present.
    sample : int, default=0
    inputs : array-like, optional
        Not drawn; accepted so that every kind takes the same arguments.
    cmap : str, default="RdBu_r"
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: per channel, the band bars and the scalogram (see the module's
        rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        One row per channel: the per-band sums (``attr.group_by("band")``) and the
        scalogram (rows = bands in decomposition order, columns = time position), sharing a
        colour scale symmetric about zero.
    """
    values = _sample_values(attr, sample)  # (C, K)
    labels = np.asarray(attr.coords["band"])
    per_band = attr.group_by("band", dim="coefficient")
    names = np.asarray(per_band.coords["band"])
    sums = per_band.values[sample]  # (C, n_bands)
    pos = _coefficient_positions(attr, labels)
    norm = _symmetric_norm(values)
    n_rows = values.shape[0]
    height = 1.2 + 0.35 * len(names) * n_rows + 1.4 * n_rows
    own = ax is None
    fig, axes = _axes(
        ax, n_rows, 2, figsize, (11.0, height), gridspec_kw={"width_ratios": [1.0, 2.4]}
    )
    mesh = None
    ticks = [_band_tick(attr, str(n)) for n in names]
    for c in range(n_rows):
        ax_bar, ax_map = axes[c]
        y = np.arange(len(names))
        ax_bar.barh(y, sums[c], color=_sign_colors(sums[c]), height=0.7)
        ax_bar.axvline(0.0, color="0.2", linewidth=0.6)
        ax_bar.set_yticks(y, ticks)
        ax_bar.invert_yaxis()
        ax_bar.set_xlabel(f"attribution to {attr.target}")
        ax_bar.set_title(f"per band, {_channel(attr, c)}", fontsize="medium")
        for j, name in enumerate(names):
            mask = labels == name
            edges = _edges(pos[mask])
            mesh = ax_map.pcolormesh(
                edges, [j, j + 1], values[c, mask][None, :], cmap=cmap, norm=norm
            )
        ax_map.set_ylim(len(names), 0)
        ax_map.set_yticks(np.arange(len(names)) + 0.5, [str(n) for n in names])
        ax_map.set_xlabel(_axis_label("time", attr.units.get("time", "")))
        ax_map.set_title(f"per coefficient, {_channel(attr, c)}", fontsize="medium")
    _colorbar(fig, mesh, list(axes[:, 1]), attr)
    return _finish(fig, attr, sample, own)


def _coefficient_positions(attr: Attribution, labels: np.ndarray) -> np.ndarray:
    """Time position of each coefficient: the ``"time"`` coordinate, else spread over [0, 1)."""
    t = attr.coords.get("time")
    if t is not None and np.ndim(t) == 1 and len(t) == len(labels):
        return np.asarray(t, dtype=np.float64)
    pos = np.zeros(len(labels))
    for name in np.unique(labels):
        idx = np.flatnonzero(labels == name)
        pos[idx] = np.arange(len(idx)) / len(idx)
    return pos


def _band_tick(attr: Attribution, name: str) -> str:
    """``"cD1\\n8-16 Hz"`` when the band's frequency range is known, else the name."""
    lows, highs = attr.coords.get("band_low"), attr.coords.get("band_high")
    bands = attr.coords.get("band")
    if lows is None or highs is None or bands is None:
        return name
    hits = np.flatnonzero(np.asarray(bands) == name)
    if hits.size == 0 or hits[0] >= len(lows):
        return name
    lo, hi = float(lows[hits[0]]), float(highs[hits[0]])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return name
    unit = attr.units.get("band_low", "")
    return f"{name}\n{lo:.3g}–{hi:.3g} {unit}".rstrip()


# ---------------------------------------------------------------------- ICA / PCA
def plot_components(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    k: int = 8,
    cmap: str = _CMAP,
    figsize: tuple[float, float] | None = None,
    time_unit: str | None = None,
    ax: Any = None,
) -> Figure:
    """Components ranked by attribution, their time series, and per-channel attributions.

    Parameters
    ----------
    attr : Attribution
        With dims ``("component", "channel")`` (ICA, PCA). The fitted domain's
        :meth:`~cdig.domains.Domain.component_series`, when it has them, are drawn.
    sample : int, default=0
    inputs : array-like, optional
        Not drawn; accepted so that every kind takes the same arguments.
    k : int, default=8
        How many of the top components (by absolute attribution summed over channels) to show.
    cmap : str, default="RdBu_r"
    figsize : (float, float), optional
    time_unit : str, optional
        Name of the time unit when ``fs`` was not given in Hz: ``time_unit="year"`` for
        weekly data explained with ``fs=52``. The axis is labelled with it instead of "s".
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: the ranked bars, the heatmap [and the component series when
        the domain has them] (see the module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        Axes: ranked bars, heatmap (component x channel, colour scale symmetric about zero),
        and the component series when the domain has them.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer (number of components shown).")
    values = _sample_values(attr, sample)  # (n_components, C)
    totals = attr.sum_over("channel").values[sample]  # (n_components,)
    order = np.argsort(-np.abs(totals), kind="stable")[: int(k)]
    names = _component_names(attr, values.shape[0])
    sources = _sources(attr, sample, values.shape[0])
    rows = 2 if sources is not None else 1
    own = ax is None
    if own:
        fig = _figure(figsize, (11.0, 1.0 + 0.45 * len(order) * rows + 1.5 * rows))
        grid = fig.add_gridspec(rows, 2, width_ratios=[1.0, 1.3])
        ax_bar = fig.add_subplot(grid[0, 0])
        ax_map = fig.add_subplot(grid[0, 1])
    else:
        given = _given_axes(ax, 1 + rows, figsize)
        fig, (ax_bar, ax_map) = _figure_of(given[0]), given[:2]
    y = np.arange(len(order))
    shown = totals[order]
    ax_bar.barh(y, shown, color=_sign_colors(shown), height=0.7)
    ax_bar.axvline(0.0, color="0.2", linewidth=0.6)
    ax_bar.set_yticks(y, [names[i] for i in order])
    ax_bar.invert_yaxis()
    ax_bar.set_xlabel(f"attribution to {attr.target} (sum over channels)")
    ax_bar.set_title(f"top {len(order)} of {len(totals)} components", fontsize="medium")
    heat = values[order]  # (k, C)
    norm = _symmetric_norm(heat)
    mesh = ax_map.pcolormesh(
        np.arange(heat.shape[1] + 1) - 0.5,
        np.arange(len(order) + 1) - 0.5,
        heat,
        cmap=cmap,
        norm=norm,
    )
    ax_map.set_ylim(len(order) - 0.5, -0.5)
    ax_map.set_yticks(y, [names[i] for i in order])
    channel_labels = [str(v) for v in attr.coords.get("channel", range(heat.shape[1]))]
    long = max(len(v) for v in channel_labels) > 3  # names: tilted so that they never overlap
    ax_map.set_xticks(
        np.arange(heat.shape[1]), channel_labels, rotation=45 if long else 0,
        ha="right" if long else "center",
    )  # fmt: skip
    ax_map.set_xlabel("channel")
    ax_map.set_title("attribution per channel", fontsize="medium")
    _colorbar(fig, mesh, ax_map, attr)
    if sources is not None:
        ax_src = fig.add_subplot(grid[1, :]) if own else given[2]
        t, t_unit = _time_axis(attr, sources.shape[-1])
        for r, i in enumerate(order):
            s = sources[i]
            spread = float(np.ptp(s)) or 1.0
            ax_src.plot(
                t, (s - s.mean()) / spread - r, color=_sign_colors(totals[i : i + 1])[0], lw=1
            )
        ax_src.set_yticks(-y, [names[i] for i in order])
        ax_src.set_xlabel(_axis_label("time", _time_unit(t_unit, time_unit)))
        ax_src.set_title("component series (scaled), in rank order", fontsize="medium")
    return _finish(fig, attr, sample, own)


def _component_names(attr: Attribution, n: int) -> list[str]:
    names = attr.coords.get("component")
    if names is not None and np.ndim(names) == 1 and len(names) == n:
        return [
            str(v) if isinstance(v, str) else f"component {v}" for v in np.asarray(names).tolist()
        ]
    return [f"component {i}" for i in range(n)]


def _sources(attr: Attribution, sample: int, n_components: int) -> np.ndarray | None:
    """The domain's component series of ``sample``, (n_components, time), or None.

    Decompositions explained from a zero baseline carry one more coefficient than sources,
    the channel means, whose series is the constant 1 (the domain includes it).
    """
    arr = _component_series(attr, sample)
    if arr is None or arr.ndim != 2:
        return None
    return arr if arr.shape[0] == n_components else None


def _component_series(attr: Attribution, sample: int) -> np.ndarray | None:
    """``attr.domain.component_series(sample)`` as float64, or None when it has none."""
    series = getattr(attr.domain, "component_series", None)
    if series is None or not 0 <= sample < getattr(attr.domain, "n_samples_", 0):
        return None
    out = series(sample)
    return None if out is None else np.asarray(out, dtype=np.float64)


def _time_unit(coord_unit: str, time_unit: str | None) -> str:
    """The time axis' unit: ``time_unit`` renames seconds (fs given per another unit)."""
    if time_unit is None:
        return coord_unit
    if coord_unit != "s":
        raise ValueError(
            f"time_unit={time_unit!r} renames seconds, but these times are in "
            f"{coord_unit or 'samples'!r}; pass fs= when explaining."
        )
    return str(time_unit)


def _time_axis(attr: Attribution, n: int) -> tuple[np.ndarray, str]:
    """Time of ``n`` samples: seconds from the domain's ``fs`` or the call's, else samples."""
    fs = getattr(attr.domain, "fs", None) or attr.layout.fs
    if fs:
        return np.arange(n) / float(fs), "s"
    return np.arange(n, dtype=np.float64), "sample"


# ---------------------------------------------------------------------- seasonal-trend
def plot_seasonal(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    linewidth: tuple[float, float] = (0.8, 4.0),
    cmap: str = _CMAP,
    figsize: tuple[float, float] | None = None,
    time_unit: str | None = None,
    ax: Any = None,
) -> Figure:
    """The decomposition's components stacked, each with its attribution.

    Parameters
    ----------
    attr : Attribution
        With dims ``("channel", "component")`` (one score per component) or
        ``("channel", "component", "time")`` (time-resolved) and a ``"component"``
        coordinate of names (e.g. ``trend, seasonal, resid``). The fitted domain's
        :meth:`~cdig.domains.Domain.component_series` (channels, n_components, time), when
        it has them, are drawn.
    sample : int, default=0
    inputs : array-like, optional
        The input series, drawn in the top row.
    linewidth : (float, float), default=(0.8, 4.0)
        For time-resolved attributions (see :func:`plot_time`).
    cmap : str, default="RdBu_r"
    figsize : (float, float), optional
    time_unit : str, optional
        Name of the time unit when ``fs`` was not given in Hz: ``time_unit="year"`` for
        weekly data explained with ``fs=52``. The axis is labelled with it instead of "s".
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: per channel, [the input when ``inputs`` is given,] one per
        component (when the series or a time-resolved attribution are known), then the bar
        chart (see the module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        Per channel: [the input,] one row per component (its series coloured by its
        attribution, or the time-resolved attribution itself when the series are unknown),
        and a bar chart of the per-component totals.
    """
    values = _sample_values(attr, sample)  # (C, M) or (C, M, T)
    n_ch, n_comp = values.shape[:2]
    resolved = values.ndim == 3
    totals = values.sum(axis=-1) if resolved else values  # (C, M)
    names = _component_names(attr, n_comp)
    series = _series(inputs, attr, sample, n_channels=n_ch)
    parts = _decomposition(attr, sample, n_ch, n_comp)
    if resolved:
        n_time: int | None = values.shape[-1]
    elif parts is not None:
        n_time = parts.shape[-1]
    else:
        n_time = None if series is None else series.shape[-1]
    norm = _symmetric_norm(values)
    draw_parts = resolved or parts is not None  # one row per component
    n_rows = n_ch * ((series is not None) + (n_comp if draw_parts else 0)) + 1
    own = ax is None
    if own:
        fig = _figure(figsize, (10.0, 1.5 + 1.6 * n_rows))
        grid = fig.add_gridspec(n_rows, 1)
    else:
        given = _given_axes(ax, n_rows, figsize)
        fig = _figure_of(given[0])
    t, t_unit = _seasonal_time(attr, n_time or 0)  # unused when n_time is None
    rows: list[Any] = []
    lc = None

    def new_row() -> Any:
        if own:
            row = fig.add_subplot(grid[len(rows), 0], sharex=rows[0] if rows else None)
        else:
            row = given[len(rows)]
        rows.append(row)
        return row

    for c in range(n_ch):
        if series is not None:
            ax = new_row()
            ax.plot(t, series[c], color="k", linewidth=1.0)
            ax.set_ylabel(f"input\nch {c}")
        for m in range(n_comp if draw_parts else 0):
            ax = new_row()
            ax.set_ylabel(f"{names[m]}\nch {c}", fontsize="small")
            ax.text(  # the component's total, inside the axes (not read as an axis offset)
                0.005,
                0.96,
                f"attribution {totals[c, m]:+.3g}",
                transform=ax.transAxes,
                ha="left",
                va="top",
                fontsize="small",
                color=_sign_colors(totals[c, m : m + 1])[0],
            )
            if resolved:
                y = parts[c, m] if parts is not None else values[c, m]
                lc = _colored_line(ax, t, y, values[c, m], norm, cmap, linewidth)
            elif parts is not None:
                ax.plot(t, parts[c, m], color=_sign_colors(totals[c, m : m + 1])[0], linewidth=1.2)
    if rows:
        rows[-1].set_xlabel(_axis_label("time", _time_unit(t_unit, time_unit)))
    ax_bar = fig.add_subplot(grid[len(rows), 0]) if own else given[len(rows)]
    _grouped_bars(ax_bar, totals, names, attr)
    if lc is not None:
        _colorbar(fig, lc, rows, attr, shrink=0.8)
    return _finish(fig, attr, sample, own)


def _decomposition(attr: Attribution, sample: int, n_ch: int, n_comp: int) -> np.ndarray | None:
    """The domain's components of ``sample`` as (channels, n_components, time), or None."""
    arr = _component_series(attr, sample)
    if arr is None or arr.ndim != 3 or arr.shape[:2] != (n_ch, n_comp):
        return None
    return arr


def _seasonal_time(attr: Attribution, n: int) -> tuple[np.ndarray, str]:
    t = attr.coords.get("time")
    if t is not None and np.ndim(t) == 1 and len(t) == n:
        return np.asarray(t, dtype=np.float64), attr.units.get("time", "")
    return _time_axis(attr, n)


def _grouped_bars(ax: Any, totals: np.ndarray, names: Sequence[str], attr: Attribution) -> None:
    """Bars of ``totals`` (channels, groups), one cluster per group, coloured by sign."""
    n_ch, n_grp = totals.shape
    width = 0.8 / n_ch
    for c in range(n_ch):
        pos = np.arange(n_grp) - 0.4 + width * (c + 0.5)
        ax.bar(
            pos,
            totals[c],
            width=width * 0.95,
            color=_sign_colors(totals[c]),
            edgecolor="0.2",
            linewidth=0.5,
            label=_channel(attr, c),
        )
    ax.axhline(0.0, color="0.2", linewidth=0.6)
    ax.set_xticks(np.arange(n_grp), list(names))
    ax.set_ylabel(f"attribution to {attr.target}")
    if n_ch > 1:
        ax.set_xlabel(f"clusters: channels 0..{n_ch - 1}, left to right")


# ---------------------------------------------------------------------- bands
def plot_bands(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Figure:
    """Bar chart of band attributions (the result of ``attr.bands({...})``).

    Parameters
    ----------
    attr : Attribution
        With a ``"band"`` axis; other axes except ``"channel"`` are summed over.
    sample : int, default=0
    inputs : array-like, optional
        Not drawn; accepted so that every kind takes the same arguments.
    figsize : (float, float), optional
    ax : matplotlib Axes, optional
        Draw into this Axes (see the module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; one cluster of bars per band, one bar per channel, coloured by sign.
    """
    values = _sample_values(attr, sample)
    dims = list(attr.dims)
    moved = np.moveaxis(values, dims.index("band"), -1)  # (..., n_bands)
    rest = [d for d in dims if d != "band"]
    if "channel" in rest:
        moved = np.moveaxis(moved, rest.index("channel"), 0)
        rest.remove("channel")
        rest.insert(0, "channel")
        totals = moved.reshape(moved.shape[0], -1, moved.shape[-1]).sum(axis=1)  # (C, n_bands)
    else:
        totals = moved.reshape(1, -1, moved.shape[-1]).sum(axis=1)
    names = [str(n) for n in np.asarray(attr.coords["band"]).tolist()]
    ticks = [_band_tick(attr, n) for n in names]
    own = ax is None
    fig, axes = _axes(ax, 1, 1, figsize, (max(6.0, 1.1 * len(names) + 2.0), 4.2))
    ax = axes[0, 0]
    _grouped_bars(ax, totals, ticks, attr)
    if len(rest) > 1:
        ax.set_title(f"summed over {', '.join(rest[1:])}", fontsize="medium")
    return _finish(fig, attr, sample, own)


# ---------------------------------------------------------------------- fallback
def plot_values(
    attr: Attribution,
    sample: int = 0,
    *,
    inputs: Any = None,
    cmap: str = _CMAP,
    figsize: tuple[float, float] | None = None,
    ax: Any = None,
) -> Figure:
    """Generic figure for any dims: bars along one axis per channel, else a heatmap.

    Parameters
    ----------
    attr : Attribution
    sample : int, default=0
    inputs : array-like, optional
        Not drawn; accepted so that every kind takes the same arguments.
    cmap : str, default="RdBu_r"
    figsize : (float, float), optional
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these Axes: one per channel for bars, one for the heatmap (see the
        module's rule); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        For dims ``(d,)`` or ``("channel", d)`` (cepstrum, a custom basis ...): bars
        against the coordinate of ``d``, one row per channel. Otherwise a heatmap of shape
        (first axis, all other axes flattened) with a colour scale symmetric about zero.
    """
    values = _sample_values(attr, sample)
    dims = list(attr.dims)
    own = ax is None
    if values.ndim == 1 or (values.ndim == 2 and dims[0] == "channel"):
        rows = values.reshape(-1, values.shape[-1])  # (channels, n)
        fig, axes = _axes(ax, len(rows), 1, figsize, (9.0, 1.2 + 2.4 * len(rows)), sharex=True)
        pos = _coord(attr, dims[-1], rows.shape[-1])
        order = np.argsort(pos, kind="stable")
        width = float(np.min(np.diff(pos[order]))) * 0.9 if len(pos) > 1 else 0.8
        for c, ax in enumerate(axes[:, 0]):
            v = rows[c, order]
            colors = _sign_colors(v)
            ax.bar(pos[order], v, width=width, color=colors, edgecolor=colors, linewidth=0.6)
            ax.axhline(0.0, color="0.2", linewidth=0.6)
            ax.set_ylabel(_value_label(attr, c, len(rows)))
        axes[-1, 0].set_xlabel(_axis_label(dims[-1], attr.units.get(dims[-1], "")))
    else:
        fig, axes = _axes(ax, 1, 1, figsize, (9.0, 4.0))
        ax = axes[0, 0]
        flat = values.reshape(values.shape[0], -1)  # (first axis, rest flattened)
        mesh = ax.pcolormesh(flat, cmap=cmap, norm=_symmetric_norm(flat))
        ax.set_ylabel(dims[0])
        ax.set_xlabel(" x ".join(dims[1:]) + (" (flattened)" if values.ndim > 2 else ""))
        _colorbar(fig, mesh, ax, attr)
    return _finish(fig, attr, sample, own)


# ---------------------------------------------------------------------- scaffold
# Every figure: the sample's values (checked), pyplot, a grid of axes (one row per channel),
# a colour scale symmetric about zero with its colour bar, and the title (:func:`_finish`).
def _pyplot() -> Any:
    return require("matplotlib.pyplot", "plotting")


def _sample_values(attr: Attribution, sample: int) -> np.ndarray:
    """The attributions of ``sample`` as float64, shape ``attr.values.shape[1:]``."""
    sample = check_sample(sample, attr.batch_size)
    return np.asarray(attr.values[sample], dtype=np.float64)


def _grid(
    n_rows: int,
    n_cols: int,
    figsize: tuple[float, float] | None,
    default: tuple[float, float],
    **kwargs: Any,
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with a (n_rows, n_cols) array of axes."""
    return _pyplot().subplots(
        n_rows, n_cols, squeeze=False, layout="constrained", figsize=figsize or default, **kwargs
    )


def _axes(
    ax: Any,
    n_rows: int,
    n_cols: int,
    figsize: tuple[float, float] | None,
    default: tuple[float, float],
    **kwargs: Any,
) -> tuple[Figure, np.ndarray]:
    """:func:`_grid`, or the caller's ``ax`` (one Axes per panel) as that (n_rows, n_cols) array."""
    if ax is None:
        return _grid(n_rows, n_cols, figsize, default, **kwargs)
    given = _given_axes(ax, n_rows * n_cols, figsize)
    grid = np.empty(n_rows * n_cols, dtype=object)
    grid[:] = given
    return _figure_of(given[0]), grid.reshape(n_rows, n_cols)


def _given_axes(ax: Any, n_panels: int, figsize: tuple[float, float] | None = None) -> list[Any]:
    """The Axes of ``ax=`` (one Axes or a sequence of them), exactly ``n_panels``, one figure."""
    Axes = require("matplotlib.axes", "plotting").Axes
    if isinstance(ax, Axes):
        items = [ax]
    elif isinstance(ax, (str, bytes)) or not hasattr(ax, "__iter__"):
        items = None
    else:
        items = [a for a in np.asarray(ax, dtype=object).ravel()]
    if items is None or not all(isinstance(a, Axes) for a in items):
        raise TypeError(
            f"ax must be a matplotlib Axes or a sequence of Axes; got {type(ax).__name__}."
        )
    if len(items) != n_panels:
        raise ValueError(
            f"ax holds {len(items)} Axes, but this figure draws {n_panels} panel(s); pass "
            f"{n_panels} Axes (e.g. fig.subplots({n_panels}, 1)), one per panel in the order "
            "the function's documentation lists them, or no ax= for a new figure."
        )
    fig = _figure_of(items[0])
    if any(_figure_of(a) is not fig for a in items):
        raise ValueError("ax: every Axes must belong to the same figure.")
    if figsize is not None:
        raise ValueError(
            f"figsize={figsize!r} cannot be combined with ax=: the figure of ax has its size."
        )
    return items


def _figure_of(ax: Any) -> Any:
    """The figure (or subfigure) an Axes is drawn in."""
    return ax.figure


def _figure(figsize: tuple[float, float] | None, default: tuple[float, float]) -> Figure:
    """A constrained-layout figure without axes (for a custom grid)."""
    return _pyplot().figure(layout="constrained", figsize=figsize or default)


def _channel(attr: Attribution, c: int) -> str:
    """The name of channel ``c`` (``channel_names=``, DataFrame columns), else ``"channel c"``."""
    names = attr.coords.get("channel")
    if names is not None and 0 <= c < len(names) and isinstance(names[c], (str, np.str_)):
        return str(names[c])
    return f"channel {c}"


def _colorbar(fig: Any, mappable: Any, ax: Any, attr: Attribution, **kwargs: Any) -> None:
    """The colour bar of the attribution scale beside ``ax`` (an axes or a list of them)."""
    label = f"attribution to {attr.target}"
    if len(label) > 32:  # a long target (the title names it) would run off the figure
        label = "attribution"
    fig.colorbar(mappable, ax=ax, label=label, **kwargs)


def _series(
    inputs: Any, attr: Attribution, sample: int, n_channels: int | None
) -> np.ndarray | None:
    """The input of ``sample`` as float64, shape (channels, time); None without ``inputs``."""
    if inputs is None:
        return None
    arr = np.asarray(inputs.detach().cpu() if hasattr(inputs, "detach") else inputs)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"inputs must be an array of real numbers; got dtype {arr.dtype}.")
    arr = _canonical_layout(arr.astype(np.float64), attr, n_channels)
    if arr.ndim == 3:
        if arr.shape[0] != attr.batch_size:
            raise ValueError(
                f"inputs has a batch of {arr.shape[0]} but the attributions have "
                f"{attr.batch_size}; pass the inputs that were explained, or one sample of them."
            )
        arr = arr[sample]
    elif arr.ndim == 1:
        arr = arr[None, :]
    elif arr.ndim != 2:
        raise ValueError(
            f"inputs must have shape (batch, channels, time), (channels, time) or (time,); got "
            f"{arr.ndim} dimensions."
        )
    if n_channels is not None and arr.shape[0] != n_channels:
        raise ValueError(
            f"inputs has {arr.shape[0]} channel(s) but the attributions have {n_channels}; pass "
            "the inputs that were explained, in the layout they were explained in."
        )
    return arr


def _canonical_layout(arr: np.ndarray, attr: Attribution, n_channels: int | None) -> np.ndarray:
    """``inputs`` in the layout it was explained in (``attr.layout``) -> channels before time.

    Inputs explained as ``(batch, time, channels)`` may be passed as they were, or as
    ``(channels, time)`` per sample; inputs explained as ``(batch, time)`` may be passed as
    they were, or as one series ``(time,)`` (:meth:`cdig.attribution.InputLayout.from_input`).
    """
    return attr.layout.from_input(arr, attr.batch_size, n_channels)


def _symmetric_norm(values: np.ndarray) -> Any:
    """A Normalize from -m to m, m = max|values| (1 when all are zero)."""
    colors = require("matplotlib.colors", "plotting")
    m = float(np.max(np.abs(values))) if values.size else 0.0
    m = m if m > 0 and np.isfinite(m) else 1.0
    return colors.Normalize(vmin=-m, vmax=m)


def _sign_colors(v: np.ndarray) -> list[str]:
    return [POSITIVE if float(e) >= 0 else NEGATIVE for e in np.ravel(v)]


def _axis_label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def _value_label(attr: Attribution, channel: int, n_channels: int) -> str:
    name = _channel(attr, channel)
    if name != f"channel {channel}":  # a named channel is always named
        return f"{name}: attribution"
    return f"ch {channel}: attribution" if n_channels > 1 else "attribution"


def _channel_heatmap(
    attr: Attribution,
    sample: int,
    values: np.ndarray,
    coord: np.ndarray,
    dim: str,
    unit: str,
    figsize: tuple[float, float] | None,
    given: Any = None,
) -> Figure:
    """Channels (rows, named) x frequency or time (columns) on one diverging colour scale."""
    n = values.shape[0]
    if given is None:
        fig = _figure(figsize, (9.0, 1.6 + 0.28 * n))
        ax = fig.subplots()
    else:
        (ax,) = _given_axes(given, 1, figsize)
        fig = _figure_of(ax)
    mesh = ax.pcolormesh(
        _edges(coord), np.arange(n + 1) - 0.5, values, cmap=_CMAP, norm=_symmetric_norm(values)
    )
    ax.set_yticks(np.arange(n), [_channel(attr, c) for c in range(n)])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(_axis_label(dim, unit))
    ax.set_ylabel("channel")
    _colorbar(fig, mesh, ax, attr)
    return _finish(fig, attr, sample, given is None)


def _coord(attr: Attribution, dim: str, n: int) -> np.ndarray:
    c = attr.coords.get(dim)
    if (
        c is not None
        and np.ndim(c) == 1
        and len(c) == n
        and np.issubdtype(np.asarray(c).dtype, np.number)
    ):
        return np.asarray(c, dtype=np.float64)
    return np.arange(n, dtype=np.float64)


def _edges(pos: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres ``pos`` (n,) -> (n + 1,)."""
    pos = np.asarray(pos, dtype=np.float64)
    if len(pos) == 1:
        return np.array([pos[0] - 0.5, pos[0] + 0.5])
    mid = (pos[:-1] + pos[1:]) / 2
    return np.concatenate([[pos[0] - (mid[0] - pos[0])], mid, [pos[-1] + (pos[-1] - mid[-1])]])


def target_label(attr: Attribution, sample: int = 0) -> str:
    """What was explained for one sample: ``"the model output"``, ``"class 2 (predicted)"``,
    ``"output 1"``, ``"output (2, 1)"`` or ``"target lambda out: out[:, 1]"``."""
    if attr.target == "output":
        return "the model output"
    if "horizon" in attr.target or "time column" in attr.target:  # Horizon / TimeColumns
        return attr.target
    index = attr.target_index
    if index is not None and sample < len(index):
        i = np.asarray(index[sample])
        where = str(int(i)) if i.ndim == 0 else str(tuple(int(v) for v in i))
        if attr.target == "predicted class":
            return f"class {where} (predicted)"
        return f"output {where}"
    return f"target {attr.target}"


#: How a figure names the peer explainers of :mod:`cdig.peers` (``attr.peer.name``).
PEER_TITLES = {
    "gradient": "Gradient",
    "gradient_x_input": "Gradient x input",
    "freqrise": "FreqRISE",
    "virtual_inspection": "DFT-LRP",
    "timing": "TIMING",
    "flextime": "FLEXtime",
}


def describe(attr: Attribution, sample: int = 0) -> str:
    """One-line description of what is explained: domain, target, f(x), f(x'), delta.

    For a peer's result (``attr.peer``): the explainer, the domain, the target and the
    explained score ``f(x)`` when it has one; no ``f(x')`` or ``delta``, which it has not.
    """
    name = type(attr.domain).__name__ if attr.domain is not None else "Cross-domain IG"
    if attr.peer is not None:
        title = PEER_TITLES.get(attr.peer.name, attr.peer.name)
        score = (
            f"f(x) = {float(attr.outputs[sample]):.4g}"
            if attr.outputs is not None
            else "no model output"
        )
        return (
            f"{title} ({name}) attributions of {target_label(attr, sample)}, sample {sample} | "
            f"{score}; a peer explainer: no baseline, no completeness"
        )
    assert attr.outputs is not None and attr.baseline_outputs is not None
    assert attr.delta is not None  # an Integrated Gradients result
    fx = float(attr.outputs[sample])
    fb = float(attr.baseline_outputs[sample])
    delta = float(attr.delta[sample])
    return (
        f"{name} attributions of {target_label(attr, sample)}, sample {sample} | "
        f"f(x) = {fx:.4g}, f(x') = {fb:.4g}, f(x) - f(x') = {fx - fb:.4g}, delta = {delta:.2g}"
    )


def _finish(fig: Any, attr: Attribution, sample: int, titled: bool = True) -> Figure:
    """The figure's title: :func:`describe` on two lines, wrapped to the figure's width.

    ``titled=False`` (the caller's ``ax=``): the caller's figure keeps its own title.
    """
    import textwrap

    if not titled:
        return fig
    # about 0.55 em per character at the "medium" (10 pt) title size
    chars = max(30, int(fig.get_figwidth() * 72 / (10 * 0.55)))
    lines = [w for part in describe(attr, sample).split(" | ") for w in textwrap.wrap(part, chars)]
    fig.suptitle("\n".join(lines), fontsize="medium")
    return fig


def plot_horizon(
    attr: Attribution,
    sample: int = 0,
    *,
    dim: str | None = None,
    cmap: str = "RdBu_r",
    figsize: tuple[float, float] | None = None,
    vmax: float | None = None,
    inputs: Any = None,
    ax: Any = None,
) -> Figure:
    """Heatmap of the attributions per forecast step: coefficient (row) x horizon step.

    Parameters
    ----------
    attr : Attribution
        From ``Horizon("each")``: dims ``("horizon", ...)``.
    sample : int, default=0
    dim : str, optional
        The coefficient axis drawn as rows (``"component"`` for seasonal-trend,
        ``"frequency"`` for Fourier ...); other axes (channels, time) are summed. Default:
        the first axis that is not ``"horizon"`` or ``"channel"``.
    cmap : str, default="RdBu_r"
        Diverging colour map, centred at zero (red pushes the forecast up).
    figsize : (float, float), optional
    vmax : float, optional
        Colour scale from ``-vmax`` to ``vmax`` (larger values saturate); default the
        largest ``|attribution|``. Useful when one row (a trend) dwarfs the others.
    inputs : array-like, optional
        Accepted like every figure of this module takes it; not drawn (the input is
        the same for every step).
    ax : sequence of two matplotlib Axes, optional
        Draw into these Axes: the forecast, then the heatmap (the rule of this module:
        no title is set on your figure); a new figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        Top: the forecast ``f(x)`` and ``f(x')`` per step. Bottom: the heatmap, one row per
        coefficient, one column per step, with a colour bar.
    """
    if vmax is not None and not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax={vmax!r} must be a positive number or None.")

    if not attr.dims or attr.dims[0] != "horizon":
        raise ValueError(
            f"plot_horizon needs attributions with a leading 'horizon' axis (target="
            f"cdig.Horizon('each')); these have dims {attr.dims}."
        )
    if not 0 <= sample < attr.batch_size:
        raise ValueError(f"sample={sample} is out of range for a batch of {attr.batch_size}.")
    rest = [d for d in attr.dims[1:] if d != "channel"]
    if dim is None:
        if not rest:
            raise ValueError(f"no coefficient axis to draw in dims {attr.dims}.")
        dim = rest[0]
    if dim not in attr.dims[1:]:
        raise ValueError(f"dim={dim!r} is not an axis of these attributions ({attr.dims}).")
    v = attr.values[sample]  # (S, ...)
    keep = attr.dims.index(dim)  # axis in v (v has no batch axis; dims[0] is horizon)
    sum_axes = tuple(a for a in range(1, v.ndim) if a != keep)
    grid = v.sum(axis=sum_axes) if sum_axes else v  # (S, n)
    steps = np.asarray(attr.coords["horizon"])
    labels = attr.coords.get(dim)
    n_rows = grid.shape[1]
    if ax is None:
        size = figsize or (10.0, 3.2 + min(0.35 * n_rows, 4.0))
        fig = _pyplot().figure(layout="constrained", figsize=size)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.5))
    else:
        top, bottom = _given_axes(ax, 2, figsize)
        fig = _figure_of(top)
    hz = attr.per_target
    if hz is not None:
        top.plot(steps, hz.outputs[sample], color="k", marker=".", label="f(x)")
        top.plot(steps, hz.baseline_outputs[sample], color="0.5", ls="--", label="f(x')")
        top.legend(fontsize="small", loc="best")
    top.set_ylabel("forecast")
    edges = _edges(steps.astype(np.float64))
    categorical = labels is None or np.asarray(labels).dtype.kind in "USO"
    y_edges = (
        np.arange(n_rows + 1) - 0.5 if categorical else _edges(np.asarray(labels, dtype=np.float64))
    )
    mesh = bottom.pcolormesh(
        edges,
        y_edges,
        grid.T,
        cmap=cmap,
        norm=_symmetric_norm(grid if vmax is None else np.array([vmax])),
        shading="flat",
    )
    if categorical:
        names = [str(s) for s in (labels if labels is not None else range(n_rows))]
        bottom.set_yticks(np.arange(n_rows), names)
        bottom.invert_yaxis()
    else:
        unit = attr.units.get(dim, "")
        bottom.set_ylabel(f"{dim} ({unit})" if unit else dim)
    columns = "time column" in str(attr.target)  # a TimeColumns target
    bottom.set_xlabel("time column" if columns else "horizon step (0 = first forecast point)")
    top.set_ylabel("output" if columns else "forecast")
    extend = "neither" if vmax is None or np.abs(grid).max() <= vmax else "both"
    fig.colorbar(mesh, ax=bottom, label="attribution", shrink=0.9, extend=extend)
    delta = hz.delta[sample] if hz is not None else attr.delta
    assert delta is not None  # a stacked target: Integrated Gradients only
    name = type(attr.domain).__name__ if attr.domain is not None else "Cross-domain IG"
    if ax is not None:  # the caller's figure keeps its own title
        return fig
    fig.suptitle(
        f"{name} attributions per {'time column' if columns else 'forecast step'}, sample "
        f"{sample} | max |delta| per step = "
        f"{float(np.max(np.abs(delta))):.2g}\n{attr.target}",
        fontsize="medium",
    )
    return fig


_PLOTTERS: dict[str, Callable[..., Any]] = {
    "frequency": plot_frequency,
    "time": plot_time,
    "spectrogram": plot_spectrogram,
    "wavelet": plot_wavelet,
    "components": plot_components,
    "seasonal": plot_seasonal,
    "bands": plot_bands,
    "horizon": plot_horizon,
    "values": plot_values,
}
