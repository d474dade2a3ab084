"""cdig.Horizon: explaining one forecast step, a summary of the horizon, or every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.plot import plot_horizon
from cdig.targets import TIMESFM_QUANTILES

T, H = 32, 6


class Linear(torch.nn.Module):
    """A linear forecaster (batch, time) -> (batch, H), or (batch, H, K) with ``k`` outputs."""

    def __init__(self, k: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.k = k
        self.weight = torch.nn.Parameter(torch.randn((k or 1) * H, T, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight.T
        return y if self.k is None else y.reshape(len(x), H, self.k)


def _x(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, T, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


def test_step_and_summaries_match_the_closed_form():
    model, x = Linear(), _x()
    w = model.weight.detach()  # (H, T); IG of a linear model from x' = 0: w * x, exactly
    cases = {
        cdig.Horizon(2): w[2],
        cdig.Horizon(-1): w[H - 1],
        cdig.Horizon("mean"): w.mean(0),
        cdig.Horizon("sum", steps=range(1, 4)): w[1:4].sum(0),
        cdig.Horizon("mean", steps=slice(None, None, 2)): w[0::2].mean(0),
        cdig.Horizon("mean", steps=[5, 0]): w[[5, 0]].mean(0),
    }
    for target, weights in cases.items():
        attr = cdig.explain(model, x, "time", target=target, n_steps=8)
        np.testing.assert_allclose(attr.values[:, 0], (weights * x).numpy(), atol=1e-12)


def test_target_names_and_indices_record_the_step():
    model, x = Linear(), _x(3)
    attr = cdig.explain(model, x, "fourier", target=cdig.Horizon(-1))
    assert attr.target == f"horizon step {H - 1}"  # negative steps resolved
    np.testing.assert_array_equal(attr.target_index, [H - 1] * 3)
    attr = cdig.explain(model, x, "fourier", target=cdig.Horizon("mean", steps=range(2, 5)))
    assert attr.target == "mean of horizon steps 2-4" and attr.target_index is None
    attr = cdig.explain(Linear(k=3), x, "fourier", target=cdig.Horizon(1, channel=2))
    assert attr.target == "horizon step 1, channel 2"
    np.testing.assert_array_equal(attr.target_index, [[1, 2]] * 3)
    from cdig.plot import describe

    assert "horizon step 1, channel 2" in describe(attr)  # and so in every figure title


def test_channel_and_quantile_pick_the_last_axis():
    x = _x()
    model = Linear(k=1 + len(TIMESFM_QUANTILES))  # mean, then quantiles 0.1 ... 0.9
    w = model.weight.detach().reshape(H, 10, T)
    attr = cdig.explain(model, x, "time", target=cdig.Horizon("mean", quantile=0.3))
    np.testing.assert_allclose(attr.values[:, 0], (w[:, 3].mean(0) * x).numpy(), atol=1e-12)
    attr = cdig.explain(model, x, "time", target=cdig.Horizon(4, channel=0))  # the mean
    np.testing.assert_allclose(attr.values[:, 0], (w[4, 0] * x).numpy(), atol=1e-12)
    own = cdig.Horizon(0, quantile=0.5, levels=[0.25, 0.5, 0.75])
    attr = cdig.explain(Linear(k=4), x, "time", target=own)
    assert attr.target == "horizon step 0, quantile 0.5"
    np.testing.assert_array_equal(attr.target_index, [[0, 2]] * 2)
    # a (batch, H, 1) forecast needs no channel
    attr = cdig.explain(Linear(k=1), x, "time", target=cdig.Horizon(3))
    w1 = Linear(k=1).weight.detach()
    np.testing.assert_allclose(attr.values[:, 0], (w1[3] * x).numpy(), atol=1e-12)


def test_each_step_stacks_complete_attributions():
    model, x = Linear(), _x()
    steps = [0, 2, 5]
    attr = cdig.explain(model, x, "time", target=cdig.Horizon("each", steps=steps), n_steps=8)
    assert attr.dims == ("horizon", "channel", "time")
    assert attr.values.shape == (2, 3, 1, T)
    np.testing.assert_array_equal(attr.coords["horizon"], steps)
    assert attr.units["horizon"] == "step" and attr.target == "each of horizon steps 0, 2, 5"
    w = model.weight.detach()
    for i, s in enumerate(steps):
        np.testing.assert_allclose(attr.values[:, i, 0], (w[s] * x).numpy(), atol=1e-12)
    hz = attr.settings["horizon"]
    with torch.no_grad():
        np.testing.assert_allclose(hz["outputs"], model(x)[:, steps].numpy(), rtol=1e-12)
    np.testing.assert_allclose(attr.outputs, hz["outputs"].sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(attr.total, attr.outputs - attr.baseline_outputs, atol=1e-10)
    # summed over the horizon: the attribution of the sum of those steps
    total = cdig.explain(model, x, "time", target=cdig.Horizon("sum", steps=steps), n_steps=8)
    np.testing.assert_allclose(attr.sum_over("horizon").values, total.values, atol=1e-12)


FIELDS = ("values", "delta", "outputs", "baseline_outputs", "error", "n_steps", "status")


def test_every_entry_stacks_the_same_steps_as_single_step_calls():
    """cdig.explain, explain_horizon, CrossDomainIG.explain / run / attribute agree bitwise,
    and each step of the stack is bitwise the single-step explanation of that step."""
    from cdig import Settings

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(T, 16), torch.nn.Tanh(), torch.nn.Linear(16, H))
    model, x = net.double(), _x(3)
    each = cdig.Horizon("each", steps=[4, 1])
    base = cdig.explain(model, x, "fourier", target=each, n_steps=16, baselines=0.5 * x)
    ig = cdig.CrossDomainIG(model, "fourier")
    settings = Settings(n_steps=16)
    others = [
        cdig.explain_horizon(model, x, "fourier", target=each, n_steps=16,
                                     baselines=0.5 * x),
        ig.explain(x, baselines=0.5 * x, target=each, n_steps=16),
        ig.run(x, 0.5 * x, each, settings=settings),
    ]  # fmt: skip
    for other in others:
        assert isinstance(other, cdig.Attribution) and other.dims == base.dims
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(other, f), getattr(base, f))
    values = ig.attribute(x, 0.5 * x, each, n_steps=16)
    np.testing.assert_array_equal(values, base.values)
    for i, step in enumerate([4, 1]):
        one = ig.run(x, 0.5 * x, cdig.Horizon(step), settings=settings)
        np.testing.assert_array_equal(base.values[:, i], one.values)
        np.testing.assert_array_equal(base.settings["horizon"]["delta"][:, i], one.delta)
        np.testing.assert_array_equal(base.settings["horizon"]["outputs"][:, i], one.outputs)
    # the sums of the steps, and the largest step count
    np.testing.assert_allclose(base.total, base.outputs - base.baseline_outputs, rtol=1e-6)
    assert base.n_evaluations.tolist() == [2 * 16] * 3


def test_the_horizon_module_only_re_exports():
    import cdig.horizon as old
    from cdig import api, plot, targets

    assert old.Horizon is targets.Horizon is cdig.Horizon
    assert old.TimeColumns is targets.TimeColumns is cdig.TimeColumns
    assert old.TIMESFM_QUANTILES is targets.TIMESFM_QUANTILES
    assert old.explain_horizon is api.explain_horizon is cdig.explain_horizon
    assert old.plot_horizon is plot.plot_horizon  # imported on first use
    with pytest.raises(AttributeError, match="no attribute 'plot_nothing'"):
        old.plot_nothing  # noqa: B018


def test_several_targets_are_refused_where_one_is_needed(tmp_path):
    from cdig.targets import as_target

    with pytest.raises(ValueError, match="a dataset run does not store"):
        as_target(cdig.Horizon("each"), dataset=True)
    calls = []

    def model(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return Linear()(x)

    with pytest.raises(ValueError, match=r"target=Horizon\('each'\) gives one attribution"):
        cdig.explain_dataset(
            model, _x(4).numpy(), out=tmp_path / "run", target=cdig.Horizon("each")
        )
    assert calls == [] and not (tmp_path / "run").exists()  # refused before any work
    with pytest.raises(TypeError, match=r"must be cdig.Horizon\('each'"):
        cdig.explain_horizon(Linear(), _x(), target=cdig.Horizon(1))


def test_each_fits_a_data_dependent_domain_once(monkeypatch):
    pytest.importorskip("statsmodels")
    from cdig.domains import SeasonalTrend

    calls = []
    original = SeasonalTrend._fit

    def counting(self, x):
        calls.append(tuple(x.shape))
        return original(self, x)

    monkeypatch.setattr(SeasonalTrend, "_fit", counting)
    t = torch.arange(T, dtype=torch.float64)
    x = (0.1 * t + torch.sin(2 * torch.pi * t / 8)).repeat(2, 1) + _x() * 0.1
    model = Linear()
    domains = {"st": SeasonalTrend(period=8), "f": "fourier"}
    res = cdig.explain(model, x, domains, target=cdig.Horizon("each"), n_steps=16)
    assert len(calls) == 1
    st = res["st"]
    assert st.dims == ("horizon", "channel", "component") and st.values.shape == (2, H, 1, 3)
    assert type(st.domain).__name__ == "SeasonalTrend" and isinstance(st.domain, SeasonalTrend)
    single = cdig.explain(model, x, SeasonalTrend(period=8), target=cdig.Horizon(4))
    np.testing.assert_allclose(st.values[:, 4], single.values, atol=1e-10)
    np.testing.assert_allclose(
        res["f"].values[:, 4], cdig.explain(model, x, "fourier", target=4).values, atol=1e-10
    )


def test_bad_horizons_fail_early_and_clearly():
    model, x = Linear(), _x()
    with pytest.raises(ValueError, match="Horizon\\('median'\\) is not understood"):
        cdig.Horizon("median")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a step index"):
        cdig.Horizon(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one of the model's levels"):
        cdig.Horizon("mean", quantile=0.95)
    with pytest.raises(ValueError, match="channel= or quantile=, not both"):
        cdig.Horizon(0, channel=1, quantile=0.5)
    with pytest.raises(ValueError, match="steps= applies to"):
        cdig.Horizon(0, steps=[1])
    with pytest.raises(ValueError, match=r"Horizon\(6\) is out of range for a forecast of 6"):
        cdig.explain(model, x, "time", target=cdig.Horizon(H))
    with pytest.raises(ValueError, match="step 9 is out of range"):
        cdig.explain(model, x, "time", target=cdig.Horizon("mean", steps=[1, 9]))
    with pytest.raises(ValueError, match="channel= needs outputs of shape"):
        cdig.explain(model, x, "time", target=cdig.Horizon(0, channel=0))
    with pytest.raises(ValueError, match="3 values per step; pass channel="):
        cdig.explain(Linear(k=3), x, "time", target=cdig.Horizon(0))
    with pytest.raises(ValueError, match="channel=3 needs index 3"):
        cdig.explain(Linear(k=3), x, "time", target=cdig.Horizon(0, channel=3))
    scalar = torch.nn.Sequential(torch.nn.Linear(T, 1), torch.nn.Flatten(0)).double()
    with pytest.raises(ValueError, match="forecasts of shape \\(batch, horizon\\)"):
        cdig.explain(scalar, x, "time", target=cdig.Horizon(0))
    with pytest.raises(ValueError, match=r"explain it with cdig\.explain"):
        cdig.Horizon("each")(model(x))  # several targets are not one scalar per sample


def test_horizon_heatmap(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("statsmodels")
    import matplotlib.pyplot as plt

    from cdig.plot import plot_kind

    t = torch.arange(T, dtype=torch.float64)
    x = (0.1 * t + torch.sin(2 * torch.pi * t / 8))[None] + 0.1 * _x(1)
    dom = cdig.domains.SeasonalTrend(period=8)
    attr = cdig.explain(Linear(), x, dom, target=cdig.Horizon("each"), n_steps=16)
    assert plot_kind(attr) == "horizon"
    fig = attr.plot()
    top, heat = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in heat.get_yticklabels()] == ["trend", "seasonal_8", "resid"]
    mesh = heat.collections[0]
    grid = np.asarray(mesh.get_array()).reshape(3, H)  # components x steps
    np.testing.assert_allclose(grid, attr.values[0, :, 0].T)
    np.testing.assert_allclose(top.lines[0].get_ydata(), attr.settings["horizon"]["outputs"][0])
    assert "each of horizon steps 0-5" in fig.get_suptitle()
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0
    plt.close(fig)
    fourier = cdig.explain(Linear(), x, "fourier", target=cdig.Horizon("each"), fs=8.0)
    fig = plot_horizon(fourier, vmax=0.1)
    assert fig.axes[1].get_ylabel() == "frequency (Hz)"
    norm = fig.axes[1].collections[0].norm
    assert (norm.vmin, norm.vmax) == (-0.1, 0.1)
    plt.close(fig)
    with pytest.raises(ValueError, match="vmax=-1"):
        plot_horizon(fourier, vmax=-1)
    from cdig.report import render_report

    html = render_report(fourier, inputs=x)  # the HTML report draws the heatmap too
    assert "each of horizon steps 0-5" in html and "<img" in html
    with pytest.raises(ValueError, match="leading 'horizon' axis"):
        plot_horizon(cdig.explain(Linear(), x, "time", target=0))


# ---------------------------------------------------------------------- per-time classes
def test_time_columns_target_values_names_and_figure():
    """TimeColumns: the scalar equals the slice mean, titles speak of columns and classes."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 4).double()

    def model(x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 48) -> (batch, 6 columns, 4)
        return torch.softmax(lin(x.reshape(x.shape[0], 6, 8)), dim=-1)

    x = torch.randn(2, 1, 48, dtype=torch.float64)
    target = cdig.TimeColumns("mean", cls=3, last_s=2, column_s=0.5)
    out = model(x)
    torch.testing.assert_close(target(out), out[:, -4:, 3].mean(dim=1))
    attr = cdig.explain(model, x, "time", target=target, baselines=0.1 * x)
    np.testing.assert_allclose(attr.outputs, out[:, -4:, 3].mean(dim=1).detach().numpy())
    assert attr.target == "class 3, mean over time columns 2-5 (the last 2 s)"
    assert np.all(np.abs(attr.delta) <= 0.01 * np.abs(attr.outputs - attr.baseline_outputs))
    assert "horizon" not in cdig.plot.describe(attr) and "class 3" in cdig.plot.describe(attr)
    each = cdig.explain(model, x, "time", target=cdig.TimeColumns("each", cls=0), n_steps=8)
    fig = each.plot()
    texts = [fig._suptitle.get_text()] + [ax.get_xlabel() for ax in fig.axes]
    assert any("time column" in t for t in texts) and not any("horizon" in t for t in texts)
    assert cdig.TimeColumns(2, cls=1).resolve((1, 6, 4)).__name__ == "class 1, time column 2"
    with pytest.raises(ValueError, match="column_s"):
        cdig.TimeColumns("mean", cls=3, last_s=10)
    with pytest.raises(ValueError, match="cls="):
        cdig.TimeColumns("mean").resolve((1, 6, 4))


def test_time_first_output_error_names_transpose():
    def time_first(x: torch.Tensor) -> torch.Tensor:  # (n_times=5, batch, 4)
        return x[:, 0, :20].reshape(x.shape[0], 5, 4).transpose(0, 1)

    with pytest.raises(ValueError, match=r"time-first.*transpose\(0, 1\)"):
        cdig.explain(time_first, torch.randn(3, 1, 20), "time", target=lambda o: o[:, 0, 0])
