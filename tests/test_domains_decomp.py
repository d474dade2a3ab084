"""Data-dependent domains: ICA, PCA and SeasonalTrend (STL / MSTL / classical)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig
from cdig.domains import ICA, PCA, NotFittedError, SeasonalTrend


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


# ICA needs scikit-learn and SeasonalTrend statsmodels; PCA needs neither
needs_sklearn = pytest.mark.skipif(not _installed("sklearn"), reason="ICA needs scikit-learn")
needs_statsmodels = pytest.mark.skipif(
    not _installed("statsmodels"), reason="SeasonalTrend needs statsmodels"
)

# The `series` fixture mixes three sources (a sine, two noises) into two channels, so ICA is
# not identifiable; FastICA then cycles on one sample at tol=1e-4 and converges at 1e-3.
ICA_KW = {"tol": 1e-3}

DOMAINS = {
    "ica": lambda: ICA(**ICA_KW),
    "ica-zero": lambda: ICA(baseline="zero", **ICA_KW),
    "pca": lambda: PCA(),
    "pca-zero": lambda: PCA(baseline="zero"),
    "stl": lambda: SeasonalTrend(period=16),
    "stl-resolved": lambda: SeasonalTrend(period=16, resolved=True),
    "mstl": lambda: SeasonalTrend(period=(24, 8)),
    "mstl-resolved-robust": lambda: SeasonalTrend(period=(8, 24), robust=True, resolved=True),
    "classical": lambda: SeasonalTrend(period=16, method="classical"),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids two threads waiting on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_NEEDS = {
    "ica": needs_sklearn,
    "stl": needs_statsmodels,
    "mstl": needs_statsmodels,
    "classical": needs_statsmodels,
}


@pytest.fixture(
    params=[pytest.param(k, marks=_NEEDS.get(k.split("-")[0], ())) for k in DOMAINS],
    ids=list(DOMAINS),
)
def domain(request: pytest.FixtureRequest) -> cdig.domains.Domain:
    return DOMAINS[request.param]()


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ---------------------------------------------------------------------- protocol
def test_round_trip_with_repeated_rows(domain, series):
    x = torch.tensor(series)
    dom = domain.fit(x)
    assert _rel(dom.inverse(dom.forward(x)).numpy(), series) <= 1e-8
    rows = torch.tensor([2, 0, 0, 3, 1, 2])  # rows may repeat samples, as with baselines
    rec = dom.inverse(dom.forward(x[rows], rows), rows)
    assert _rel(rec.numpy(), series[rows.numpy()]) <= 1e-8
    assert dom.check_invertible(x) <= 1e-12


def test_completeness(domain, series, smooth_cnn):
    # a fixed Gauss-Legendre rule on a smooth model: any error left is the domain's
    attr = cdig.explain(smooth_cnn, series, domain, target=1, n_steps=64)
    diff = attr.outputs - attr.baseline_outputs
    assert np.all(np.abs(attr.delta) <= 1e-6 * np.maximum(1.0, np.abs(diff)))
    assert np.all(np.abs(diff) > 1e-3)  # a non-trivial check
    assert attr.values.shape[1:] == tuple(len(attr.coords[d]) for d in attr.dims)


def test_shared_pass_equals_coefficient_pass(domain, series, smooth_cnn):
    shared = cdig.CrossDomainIG(smooth_cnn, domain).explain(series, target=2)
    direct = cdig.CrossDomainIG(smooth_cnn, domain, linear_shortcut=False).explain(series, target=2)
    assert shared.settings.pass_kind == "time" and direct.settings.pass_kind == "coefficients"
    assert _rel(shared.values, direct.values) <= 1e-10


def test_samples_fitted_independently_and_reproducibly(domain, series, smooth_cnn):
    batch = cdig.explain(smooth_cnn, series, domain, target=0)
    again = cdig.explain(smooth_cnn, series, domain, target=0)
    np.testing.assert_array_equal(batch.values, again.values)
    for i in (0, 3):
        alone = cdig.explain(smooth_cnn, series[i : i + 1], domain, target=0)
        assert _rel(alone.values[0], batch.values[i]) <= 1e-10


def test_unfitted_and_bad_index(domain, series):
    x = torch.tensor(series)
    with pytest.raises(NotFittedError, match="not fitted"):
        domain.forward(x)
    dom = domain.fit(x)
    with pytest.raises(ValueError, match="without index"):
        dom.forward(x[:2])
    with pytest.raises(ValueError, match=r"index must lie in \[0, 4\)"):
        dom.forward(x[:2], torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="2 entries for 3 rows"):
        dom.forward(x[:3], torch.tensor([0, 1]))


def test_baselines_are_fixed_in_coefficients(domain, series):
    x = torch.tensor(series)
    dom = domain.fit(x)
    rows = torch.tensor([1, 3])
    with pytest.warns(UserWarning, match="ignores baselines="):  # a random xb is not used
        X0 = dom.coefficient_baseline(torch.randn(2, 2, 96, dtype=torch.float64), rows)
    assert not X0.any()
    tb = dom.inverse(X0, rows).numpy()
    if getattr(dom, "baseline", "zero") == "mean":  # ICA/PCA: each channel at its mean
        expected = np.broadcast_to(series[[1, 3]].mean(axis=2, keepdims=True), tb.shape)
        np.testing.assert_allclose(tb, expected, rtol=0, atol=1e-12)
    else:
        assert np.abs(tb).max() == 0.0


def test_float32_round_trip(domain, series):
    x = torch.tensor(series, dtype=torch.float32)
    dom = domain.fit(x)
    X = dom.forward(x)
    assert X.dtype == torch.float32
    assert _rel(dom.inverse(X).numpy(), series) <= 1e-5


# ---------------------------------------------------------------------- ICA / PCA
@needs_sklearn
def test_mixing_coords_and_per_component_sums(series, smooth_cnn):
    attr = cdig.explain(smooth_cnn, series, ICA(baseline="zero", **ICA_KW), target=0)
    assert attr.dims == ("component", "channel")
    assert attr.coords["component"].tolist() == ["ic0", "ic1", "mean"]
    per = attr.sum_over("channel")
    assert per.dims == ("component",) and per.values.shape == (4, 3)
    np.testing.assert_allclose(per.values.sum(axis=1), attr.total, rtol=1e-12)
    dom = attr.domain
    assert dom.sources_.shape == (4, 2, 96) and dom.mixing_.shape == (4, 2, 2)
    # the extra "mean" coefficients are the channel means
    X = dom.forward(torch.tensor(series))
    np.testing.assert_allclose(X[:, -1].numpy(), series.mean(axis=2), atol=1e-12)


def _sources(n: np.ndarray, amp: float) -> np.ndarray:
    """Four independent sources; only the first has content at DFT bin 44 of 400."""
    return np.stack(
        [
            amp * np.sin(2 * np.pi * 44 * n / 400),
            np.sign(np.sin(2 * np.pi * n / 80 + 0.3)),  # period 80: bins 5k
            ((n % 50) / 50.0 - 0.5) * 2,  # period 50: bins 8k
            np.where((n % 40) < 6, 2.0, -0.3),  # period 40: bins 10k
        ]
    )


class _BandEnergy(torch.nn.Module):
    """Class score from the energy at DFT bin 44 (11 Hz at 100 Hz), summed over channels."""

    def __init__(self, n_times: int = 400):
        super().__init__()
        phase = 2 * np.pi * 44 * np.arange(n_times) / n_times
        self.register_buffer("cos", torch.tensor(np.cos(phase)))
        self.register_buffer("sin", torch.tensor(np.sin(phase)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = ((x @ self.cos) ** 2 + (x @ self.sin) ** 2).sum(dim=-1) / 400**2
        return torch.tanh(energy)


@needs_sklearn
def test_ica_ground_truth_class_source_ranks_first():
    n = np.arange(400)
    rng = np.random.default_rng(1)
    x = np.stack(
        [rng.normal(size=(6, 4)) @ _sources(n, amp) + rng.normal(size=(6, 1)) for amp in (0.3, 1)]
    )  # 4 sources mixed into 6 channels: rank 4, so n_components=4 is exact
    attr = cdig.explain(_BandEnergy().double(), x, ICA(n_components=4), n_steps=64)
    assert np.all(np.abs(attr.delta) <= 1e-8)
    per = np.abs(attr.sum_over("channel").values)  # (batch, component)
    dom = attr.domain
    for i in range(2):
        corr = [abs(np.corrcoef(s, _sources(n, 1.0)[0])[0, 1]) for s in dom.sources_[i]]
        top = int(np.argmax(per[i]))
        assert corr[top] > 0.99  # the top component is the class-carrying source ...
        assert per[i, top] > 100 * np.delete(per[i], top).max()  # ... by a wide margin


@needs_sklearn
def test_ica_given_fitted_object_is_used_and_not_modified(series, smooth_cnn):
    from sklearn.decomposition import FastICA

    est = FastICA(whiten="unit-variance", random_state=0, tol=1e-3)
    est.fit(np.concatenate(list(series), axis=1).T)  # one ICA over all samples' time points
    before = est.components_.copy()
    attr = cdig.explain(smooth_cnn, series, ICA(ica=est), target=0)
    np.testing.assert_array_equal(est.components_, before)
    dom = attr.domain
    np.testing.assert_allclose(dom.mixing_[2], est.mixing_)
    np.testing.assert_allclose(dom.sources_[2], est.transform(series[2].T).T)
    assert np.all(np.abs(attr.delta) <= 1e-6 * np.maximum(1, np.abs(attr.outputs)))
    # effective time baseline: the given ica's mean, not each sample's
    tb = dom.inverse(dom.coefficient_baseline(torch.zeros(4, 2, 96, dtype=torch.float64)))
    np.testing.assert_allclose(tb[:, :, 0].numpy(), np.tile(est.mean_, (4, 1)))


@needs_sklearn
def test_ica_convergence_warning_points_at_caller(series, smooth_cnn):
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match=r"did not converge within max_iter=1") as rec:
        cdig.explain(smooth_cnn, series, ICA(max_iter=1), target=0)
    assert len(rec) == 1
    assert rec[0].filename == __file__


@needs_sklearn
def test_ica_rank_and_exactness_errors():
    rng = np.random.default_rng(0)
    x = rng.laplace(size=(2, 3, 120))
    x[1, 2] = x[1, 0] * 2.0 + 1.0  # a dependent channel: rank 2
    with pytest.raises(ValueError, match=r"sample 1 has 2 linearly independent.*n_components=2"):
        ICA().fit(torch.tensor(x))
    dom = ICA(n_components=2).fit(torch.tensor(x[1:]))  # exact: the sample has rank 2
    assert dom.check_invertible(torch.tensor(x[1:])) < 1e-12
    with pytest.raises(ValueError, match="does not reconstruct sample"):
        ICA(n_components=2).fit(torch.tensor(x[:1]))
    with pytest.raises(ValueError, match="does not reconstruct sample"):
        PCA(n_components=1).fit(torch.tensor(x))


@needs_sklearn
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: ICA(baseline="median"), ValueError, "baseline='median' must be 'mean'"),
        (lambda: ICA(n_components=0), ValueError, "n_components=0 must be at least 1"),
        (lambda: ICA(n_components=3), ValueError, "n_components=3 must be at least 1 and at"),
        (lambda: ICA(n_components=1.5), TypeError, "n_components=1.5 must be a positive"),
        (lambda: ICA(random_state=np.random.RandomState(0)), TypeError, "shared generator"),
        (lambda: ICA(ica=object()), TypeError, r"lacks \['transform', 'mixing_'\]"),
        (lambda: ICA(tol=0.0), ValueError, "tol=0.0 must be a positive"),
        (lambda: ICA(max_iter=0), ValueError, "max_iter=0 must be a positive integer"),
        (lambda: PCA(baseline=None), ValueError, "baseline=None must be"),
        (lambda: PCA(n_components=5), ValueError, "n_components=5 must be at least 1 and at"),
    ],
)
def test_mixing_bad_settings(make, error, match, series):
    with pytest.raises(error, match=match):
        make().fit(torch.tensor(series))


@needs_sklearn
def test_ica_given_object_with_wrong_channels(series):
    from sklearn.decomposition import FastICA

    est = FastICA(random_state=0, whiten="unit-variance").fit(
        np.random.default_rng(0).laplace(size=(200, 3))
    )
    with pytest.raises(ValueError, match=r"ica.mixing_ has shape \(3, 3\).*channels=2"):
        ICA(ica=est).fit(torch.tensor(series))


@needs_sklearn
def test_pca_matches_sklearn(series):
    from sklearn.decomposition import PCA as SkPCA

    dom = PCA().fit(torch.tensor(series))
    for i in range(4):
        sk = SkPCA().fit(series[i].T)
        np.testing.assert_allclose(dom.explained_variance_[i], sk.explained_variance_, rtol=1e-10)
        # same axes up to sign; loadings orthonormal
        a = dom.mixing_[i]
        np.testing.assert_allclose(np.abs(a.T @ sk.components_.T), np.eye(2), atol=1e-10)
        np.testing.assert_allclose(a.T @ a, np.eye(2), atol=1e-12)


# ---------------------------------------------------------------------- seasonal-trend
@needs_statsmodels
def test_trend_plus_season_is_recovered():
    t = np.arange(240, dtype=np.float64)
    rng = np.random.default_rng(3)
    trend = 0.002 * (t - 100) ** 2 / 10 + 0.03 * t
    season = np.sin(2 * np.pi * t / 24) + 0.5 * np.cos(4 * np.pi * t / 24)
    x = np.stack([trend + season, 2 * trend - season])[None] + 0.05 * rng.normal(size=(1, 2, 240))
    for method in ("stl", "classical"):
        dom = SeasonalTrend(period=24, method=method).fit(torch.tensor(x))
        comps = dom.components_
        assert comps.shape == (1, 2, 3, 240)
        assert dom.component_names_ == ("trend", "seasonal_24", "resid")
        for c, (tr, se) in enumerate([(trend, season), (2 * trend, -season)]):
            assert np.corrcoef(comps[0, c, 0], tr)[0, 1] > 0.99
            assert np.corrcoef(comps[0, c, 1], se)[0, 1] > 0.98
            assert np.abs(comps[0, c, 2]).std() < 0.1  # the noise is left in the residual
        np.testing.assert_allclose(comps.sum(axis=2), x, atol=1e-12)


@needs_statsmodels
def test_mstl_recovers_two_seasons():
    t = np.arange(400, dtype=np.float64)
    daily, weekly = np.sin(2 * np.pi * t / 12), 0.8 * np.sign(np.sin(2 * np.pi * t / 60))
    x = (0.01 * t + daily + weekly)[None, None]
    dom = SeasonalTrend(period=(60, 12)).fit(torch.tensor(x))
    assert dom.component_names_ == ("trend", "seasonal_12", "seasonal_60", "resid")
    comps = dom.components_[0, 0]
    assert np.corrcoef(comps[1], daily)[0, 1] > 0.95
    assert np.corrcoef(comps[2], weekly)[0, 1] > 0.9


@needs_statsmodels
def test_resolved_view_sums_to_weights_and_to_time_ig(series, smooth_cnn):
    dom = SeasonalTrend(period=16)
    res = cdig.explain(
        smooth_cnn,
        series,
        {"time": "time", "w": dom, "r": SeasonalTrend(period=16, resolved=True)},
        target=0,
    )
    assert res["w"].settings.shared_with == ("time", "r")  # one pass for all three
    assert res["r"].dims == ("channel", "component", "time")
    assert res["w"].dims == ("channel", "component")
    assert _rel(res["r"].values.sum(axis=3), res["w"].values) <= 1e-10
    assert _rel(res["r"].values.sum(axis=2), res["time"].values) <= 1e-10


@needs_statsmodels
def test_stl_kwargs_are_copied_not_emptied(series, smooth_cnn):
    kwargs = {"inner_iter": 3, "trend_deg": 1}
    for period in (16, (8, 24)):  # STL and MSTL (MSTL pops inner_iter from its dict)
        dom = SeasonalTrend(period=period, stl_kwargs=kwargs)
        attr = cdig.explain(smooth_cnn, series, dom, target=0, n_steps=64)
        assert kwargs == {"inner_iter": 3, "trend_deg": 1}
        assert np.all(np.abs(attr.delta) < 1e-8)


def test_seasonal_trend_by_name_needs_a_period(series, smooth_cnn):
    assert {"ica", "pca", "seasonal_trend"} <= set(cdig.domains.available_domains())
    assert isinstance(cdig.domains.get_domain("ica"), ICA)
    with pytest.raises(ValueError, match=r"needs period=.*SeasonalTrend\(period=52\)"):
        cdig.explain(smooth_cnn, series, "seasonal_trend", target=0)


@needs_statsmodels
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"period": 1}, ValueError, "every period must be at least 2"),
        ({"period": 48}, ValueError, "needs series longer than 96 samples.*got time=96"),
        ({"period": (8, 60)}, ValueError, "a period of 60 samples needs series longer"),
        ({"period": (8, 8)}, ValueError, "repeats a period"),
        ({"period": 12.0}, TypeError, "must be an int or a non-empty sequence"),
        ({"period": (8, "a")}, TypeError, "must hold integers"),
        ({"period": 12, "seasonal": 6}, ValueError, "must be an odd integer >= 3"),
        ({"period": (8, 24), "seasonal": (7,)}, ValueError, "one per period"),
        ({"period": 12, "method": "x11"}, ValueError, "method='x11' must be one of"),
        ({"period": (8, 24), "method": "classical"}, ValueError, "takes one period"),
        ({"period": 12, "method": "classical", "robust": True}, ValueError, "stl' only"),
        ({"period": 12, "stl_kwargs": {"period": 3}}, ValueError, r"stl_kwargs sets \['period'\]"),
        ({"period": 12, "stl_kwargs": [("trend", 5)]}, TypeError, "stl_kwargs must be a mapping"),
        ({"period": 12, "stl_kwargs": {"trend": 4}}, ValueError, "statsmodels rejected.*trend"),
        ({"period": 12, "resolved": "yes"}, TypeError, "resolved='yes' must be True or False"),
    ],
)
def test_seasonal_trend_bad_settings(kwargs, error, match, series):
    with pytest.raises(error, match=match):
        SeasonalTrend(**kwargs).fit(torch.tensor(series))


@needs_sklearn
@needs_statsmodels
def test_no_stray_warnings_from_clean_fits(series):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PCA().fit(torch.tensor(series))
        SeasonalTrend(period=16, method="classical").fit(torch.tensor(series))
        SeasonalTrend(period=(8, 24)).fit(torch.tensor(series))
        ICA(**ICA_KW).fit(torch.tensor(series))


@needs_statsmodels
@pytest.mark.parametrize("make", [lambda: SeasonalTrend(period=16), lambda: PCA()])
def test_user_baselines_are_ignored_with_a_warning(make, series, smooth_cnn):
    with pytest.warns(UserWarning, match="ignores baselines=") as rec:
        attr = cdig.explain(smooth_cnn, series, make(), target=0, baselines=0.5)
    assert rec[0].filename == __file__
    plain = cdig.explain(smooth_cnn, series, make(), target=0)
    np.testing.assert_array_equal(attr.values, plain.values)  # the path did not change
    # a baseline equal to the fixed start (zeros, the default; channel means for PCA) is silent
    same = series.mean(axis=2, keepdims=True) if isinstance(make(), PCA) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cdig.explain(smooth_cnn, series, make(), target=0, baselines=same)
        cdig.explain(smooth_cnn, series, SeasonalTrend(period=16), target=0)


def test_fitted_attributes_are_numpy_and_changing_them_leaves_the_domain_alone(domain, series):
    # issue 27: mixing_ (and sources_, mean_, components_) came back as torch tensors
    x = torch.tensor(series)
    dom = domain.fit(x)
    names = [n for n in ("mixing_", "sources_", "mean_", "components_") if hasattr(dom, n)]
    assert names
    X = dom.forward(x)
    for name in names:
        value = getattr(dom, name)
        assert type(value) is np.ndarray and value.dtype == np.float64, (name, type(value))
        value[...] = 0.0  # a user's edit must not reach the fitted transform
    np.testing.assert_array_equal(dom.forward(x).numpy(), X.numpy())
    assert _rel(dom.inverse(X).numpy(), series) <= 1e-10
