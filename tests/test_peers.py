"""TIMING and FLEXtime peers: known answers on synthetic models, closed forms, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.attribution import Peer
from cdig.domains import get_domain
from cdig.metrics import cpd, deletion, insertion
from cdig.peers import flextime, freqrise, gradient, timing, virtual_inspection

T, FS = 128, 128.0


class OneSegment(torch.nn.Module):
    """Class 1 is carried by the energy of samples 40..59 only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x[:, 0, 40:60] ** 2).sum(-1)
        return torch.stack([-v, v], dim=1)


class OneBand(torch.nn.Module):
    """Class 1 is carried by the power of the input at ``f0`` Hz only (a matched filter)."""

    def __init__(self, f0: float) -> None:
        super().__init__()
        t = torch.arange(T, dtype=torch.float64) / FS
        self.register_buffer("c", torch.cos(2 * torch.pi * f0 * t))
        self.register_buffer("s", torch.sin(2 * torch.pi * f0 * t))
        self.scale = torch.nn.Parameter(torch.tensor(1.0 / T, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, 0]
        e = ((x * self.c).sum(-1) ** 2 + (x * self.s).sum(-1) ** 2) * self.scale
        return torch.stack([torch.full_like(e, 2.0), e], dim=1)


def test_timing_ranks_the_carrying_segment_first():
    x = np.random.default_rng(0).normal(size=(6, 1, T))
    model = OneSegment()
    a = timing(model, x, target=1, seed=0).values
    assert a.shape == x.shape and a.dtype == np.float64
    top = np.abs(a[:, 0]).argmax(axis=-1)
    assert np.all((top >= 40) & (top < 60))
    share = np.abs(a[:, 0, 40:60]).sum(-1) / np.abs(a[:, 0]).sum(-1)
    np.testing.assert_allclose(share, 1.0)  # nothing outside the segment moves the output
    np.testing.assert_array_equal(a, timing(model, x, target=1, seed=0).values)  # seeded


def test_timing_linear_closed_form_and_layout():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, T, 2))  # (batch, time, channels)
    w = rng.normal(size=(T * 2, 1))
    lin = torch.nn.Linear(T * 2, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w.T))
    model = torch.nn.Sequential(torch.nn.Flatten(), lin)
    a = timing(model, x, target=0, n_masks=200, time_axis=1, seed=3).values
    # constant gradient w: every point masked at least once gets exactly x * w
    expected = (x * w.reshape(T, 2)[None]).transpose(0, 2, 1)  # (B, C, T)
    moved = a != 0
    assert moved.mean() > 0.95
    np.testing.assert_allclose(a[moved], expected[moved], rtol=1e-10, atol=1e-12)


def test_flextime_ranks_the_carrying_band_first():
    rng = np.random.default_rng(2)
    t = np.arange(T) / FS
    f0 = 18.0  # the centre of band 4 of 16 (16..20 Hz at fs = 128)
    x = (
        np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6, (4, 1, 1)))
        + np.sin(2 * np.pi * 45 * t)
        + 0.3 * rng.normal(size=(4, 1, T))
    )
    model = OneBand(f0)
    imp = flextime(model, x, target=1, n_epochs=150).values
    assert imp.shape == (4, 1, T // 2 + 1) and np.all(imp >= 0)
    freqs = np.fft.rfftfreq(T, 1 / FS)
    top = freqs[imp[:, 0].argmax(axis=-1)]
    assert np.all((top >= 16) & (top <= 20))
    band = (freqs >= 16) & (freqs <= 20)
    assert np.all(imp[:, 0, band].mean(-1) > 3 * imp[:, 0, ~band].mean(-1))
    # the model is left as it was: no gradient stored, still trainable
    assert model.scale.grad is None and model.scale.requires_grad and model.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_bands": 100}, ValueError, "n_bands=100"),
        ({"n_bands": 1}, ValueError, "n_bands=1"),
        ({"n_taps": 8}, ValueError, "n_taps=8"),
        ({"keep_ratio": 1.5}, ValueError, "keep_ratio=1.5"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate=-1.0"),
        ({"n_epochs": 0}, ValueError, "n_epochs=0"),
    ],
)
def test_flextime_bad_arguments(kwargs, error, match):
    x = np.random.default_rng(0).normal(size=(2, 1, T))
    with pytest.raises(error, match=match):
        flextime(OneBand(18.0), x, **kwargs)


def test_flextime_needs_class_scores_and_timing_checks_masks():
    x = np.random.default_rng(0).normal(size=(2, 1, T))
    with pytest.raises(ValueError, match="n_classes"):
        flextime(lambda z: z.sum(dim=(1, 2)), x)
    with pytest.raises(ValueError, match="n_masks=0"):
        timing(OneSegment(), x, target=1, n_masks=0)
    with pytest.raises(ValueError, match="retention=2"):
        timing(OneSegment(), x, target=1, retention=2)


def test_a_seed_that_is_no_seed_fails_before_the_model_runs():
    calls = []

    def model(z):
        calls.append(z.shape)
        return z.sum(dim=(1, 2))[:, None].repeat(1, 2)

    x = np.random.default_rng(0).normal(size=(2, 1, 32))
    with pytest.raises(TypeError, match="seed='0' must be None, a non-negative integer"):
        timing(model, x, target=1, seed="0")
    with pytest.raises(TypeError, match="seed=-1 must be None"):
        freqrise(model, x, "fourier", target=1, n_masks=2, seed=-1)
    assert calls == []
    gen = np.random.default_rng(5)  # a Generator: the same masks as its seed
    np.testing.assert_array_equal(
        timing(model, x, target=1, n_masks=4, seed=gen).values,
        timing(model, x, target=1, n_masks=4, seed=5).values,
    )


# ---------------------------------------------------------------------- the result object
class ThreeClasses(torch.nn.Module):
    """A small smooth classifier of (batch, 2, 64) series into 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(2, 4, 5, padding=2), torch.nn.Tanh(), torch.nn.AdaptiveAvgPool1d(4),
            torch.nn.Flatten(), torch.nn.Linear(16, 3),
        ).double()  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


N = 64
IG_ONLY = ("delta", "baseline_outputs", "n_steps", "settings", "error", "converged", "status")


def _x() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(3, 2, N))


def _peers(model, x):
    """Every peer explainer once: name -> (result, its domain name, what each sample cost)."""
    ig = cdig.explain(model, x, "time", target=1, n_steps=8)
    return {
        "gradient": (gradient(model, x, "fourier", target=1, fs=FS), "fourier", 1),
        "gradient_x_input": (
            gradient(model, x, "dct", target=1, times_input=True), "dct", 1),
        "freqrise": (freqrise(model, x, "fourier", target=1, n_masks=12, seed=2), "fourier", 12),
        "virtual_inspection": (virtual_inspection(x, ig, "fourier"), "fourier", 8),
        "timing": (timing(model, x, target=1, n_masks=6, seed=1, fs=FS), "time", 6),
        "flextime": (flextime(model, x, target=1, n_bands=4, n_epochs=4, fs=FS), "fourier", 4),
    }  # fmt: skip


@pytest.fixture(scope="module")
def results():
    model = ThreeClasses()
    x = _x()
    return model, x, _peers(model, x)


PEERS = ("gradient", "gradient_x_input", "freqrise", "virtual_inspection", "timing", "flextime")


@pytest.mark.parametrize("name", PEERS)
def test_every_peer_returns_an_attribution_without_ig_facts(results, name):
    model, x, every = results
    attr, dom, cost = every[name]
    assert isinstance(attr, cdig.Attribution)
    assert attr.peer is not None and attr.peer.name == name == attr.explainer
    for field in IG_ONLY:
        assert getattr(attr, field) is None, field
    assert attr.per_target is None
    # the fitted domain, its axes and coordinates, as cdig.explain fills them
    ours = get_domain(dom, fs=attr.layout.fs).fit(torch.as_tensor(x))
    assert type(attr.domain) is type(ours) and attr.domain.is_fitted
    assert attr.dims == ours.dims
    assert attr.values.shape == tuple(ours.forward(torch.as_tensor(x), torch.arange(3)).shape)
    assert attr.coord_dims == ours.coord_dims
    for key, value in ours.coords.items():
        np.testing.assert_array_equal(attr.coords[key], value)
    assert attr.units == ours.units
    assert attr.values.dtype == np.float64 and np.isfinite(attr.values).all()
    # the target explained and the score at the input (f(x); a probability for FreqRISE)
    assert attr.target == "1" and np.array_equal(attr.target_index, [1, 1, 1])
    logits = model(torch.as_tensor(x)).detach()
    expected = torch.softmax(logits, 1) if name in ("freqrise", "flextime") else logits
    np.testing.assert_allclose(attr.outputs, expected[:, 1].numpy(), rtol=1e-12)
    np.testing.assert_array_equal(attr.n_evaluations, [cost] * 3)
    # what only Integrated Gradients has is refused, naming the explainer
    with pytest.raises(ValueError, match=f"peer explainer '{name}'"):
        _ = attr.relative_delta
    with pytest.raises(ValueError, match=f"peer explainer '{name}'"):
        _ = attr.absolute_error
    assert f"explainer={name}" in repr(attr)


@pytest.mark.parametrize("name", PEERS)
def test_metrics_take_a_peer_result_as_they_take_its_array(results, name):
    """The Attribution gives the numbers its values give with the domain and target spelled
    out; left out, both come from the Attribution (its fitted domain, its target)."""
    model, x, every = results
    attr, dom, _ = every[name]
    kw = dict(fractions=[0.0, 0.2, 0.5], substitute="zero")
    for metric in (deletion, insertion):
        by_array = metric(model, x, attr.values, dom, target=1, fs=attr.layout.fs, **kw)
        given = metric(model, x, attr, dom, target=1, fs=attr.layout.fs, **kw)
        implied = metric(model, x, attr, **kw)
        np.testing.assert_array_equal(given.scores, by_array.scores)
        np.testing.assert_array_equal(implied.scores, by_array.scores)
        assert np.isfinite(by_array.auc).all()
    one = cpd(model, x, attr.values, dom, fs=attr.layout.fs, n_perturbation_steps=4)
    two = cpd(model, x, attr, n_perturbation_steps=4)
    np.testing.assert_array_equal(one.values, two.values)


def test_a_plot_takes_a_peer_result_and_says_what_it_is(results):
    import matplotlib.pyplot as plt

    _, x, every = results
    for name, title in (("freqrise", "FreqRISE"), ("timing", "TIMING")):
        attr = every[name][0]
        fig = attr.plot(sample=1, inputs=x)
        try:
            text = fig._suptitle.get_text()
            assert title in text and "sample 1" in text and "class" not in text
            assert "delta" not in text and "f(x')" not in text
            assert f"f(x) = {attr.outputs[1]:.4g}" in text
            assert len(fig.axes) >= 2  # the attributions and the input
        finally:
            plt.close(fig)
    from cdig.plot import describe

    described = describe(every["gradient"][0], 0)
    assert described.startswith("Gradient (Fourier) attributions of output 1, sample 0")


def test_to_xarray_and_the_dict_round_trip_of_a_peer_result(results):
    import json

    from cdig.attribution import jsonable

    _, _, every = results
    for name in PEERS:
        attr = every[name][0]
        da = attr.to_xarray()
        assert da.dims == ("sample", *attr.dims) and da.attrs["explainer"] == name
        assert "delta" not in da.coords and "baseline_output" not in da.coords
        np.testing.assert_array_equal(da.coords["output"].values, attr.outputs)
        np.testing.assert_array_equal(da.values, attr.values)
        for key in attr.coords:
            np.testing.assert_array_equal(da.coords[key].values, attr.coords[key])
        df = attr.to_pandas()
        assert len(df) == attr.values.size
        np.testing.assert_array_equal(df["value"].to_numpy(), attr.values.ravel())
        data = attr.to_dict()
        assert data["peer"] == attr.peer.as_dict() and data["delta"] is None
        for source in (data, json.loads(json.dumps(jsonable(data)))):
            back = cdig.Attribution.from_dict(source, domain=attr.domain)
            assert back.peer == attr.peer and back.explainer == name
            np.testing.assert_array_equal(back.values, attr.values)
            np.testing.assert_array_equal(back.n_evaluations, attr.n_evaluations)
            np.testing.assert_array_equal(back.outputs, attr.outputs)
            for field in IG_ONLY:
                assert getattr(back, field) is None, field
            assert back.layout == attr.layout and back.coord_dims == attr.coord_dims
    # the options are the call's own
    assert every["freqrise"][0].peer.options == {
        "n_masks": 12, "n_cells": 10, "probability": 0.5, "score": "probability", "seed": 2,
    }  # fmt: skip
    assert every["flextime"][0].peer.options["n_taps"] == 33  # the length used (T // 2 + 1)


def test_a_peer_result_claims_no_certificate_and_an_ig_result_needs_one(results):
    from dataclasses import replace

    _, _, every = results
    attr = every["timing"][0]
    zeros = np.zeros(attr.batch_size)
    for field, value in (("delta", zeros), ("n_steps", zeros.astype(int)),
                         ("converged", zeros.astype(bool)), ("error", zeros)):  # fmt: skip
        with pytest.raises(ValueError, match=f"cannot have \\['{field}'\\]"):
            replace(attr, **{field: value})
    with pytest.raises(ValueError, match=r"needs \['delta', 'baseline_outputs', 'n_steps'\]"):
        replace(attr, peer=None)
    with pytest.raises(ValueError, match="not one of"):
        Peer("lime")
    with pytest.raises(TypeError, match=r"peer options \['seed'\]"):
        Peer("timing", {"seed": np.random.default_rng(0)})
    # sums and bands keep what the result is
    summed = attr.sum_over("channel")
    assert summed.peer == attr.peer and summed.delta is None
    np.testing.assert_array_equal(summed.values, attr.values.sum(axis=1))


def test_the_report_refuses_a_peer_result(results):
    from cdig.report import render_report

    _, x, every = results
    with pytest.raises(ValueError, match=r"peer explainer 'freqrise'.*certifies Cross-domain IG"):
        render_report({"FreqRISE": every["freqrise"][0]}, x)


def test_virtual_inspection_of_an_array_knows_no_model():
    x = _x()
    R = np.random.default_rng(0).normal(size=x.shape)
    attr = virtual_inspection(x, R, "fourier", eps=0.0)
    assert attr.outputs is None and attr.target == "unknown" and attr.target_index is None
    np.testing.assert_array_equal(attr.n_evaluations, [0, 0, 0])  # it runs no model
    assert attr.peer.options == {"eps": 0.0, "relevance": "array"}
    np.testing.assert_allclose(attr.total, R.sum(axis=(1, 2)), rtol=1e-9)  # conserved
    from cdig.plot import describe

    assert "no model output" in describe(attr)
    # the relevance of another peer is named
    tim = timing(ThreeClasses(), x, target=2, n_masks=4, seed=0)
    carried = virtual_inspection(x, tim, "fourier")
    assert carried.peer.options["relevance"] == "timing" and carried.target == tim.target
    np.testing.assert_array_equal(carried.outputs, tim.outputs)


def test_fs_labels_the_axes_and_changes_no_value():
    model, x = ThreeClasses(), _x()
    for fn in (lambda fs: timing(model, x, target=0, n_masks=4, fs=fs),
               lambda fs: flextime(model, x, target=0, n_bands=4, n_epochs=3, fs=fs)):  # fmt: skip
        bare, hz = fn(None), fn(FS)
        np.testing.assert_array_equal(bare.values, hz.values)
        assert hz.layout.fs == FS and bare.layout.fs is None
        dim = bare.dims[-1]
        assert bare.units[dim] in ("sample", "bin") and hz.units[dim] in ("s", "Hz")
    np.testing.assert_allclose(hz.coords["frequency"], np.fft.rfftfreq(N, 1 / FS))


def test_gradient_values_are_the_autograd_gradient():
    """Independent path: the gradient of the target through ``irfft`` by hand, bit for bit."""
    model, x = ThreeClasses(), torch.as_tensor(_x())
    attr = gradient(model, x, "fourier", target=2)
    X = torch.fft.rfft(x, dim=-1).requires_grad_(True)
    y = model(torch.fft.irfft(X, n=N, dim=-1))[:, 2]
    (g,) = torch.autograd.grad(y.sum(), X)
    np.testing.assert_allclose(attr.values, g.abs().numpy(), rtol=1e-12, atol=1e-15)


def test_numpy_numbers_among_the_options_are_recorded_as_python_numbers():
    x = _x()
    attr = timing(ThreeClasses(), x, target=0, n_masks=np.int64(3), min_length=np.int32(2),
                  max_length=np.int64(9), retention=np.float32(0.5), seed=np.int64(4))  # fmt: skip
    opts = attr.peer.options
    assert opts["n_masks"] == 3 and opts["min_length"] == 2 and opts["max_length"] == 9
    assert type(opts["max_length"]) is int and type(opts["retention"]) is float
    assert opts["seed"] == 4 and type(opts["seed"]) is int


def test_ig_facts_gives_an_ig_result_its_own_arrays_and_refuses_a_peer(results):
    from cdig.attribution import ig_facts

    model, x, every = results
    ours = cdig.explain(model, x, "fourier", target=1, n_steps=16, rtol=0.5)
    facts = ig_facts(ours)
    for name in facts._fields:
        assert getattr(facts, name) is getattr(ours, name), name
    with pytest.raises(ValueError, match=r"cdig.report.*peer explainer 'flextime'"):
        ig_facts(every["flextime"][0], "cdig.report")


def test_a_peer_never_returns_nan_silently():
    x = _x()

    def blows_up(z):
        scale = torch.ones(len(z), dtype=z.dtype)
        scale[1] = float("nan")  # sample 1 only: its output and its gradient are NaN
        out = z.sum(dim=(1, 2)) * scale
        return torch.stack([out, -out], dim=1)

    with pytest.raises(cdig.NonFiniteError, match=r"gradient: .*samples \[1\]") as err:
        gradient(blows_up, x, "fourier", target=0)
    assert err.value.samples == [1]
    with pytest.raises(cdig.NonFiniteError, match=r"timing: the attributions of samples"):
        timing(blows_up, x, target=0, n_masks=3)


def test_an_ig_result_built_by_hand_may_leave_its_convergence_facts_none():
    values = np.ones((2, 1, 4))
    attr = cdig.Attribution(
        values, np.zeros(2), ("channel", "time"), {}, {}, np.full(2, 5.0), np.ones(2),
        np.full(2, 8), error=None, converged=None, status=None,
    )  # fmt: skip
    assert attr.converged.tolist() == [True, True] and attr.status.tolist() == ["converged"] * 2
    assert np.isnan(attr.error).all() and attr.peer is None


def test_every_peer_name_has_a_figure_title_and_a_function(results):
    from cdig.attribution import PEER_NAMES
    from cdig.plot import PEER_TITLES

    assert set(PEER_TITLES) == set(PEER_NAMES) == set(PEERS)
    _, _, every = results
    assert set(every) == set(PEER_NAMES)  # each name is made by one call of cdig.peers
    assert set(cdig.peers.__all__) == {"gradient", "freqrise", "virtual_inspection", "timing",
                                        "flextime"}  # fmt: skip
