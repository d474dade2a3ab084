"""The core engine: completeness, closed forms, agreement with Captum, state, errors."""

from __future__ import annotations

import contextlib
import gc
import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig import CompletenessWarning, ConvergenceWarning, CrossDomainIG
from cdig.domains import Fourier, Time

from .conftest import SmoothCNN


def _tol(attr):
    return 1e-6 * np.maximum(1.0, np.abs(attr.outputs - attr.baseline_outputs))


# ---------------------------------------------------------------------- completeness
@pytest.mark.parametrize("domain", ["time", Fourier(onesided=True), Fourier(onesided=False)])
@pytest.mark.parametrize("target", [0, 2, [0, 1, 2, 1]])
def test_completeness_gausslegendre_128(smooth_cnn, series, domain, target):
    attr = cdig.explain(smooth_cnn, series, domain, target=target, n_steps=128)
    assert attr.values.dtype == np.float64
    assert np.all(np.abs(attr.delta) <= _tol(attr))
    np.testing.assert_allclose(attr.total - attr.delta, attr.outputs - attr.baseline_outputs)
    # outputs are the real model outputs, not something derived from the path
    with torch.no_grad():
        out = smooth_cnn(torch.tensor(series)).numpy()
    t = np.broadcast_to(np.asarray(target), (len(series),))
    np.testing.assert_allclose(attr.outputs, out[np.arange(len(series)), t], rtol=1e-12)


def test_completeness_with_nonzero_and_multiple_baselines(smooth_cnn, series):
    rng = np.random.default_rng(1)
    baselines = rng.normal(size=(3, *series.shape)) * 0.3
    attr = cdig.explain(smooth_cnn, series, "fourier", target=1, baselines=baselines, n_steps=128)
    assert np.all(np.abs(attr.delta) <= _tol(attr))
    # averaged over baselines == mean of single-baseline runs
    singles = [
        cdig.explain(smooth_cnn, series, "fourier", target=1, baselines=b, n_steps=128)
        for b in baselines
    ]
    np.testing.assert_allclose(
        attr.values, np.mean([s.values for s in singles], axis=0), atol=1e-12
    )
    np.testing.assert_allclose(
        attr.baseline_outputs, np.mean([s.baseline_outputs for s in singles], axis=0)
    )


# ---------------------------------------------------------------------- closed forms
class LinearModel(torch.nn.Module):
    def __init__(self, w: np.ndarray):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return (x * self.w).sum(dim=(1, 2))


def test_linear_model_time_closed_form(series):
    rng = np.random.default_rng(2)
    w = rng.normal(size=series.shape[1:])
    xb = rng.normal(size=series.shape)
    attr = cdig.explain(LinearModel(w), series, "time", baselines=xb, n_steps=1)
    np.testing.assert_allclose(attr.values, w * (series - xb), rtol=1e-12, atol=1e-14)


def test_linear_model_fourier_closed_form(series):
    """f(x) = <w, x>; with x = irfft(X): dF/dX_k = c_k W_k / N, c_k = 1 at DC/Nyquist, else 2."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=series.shape[1:])
    n = series.shape[-1]
    attr = cdig.explain(LinearModel(w), series, Fourier(), n_steps=1)
    c = np.full(n // 2 + 1, 2.0)
    c[0] = 1.0
    if n % 2 == 0:
        c[-1] = 1.0
    grad = c * np.fft.rfft(w, axis=-1) / n
    expected = np.real(np.fft.rfft(series, axis=-1) * np.conj(grad))
    np.testing.assert_allclose(attr.values, expected, rtol=1e-10, atol=1e-13)


def test_onesided_equals_merged_full_fft_and_full_is_symmetric(smooth_cnn, series):
    n = series.shape[-1]
    one = cdig.explain(smooth_cnn, series, Fourier(onesided=True), target=0, n_steps=32)
    full = cdig.explain(smooth_cnn, series, Fourier(onesided=False), target=0, n_steps=32)
    a = full.values
    k = np.arange(1, n // 2)
    np.testing.assert_allclose(a[..., k], a[..., n - k], rtol=1e-9, atol=1e-14)  # A_k = A_{N-k}
    merged = np.concatenate(
        [a[..., :1], a[..., k] + a[..., n - k], a[..., n // 2 : n // 2 + 1]], -1
    )
    np.testing.assert_allclose(one.values, merged, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(one.coords["frequency"], np.arange(n // 2 + 1))


def test_frequency_coords_in_hz():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    attr = cdig.explain(model, np.zeros((1, 1, 64)) + 1, "fourier", fs=32.0)
    np.testing.assert_allclose(attr.coords["frequency"], np.arange(33) * 0.5)
    assert attr.units["frequency"] == "Hz"


# ---------------------------------------------------------------------- Captum parity
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_right", "riemann_trapezoid"])
def test_time_domain_equals_captum(smooth_cnn, series, method):
    captum = pytest.importorskip("captum.attr")
    x = torch.tensor(series)
    ref = captum.IntegratedGradients(smooth_cnn).attribute(
        x, baselines=x * 0.1, target=1, n_steps=50, method=method
    )
    # 50 right-Riemann steps (Captum's sums exactly) miss rtol=0.01 on three samples
    flagged = method == "riemann_right"
    with pytest.warns(cdig.CompletenessWarning) if flagged else contextlib.nullcontext():
        ours = cdig.explain(
            smooth_cnn, series, "time", target=1, baselines=series * 0.1, n_steps=50, method=method
        )
    ref = ref.detach().numpy()
    if method == "riemann_trapezoid":
        # Captum's trapezoid weights are 1/n with halved ends, summing to (n-1)/n; ours are
        # 1/(n-1) with halved ends and sum to 1. Same positions, so results differ by n/(n-1).
        ref = ref * 50 / 49
    np.testing.assert_allclose(ours.values, ref, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------- engine paths agree
def test_shared_time_pass_equals_coefficient_pass(smooth_cnn, series):
    for dom in [Time(), Fourier(), Fourier(onesided=False)]:
        a = CrossDomainIG(smooth_cnn, dom).explain(series, target=2, n_steps=24)
        b = CrossDomainIG(smooth_cnn, dom, linear_shortcut=False).explain(
            series, target=2, n_steps=24
        )
        assert a.settings.pass_kind == "time" and b.settings.pass_kind == "coefficients"
        np.testing.assert_allclose(a.values, b.values, rtol=1e-10, atol=1e-14)


def test_multi_domain_shares_one_pass_and_matches_single_runs(smooth_cnn, series):
    both = cdig.explain(smooth_cnn, series, ["time", "fourier"], target=0, n_steps=16)
    assert set(both) == {"time", "fourier"}
    assert both["fourier"].settings.shared_with == ("time",)
    for name in both:
        single = cdig.explain(smooth_cnn, series, name, target=0, n_steps=16)
        np.testing.assert_allclose(both[name].values, single.values, rtol=1e-10, atol=1e-14)


def test_chunk_size_does_not_change_results(smooth_cnn, series):
    ref = cdig.explain(smooth_cnn, series, "fourier", target=0, n_steps=20)
    for size in (1, 7, 1000):
        other = cdig.explain(
            smooth_cnn, series, "fourier", target=0, n_steps=20, internal_batch_size=size
        )
        np.testing.assert_allclose(other.values, ref.values, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- layouts and dtypes
@pytest.mark.parametrize("kind", ["time", "coefficients"])
@pytest.mark.parametrize("make", [Fourier, Time, cdig.domains.DCT])
def test_adaptive_measure_of_stacked_sums_is_that_of_each_sum_alone(kind, make):
    """The adaptive loop measures several sums of the same rows in one call of a domain's
    measure (stacked): each sum's norms are bitwise those of a call of its own, for a
    subset of the rows and for all of them, in a time pass (mapped through the domain: in
    one call where the domain maps each row on its own, ``_rows_apart``, whose rows are
    then bitwise those of one row at a time; else a call per sum) and in a pass in the
    domain's coefficients."""
    from cdig.engine import _measure_norms, _Pass

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, 50, generator=gen)
    xb = 0.1 * torch.randn(6, 2, 50, generator=gen)
    dom = make().fit(x)
    X, X0 = dom.forward(x), dom.forward(xb)
    if dom._rows_apart:
        g = torch.randn(9, *x.shape[1:], generator=gen)
        ends = torch.cat([X, X[:3]])
        whole = dom.inverse_vjp(ends, g).numpy()
        for i in range(9):
            one = dom.inverse_vjp(ends[i : i + 1], g[i : i + 1]).numpy()
            assert one.tobytes() == whole[i : i + 1].tobytes()
    p = (
        _Pass("time", [(dom.name, dom, X0)], xb, x, xb)
        if kind == "time"
        else _Pass("coefficients", [(dom.name, dom, X0)], X0, X, xb)
    )
    norms = _measure_norms(p, dom, X0, torch.arange(6))
    like = p.end
    for rows in (torch.tensor([4, 1, 3]), None):
        n = 6 if rows is None else len(rows)
        sums = [torch.randn(n, *like.shape[1:], generator=gen, dtype=like.dtype) for _ in range(3)]
        stacked, n_coef = norms(rows, torch.cat(sums))
        alone = [norms(rows, s) for s in sums]
        assert n_coef == alone[0][1] == X[0].numel()
        assert stacked.numpy().tobytes() == torch.cat([a for a, _ in alone]).numpy().tobytes()


def test_time_axis_and_two_dimensional_inputs(series):
    model_ct = SmoothCNN(channels=2)

    class ChannelsLast(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model_ct

        def forward(self, x):
            assert x.shape[-1] == 2, "model must receive (batch, time, channels)"
            return self.inner(x.transpose(1, 2))

    ref = cdig.explain(model_ct, series, "fourier", target=0, n_steps=8)
    last = cdig.explain(
        ChannelsLast(), series.transpose(0, 2, 1), "fourier", target=0, n_steps=8, time_axis=1
    )
    np.testing.assert_allclose(last.values, ref.values, rtol=1e-12)

    model_1 = SmoothCNN(channels=1)
    flat = cdig.explain(lambda x: model_1(x[:, None, :]), series[:, 0], "time", target=1, n_steps=8)
    chan = cdig.explain(model_1, series[:, :1], "time", target=1, n_steps=8)
    np.testing.assert_allclose(flat.values, chan.values, rtol=1e-12)


def test_numpy_and_torch_inputs_agree_and_dtype_follows_model(smooth_cnn, series):
    a = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=8)
    b = cdig.explain(smooth_cnn, torch.tensor(series), "time", target=0, n_steps=8)
    np.testing.assert_array_equal(a.values, b.values)
    m32 = SmoothCNN().float()
    c = cdig.explain(m32, series, "fourier", target=0, n_steps=8)  # float64 input, float32 model
    assert c.values.dtype == np.float32


@pytest.mark.parametrize(
    ("out_fn", "target"),
    [
        (lambda y: y[:, 0], None),  # (batch,)
        (lambda y: y.reshape(-1, 3, 1).repeat(1, 1, 2), (2, 1)),  # (batch, H, 2)
        (lambda y: y, lambda out: torch.softmax(out, dim=1)[:, 1]),  # callable target
    ],
)
def test_output_shapes_and_target_kinds(smooth_cnn, series, out_fn, target):
    attr = cdig.explain(
        lambda x: out_fn(smooth_cnn(x)), series, "fourier", target=target, n_steps=96
    )
    assert np.all(np.abs(attr.delta) <= _tol(attr))


def test_predicted_target(smooth_cnn, series):
    attr = cdig.explain(smooth_cnn, series, "time", target="predicted", n_steps=8)
    with torch.no_grad():
        out = smooth_cnn(torch.tensor(series)).numpy()
    np.testing.assert_allclose(attr.outputs, out.max(axis=1))
    np.testing.assert_array_equal(attr.target_index, out.argmax(axis=1))
    assert attr.target == "predicted class"


@pytest.mark.parametrize(
    ("out_fn", "target", "label", "index"),
    [
        (lambda y: y, 2, "2", lambda b: np.full(b, 2)),
        (lambda y: y, [2, 0, 1, 2], "class per sample", lambda b: np.array([2, 0, 1, 2])),
        (lambda y: y[:, :1], None, "output", lambda b: None),  # (batch, 1): one output
        (lambda y: y[:, 0], None, "output", lambda b: None),  # (batch,)
        (
            lambda y: y.reshape(-1, 3, 1).repeat(1, 1, 2),
            (2, 1),
            "(2, 1)",
            lambda b: np.tile([2, 1], (b, 1)),
        ),
        (
            lambda y: y,
            lambda out: out[:, 1] - out[:, 0],
            "lambda out: out[:, 1] - out[:, 0]",  # the lambda's source, not "<lambda>"
            lambda b: None,
        ),
    ],
)
def test_target_label_and_index_are_stored(smooth_cnn, series, out_fn, target, label, index):
    x = series[:4]
    attr = cdig.explain(lambda t: out_fn(smooth_cnn(t)), x, "fourier", target=target, n_steps=8)
    assert attr.target == label
    want = index(len(x))
    if want is None:
        assert attr.target_index is None
    else:
        np.testing.assert_array_equal(attr.target_index, want)


# ---------------------------------------------------------------------- model state
def test_model_state_is_left_exactly_as_found(series):
    model = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3),
        torch.nn.Dropout(0.5),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(2),
    ).double()
    model(torch.tensor(series))  # materialize the lazy layer
    model.train()
    model[1].eval()  # mixed modes must be restored per module
    model[0].weight.requires_grad_(False)
    model[3 + 1].weight.grad = torch.ones_like(model[4].weight)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [(m.training) for m in model.modules()]
    req = [p.requires_grad for p in model.parameters()]
    a = cdig.explain(model, series, "fourier", target=1, n_steps=8)
    b = cdig.explain(model, series, "fourier", target=1, n_steps=8)
    np.testing.assert_array_equal(a.values, b.values)  # dropout was off: deterministic
    assert [m.training for m in model.modules()] == flags
    assert [p.requires_grad for p in model.parameters()] == req
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert torch.equal(model[4].weight.grad, torch.ones_like(model[4].weight))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_inputs_are_not_mutated(smooth_cnn, series):
    x = series.copy()
    b = np.ones_like(series) * 0.2
    bcopy = b.copy()
    cdig.explain(smooth_cnn, x, "fourier", target=0, baselines=b, n_steps=4)
    np.testing.assert_array_equal(x, series)
    np.testing.assert_array_equal(b, bcopy)


# ---------------------------------------------------------------------- n_steps="auto"
def test_auto_steps_meet_tolerance_per_sample(smooth_cnn, series):
    attr = cdig.explain(smooth_cnn, series, "fourier", target=0, rtol=1e-6, max_steps=2048)
    diff = np.abs(attr.outputs - attr.baseline_outputs)
    assert np.all(np.abs(attr.delta) <= 1e-6 * diff + 1e-12)
    assert attr.n_steps.shape == (len(series),)
    assert attr.converged.all() and (attr.error <= 1e-6).all()
    # 17 points first, then 4 more per bisected sub-interval
    assert np.all((attr.n_steps - 17) % 4 == 0) and np.all(attr.n_steps <= 2048)


def test_auto_steps_warn_when_cap_is_reached(series):
    relu = torch.nn.Sequential(
        torch.nn.Conv1d(2, 8, 9), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(1)
    ).double()
    relu(torch.tensor(series))
    with pytest.warns(ConvergenceWarning, match="max_steps=20"):
        attr = cdig.explain(relu, series, "time", n_steps="auto", rtol=1e-12, max_steps=20)
    assert np.all(attr.n_steps <= 20) and not attr.converged.any()


def test_large_delta_warns(series):
    model = SmoothCNN()
    with pytest.warns(CompletenessWarning, match="completeness error"):
        cdig.explain(
            lambda x: model(x * 8) ** 2, series, "time", target=0, n_steps=1, method="riemann_left"
        )


# ---------------------------------------------------------------------- errors
class CountingModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = SmoothCNN()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"inputs": "nan"}, ValueError, "inputs contains 1 NaN or infinite"),
        ({"baselines": "inf"}, ValueError, "baselines contains 1 NaN or infinite"),
        ({"baselines": np.zeros((3, 2, 5))}, ValueError, "does not broadcast to the inputs"),
        ({"domain": "fourrier"}, ValueError, "domain='fourrier' is not a known domain"),
        (
            {"method": "simpson", "n_steps": 8},
            ValueError,
            "method='simpson' is not a known integration rule",
        ),
        ({"n_steps": 0}, ValueError, "n_steps=0 must be an integer >= 1"),
        ({"inputs": "short"}, ValueError, "at least 2 are needed"),
        ({"inputs": "4d"}, ValueError, "got 4 dimension"),
        ({"time_axis": 0}, ValueError, "time_axis=0 is not valid"),
        ({"internal_batch_size": 0}, ValueError, "internal_batch_size=0"),
        ({"target": "biggest"}, ValueError, "target='biggest' is not understood"),
        ({"inputs": "complex"}, TypeError, "must be real-valued"),
    ],
)
def test_bad_input_raises_before_any_model_call(series, kwargs, exc, match):
    model = CountingModel()
    x = series.copy()
    special = kwargs.pop("inputs", None)
    if special == "nan":
        x[1, 0, 5] = np.nan
    elif special == "short":
        x = x[..., :1]
    elif special == "4d":
        x = x[None]
    elif special == "complex":
        x = x.astype(np.complex128)
    if isinstance(kwargs.get("baselines"), str):
        b = np.zeros_like(series)
        b[0, 1, 2] = np.inf
        kwargs["baselines"] = b
    args = {"domain": "fourier", "target": 0, **kwargs}
    with pytest.raises(exc, match=match):
        cdig.explain(model, x, **args)
    assert model.calls == 0


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (3, "target index 3 is out of range for output axis 1 of size 3"),
        ([0, 1], "target has 2 entries; give one class index per sample \\(4\\)"),
        ([0, 1, 5, 0], "target index 5 \\(sample 2\\) is out of range"),
        (None, "pass target="),
        ((0, 1), "has 2 index\\(es\\) but the model's output has shape \\(batch, 3\\)"),
    ],
)
def test_bad_targets(smooth_cnn, series, target, match):
    with pytest.raises(ValueError, match=match):
        cdig.explain(smooth_cnn, series, "time", target=target)


def test_output_without_gradient_raises(series):
    def detached(x):
        return x.detach().sum(dim=(1, 2))

    with pytest.raises(ValueError, match="does not depend differentiably on its input"):
        cdig.explain(detached, series, "time")


def test_model_returning_tuple_raises(smooth_cnn, series):
    with pytest.raises(TypeError, match=r"must return one torch\.Tensor"):
        cdig.explain(lambda x: (smooth_cnn(x), 1), series, "time", target=0)


def test_duplicate_domains_need_labels(smooth_cnn, series):
    with pytest.raises(ValueError, match="given twice"):
        cdig.explain(smooth_cnn, series, ["fourier", "fourier"], target=0)
    out = cdig.explain(
        smooth_cnn, series, {"one": Fourier(), "two": Fourier(onesided=False)}, target=0, n_steps=4
    )
    assert set(out) == {"one", "two"}


def test_attribute_returns_captum_style_tuple(smooth_cnn, series):
    ig = CrossDomainIG(smooth_cnn, Fourier(fs=32.0))
    values, delta = ig.attribute(series, target=0, n_steps=64, return_convergence_delta=True)
    assert values.shape == (4, 2, 49) and delta.shape == (4,)
    ref = ig.explain(series, target=0, n_steps=64)  # the same numbers as explain
    np.testing.assert_array_equal(values, ref.values)
    np.testing.assert_array_equal(delta, ref.delta)
    only = ig.attribute(series, target=0, n_steps=4)
    assert isinstance(only, np.ndarray)
    np.testing.assert_array_equal(only, ig.explain(series, target=0, n_steps=4).values)
    several = CrossDomainIG(smooth_cnn, ["time", "fourier"], fs=32.0)
    vals, deltas = several.attribute(series, target=1, return_convergence_delta=True)
    refs = several.explain(series, target=1)
    assert set(vals) == set(deltas) == {"time", "fourier"}
    for name, attr in refs.items():
        np.testing.assert_array_equal(vals[name], attr.values)
        np.testing.assert_array_equal(deltas[name], attr.delta)


def test_no_warning_for_accurate_run(smooth_cnn, series):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cdig.explain(smooth_cnn, series, "fourier", target=0, n_steps=64)


def test_progress_bar_counts_every_model_evaluation(smooth_cnn, series, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    import tqdm

    monkeypatch.setattr("cdig._progress._terminal", lambda: True)  # the bar of a terminal

    seen = {}
    real = tqdm.tqdm

    class Spy(real):
        def close(self):
            seen["n"], seen["total"] = self.n, self.total
            super().close()

    tqdm.tqdm = Spy
    try:
        cdig.explain(smooth_cnn, series, ["time", "fourier"], target=0, n_steps=8, progress=True)
    finally:
        tqdm.tqdm = real
    assert seen == {"n": 4 * 8, "total": 4 * 8}  # one shared pass: batch x steps evaluations


def test_activation_probe_scales_with_the_input_and_sets_the_chunk():
    from cdig.engine import CHUNK_BYTES, MAX_GRAD_CHUNK, activation_bytes, auto_batch_size

    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 3, padding=1), torch.nn.Tanh()).double()
    small = activation_bytes(conv, torch.zeros(3, 1, 100, dtype=torch.float64))
    large = activation_bytes(conv, torch.zeros(3, 1, 400, dtype=torch.float64))
    # the conv saves its input (1 x T) and tanh its output (8 x T), float64: 72 bytes per step
    assert small == 72 * 100 and large == 72 * 400
    assert auto_batch_size(small, 10**6) == MAX_GRAD_CHUNK
    assert auto_batch_size(CHUNK_BYTES // 8, 10**6) == 8
    # bounded by memory: never more than CHUNK_BYTES in one chunk (rounded down)
    assert auto_batch_size(CHUNK_BYTES // 8 + 1, 10**6) == 4
    for eval_bytes in (1, 999, 12345, 10**6, 3 * 10**7):
        chunk = auto_batch_size(eval_bytes, 10**9)
        assert chunk * eval_bytes <= max(CHUNK_BYTES, eval_bytes)
        assert chunk == MAX_GRAD_CHUNK or 2 * chunk * eval_bytes > CHUNK_BYTES
    assert auto_batch_size(CHUNK_BYTES * 4, 10**6) == 1
    assert auto_batch_size(1, 5) == 5


def test_default_chunk_counts_input_sized_tensors():
    """A model with few activations on a long input still gets a chunk bounded by memory:
    the point, its gradient and the model's input count per evaluation."""
    from cdig.engine import CHUNK_BYTES, INPUT_COPIES

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 4096, 2))
    ig = cdig.CrossDomainIG(model, "time")
    x = torch.zeros(1, 8, 4096)
    eval_bytes = ig._eval_bytes(model, x)
    assert eval_bytes >= INPUT_COPIES * x.numel() * 4
    chunk = cdig.engine.auto_batch_size(eval_bytes, 10**6)
    assert chunk * eval_bytes <= CHUNK_BYTES < 2 * chunk * eval_bytes


def test_run_is_the_entry_of_explain_and_attribute(smooth_cnn, series):
    """explain and attribute build the settings and call run: bitwise the same results."""
    from cdig import Settings

    ig = CrossDomainIG(smooth_cnn, ["fourier", "time"])
    settings = Settings(n_steps=32, method="riemann_trapezoid")
    ran = ig.run(series, 0.3 * series, 1, settings=settings)
    explained = ig.explain(series, 0.3 * series, 1, n_steps=32, method="riemann_trapezoid")
    values, delta = ig.attribute(
        series, 0.3 * series, 1, 32, "riemann_trapezoid", return_convergence_delta=True
    )
    assert isinstance(ran, dict) and isinstance(explained, dict) and isinstance(values, dict)
    for label in ("fourier", "time"):
        np.testing.assert_array_equal(ran[label].values, explained[label].values)
        np.testing.assert_array_equal(ran[label].values, values[label])
        np.testing.assert_array_equal(ran[label].delta, delta[label])
        assert ran[label].settings == explained[label].settings
    # default settings: the defaults of explain
    default = CrossDomainIG(smooth_cnn, "time").run(series[:1], target=0)
    np.testing.assert_array_equal(
        default.values, CrossDomainIG(smooth_cnn, "time").explain(series[:1], target=0).values
    )


def test_run_refuses_settings_it_cannot_honour(smooth_cnn, series):
    from cdig import Settings

    ig = CrossDomainIG(smooth_cnn, "time")
    with pytest.raises(ValueError, match=r"settings\.time_axis=1 differs from the explainer"):
        ig.run(series, target=0, settings=Settings(time_axis=1))
    with pytest.raises(TypeError, match="settings must be a cdig Settings object; got dict"):
        ig.run(series, target=0, settings={"n_steps": 8})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- grad mode of the caller
def test_a_call_under_no_grad_is_the_same_call_and_leaves_grad_off(smooth_cnn, series):
    # the engine switches grad on only where the caller turned it off (and back after);
    # a model in training mode is put in eval mode either way and restored
    ig = cdig.CrossDomainIG(smooth_cnn, "fourier")
    smooth_cnn.train()
    ref = ig.explain(series, target=0, n_steps=8)
    assert smooth_cnn.training
    with torch.no_grad():
        res = ig.explain(series, target=0, n_steps=8)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled() and smooth_cnn.training
    np.testing.assert_array_equal(res.values, ref.values)
    np.testing.assert_array_equal(res.delta, ref.delta)


# ---------------------------------------------------------------------- the activation cache
def test_activation_cache_belongs_to_the_model(smooth_cnn, series):
    from tests.conftest import SmoothCNN

    ig = cdig.CrossDomainIG(smooth_cnn, "time")
    ig.explain(series, target=0, n_steps=4)
    owner, cache = ig._eval_bytes_cache
    assert owner is smooth_cnn and len(cache) == 1
    ig.model = SmoothCNN(width=64)  # a wider model saves more per evaluation
    ig.explain(series, target=0, n_steps=4)
    owner2, cache2 = ig._eval_bytes_cache
    assert owner2 is ig.model and next(iter(cache2.values())) > next(iter(cache.values()))


# ---------------------------------------------------------------------- no leak per call
def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


@pytest.mark.parametrize("chunk", [None, 8])
def test_repeated_calls_leave_no_tensors_alive(chunk):
    # seeded: with some weights a float32 sample has f(x) - f(x') near rounding and warns
    # (the warnings are errors here), and the weights must not depend on the tests run before
    torch.manual_seed(2)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(2, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(120, 1)
    )
    x = torch.randn(4, 2, 32)
    cdig.explain(model, x, "fourier", target=0, internal_batch_size=chunk)  # warm caches
    cdig.explain(model, x, "fourier", target=0, internal_batch_size=chunk)
    before = _live_tensors()
    for _ in range(10):
        cdig.explain(model, x, "fourier", target=0, internal_batch_size=chunk)
    assert _live_tensors() - before <= 0


class _CallSizes(torch.nn.Module):
    """Records the batch of every forward call of ``inner``."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.sizes = inner, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        return self.inner(x)


@pytest.mark.parametrize("n_steps", [64, "auto"])
def test_model_calls_are_bounded_by_call_bytes_and_sums_unchanged(
    smooth_cnn, series, monkeypatch, n_steps
):
    """The default splits a block of sums into model calls of at most CALL_BYTES (never
    fewer than 8 evaluations); the sums are those of the block, as one call would give."""
    from cdig import engine

    spy = _CallSizes(smooth_cnn)
    ig = CrossDomainIG(spy, "fourier")
    x = torch.tensor(series)
    eval_bytes = ig._eval_bytes(lambda t: spy(t), x)
    block = engine.auto_batch_size(eval_bytes, len(series) * 64)
    assert block >= 64  # one block of sums: every sample's 64 points
    # calls of 16 evaluations
    monkeypatch.setattr(engine, "CALL_BYTES", 16 * eval_bytes)
    engine._memory_chunk.cache_clear()
    spy.sizes.clear()
    split = ig.explain(x, target=0, n_steps=n_steps)
    path_calls = spy.sizes[1:]  # the first call is the end points f(x), f(x')
    assert path_calls and max(path_calls) == 16
    # the same blocks in one call each
    spy.sizes.clear()
    whole = ig.explain(x, target=0, n_steps=n_steps, internal_batch_size=block)
    assert max(spy.sizes[1:]) > 16
    np.testing.assert_allclose(split.values, whole.values, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(split.delta, whole.delta, rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(split.n_evaluations, whole.n_evaluations)
    # never fewer than 8 evaluations per call, however large an evaluation
    monkeypatch.setattr(engine, "CALL_BYTES", 1)
    engine._memory_chunk.cache_clear()
    spy.sizes.clear()
    ig.explain(x, target=0, n_steps=64)
    assert min(spy.sizes[1:]) == 8
    engine._memory_chunk.cache_clear()


def test_all_finite_agrees_with_torch():
    """The one-read finite check (numpy on the CPU) answers as torch.isfinite(t).all()."""
    from cdig._guards import all_finite

    z = torch.randn(5, dtype=torch.complex64)
    cases = [
        torch.randn(4, 3),
        torch.randn(4, dtype=torch.float64).requires_grad_(True),
        torch.tensor([1.0, float("nan")]),
        torch.tensor([float("-inf"), 0.0], dtype=torch.float64),
        torch.tensor([1.0, 2.0], dtype=torch.float16),
        torch.tensor([1.0, float("inf")], dtype=torch.bfloat16),
        z.conj().imag,  # a view with the negative bit set
        torch.randn(6, 4)[:, ::2],  # strided
        torch.empty(0),
    ]
    for t in cases:
        assert all_finite(t) == bool(torch.isfinite(t).all()), t


# ---------------------------------------------------------------------- measured call size
def _busy(seconds: float) -> None:
    """Work (not sleep) for ``seconds``: a slow call on either of the measurement's clocks."""
    import time

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass


def test_measure_calls_takes_a_faster_size_only_when_bitwise_the_same():
    """The measured call size: a smaller call that is faster is taken; one that is not
    faster, or whose outputs or gradients differ in any bit (a model whose rows depend on
    the batch), never is."""

    from cdig.engine import _measure_calls

    points = torch.randn(64, 1, 16, dtype=torch.float64)
    rows = torch.zeros(64, dtype=torch.long)

    def rowwise(slow_from: int):
        def f(xc, rows):
            if len(xc) >= slow_from:  # a call of this size or more is slow
                _busy(0.004)
            return (xc**2).sum(dim=(1, 2))

        return f

    assert _measure_calls(rowwise(64), points, rows, [64, 32, 16]).size in (32, 16)
    assert _measure_calls(rowwise(10**9), points, rows, [64, 32, 16]).size == 64  # none faster

    def batchwise(xc, rows):  # each row's output depends on the others: never split
        if len(xc) >= 64:
            _busy(0.004)
        return ((xc - xc.mean(dim=0)) ** 2).sum(dim=(1, 2))

    assert _measure_calls(batchwise, points, rows, [64, 32, 16]).size == 64

    def whole_batches_only(xc, rows):  # fails on a smaller batch: never split
        if len(xc) < 64:
            raise RuntimeError("this model takes batches of 64")
        _busy(0.004)
        return (xc**2).sum(dim=(1, 2))

    assert _measure_calls(whole_batches_only, points, rows, [64, 32, 16]).size == 64

    def noisy(xc, rows):  # draws random numbers: outputs differ between calls
        return (xc**2).sum(dim=(1, 2)) + torch.rand(len(xc), dtype=xc.dtype)

    torch.manual_seed(5)
    assert _measure_calls(noisy, points, rows, [64, 32, 16]).size == 64
    after = torch.rand(3)
    torch.manual_seed(5)
    np.testing.assert_array_equal(after, torch.rand(3))  # the random state is restored


def test_measured_call_size_follows_the_calls_that_use_it():
    """The measurement picks the first size; from then on sizes are judged by their paths
    only (a path's blocks cost more per evaluation than calls in a row: never compared with
    the measurement); the size in use by the fastest of its last _WINDOW paths, so it moves
    when those get slower (an allocator that changed its state), not for a slow spell."""
    from cdig.engine import _WINDOW, _CallSize

    sized = _CallSize({64: 1.0, 32: 0.5})
    assert sized.size == 32 and sized.times == {}
    sized.observe(32, 2.0)  # paths cost more than the measured calls: 64 is not compared
    assert sized.size == 32 and sized.times == {32: 2.0}
    sized.times[64] = 1.5  # as a try of 64 would leave it (see the next test)
    sized.observe(32, 1.0)  # a faster path: the best recent one counts
    assert sized.size == 32 and sized.times[32] == 1.0
    for _ in range(_WINDOW - 1):  # a slow spell shorter than the window moves nothing
        sized.observe(32, 9.0)
    assert sized.size == 32 and sized.times[32] == 1.0
    sized.observe(32, 9.0)  # the last fast path left the window: 64 is faster now
    assert sized.size == 64
    sized.observe(64, 20.0)  # and 64 is slower than 32's recent paths: back to 32
    assert sized.size == 32
    assert _CallSize({64: 1.0, 32: 0.95}).size == 64  # within the margin: the default
    only = _CallSize({64: float("inf")})  # no other size is bitwise the same
    only.observe(64, 1.0)
    assert only.size == 64


def test_measured_call_size_tries_the_other_sizes_again():
    """Every _EXPLORE_EVERY-th path starts two paths at another size, in turn, so that a
    size not yet timed on a path (or one from before the allocator changed its state)
    comes in when it is faster; it is judged by the slower of its two paths, against the
    fastest recent path of the size in use (one lucky path or one slow spell of the size in
    use moves nothing); the size in use runs the other paths."""
    from cdig.engine import _EXPLORE_EVERY, _CallSize

    every = _EXPLORE_EVERY
    sized = _CallSize({64: 1.0, 32: 0.5, 16: 0.8})
    assert sized.size == 32
    used = [sized.next_size() for _ in range(4 * every + 1)]
    tried = [(i, c) for i, c in enumerate(used) if c != 32]
    starts = [k * every - 1 for k in (1, 2, 3, 4)]  # (paths count from 1)
    assert [i for i, _ in tried] == sorted(starts + [i + 1 for i in starts])
    assert {c for _, c in tried} == {16, 64} and used[every - 1] == used[every]

    def to_try(sized, time_in_use):  # paths at the size in use, up to a try's first path
        while (c := sized.next_size()) == sized.size:
            sized.observe(c, time_in_use)
        return c

    sized = _CallSize({64: 1.0, 32: 0.5})
    sized.observe(to_try(sized, 0.5), 0.01)  # one lucky path at 64 moves nothing
    assert sized.size == 32
    sized.observe(sized.next_size(), 0.6)  # the try's second path: 64 is not faster
    assert sized.size == 32 and sized.times == {32: 0.5, 64: 0.6}

    # a slow spell at 32 (as in a benchmark that runs other work between calls): a try of
    # 64 slower than 32's best recent path does not take the call
    sized = _CallSize({64: 1.0, 32: 0.5})
    for i in range(every - 1):  # the last three paths before the try are slow
        sized.observe(sized.next_size(), 5.0 if i >= every - 4 else 0.5)
    assert sized.size == 32  # (the measurement's 1.0 for 64 is not compared with paths)
    sized.observe(sized.next_size(), 0.52)
    sized.observe(sized.next_size(), 0.52)
    assert sized.size == 32

    # the call began at a slow size (the measurement was unlucky): the try of a faster
    # one takes over
    sized = _CallSize({64: 1.0, 32: 0.5})
    c = to_try(sized, 1.0)
    assert c == 64
    sized.observe(c, 0.4)
    sized.observe(sized.next_size(), 0.42)
    assert sized.size == 64 and sized.times[64] == 0.42


def test_measured_call_size_is_kept_with_the_model_and_changes_no_bit(monkeypatch):
    """A small model's default call size is measured once per model and shape, kept with
    the model for every explainer of it (cdig.explain builds one per call), and the results
    are bitwise those of the unmeasured default."""
    from cdig import engine

    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 5, padding=2), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 64, 2),
    )  # fmt: skip
    x = torch.randn(2, 1, 64)
    picked = []

    def spy(func, points, rows, sizes, repeats=2):
        picked.append(sizes)
        # as if the smallest were fastest: calls of 16 (seconds per evaluation)
        return engine._CallSize({c: 1.0 if c > 16 else 1e-9 for c in sizes})

    monkeypatch.setattr(engine, "_measure_calls", spy)
    # a model given as a new function per call is never measured (it would pay each time)
    for _ in range(3):
        cdig.explain(lambda t: model(t), x, "fourier", target=0, n_steps=32, rtol=10)
    assert picked == []
    measured = [cdig.explain(model, x, "fourier", target=0, n_steps=32, rtol=10) for _ in range(3)]
    assert picked == [[64, 32, 16]]  # one block of 64 evaluations; measured once, from the
    # second call on
    # the paths that try the other sizes (every second path here) give the same bits
    monkeypatch.setattr(engine, "_EXPLORE_EVERY", 2)
    sized = next(v for k, v in engine._model_facts(model).items() if k[0] == "calls")
    paths = sized._paths
    measured += [cdig.explain(model, x, "fourier", target=0, n_steps=32, rtol=10) for _ in range(4)]
    assert sized._paths == paths + 4 and sorted(sized.recent) == [16, 32, 64]
    assert sized.recent[32] and sized.recent[64]  # both tried and timed
    monkeypatch.setattr(engine, "MEASURE_CALLS", False)
    plain = cdig.explain(model, x, "fourier", target=0, n_steps=32, rtol=10)
    for a in measured:
        np.testing.assert_array_equal(a.values, plain.values)
        np.testing.assert_array_equal(a.delta, plain.delta)
    # a given internal_batch_size is never measured
    monkeypatch.setattr(engine, "MEASURE_CALLS", True)
    cdig.explain(model, x, "fourier", target=0, n_steps=32, rtol=10, internal_batch_size=64)
    assert len(picked) == 1


def test_activation_probe_is_kept_with_the_model_across_explainers(monkeypatch):
    """cdig.explain builds a new explainer per call; the model's activation probe runs once
    per model and shape, and again for another model, shape or layout."""
    from cdig import engine

    probes = []
    original = engine.activation_bytes

    def counting(call, x):
        probes.append(tuple(x.shape))
        return original(call, x)

    monkeypatch.setattr(engine, "activation_bytes", counting)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    x = torch.randn(2, 1, 32)
    for _ in range(3):
        cdig.explain(model, x, "fourier", target=0, n_steps=8, rtol=10)
    assert len(probes) == 1
    cdig.explain(model, torch.randn(2, 2, 16), "fourier", target=0, n_steps=8, rtol=10)
    assert len(probes) == 2  # another shape
    cdig.explain(model, x.transpose(1, 2), "fourier", target=0, n_steps=8, rtol=10, time_axis=1)
    assert len(probes) == 3  # another layout: the model is called on other tensors
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 2))
    cdig.explain(other, x, "fourier", target=0, n_steps=8, rtol=10)
    assert len(probes) == 4  # another model


def test_grad_of_sum_is_the_public_gradient_and_defers_to_overrides():
    """The path's backward call: bitwise torch.autograd.grad's for plain tensors, and the
    public function itself under a __torch_function__ mode (which must see it) and for a
    complex sum (which it refuses)."""
    from torch.overrides import TorchFunctionMode

    from cdig.engine import _grad_of_sum

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 3, 5), torch.nn.Tanh(), torch.nn.Flatten())

    def total_of(points: torch.Tensor) -> torch.Tensor:
        return model(points).pow(2).sum()

    points = torch.randn(8, 1, 32, requires_grad=True)
    (want,) = torch.autograd.grad(total_of(points), points, allow_unused=True)
    got = _grad_of_sum(total_of(points), points)
    assert got is not None and torch.equal(got, want)

    seen: list[object] = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with Record():
        got = _grad_of_sum(total_of(points), points)
    assert torch.autograd.grad in seen and got is not None and torch.equal(got, want)

    z = torch.randn(4, dtype=torch.complex64, requires_grad=True)
    with pytest.raises(RuntimeError, match="real scalar"):
        _grad_of_sum((z * 2).sum(), z)
