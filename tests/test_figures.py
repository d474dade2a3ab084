"""Figure titles and axes that a reader can use: nothing clipped, the class named, time and
frequency in the units of fs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig

plt = pytest.importorskip("matplotlib.pyplot")


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 9, padding=4),
        torch.nn.Tanh(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).double()


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


def test_report_names_the_class_per_sample(x):
    from cdig.report import render_report

    attr = cdig.explain(_net(), x, "fourier", target="predicted", fs=16.0, n_steps=16)
    html = render_report({"fourier": attr}, x, samples=[0, 1])
    for s in range(2):
        assert f"explained: class {int(attr.target_index[s])} (predicted)" in html


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


# ---------------------------------------------------------------------- item: units and time
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
