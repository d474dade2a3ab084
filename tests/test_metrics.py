"""Faithfulness metrics and peer methods: closed forms, independent paths, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.domains import Domain, Fourier, Time
from cdig.metrics import (
    FLEXTIME_INSERTION,
    FREQRISE_DELETION,
    cpd,
    cpp,
    deletion,
    insertion,
    random_reference,
)
from cdig.peers import freqrise, gradient, virtual_inspection

from .conftest import NEEDS, every_domain


def linear_model(n_in: int, n_out: int = 1, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n_in, n_out)).double()
    return model


def exact_contributions(model, x, domain="fourier", target=None):
    """For a linear model, CD-IG is exact: f(T^-1(X')) = f(0) + sum of kept contributions."""
    attr = cdig.explain(model, x, domain=domain, target=target, n_steps=1)
    return attr


# ---------------------------------------------------------------------- closed forms
def test_deletion_curve_of_linear_model_is_computable_by_hand(series):
    x = torch.as_tensor(series)  # (4, 2, 96): ranking runs over both channels
    model = linear_model(2 * 96)
    attr = exact_contributions(model, x)
    A = attr.values.reshape(4, -1)  # (4, 2 * 49)
    bias = model[1].bias.item()
    fractions = np.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    curve = deletion(model, x, attr, fractions=fractions, substitute="zero", score="output")
    M = A.shape[1]
    expected = np.empty((4, len(fractions)))
    for b in range(4):
        order = np.argsort(-np.abs(A[b]))
        for j, q in enumerate(fractions):
            removed = order[: int(np.floor(q * M + 1e-9))]
            expected[b, j] = bias + A[b].sum() - A[b, removed].sum()
    np.testing.assert_allclose(curve.scores, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(curve.auc, np.trapezoid(expected, fractions, axis=1), rtol=1e-9)
    assert curve.settings["counts"] == [0, 9, 24, 49, 88, 98]


def test_signed_and_positive_rankings_by_hand():
    x = torch.randn(3, 1, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model = linear_model(40)
    attr = exact_contributions(model, x)
    A = attr.values.reshape(3, -1)  # (3, 21)
    bias = model[1].bias.item()
    m = int(0.2 * A.shape[1])
    assert ((A > 0).sum(axis=1) >= m).all()  # top-m of max(A, 0) has no ties
    for ranking in ["signed", "positive"]:
        curve = deletion(
            model, x, attr, fractions=[0.2], ranking=ranking, substitute="zero", score="output"
        )
        top = np.argsort(-A, axis=1)[:, :m]
        kept = A.sum(axis=1) - np.take_along_axis(A, top, axis=1).sum(axis=1)
        np.testing.assert_allclose(curve.scores[:, 0], bias + kept, rtol=1e-10)
    # with all relevance negative, "positive" removes in random order, "signed" the least negative
    neg = -np.abs(attr.values) - 1.0
    a = deletion(model, x, neg, "fourier", fractions=[0.2], ranking="positive", seed=0,
                 substitute="zero", score="output")  # fmt: skip
    b = deletion(model, x, neg, "fourier", fractions=[0.2], ranking="positive", seed=1,
                 substitute="zero", score="output")  # fmt: skip
    assert not np.allclose(a.scores, b.scores)


def test_deleting_everything_with_zero_gives_f_of_zero(smooth_cnn, series):
    x = torch.as_tensor(series)
    attr = cdig.explain(smooth_cnn, x, domain="fourier", target=1, n_steps=8)
    out = deletion(smooth_cnn, x, attr, fractions=[1.0], substitute="zero", score="output")
    f0 = smooth_cnn(torch.zeros_like(x))[:, 1].detach().numpy()
    np.testing.assert_allclose(out.scores[:, 0], f0, rtol=1e-10)
    prob = deletion(smooth_cnn, x, attr, fractions=[1.0], substitute="zero")
    p0 = torch.softmax(smooth_cnn(torch.zeros_like(x)), dim=1)[:, 1].detach().numpy()
    np.testing.assert_allclose(prob.scores[:, 0], p0, rtol=1e-10)
    assert prob.settings["target"] == "1"  # recovered from the Attribution


def test_insertion_of_everything_gives_f_of_x(smooth_cnn, series):
    x = torch.as_tensor(series)
    attr = cdig.explain(smooth_cnn, x, domain="fourier", target=2, n_steps=8)
    curve = insertion(smooth_cnn, x, attr, fractions=[0.0, 1.0], substitute="zero")
    p = torch.softmax(smooth_cnn(x), dim=1).detach().numpy()
    p0 = torch.softmax(smooth_cnn(torch.zeros_like(x)), dim=1).detach().numpy()
    np.testing.assert_allclose(curve.scores[:, 1], p[:, 2], rtol=1e-9)
    np.testing.assert_allclose(curve.scores[:, 0], p0[:, 2], rtol=1e-9)
    np.testing.assert_allclose(curve.auc, 0.5 * (p[:, 2] + p0[:, 2]), rtol=1e-9)


def test_time_domain_deletion_matches_a_hand_loop(smooth_cnn, series):
    """An independent path: replace time samples by the mean in a plain numpy loop."""
    x = torch.as_tensor(series[:2])
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, 2, 96))
    fractions = [0.0, 0.3, 0.7]
    curve = deletion(
        smooth_cnn, x, values, "time", target=[0, 2], fractions=fractions, substitute="mean"
    )
    xs = series[:2]
    for b, t in enumerate([0, 2]):
        order = np.argsort(-np.abs(values[b].ravel()))
        mean = np.broadcast_to(xs[b].mean(axis=-1, keepdims=True), xs[b].shape).ravel()
        for j, q in enumerate(fractions):
            xp = xs[b].ravel().copy()
            idx = order[: int(q * xp.size)]
            xp[idx] = mean[idx]
            out = smooth_cnn(torch.as_tensor(xp.reshape(1, 2, 96)))
            expected = torch.softmax(out, dim=1)[0, t].item()
            assert curve.scores[b, j] == pytest.approx(expected, rel=1e-10)


def test_baseline_substitute_uses_the_domain_baseline(smooth_cnn, series):
    x = torch.as_tensor(series[:2])
    attr = cdig.explain(smooth_cnn, x, domain="fourier", target=0, n_steps=4)
    out = deletion(
        smooth_cnn, x, attr, fractions=[1.0], substitute="baseline", baselines=0.5, score="output"
    )
    f_b = smooth_cnn(torch.full_like(x, 0.5))[:, 0].detach().numpy()
    np.testing.assert_allclose(out.scores[:, 0], f_b, rtol=1e-10)


def test_onesided_removal_takes_the_conjugate_pair():
    """Removing rFFT bin k removes both e^{+i w t} and e^{-i w t}: the series stays real."""
    n = 32
    t = np.arange(n)
    x = np.cos(2 * np.pi * 3 * t / n) + 0.5 * np.cos(2 * np.pi * 5 * t / n)
    x = torch.as_tensor(x[None, None, :])
    seen = []

    def model(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.clone())
        return z.sum(dim=(1, 2))[:, None] * torch.ones(1, 2, dtype=z.dtype)

    values = np.zeros((1, 1, n // 2 + 1))
    values[0, 0, 3] = 1.0  # only bin 3 is "important"
    deletion(model, x, values, "fourier", target=0, fractions=[1 / 17], substitute="zero")
    perturbed = seen[-1][0]  # the one perturbed series, shape (1, 32)
    assert perturbed.dtype == torch.float64
    np.testing.assert_allclose(
        perturbed.numpy().ravel(), 0.5 * np.cos(2 * np.pi * 5 * t / n), atol=1e-12
    )


def test_cpd_of_exact_contributions_beats_random_and_cpp_too():
    rng = np.random.default_rng(3)
    n = 64
    t = np.arange(n) / n
    # a two-class linear model that reads a few frequencies
    w = np.zeros((2, n))
    for k, a in [(3, 1.5), (7, -1.0), (12, 0.8)]:
        w[1] += a * np.cos(2 * np.pi * k * t + rng.uniform(0, np.pi))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.as_tensor(w))
        model[1].bias.zero_()
    x = torch.as_tensor(rng.normal(size=(16, 1, n)) + 0.3 * np.cos(2 * np.pi * 3 * t))
    # exact contributions to the logit difference l1 - l0 (what moves the probabilities)
    attr = cdig.explain(model, x, "fourier", target=lambda out: out[:, 1] - out[:, 0], n_steps=1)
    exact = cpd(model, x, attr)
    rand = random_reference("cpd", model, x, "fourier", n_seeds=5)
    assert exact.steps.shape == (16, int(0.1 * 33))
    assert exact.values.mean() > 1.5 * rand.values.mean()
    assert rand.settings["n_seeds"] == 5 and rand.settings["per_seed"].shape == (5,)
    kept = cpp(model, x, attr)
    rand_cpp = random_reference(cpp, model, x, attr)
    assert kept.values.mean() < 0.5 * rand_cpp.values.mean()


def test_cpd_matches_the_definition_by_hand(smooth_cnn, series):
    x = torch.as_tensor(series[:2])
    rng = np.random.default_rng(5)
    values = rng.normal(size=(2, 2, 49))
    res = cpd(smooth_cnn, x, values, "fourier", substitute="mean", n_perturbation_steps=4)
    sums = cpd(
        smooth_cnn,
        x,
        values,
        "fourier",
        substitute="mean",
        n_perturbation_steps=4,
        class_reduction="sum",
    )
    X = np.fft.rfft(series[:2], axis=-1)
    mean_series = np.broadcast_to(series[:2].mean(axis=-1, keepdims=True), series[:2].shape)
    S = np.fft.rfft(mean_series, axis=-1)
    for b in range(2):
        order = np.argsort(-np.abs(values[b].ravel()))
        probs = []
        for k in range(5):
            Xp = X[b].ravel().copy()
            Xp[order[:k]] = S[b].ravel()[order[:k]]
            xp = np.fft.irfft(Xp.reshape(2, 49), n=96, axis=-1)
            out = smooth_cnn(torch.as_tensor(xp[None]))
            probs.append(torch.softmax(out, dim=1)[0].detach().numpy())
        diffs = np.abs(np.diff(np.array(probs), axis=0))  # (4, 3)
        np.testing.assert_allclose(res.steps[b], diffs.mean(axis=1), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(sums.values[b], diffs.sum(), rtol=1e-8)


def test_presets_and_raw_outputs(smooth_cnn, series):
    x = torch.as_tensor(series)
    attr = cdig.explain(smooth_cnn, x, domain="fourier", target="predicted", n_steps=8)
    dele = deletion(smooth_cnn, x, attr, target="predicted", **FREQRISE_DELETION)
    assert dele.scores.shape == (4, 20) and dele.fractions[-1] == pytest.approx(0.95)
    ins = insertion(smooth_cnn, x, attr, target="predicted", **FLEXTIME_INSERTION)
    assert ins.score.shape == (4,) and np.all((ins.score >= 0) & (ins.score <= 1))
    raw = cpd(smooth_cnn, x, attr, score="output")
    assert np.all(raw.values >= 0)


def test_metrics_restore_the_model_and_leave_inputs_alone(smooth_cnn, series):
    smooth_cnn.train()
    x = series.copy()
    values = np.ones((4, 2, 49))
    deletion(smooth_cnn, x, values, "fourier", target=0, fractions=[0.5])
    cpd(smooth_cnn, x, values, "fourier")
    freqrise(smooth_cnn, x, "fourier", target=0, n_masks=4)
    gradient(smooth_cnn, x, "fourier", target=0)
    assert smooth_cnn.training and all(m.training for m in smooth_cnn.modules())
    assert all(p.grad is None for p in smooth_cnn.parameters())
    np.testing.assert_array_equal(x, series)


def test_layout_time_axis_one(smooth_cnn, series):
    model_tc = torch.nn.Sequential(_Transpose(), smooth_cnn)
    x_tc = np.swapaxes(series, 1, 2).copy()  # (batch, time, channels)
    values = np.random.default_rng(0).normal(size=(4, 2, 49))
    a = deletion(model_tc, x_tc, values, "fourier", target=1, time_axis=1, fractions=[0.3])
    b = deletion(smooth_cnn, series, values, "fourier", target=1, fractions=[0.3])
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12)


class _Transpose(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


@pytest.mark.parametrize("name", sorted(every_domain(96)))
def test_every_domain_reconstructs_and_removes(name):
    """Any domain: keeping every coefficient gives f(x); replacing every coefficient by the
    domain's coefficient baseline gives f at the effective baseline, as the engine saw it."""
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    dom = every_domain(96)[name]
    torch.manual_seed(0)
    x = torch.randn(3, 2, 96, dtype=torch.float64)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(368, 3)
    ).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attr = cdig.explain(model, x, dom, target=1, n_steps=8)
    full = insertion(model, x, attr, fractions=[1.0], score="output")
    np.testing.assert_allclose(full.scores[:, 0], model(x)[:, 1].detach().numpy(), atol=1e-10)
    gone = deletion(model, x, attr, fractions=[1.0], substitute="baseline", score="output")
    np.testing.assert_allclose(gone.scores[:, 0], attr.baseline_outputs, atol=1e-10)
    steps = cpd(model, x, attr, n_perturbation_steps=2)
    assert steps.steps.shape == (3, 2) and np.all(steps.values >= 0)


# ---------------------------------------------------------------------- methods
def test_gradient_times_input_equals_ig_for_a_linear_model(series):
    x = torch.as_tensor(series)
    model = linear_model(2 * 96, n_out=3)
    gi = gradient(model, x, "fourier", target=2, times_input=True).values
    attr = cdig.explain(model, x, "fourier", target=2, n_steps=1)
    np.testing.assert_allclose(gi, attr.values, rtol=1e-9, atol=1e-12)
    g_time = gradient(model, x, "time", target=2).values
    w = model[1].weight[2].detach().numpy().reshape(2, 96)
    np.testing.assert_allclose(g_time, np.broadcast_to(np.abs(w), (4, 2, 96)), rtol=1e-12)


def test_freqrise_finds_the_frequency_the_model_reads():
    n, k0 = 128, 20
    t = np.arange(n)
    carrier = torch.as_tensor(np.cos(2 * np.pi * k0 * t / n))

    def model(z: torch.Tensor) -> torch.Tensor:
        logit = (z[:, 0] * carrier).sum(dim=-1) / 8
        return torch.stack([-logit, logit], dim=1)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, n)) * 0.1 + np.cos(2 * np.pi * k0 * t / n)
    imp = freqrise(model, x, "fourier", target=1, n_masks=400, n_cells=16, seed=0).values
    assert imp.shape == (2, 1, n // 2 + 1)
    assert np.all(imp >= 0)
    cell = int(np.ceil((n // 2 + 1) / 16))
    for b in range(2):
        assert abs(int(np.argmax(imp[b, 0])) - k0) <= cell
    again = freqrise(model, x, "fourier", target=1, n_masks=400, n_cells=16, seed=0).values
    np.testing.assert_array_equal(imp, again)


def test_freqrise_masks_are_smooth_and_in_range():
    from cdig.peers.methods import _smooth_masks

    masks = _smooth_masks((3, 50), 200, 5, 0.3, seed=1)
    assert masks.shape == (200, 3, 50)
    assert masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.3) < 0.05
    assert np.abs(np.diff(masks, axis=-1)).max() <= 1 / 10 + 1e-12  # cell width 10


def test_virtual_inspection_conserves_and_matches_explicit_dft_lrp(series):
    x = series[:2]
    R = np.random.default_rng(2).normal(size=x.shape)
    out = virtual_inspection(x, R, "fourier", eps=0.0).values
    assert out.shape == (2, 2, 49)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), R.sum(axis=(1, 2)), rtol=1e-9)
    # explicit contributions z[t, k] of every rFFT bin (conjugate pair) to x_t
    X = np.fft.rfft(x, axis=-1)
    for b in range(2):
        for c in range(2):
            eye = np.eye(49)
            z = np.fft.irfft(X[b, c][:, None] * eye, n=96, axis=0)  # (96 t, 49 k)
            expected = (z * (R[b, c] / x[b, c])[:, None]).sum(axis=0)
            np.testing.assert_allclose(out[b, c], expected, rtol=1e-8, atol=1e-10)
    # into the time domain the rule is the identity
    np.testing.assert_allclose(virtual_inspection(x, R, "time", eps=0.0).values, R, rtol=1e-12)


def test_virtual_inspection_of_time_ig_is_cross_domain_ig(smooth_cnn, series):
    """With a zero baseline, time IG is x * G, the rule divides x out again and leaves
    Re[X conj(J^T G)]: exactly Fourier CD-IG from the same path (two independent paths)."""
    attr = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=16)
    freq = virtual_inspection(series, attr, Fourier(), eps=0.0).values
    ours = cdig.explain(smooth_cnn, series, "fourier", target=0, n_steps=16)
    np.testing.assert_allclose(freq, ours.values, rtol=1e-7, atol=1e-10)
    shifted = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=16, baselines=0.3)
    moved = virtual_inspection(series, shifted, Fourier(), eps=0.0).values
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), shifted.total, rtol=1e-9)
    assert not np.allclose(moved, ours.values, atol=1e-3)  # other baseline, other result


# ---------------------------------------------------------------------- errors
@pytest.fixture
def setup_args(smooth_cnn, series):
    return smooth_cnn, torch.as_tensor(series), np.zeros((4, 2, 49))


def test_wrong_attribution_shape_is_refused(setup_args):
    model, x, values = setup_args
    with pytest.raises(ValueError, match=r"attribution has shape \(4, 2, 96\).*\(4, 2, 49\)"):
        deletion(model, x, np.zeros((4, 2, 96)), "fourier", target=0)
    with pytest.raises(ValueError, match="attribution has shape"):
        cpd(model, x, values[:3], "fourier")
    with pytest.raises(TypeError, match="must be real"):
        cpd(model, x, values + 1j, "fourier")
    with pytest.raises(ValueError, match="NaN"):
        cpd(model, x, values * np.nan, "fourier")


def test_fractions_outside_unit_interval_are_refused(setup_args):
    model, x, values = setup_args
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\].*1.5"):
        deletion(model, x, values, "fourier", target=0, fractions=[0.0, 1.5])
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\]"):
        insertion(model, x, values, "fourier", target=0, fractions=[-0.1])
    with pytest.raises(ValueError, match="empty"):
        insertion(model, x, values, "fourier", target=0, fractions=[])
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\]"):
        cpd(model, x, values, "fourier", fraction=2.0)


def test_unknown_names_are_refused(setup_args):
    model, x, values = setup_args
    with pytest.raises(ValueError, match="substitute='noise' is not understood"):
        deletion(model, x, values, "fourier", target=0, substitute="noise")
    with pytest.raises(ValueError, match=r"substitute=0\.0 is not understood"):
        cpd(model, x, values, "fourier", substitute=0.0)
    with pytest.raises(ValueError, match="ranking='abs' is not understood"):
        cpd(model, x, values, "fourier", ranking="abs")
    with pytest.raises(ValueError, match="score='logit' is not understood"):
        deletion(model, x, values, "fourier", target=0, score="logit")
    with pytest.raises(ValueError, match="class_reduction='max'"):
        cpp(model, x, values, "fourier", class_reduction="max")
    with pytest.raises(ValueError, match="metric='aopc' is not understood"):
        random_reference("aopc", model, x, "fourier")


class _Counting(torch.nn.Module):
    """A model that counts its calls."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.model(x)


@pytest.mark.parametrize("option", ["score", "substitute", "ranking"])
def test_bad_options_are_refused_before_the_model_runs(setup_args, option):
    model, x, values = setup_args
    counting = _Counting(model)
    bad = {option: "nonsense"}
    for metric in (deletion, insertion, cpd, cpp):
        extra = {"target": 0} if metric in (deletion, insertion) else {}
        with pytest.raises(ValueError, match=f"{option}='nonsense' is not understood"):
            metric(counting, x, values, "fourier", **extra, **bad)
    with pytest.raises(ValueError, match=f"{option}='nonsense' is not understood"):
        random_reference("deletion", counting, x, "fourier", target=0, **bad)
    assert counting.calls == 0
    deletion(counting, x, values, "fourier", target=0, fractions=[0.5])
    assert counting.calls > 0  # the counter does count


def test_zero_steps_is_refused(setup_args):
    model, x, values = setup_args
    with pytest.raises(ValueError, match=r"K = int\(0.01 \* 98\) = 0 steps"):
        cpd(model, x, values, "fourier", fraction=0.01)
    with pytest.raises(ValueError, match="n_perturbation_steps=0 must be a positive integer"):
        cpp(model, x, values, "fourier", n_perturbation_steps=0)
    with pytest.raises(ValueError, match="n_perturbation_steps=99 exceeds the 98 coefficients"):
        cpd(model, x, values, "fourier", n_perturbation_steps=99)


def test_other_bad_inputs(setup_args):
    model, x, values = setup_args
    with pytest.raises(ValueError, match="domain is None"):
        deletion(model, x, values, target=0)
    with pytest.raises(ValueError, match="pass target="):
        deletion(model, x, values, "fourier")
    single = linear_model(2 * 96)
    with pytest.raises(ValueError, match=r"score='probability'.*n_classes >= 2"):
        cpd(single.double(), x, values, "fourier")
    fitted = Fourier().fit(torch.zeros(1, 1, 50, dtype=torch.float64))
    with pytest.raises(ValueError, match="expects series of 1 channel"):
        deletion(model, x, values, fitted, target=0)
    with pytest.raises(ValueError, match="one \\(broadcastable"):
        deletion(model, x, values, "fourier", target=0, baselines=np.zeros((2, 4, 2, 96)))
    with pytest.raises(ValueError, match="internal_batch_size=0"):
        deletion(model, x, values, "fourier", target=0, internal_batch_size=0)
    with pytest.raises(ValueError, match="n_seeds=0"):
        random_reference("cpd", model, x, "fourier", n_seeds=0)
    with pytest.raises(ValueError, match="n_masks=0"):
        freqrise(model, x, "fourier", target=0, n_masks=0)
    with pytest.raises(ValueError, match=r"probability=1\.0 must lie strictly"):
        freqrise(model, x, "fourier", target=0, probability=1.0)


class _Squares(Domain):
    name = "test-squares"
    linear = False

    def forward(self, x, index=None):
        return x

    def inverse(self, X, index=None):
        return X**2

    @property
    def dims(self):
        return ("channel", "time")

    def _coords(self):
        return {"time": np.arange(self.n_times_)}


class _Offset(Time):
    def inverse(self, X, index=None):
        return X + 1.0


def test_virtual_inspection_errors(series):
    R = np.zeros_like(series)
    with pytest.raises(ValueError, match="needs a linear domain"):
        virtual_inspection(series, R, _Squares())
    with pytest.raises(ValueError, match="has an offset"):
        virtual_inspection(series, R, _Offset())
    with pytest.raises(ValueError, match="relevance has shape"):
        virtual_inspection(series, R[:, :, :10], "fourier")
    with pytest.raises(ValueError, match="eps=-1"):
        virtual_inspection(series, R, "fourier", eps=-1)


def test_freqig_package_equals_fourier_cdig_with_zero_baseline():
    """The docs' claim: freqig (IG on rFFT magnitudes, phase fixed) from a zero magnitude
    walks the straight line alpha * X, so it is onesided Fourier CD-IG."""
    pytest.importorskip("onnx", reason="freqig imports onnx")
    freqig = pytest.importorskip("scripts.freqIG", reason="the freqig package is not installed")
    import contextlib
    import io

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 5), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(240, 2)
    )

    class ChannelAxis(torch.nn.Module):  # freqig squeezes the single channel away
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return model(z.unsqueeze(1) if z.ndim == 2 else z)

    x = np.random.default_rng(0).normal(size=(1, 64)).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = freqig.attribute(x, ChannelAxis(), target=1, n_steps=50)
    ours = cdig.explain(model, x[None], Fourier(), target=1, n_steps=50).values[0, 0]
    np.testing.assert_allclose(theirs, ours, atol=2e-5 * np.abs(ours).max())


def test_deletion_defaults_to_the_classes_the_attribution_explained(series):
    """With ``target="predicted"`` the Attribution keeps the classes; deletion reuses them."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 96, 3)).double()
    x = torch.as_tensor(series)
    attr = cdig.explain(model, x, "fourier", target="predicted", n_steps=4)
    with torch.no_grad():
        assert (attr.target_index == model(x).argmax(dim=1).numpy()).all()
    kw = {"fractions": [0.0, 0.3, 1.0], "substitute": "zero", "score": "output"}
    implicit = deletion(model, x, attr, **kw)
    explicit = deletion(model, x, attr, target=list(attr.target_index), **kw)
    np.testing.assert_array_equal(implicit.scores, explicit.scores)
    # the curve starts at the explained output of each sample
    np.testing.assert_allclose(implicit.scores[:, 0], attr.outputs, rtol=1e-12)


def test_every_seed_takes_an_int_a_generator_or_none(smooth_cnn, series):
    """One ``seed`` type everywhere: an int, a numpy Generator (drawn from) or None."""
    x = torch.as_tensor(series[:2])
    values = np.zeros((2, 2, 49))  # every coefficient tied: the order is the seed's alone
    kw = dict(target=0, fractions=[0.1, 0.3], substitute="zero")
    by_int = deletion(smooth_cnn, x, values, "fourier", seed=7, **kw)
    gen = np.random.default_rng(7)
    by_gen = deletion(smooth_cnn, x, values, "fourier", seed=gen, **kw)
    np.testing.assert_array_equal(by_int.scores, by_gen.scores)  # the same draws as the int
    again = deletion(smooth_cnn, x, values, "fourier", seed=gen, **kw)  # the state moved on
    assert not np.array_equal(again.scores, by_gen.scores)
    assert deletion(smooth_cnn, x, values, "fourier", seed=None, **kw).scores.shape == (2, 2)
    masks = [
        freqrise(smooth_cnn, x, "fourier", target=0, n_masks=3, seed=s).values for s in (4, None)
    ]
    seeded = freqrise(smooth_cnn, x, "fourier", target=0, n_masks=3, seed=np.random.default_rng(4))
    seeded = seeded.values
    np.testing.assert_array_equal(masks[0], seeded)
    ref = [
        random_reference("cpd", smooth_cnn, x, "fourier", n_seeds=2, seed=np.random.default_rng(1))
        for _ in range(2)
    ]
    np.testing.assert_array_equal(ref[0].values, ref[1].values)  # reproducible from a Generator
    by_ints = random_reference("cpd", smooth_cnn, x, "fourier", n_seeds=2, seed=3)
    one = cpd(smooth_cnn, x, np.random.default_rng(3).random((2, 2, 49)), "fourier", seed=3)
    two = cpd(smooth_cnn, x, np.random.default_rng(4).random((2, 2, 49)), "fourier", seed=4)
    np.testing.assert_array_equal(by_ints.values, (one.values + two.values) / 2)
    for bad in ("3", -1, True, 1.5):
        with pytest.raises(TypeError, match=r"seed=.* must be None, a non-negative integer"):
            deletion(smooth_cnn, x, values, "fourier", seed=bad, **kw)
        with pytest.raises(TypeError, match="seed="):
            random_reference("cpd", smooth_cnn, x, "fourier", n_seeds=2, seed=bad)
