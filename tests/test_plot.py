"""Figures: every kind is drawn and shows the numbers it was given."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import cdig
from cdig import plot
from cdig.attribution import Attribution

from .conftest import SmoothCNN

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, QuadMesh  # noqa: E402

FS = 32.0


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def fake(values, dims, coords, units=None, domain=None, target="0"):
    """An Attribution with consistent outputs: f(x) - f(x') = sum(values) - delta. Labels
    not named like an axis run along ``"coefficient"`` (as the wavelet's do)."""
    values = np.asarray(values, dtype=np.float64)
    b = values.shape[0]
    delta = np.full(b, 1e-7)
    base = np.full(b, 0.25)
    return Attribution(
        values=values,
        delta=delta,
        dims=dims,
        coords=coords,
        units=units or {},
        outputs=base + values.reshape(b, -1).sum(axis=1) - delta,
        baseline_outputs=base,
        n_steps=np.full(b, 32),
        domain=domain,
        target=target,
        coord_dims={k: ("coefficient",) for k in coords if k not in dims},
    )


class Stub:
    """Stands in for a fitted domain that is not on main yet."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class SeriesStub(Stub):
    """A fitted per-sample decomposition: ``component_series(sample)`` of ``series``."""

    def __init__(self, series: np.ndarray, **attrs):
        super().__init__(n_samples_=len(series), **attrs)
        self.series = series

    def component_series(self, sample: int) -> np.ndarray:
        return self.series[sample]


def linear_model(weights: np.ndarray) -> torch.nn.Module:
    """f(x) = sum_c,t w[c, t] x[c, t], float64; its IG attributions are w * x exactly."""
    lin = torch.nn.Linear(weights.size, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weights.reshape(1, -1)))
    return torch.nn.Sequential(torch.nn.Flatten(), lin)


def panels(fig):
    """The figure's axes without colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def rgba(color):
    return np.asarray(mcolors.to_rgba(color))


# ---------------------------------------------------------------------- dispatch
@pytest.mark.parametrize(
    ("dims", "coords", "kind"),
    [
        (("channel", "frequency"), {}, "frequency"),
        (("channel", "time"), {}, "time"),
        (("channel", "frequency", "time"), {}, "spectrogram"),
        (("channel", "coefficient"), {"band": np.array(["cA1", "cD1"])}, "wavelet"),
        (("channel", "coefficient"), {}, "values"),
        (("component", "channel"), {}, "components"),
        (("channel", "component"), {}, "seasonal"),
        (("channel", "component", "time"), {}, "seasonal"),
        (("channel", "band"), {}, "bands"),
        (("channel", "band", "time"), {}, "bands"),
        (("lag", "channel"), {}, "values"),
        (("channel", "quefrency"), {}, "values"),
    ],
)
def test_plot_kind_follows_dims(dims, coords, kind):
    shape = (1,) + (2,) * len(dims)
    assert plot.plot_kind(fake(np.zeros(shape), dims, coords)) == kind


def test_unknown_kind_and_bad_sample_are_refused():
    attr = fake(np.ones((2, 1, 4)), ("channel", "time"), {"time": np.arange(4.0)})
    with pytest.raises(ValueError, match="kind="):
        plot.plot_attribution(attr, kind="nope")
    with pytest.raises(ValueError, match="sample=2 is out of range"):
        plot.plot_attribution(attr, sample=2)
    with pytest.raises(TypeError, match="sample="):
        plot.plot_attribution(attr, sample=0.5)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    attr = fake(np.ones((1, 1, 4)), ("channel", "time"), {"time": np.arange(4.0)})
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"cdig\[plot\]"):
        attr.plot()


# ---------------------------------------------------------------------- frequency
@pytest.fixture
def fourier_case():
    """A linear model reading a 4 Hz cosine, explained on a 4 Hz cosine of amplitude 1.5."""
    n = 128
    t = np.arange(n) / FS
    w = np.cos(2 * np.pi * 4.0 * t)[None] / n  # (1, T)
    x = (1.5 * np.cos(2 * np.pi * 4.0 * t) + 0.2 * np.sin(2 * np.pi * 9.0 * t))[None, None]
    attr = cdig.explain(linear_model(w), x, "fourier", fs=FS)
    return attr, x


def test_frequency_bars_are_the_attributions_with_sign_colours(fourier_case):
    attr, x = fourier_case
    fig = attr.plot(inputs=x, mark=[4.0])  # through Attribution.plot and the dispatcher
    bar_ax = fig.axes[0]
    heights = np.array([p.get_height() for p in bar_ax.patches])
    lefts = np.array([p.get_x() + p.get_width() / 2 for p in bar_ax.patches])
    np.testing.assert_allclose(heights, attr.values[0, 0], atol=1e-12)
    np.testing.assert_allclose(lefts, attr.coords["frequency"])
    for p, v in zip(bar_ax.patches, attr.values[0, 0]):
        want = plot.POSITIVE if v >= 0 else plot.NEGATIVE
        np.testing.assert_allclose(p.get_facecolor(), rgba(want))
    # the 4 Hz bin carries f(x) - f(x') and is the tallest, red bar
    top = int(np.argmax(heights))
    assert attr.coords["frequency"][top] == 4.0
    assert heights[top] == pytest.approx(float(attr.outputs[0] - attr.baseline_outputs[0]))
    assert bar_ax.get_xlabel() == "frequency (Hz)"
    assert any(line.get_xdata()[0] == 4.0 for line in bar_ax.lines if line.get_linestyle() == "--")
    fx, fb = float(attr.outputs[0]), float(attr.baseline_outputs[0])
    assert fig._suptitle.get_text() == (  # on two lines
        f"Fourier attributions of the model output, sample 0\nf(x) = {fx:.4g}, "
        f"f(x') = {fb:.4g}, f(x) - f(x') = {fx - fb:.4g}, delta = {float(attr.delta[0]):.2g}"
    )


def test_frequency_twin_axis_is_the_amplitude_spectrum(fourier_case):
    attr, x = fourier_case
    fig = plot.plot_frequency(attr, inputs=x)
    assert len(fig.axes) == 2  # bars + twin
    (line,) = fig.axes[1].lines
    f, amp = line.get_xdata(), line.get_ydata()
    # closed form: a cosine of amplitude 1.5 at 4 Hz and a sine of 0.2 at 9 Hz
    assert amp[np.argmin(np.abs(f - 4.0))] == pytest.approx(1.5)
    assert amp[np.argmin(np.abs(f - 9.0))] == pytest.approx(0.2)
    others = np.ones(len(f), dtype=bool)
    others[[np.argmin(np.abs(f - 4.0)), np.argmin(np.abs(f - 9.0))]] = False
    assert np.max(amp[others]) < 1e-12
    assert fig.axes[1].get_ylabel() == "input amplitude"


def test_frequency_in_beats_per_minute(fourier_case):
    attr, x = fourier_case
    fig = plot.plot_frequency(attr, inputs=x, unit="bpm", mark=[240.0], xlim=(0, 600))
    ax = fig.axes[0]
    centres = np.array([p.get_x() + p.get_width() / 2 for p in ax.patches])
    assert ax.get_xlabel() == "frequency (bpm)"
    assert ax.get_xlim() == (0.0, 600.0)
    # only the bars in view are drawn: 0 .. 10 Hz (600 bpm); the next bin, 615 bpm, is out
    np.testing.assert_allclose(centres, attr.coords["frequency"][:41] * 60)
    assert fig.axes[1].lines[0].get_xdata()[-1] == pytest.approx(16.0 * 60)


def test_frequency_rejects_bad_units_and_inputs(fourier_case):
    attr, _ = fourier_case
    bins = cdig.explain(linear_model(np.ones((1, 16))), np.ones((1, 1, 16)), "fourier")
    with pytest.raises(ValueError, match="unit='bpm' needs frequencies in Hz"):
        plot.plot_frequency(bins, unit="bpm")
    with pytest.raises(ValueError, match="unit='kHz'"):
        plot.plot_frequency(attr, unit="kHz")
    with pytest.raises(ValueError, match="inputs has 2 channel"):
        plot.plot_frequency(attr, inputs=np.zeros((2, 128)))
    with pytest.raises(ValueError, match="inputs has a batch of 3"):
        plot.plot_frequency(attr, inputs=np.zeros((3, 1, 128)))


def test_frequency_without_fs_draws_bins_and_the_spectrum_on_bins():
    n = 32
    x = np.cos(2 * np.pi * 3 * np.arange(n) / n)[None, None]
    # weights x: f(x) = n / 2 (weights of ones would sum the cosine to a rounding error)
    attr = cdig.explain(linear_model(x[0]), x, "fourier")
    fig = plot.plot_frequency(attr, inputs=x[0])
    assert fig.axes[0].get_xlabel() == "frequency (bin)"
    line = fig.axes[1].lines[0]
    assert line.get_xdata()[np.argmax(line.get_ydata())] == 3.0


def test_frequency_multichannel_has_a_row_per_channel():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 64))
    attr = cdig.explain(linear_model(rng.normal(size=(3, 64))), x, "fourier", fs=FS)
    fig = plot.plot_frequency(attr, sample=1, inputs=x)
    assert len(fig.axes) == 6  # 3 rows x (bars + spectrum)
    bar_axes = [ax for ax in fig.axes if ax.patches]
    assert len(bar_axes) == 3
    for c in range(3):
        heights = [p.get_height() for p in bar_axes[c].patches]
        np.testing.assert_allclose(heights, attr.values[1, c], atol=1e-12)


# ---------------------------------------------------------------------- time
def test_time_line_is_coloured_and_sized_by_attribution():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 2, 48))
    w = rng.normal(size=(2, 48))
    attr = cdig.explain(linear_model(w), x, "time", fs=FS)
    np.testing.assert_allclose(attr.values[0], w * x[0], atol=1e-10)  # IG of a linear model
    fig = plot.plot_time(attr, inputs=x)
    rows = panels(fig)
    assert len(rows) == 2 and len(fig.axes) == 3  # two channels + colour bar
    for c, ax in enumerate(rows):
        (lc,) = [col for col in ax.collections if isinstance(col, LineCollection)]
        np.testing.assert_allclose(lc.get_array(), attr.values[0, c])
        segs = lc.get_segments()
        mids = np.array([s[1] for s in segs])  # each segment passes through its sample
        np.testing.assert_allclose(mids[:, 0], attr.coords["time"])
        np.testing.assert_allclose(mids[:, 1], x[0, c])
        widths = np.asarray(lc.get_linewidths())
        assert int(np.argmax(widths)) == int(np.argmax(np.abs(attr.values[0, c])))
        rgb = lc.to_rgba(lc.get_array())
        pos, neg = np.argmax(attr.values[0, c]), np.argmin(attr.values[0, c])
        assert rgb[pos][0] > rgb[pos][2]  # red
        assert rgb[neg][2] > rgb[neg][0]  # blue
        assert -lc.norm.vmin == lc.norm.vmax == pytest.approx(np.abs(attr.values[0]).max())
        np.testing.assert_allclose(ax.lines[0].get_ydata(), x[0, c])  # grey underlay
    assert rows[-1].get_xlabel() == "time (s)"


def test_time_xlim_draws_the_samples_in_view():
    t = np.arange(100) / 10.0
    attr = fake(np.sin(t)[None, None], ("channel", "time"), {"time": t}, {"time": "s"})
    fig = plot.plot_time(attr, inputs=np.cos(t), xlim=(2.0, 3.0))
    lc = panels(fig)[0].collections[0]
    np.testing.assert_allclose(lc.get_array(), np.sin(t[19:32]))  # 2.0 .. 3.0 s and neighbours
    assert panels(fig)[0].get_xlim() == (2.0, 3.0)


def test_time_without_x_draws_the_attributions():
    attr = fake(
        [[[0.0, 1.0, -2.0, 0.5]]], ("channel", "time"), {"time": np.arange(4.0)}, {"time": "sample"}
    )
    fig = plot.plot_time(attr)
    lc = fig.axes[0].collections[0]
    np.testing.assert_allclose([s[1][1] for s in lc.get_segments()], [0.0, 1.0, -2.0, 0.5])
    assert fig.axes[0].get_xlabel() == "time (sample)"


# ---------------------------------------------------------------------- STFT
def stft_attr(domain=None):
    rng = np.random.default_rng(3)
    freq = np.linspace(0, 16, 9)
    t = np.arange(5) * 0.5
    v = rng.normal(size=(2, 1, 9, 5))
    return fake(
        v,
        ("channel", "frequency", "time"),
        {"frequency": freq, "time": t},
        {"frequency": "Hz", "time": "s"},
        domain=domain,
    )


def test_spectrogram_attribution_panel_has_a_zero_centred_scale():
    attr = stft_attr()
    fig = plot.plot_spectrogram(attr, sample=1)
    meshes = [c for ax in panels(fig) for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 1
    np.testing.assert_allclose(np.asarray(meshes[0].get_array()).reshape(9, 5), attr.values[1, 0])
    m = np.abs(attr.values[1]).max()
    assert meshes[0].norm.vmin == pytest.approx(-m) and meshes[0].norm.vmax == pytest.approx(m)
    assert fig.axes[0].get_ylabel() == "frequency (Hz)"
    assert fig.axes[0].get_xlabel() == "time (s)"


def test_spectrogram_input_panel_uses_the_domain_forward():
    mag = np.arange(45, dtype=np.float64).reshape(1, 1, 9, 5) + 1.0

    class Domain(Stub):
        def forward(self, x, index=None):
            assert x.shape == (1, 1, 64)
            return torch.as_tensor(mag) * (1 + 0j)

    attr = stft_attr(Domain(fs=FS))
    fig = plot.plot_spectrogram(attr, inputs=np.zeros((2, 1, 64)))
    ax_in = fig.axes[0]
    (mesh,) = ax_in.collections
    np.testing.assert_allclose(
        np.asarray(mesh.get_array()).reshape(9, 5), 20 * np.log10(mag[0, 0]), rtol=1e-12
    )
    assert "input" in ax_in.get_title()


def test_spectrogram_input_panel_falls_back_to_scipy():
    t = np.arange(64) / FS
    x = np.cos(2 * np.pi * 8.0 * t)[None, None]
    attr = stft_attr(Stub(fs=FS))  # no forward: scipy.signal.stft
    fig = plot.plot_spectrogram(attr, sample=0, inputs=np.repeat(x, 2, axis=0))
    mesh = fig.axes[0].collections[0]
    edges = mesh.get_coordinates()[:, 0, 1]  # frequency cell edges (rows)
    centres = (edges[:-1] + edges[1:]) / 2
    db = np.asarray(mesh.get_array()).reshape(len(centres), -1)
    assert np.isfinite(db).all()
    # the strongest row of the input spectrogram is the 8 Hz one
    assert centres[np.argmax(db.mean(axis=1))] == pytest.approx(8.0)


# ---------------------------------------------------------------------- wavelet
def wavelet_attr():
    bands = np.array(["cA2"] * 4 + ["cD2"] * 4 + ["cD1"] * 8)
    time = np.concatenate([np.arange(4) * 2.0 + 1, np.arange(4) * 2.0 + 1, np.arange(8) + 0.5])
    v = np.random.default_rng(4).normal(size=(1, 2, 16))
    coords = {
        "band": bands,
        "time": time,
        "level": np.array([2] * 8 + [1] * 8),
        "band_low": np.array([0.0] * 4 + [4.0] * 4 + [8.0] * 8),
        "band_high": np.array([4.0] * 4 + [8.0] * 4 + [16.0] * 8),
    }
    units = {"time": "s", "band_low": "Hz", "band_high": "Hz"}
    return fake(v, ("channel", "coefficient"), coords, units)


def test_wavelet_bars_sum_bands_and_scalogram_shows_every_coefficient():
    attr = wavelet_attr()
    fig = plot.plot_wavelet(attr)
    bar_axes = [fig.axes[0], fig.axes[2]]
    map_axes = [fig.axes[1], fig.axes[3]]
    bands = attr.coords["band"]
    for c in range(2):
        widths = [p.get_width() for p in bar_axes[c].patches]
        want = [attr.values[0, c, bands == b].sum() for b in ("cA2", "cD2", "cD1")]
        np.testing.assert_allclose(widths, want)
        labels = [t.get_text() for t in bar_axes[c].get_yticklabels()]
        assert labels == ["cA2\n0–4 Hz", "cD2\n4–8 Hz", "cD1\n8–16 Hz"]
        meshes = map_axes[c].collections
        assert len(meshes) == 3
        shown = np.concatenate([np.asarray(m.get_array()).ravel() for m in meshes])
        np.testing.assert_allclose(shown, attr.values[0, c])
        assert all(m.norm.vmin == -m.norm.vmax for m in meshes)
        assert [t.get_text() for t in map_axes[c].get_yticklabels()] == ["cA2", "cD2", "cD1"]
        assert map_axes[c].get_xlabel() == "time (s)"
    # cD1 cells span its coefficient spacing (1 s), cA2 cells twice as much (2 s)
    cells = meshes[2].get_coordinates()[0, :, 0]
    np.testing.assert_allclose(np.diff(cells), 1.0)
    np.testing.assert_allclose(np.diff(meshes[0].get_coordinates()[0, :, 0]), 2.0)


# ---------------------------------------------------------------------- ICA / PCA
def test_components_are_ranked_with_their_series_and_heatmap():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(2, 5, 3))  # (batch, component, channel)
    sources = rng.normal(size=(2, 5, 40))
    attr = fake(
        v,
        ("component", "channel"),
        {"component": np.arange(5)},
        domain=SeriesStub(sources, fs=FS),
    )
    fig = plot.plot_components(attr, sample=1, k=3)
    ax_bar, ax_map, _cbar, ax_src = fig.axes
    totals = v[1].sum(axis=1)
    order = np.argsort(-np.abs(totals))[:3]
    np.testing.assert_allclose([p.get_width() for p in ax_bar.patches], totals[order])
    assert [t.get_text() for t in ax_bar.get_yticklabels()] == [f"component {i}" for i in order]
    heat = np.asarray(ax_map.collections[0].get_array()).reshape(3, 3)
    np.testing.assert_allclose(heat, v[1, order])
    assert len(ax_src.lines) == 3
    for r, (line, i) in enumerate(zip(ax_src.lines, order)):
        s = sources[1, i]
        np.testing.assert_allclose(line.get_ydata(), (s - s.mean()) / np.ptp(s) - r)
    assert ax_src.get_xlabel() == "time (s)"
    with pytest.raises(ValueError, match="k=0"):
        plot.plot_components(attr, k=0)


def test_components_with_a_mean_coefficient_draw_it_as_a_constant():
    rng = np.random.default_rng(8)
    v = rng.normal(size=(1, 3, 2))  # two sources and the channel means
    sources = rng.normal(size=(1, 2, 25))
    series = np.concatenate([sources, np.ones((1, 1, 25))], axis=1)  # the domain adds the 1
    names = np.array(["IC0", "IC1", "mean"])
    attr = fake(v, ("component", "channel"), {"component": names}, domain=SeriesStub(series))
    fig = plot.plot_components(attr)
    ax_src = panels(fig)[-1]
    order = np.argsort(-np.abs(v[0].sum(axis=1)))
    assert [t.get_text() for t in ax_src.get_yticklabels()] == [str(names[i]) for i in order]
    rank_of_mean = int(np.flatnonzero(order == 2)[0])
    np.testing.assert_allclose(ax_src.lines[rank_of_mean].get_ydata(), -rank_of_mean)
    assert ax_src.get_xlabel() == "time (sample)"


def test_components_without_sources_draws_bars_and_heatmap():
    v = np.array([[[1.0, -3.0], [0.5, 0.5], [-0.2, 0.0]]])
    attr = fake(v, ("component", "channel"), {"component": np.array(["IC-a", "IC-b", "IC-c"])})
    fig = plot.plot_attribution(attr)
    assert len(fig.axes) == 3  # bars, heatmap, colour bar
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["IC-a", "IC-b", "IC-c"]


# ---------------------------------------------------------------------- seasonal-trend
def test_seasonal_components_stacked_with_their_attribution():
    names = np.array(["trend", "seasonal", "resid"])
    v = np.array([[[0.8, -0.3, 0.05]]])  # (batch, channel, component)
    t = np.arange(30.0)
    comps = np.stack([0.1 * t, np.sin(t), 0.01 * np.cos(3 * t)])[None, None]  # (1, 1, 3, 30)
    attr = fake(v, ("channel", "component"), {"component": names}, domain=SeriesStub(comps))
    x = comps.sum(axis=2)
    fig = plot.plot_seasonal(attr, inputs=x)
    assert len(fig.axes) == 5  # input, three components, bars
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), x[0, 0])
    for m in range(3):
        line = fig.axes[1 + m].lines[0]
        np.testing.assert_allclose(line.get_ydata(), comps[0, 0, m])
        want = plot.POSITIVE if v[0, 0, m] >= 0 else plot.NEGATIVE
        np.testing.assert_allclose(mcolors.to_rgba(line.get_color()), rgba(want))
        assert fig.axes[1 + m].get_ylabel().startswith(str(names[m]))
    bars = fig.axes[-1].patches
    np.testing.assert_allclose([p.get_height() for p in bars], v[0, 0])
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == list(names)


def test_seasonal_time_resolved_without_components():
    rng = np.random.default_rng(6)
    v = rng.normal(size=(1, 2, 2, 20))  # (batch, channel, component, time)
    attr = fake(
        v,
        ("channel", "component", "time"),
        {"component": np.array(["trend", "season"]), "time": np.arange(20) / 4},
        {"time": "s"},
    )
    fig = plot.plot_attribution(attr)
    lcs = [c for ax in panels(fig) for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lcs) == 4
    for lc, (c, m) in zip(lcs, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        np.testing.assert_allclose(lc.get_array(), v[0, c, m])
    bar_ax = [ax for ax in fig.axes if ax.patches][-1]
    heights = np.array([p.get_height() for p in bar_ax.patches]).reshape(2, 2)
    np.testing.assert_allclose(heights, v[0].sum(axis=-1))


def test_seasonal_with_nothing_but_scores_is_a_bar_chart():
    attr = fake([[[1.0, -1.0]]], ("channel", "component"), {"component": np.array(["a", "b"])})
    fig = plot.plot_seasonal(attr)
    assert len(fig.axes) == 1
    assert [p.get_height() for p in fig.axes[0].patches] == [1.0, -1.0]


# ---------------------------------------------------------------------- bands, fallback
def test_bands_bar_chart_from_attr_bands(fourier_case):
    attr, _ = fourier_case
    banded = attr.bands({"low": (0.0, 3.0), "heart": (3.0, 5.0)})
    fig = banded.plot()
    ax = fig.axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    np.testing.assert_allclose(heights, banded.values[0, 0])
    np.testing.assert_allclose(heights.sum(), attr.values[0].sum())  # completeness kept
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:2] == ["low\n0–3 Hz", "heart\n3–5 Hz"] and labels[2] == "other"
    assert heights[1] == pytest.approx(heights.max())


def test_bands_sum_over_extra_axes():
    v = np.arange(12, dtype=float).reshape(1, 1, 3, 4)
    attr = fake(v, ("channel", "band", "time"), {"band": np.array(["a", "b", "c"])})
    fig = plot.plot_attribution(attr)
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], v[0, 0].sum(-1))
    assert "summed over time" in fig.axes[0].get_title()


def test_generic_heatmap_and_bars():
    v = np.random.default_rng(7).normal(size=(1, 3, 4, 2))
    attr = fake(v, ("lag", "channel", "head"), {})
    fig = plot.plot_attribution(attr)
    mesh = fig.axes[0].collections[0]
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 8), v[0].reshape(3, 8))
    assert mesh.norm.vmin == -mesh.norm.vmax
    one = fake([[2.0, -1.0, 0.5]], ("lag",), {"lag": np.array([3.0, 1.0, 2.0])}, {"lag": "s"})
    fig = plot.plot_attribution(one)
    assert [p.get_height() for p in fig.axes[0].patches] == [-1.0, 0.5, 2.0]  # sorted by lag
    assert fig.axes[0].get_xlabel() == "lag (s)"


def test_generic_per_channel_bars_against_the_coordinate():
    # the cepstrum's quefrencies come in FFT order (0, 1, ..., -1): bars are drawn sorted
    q = np.fft.fftfreq(8, 1 / 8) / FS
    v = np.random.default_rng(9).normal(size=(1, 2, 8))
    attr = fake(v, ("channel", "quefrency"), {"quefrency": q}, {"quefrency": "s"})
    fig = plot.plot_attribution(attr)
    assert len(fig.axes) == 2
    order = np.argsort(q, kind="stable")
    for c, ax in enumerate(fig.axes):
        centres = [p.get_x() + p.get_width() / 2 for p in ax.patches]
        np.testing.assert_allclose(centres, q[order])
        np.testing.assert_allclose([p.get_height() for p in ax.patches], v[0, c, order])
    assert fig.axes[-1].get_xlabel() == "quefrency (s)"


def test_frequency_bins_put_nyquist_on_the_largest_coordinate():
    # a DCT-like domain without fs: n bins for n samples, twice as fine as the FFT's
    n = 32
    x = np.cos(2 * np.pi * 4 * np.arange(n) / n)[None, None]
    freq = np.arange(n, dtype=float)
    attr = fake(np.ones((1, 1, n)), ("channel", "frequency"), {"frequency": freq},
                {"frequency": "bin"})  # fmt: skip
    line = plot.plot_frequency(attr, inputs=x).axes[1].lines[0]
    assert line.get_xdata()[-1] == pytest.approx(n - 1)
    # the 4-cycle cosine lands near DCT bin 8 (exactly 8 * (n - 1) / n)
    assert line.get_xdata()[np.argmax(line.get_ydata())] == pytest.approx(8 * (n - 1) / n)


# ---------------------------------------------------------------------- ax=
def contents(ax):
    """What one axes shows: bar sizes, colour arrays of collections, line values."""
    out = [p.get_height() for p in ax.patches] + [p.get_width() for p in ax.patches]
    for c in ax.collections:
        if c.get_array() is not None:
            out += list(np.ravel(c.get_array()))
    for line in ax.lines:
        out += list(np.ravel(line.get_ydata()))
    return np.asarray(out, dtype=np.float64)


def ax_cases(fourier_case):
    rng = np.random.default_rng(11)
    attr_f, x_f = fourier_case
    t = np.arange(24) / 4
    time2 = fake(rng.normal(size=(1, 2, 24)), ("channel", "time"), {"time": t}, {"time": "s"})
    time8 = fake(rng.normal(size=(1, 8, 24)), ("channel", "time"), {"time": t}, {"time": "s"})
    sources = rng.normal(size=(1, 5, 40))
    comps = fake(
        rng.normal(size=(1, 5, 3)),
        ("component", "channel"),
        {"component": np.arange(5)},
        domain=SeriesStub(sources, fs=FS),
    )
    names = np.array(["trend", "seasonal", "resid"])
    parts = rng.normal(size=(1, 1, 3, 30))
    seasonal = fake(
        [[[0.8, -0.3, 0.05]]], ("channel", "component"), {"component": names},
        domain=SeriesStub(parts),
    )  # fmt: skip
    bands = attr_f.bands({"low": (0.0, 3.0), "heart": (3.0, 5.0)})
    bars = fake(rng.normal(size=(1, 2, 6)), ("channel", "quefrency"), {"quefrency": np.arange(6.0)})
    return [  # (function, attribution, keywords, panels)
        (plot.plot_frequency, attr_f, {"inputs": x_f}, 1),
        (plot.plot_time, time2, {"inputs": rng.normal(size=(1, 2, 24))}, 2),
        (plot.plot_time, time8, {}, 1),  # more than MAX_PANELS channels: one heatmap
        (plot.plot_spectrogram, stft_attr(Stub(fs=FS)), {"inputs": rng.normal(size=(2, 1, 64))}, 2),
        (plot.plot_wavelet, wavelet_attr(), {}, 4),
        (plot.plot_components, comps, {"k": 3}, 3),
        (plot.plot_seasonal, seasonal, {"inputs": parts.sum(axis=2)}, 5),
        (plot.plot_bands, bands, {}, 1),
        (plot.plot_values, bars, {}, 2),
    ]


def test_every_figure_draws_into_the_given_axes(fourier_case):
    """``ax=``: the same panels as the figure cdig makes, drawn in the caller's axes."""
    for fn, attr, kwargs, n in ax_cases(fourier_case):
        own = panels(fn(attr, **kwargs))[:n]
        fig = plt.figure()
        fig.suptitle("mine")
        given = fig.subplots(n, 1) if n > 1 else fig.subplots()
        before = plt.get_fignums()
        assert fn(attr, ax=given, **kwargs) is fig, fn.__name__
        assert plt.get_fignums() == before  # no figure of its own
        assert fig.get_suptitle() == "mine"  # the caller's title is kept
        for mine, theirs in zip(np.ravel(given), own):
            drawn = contents(mine)
            assert drawn.size > 0, fn.__name__
            np.testing.assert_array_equal(drawn, contents(theirs))
        # the dispatcher and Attribution.plot take it too, and a flat list is as good
        fig2 = plt.figure()
        listed = list(np.ravel(fig2.subplots(n, 1) if n > 1 else [fig2.subplots()]))
        assert attr.plot(ax=listed if n > 1 else listed[0], **kwargs) is fig2
        plt.close("all")


def test_horizon_figure_draws_into_two_given_axes():
    v = np.random.default_rng(12).normal(size=(1, 4, 1, 5))  # (batch, horizon, channel, freq)
    attr = fake(
        v,
        ("horizon", "channel", "frequency"),
        {"horizon": np.arange(4), "frequency": np.arange(5.0)},
        {"frequency": "Hz"},
    )
    own = plot.plot_attribution(attr)
    fig, (top, bottom) = plt.subplots(2, 1)
    assert plot.plot_attribution(attr, ax=[top, bottom]) is fig
    np.testing.assert_array_equal(contents(bottom), contents(own.axes[1]))
    np.testing.assert_allclose(contents(bottom), v[0, :, 0].T.ravel())
    assert fig.get_suptitle() == ""
    with pytest.raises(ValueError, match="ax holds 1 Axes, but this figure draws 2 panel"):
        plot.plot_attribution(attr, ax=top)


def test_wrong_axes_are_refused_with_what_is_needed():
    attr = fake(np.ones((1, 2, 4)), ("channel", "time"), {"time": np.arange(4.0)})
    _, axes = plt.subplots(3, 1)
    with pytest.raises(ValueError, match=r"ax holds 3 Axes, but this figure draws 2 panel\(s\)"):
        plot.plot_time(attr, ax=axes)
    with pytest.raises(ValueError, match=r"ax holds 1 Axes.*fig.subplots\(2, 1\)"):
        plot.plot_time(attr, ax=axes[0])
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes or a sequence of Axes"):
        plot.plot_time(attr, ax="left")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.plot_time(attr, ax=[axes[0], 3])
    other = plt.figure().subplots()
    with pytest.raises(ValueError, match="same figure"):
        plot.plot_time(attr, ax=[axes[0], other])
    with pytest.raises(ValueError, match=r"figsize=.* cannot be combined with ax="):
        plot.plot_time(attr, ax=axes[:2], figsize=(4.0, 3.0))


# ---------------------------------------------------------------------- titles fit, class named
def _net() -> torch.nn.Module:
    return SmoothCNN(channels=1, n_out=3, width=4)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    t = np.arange(128) / 16.0
    return np.sin(2 * np.pi * 2 * t) + 0.3 * np.random.default_rng(0).normal(size=(2, 1, 128))


def _inside(fig, artist) -> bool:
    fig.canvas.draw()
    box = artist.get_window_extent(renderer=fig.canvas.get_renderer())
    width, height = fig.canvas.get_width_height()
    return box.x0 >= 0 and box.x1 <= width and box.y1 <= height


@pytest.mark.parametrize("domain", ["fourier", "time", "stft", "wavelet", "dct"])
def test_title_fits_and_names_the_predicted_class(x, domain):
    if domain == "wavelet":
        pytest.importorskip("pywt")
    attr = cdig.explain(_net(), x, domain, target="predicted", fs=16.0, n_steps=16)
    for s in range(2):
        fig = attr.plot(sample=s, inputs=x)
        title = fig._suptitle
        assert _inside(fig, title), title.get_text()
        assert f"class {int(attr.target_index[s])} (predicted)" in title.get_text()
        plt.close(fig)


def test_callable_target_is_named_by_its_source(x):
    attr = cdig.explain(_net(), x, "fourier", target=lambda out: out.softmax(-1)[:, 1], fs=16.0)
    assert attr.target == "lambda out: out.softmax(-1)[:, 1]"
    fig = attr.plot(inputs=x)
    assert "target lambda out: out.softmax(-1)[:, 1]" in fig._suptitle.get_text()
    assert _inside(fig, fig._suptitle)
    plt.close(fig)

    def second_class(out: torch.Tensor) -> torch.Tensor:
        return out[:, 1]

    assert cdig.explain(_net(), x, "time", target=second_class).target == "second_class"


def test_run_plot_title_fits_and_wavelet_is_per_band(tmp_path, x):
    pytest.importorskip("pywt")
    X = np.concatenate([x] * 5)
    run = cdig.explain_dataset(
        _net(), X, ["fourier", "wavelet"], target="predicted", fs=16.0, out=tmp_path / "r"
    )
    fig = run.plot("fourier")
    ax = fig.axes[0]
    assert _inside(fig, ax.title)
    plt.close(fig)
    fig = run.plot("wavelet")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("cA") and labels[-1].startswith("cD1") and ax.get_xlabel() == "band"
    assert labels[-1] == "cD1\n4–8 Hz"  # fs=16: the finest details hold 4..8 Hz
    assert "error bars" in ax.get_title()
    # the bars are the per-band means of the per-sample band sums
    want = run.summary("wavelet", group_by="band", keep="band").mean
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(np.sort(heights), np.sort(want.ravel()), rtol=1e-12)
    plt.close(fig)


# ---------------------------------------------------------------------- time and frequency units
N = 52 * 4


@pytest.fixture(scope="module")
def weekly() -> np.ndarray:
    t = np.arange(N)
    rng = np.random.default_rng(1)
    return (0.05 * t + 3 * np.sin(2 * np.pi * t / 52) + 0.5 * rng.normal(size=N))[None, None, :]


def _weighted(z: torch.Tensor) -> torch.Tensor:
    w = torch.linspace(0, 1, z.shape[-1], dtype=z.dtype)
    return (z * w).sum(dim=(1, 2)) / z.shape[-1]


def test_seasonal_plot_uses_fs_for_time_and_labels_totals_inside(weekly):
    pytest.importorskip("statsmodels")
    attr = cdig.explain(_weighted, weekly, cdig.domains.SeasonalTrend(period=52), fs=52.0)
    fig = attr.plot(inputs=weekly, time_unit="year")
    lines = [ln for ax in fig.axes for ln in ax.get_lines() if len(ln.get_xdata()) == N]
    assert lines
    for ln in lines:
        assert ln.get_xdata()[-1] == pytest.approx((N - 1) / 52.0)  # years, not samples
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any(lab.startswith("trend") for lab in labels)
    assert not any("+" in lab for lab in labels if lab.startswith(("trend", "seasonal", "resid")))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    total = float(attr.values[0, 0, 0])
    assert f"attribution {total:+.3g}" in texts
    assert any(ax.get_xlabel() == "time (year)" for ax in fig.axes)
    plt.close(fig)


def test_ica_plot_uses_fs_for_time(weekly):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(2)
    x2 = np.concatenate([weekly, weekly + rng.normal(size=weekly.shape)], axis=1)
    attr = cdig.explain(_weighted, x2, cdig.domains.ICA(), fs=52.0)
    fig = attr.plot()
    src = [ln for ax in fig.axes for ln in ax.get_lines() if len(ln.get_xdata()) == N]
    assert src and src[0].get_xdata()[-1] == pytest.approx((N - 1) / 52.0)
    assert fig.axes[-1].get_xlabel() == "time (s)"
    plt.close(fig)


def test_frequency_units_beyond_hz_and_bpm(weekly):
    attr = cdig.explain(_weighted, weekly, "fourier", fs=52.0)
    freq = attr.coords["frequency"]
    fig = attr.plot(inputs=weekly, unit="cycles/year")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "frequency (cycles/year)"
    centres = sorted(p.get_x() + p.get_width() / 2 for p in ax.patches)
    np.testing.assert_allclose(centres, freq, atol=1e-9)  # relabelled, not rescaled
    plt.close(fig)
    fig = attr.plot(unit=("cycles/week", 1 / 52.0))
    centres = sorted(p.get_x() + p.get_width() / 2 for p in fig.axes[0].patches)
    np.testing.assert_allclose(centres, freq / 52.0, atol=1e-9)
    assert fig.axes[0].get_xlabel() == "frequency (cycles/week)"
    plt.close(fig)
    bins = cdig.explain(_weighted, weekly, "fourier")  # no fs: bins, nothing to relabel
    with pytest.raises(ValueError, match="needs frequencies in Hz"):
        bins.plot(unit="cycles/year")


def test_time_plot_keeps_the_input_visible_where_attributions_vanish(weekly):
    attr = cdig.explain(lambda z: (z[..., 50:60] ** 2).sum(dim=(1, 2)), weekly, "time", fs=52.0)
    assert np.all(attr.values[0, 0, :50] == 0)  # no attribution outside the window
    fig = attr.plot(inputs=weekly)
    under = [ln for ln in fig.axes[0].get_lines() if len(ln.get_ydata()) == N]
    assert len(under) == 1
    np.testing.assert_array_equal(under[0].get_ydata(), weekly[0, 0])
    r, g, b, _ = matplotlib_rgba(under[0].get_color())
    assert max(r, g, b) < 0.5  # dark grey, visible on white and on the near-white segments
    assert under[0].get_zorder() > fig.axes[0].collections[0].get_zorder()  # not covered
    plt.close(fig)


def matplotlib_rgba(color):
    from matplotlib.colors import to_rgba

    return to_rgba(color)
