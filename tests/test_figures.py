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
        fig = attr.plot(sample=s, x=x)
        title = fig._suptitle
        assert _inside(fig, title), title.get_text()
        assert f"class {int(attr.target_index[s])} (predicted)" in title.get_text()
        plt.close(fig)


def test_callable_target_is_named_by_its_source(x):
    attr = cdig.explain(_net(), x, "fourier", target=lambda out: out.softmax(-1)[:, 1], fs=16.0)
    assert attr.target == "lambda out: out.softmax(-1)[:, 1]"
    fig = attr.plot(x=x)
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
    assert labels[0].startswith("cA") and labels[-1] == "cD1" and ax.get_xlabel() == "band"
    # the bars are the per-band means of the per-sample band sums
    want = run.summary("wavelet", group_by="band", keep="band").mean
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(np.sort(heights), np.sort(want.ravel()), rtol=1e-12)
    plt.close(fig)
