"""STFT, wavelet, DCT, cepstrum, custom and linear-basis domains: exactness, meaning, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

import cdig
from cdig.domains import (
    DCT,
    STFT,
    Cepstrum,
    Custom,
    Fourier,
    LinearBasis,
    Wavelet,
    available_domains,
    check_nola,
    get_domain,
)

FS = 32.0
HAS_PYWT = importlib.util.find_spec("pywt") is not None
needs_pywt = pytest.mark.skipif(not HAS_PYWT, reason="needs PyWavelets: pip install cdig[domains]")


def _orthogonal(n: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q


def _domains() -> dict[str, object]:
    """One or more settings of every domain of this module, by test id."""
    basis = np.eye(96) + 0.05 * np.random.default_rng(3).normal(size=(96, 96))
    return {
        "stft": STFT(n_fft=32, hop_length=8, fs=FS),
        "stft-twosided-kaiser": STFT(
            n_fft=24, hop_length=5, window=("kaiser", 8.0), onesided=False
        ),
        "stft-array-window": STFT(n_fft=17, hop_length=6, window=np.hamming(17)),
        "stft-torch-name": STFT(n_fft=16, hop_length=4, window="hann_window"),
        "wavelet-db4": Wavelet("db4", fs=FS),
        "wavelet-bior2.2-l2": Wavelet("bior2.2", level=2),
        "wavelet-coif2-l2": Wavelet("coif2", level=2),
        "dct": DCT(fs=FS),
        "cepstrum": Cepstrum(fs=FS),
        "custom-linear": Custom(
            lambda x: torch.fft.rfft(x, dim=-1),
            lambda X: torch.fft.irfft(X, n=96, dim=-1),
            linear=True,
        ),
        "custom-nonlinear": Custom(torch.sinh, torch.asinh),
        "linear-basis": LinearBasis(basis),
    }


DOMAINS = _domains()


def _params(keys):
    return [pytest.param(k, marks=needs_pywt) if "wavelet" in k else k for k in keys]


ALL = _params(DOMAINS)
LINEAR = _params(k for k, d in DOMAINS.items() if d.linear)  # type: ignore[attr-defined]


def _fresh(key: str):
    return DOMAINS[key].clone()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- exact round trips
@pytest.mark.parametrize("key", ALL)
def test_round_trip_is_exact(key, series):
    x = torch.as_tensor(series)
    dom = _fresh(key).fit(x)
    rec = dom.inverse(dom.forward(x))
    assert rec.shape == x.shape
    assert float((rec - x).abs().max()) <= 1e-8 * float(x.abs().max())
    assert dom.check_invertible(x) < 1e-12


@pytest.mark.parametrize("n_times", [37, 50, 64, 101])
@pytest.mark.parametrize(
    "make",
    [
        lambda: STFT(n_fft=16, hop_length=5),
        lambda: STFT(n_fft=9, hop_length=9, window="boxcar", onesided=False),
        pytest.param(lambda: Wavelet("sym5"), marks=needs_pywt),
        pytest.param(lambda: Wavelet("haar", level=3), marks=needs_pywt),
        lambda: DCT(),
        lambda: Cepstrum(),
    ],
    ids=["stft", "stft-boxcar", "wavelet-sym5", "wavelet-haar", "dct", "cepstrum"],
)
def test_round_trip_any_length(make, n_times):
    x = torch.as_tensor(np.random.default_rng(n_times).normal(size=(3, 2, n_times)))
    dom = make().fit(x)
    rec = dom.inverse(dom.forward(x))
    assert rec.shape == x.shape
    assert float((rec - x).abs().max()) <= 1e-8 * float(x.abs().max())


@pytest.mark.parametrize("key", ALL)
def test_inverse_is_differentiable(key):
    """gradcheck: autograd through each inverse matches finite differences."""
    n = {"custom-linear": 96, "linear-basis": 96}.get(key, 48)
    x = torch.as_tensor(np.random.default_rng(1).normal(size=(1, 1, n)))
    dom = _fresh(key).fit(x)
    X = dom.forward(x).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(dom.inverse, (X,), atol=1e-6, fast_mode=True)


@pytest.mark.parametrize("n_times", [48, 49])
@pytest.mark.parametrize(
    "make",
    [
        lambda n: Fourier(),
        lambda n: Fourier(onesided=False),
        lambda n: DCT(),
        lambda n: get_domain("time"),
        lambda n: STFT(n_fft=16, hop_length=4),
        pytest.param(lambda n: Wavelet("db2", level=2), marks=needs_pywt),
        lambda n: LinearBasis(_orthogonal(n) + 0.1 * np.eye(n)),
    ],
    ids=["fourier", "fourier-full", "dct", "time", "stft", "wavelet", "linear-basis"],
)
def test_inverse_vjp_is_the_adjoint(make, n_times):
    """``inverse_vjp`` (closed form where a domain has one) obeys the adjoint identity
    ``<G, T^-1(X + dX) - T^-1(X)> = sum Re[conj(J^T G) dX]`` and equals autograd's VJP."""
    rng = np.random.default_rng(n_times)
    x = torch.as_tensor(rng.normal(size=(2, 3, n_times)))
    dom = make(n_times).fit(x)
    X = dom.forward(x)
    dX = dom.forward(torch.as_tensor(rng.normal(size=x.shape)))
    G = torch.as_tensor(rng.normal(size=x.shape))
    gX = dom.inverse_vjp(X, G)
    assert gX.shape == X.shape
    lhs = float((G * (dom.inverse(X + dX) - dom.inverse(X))).sum())
    rhs = float((torch.conj(gX) * dX).real.sum()) if gX.is_complex() else float((gX * dX).sum())
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    by_autograd = cdig.domains.Domain.inverse_vjp(dom, X, G)
    assert torch.allclose(gX, by_autograd, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- completeness
@pytest.mark.parametrize("key", ALL)
def test_completeness(key, smooth_cnn, series):
    dom = _fresh(key)
    n_steps = 128 if not dom.linear else 64
    attr = cdig.explain(smooth_cnn, series, domain=dom, target=0, n_steps=n_steps)
    diff = np.abs(attr.outputs - attr.baseline_outputs)
    assert np.all(np.abs(attr.delta) <= 1e-6 * np.maximum(1.0, diff))
    assert np.all(diff > 1e-3)  # the test explains something
    assert attr.values.shape[1:] == attr.domain.forward(torch.as_tensor(series)).shape[1:]
    assert len(attr.dims) == attr.values.ndim - 1


@pytest.mark.parametrize("key", LINEAR)
def test_time_pass_equals_coefficient_pass(key, smooth_cnn, series):
    """Two independent integrals: in time + one VJP, and in the coefficients themselves."""
    # the two agree for any rule and step count; 16 steps keep the test fast
    shared = cdig.CrossDomainIG(smooth_cnn, _fresh(key)).explain(series, target=2, n_steps=16)
    own = cdig.CrossDomainIG(smooth_cnn, _fresh(key), linear_shortcut=False).explain(
        series, target=2, n_steps=16
    )
    assert shared.settings.pass_kind == "time"
    assert own.settings.pass_kind == "coefficients"
    scale = np.abs(own.values).max()
    np.testing.assert_allclose(shared.values, own.values, rtol=0, atol=1e-10 * scale)


@needs_pywt
def test_explain_many_domains_at_once(smooth_cnn, series):
    names = ["time", "fourier", "stft", "dct", "wavelet"]
    res = cdig.explain(smooth_cnn, series, domain=names, fs=FS, target=1, n_steps=64)
    assert list(res) == names
    for name, attr in res.items():
        diff = np.abs(attr.outputs - attr.baseline_outputs)
        assert np.all(np.abs(attr.delta) <= 1e-6 * np.maximum(1.0, diff)), name
        assert attr.settings.pass_kind == "time"
        np.testing.assert_allclose(attr.outputs, res["time"].outputs)
    assert res["stft"].dims == ("channel", "frequency", "time")
    assert res["stft"].units == {"frequency": "Hz", "time": "s"}
    assert res["dct"].dims == ("channel", "frequency")
    assert res["wavelet"].dims == ("channel", "coefficient")
    assert sorted(res["stft"].settings.shared_with) == ["dct", "fourier", "time", "wavelet"]


def test_names_are_registered():
    for name in ["stft", "wavelet", "dct", "cepstrum", "custom", "linear_basis"]:
        assert name in available_domains()
    dom = get_domain("stft", fs=100.0)
    assert isinstance(dom, STFT) and dom.fs == 100.0
    assert isinstance(get_domain("wavelet", fs=8.0), Wavelet)
    assert isinstance(get_domain("cepstrum"), Cepstrum)
    # the constructor's parameters are read once per class: later calls pass them the same
    for _ in range(2):
        assert get_domain("stft", fs=50.0).fs == 50.0
        assert get_domain("pca", fs=50.0).n_components is None  # no fs: not passed


# ---------------------------------------------------------------------- aggregated views
def test_bands_keep_completeness_on_stft_and_dct(smooth_cnn, series):
    res = cdig.explain(smooth_cnn, series, domain=["stft", "dct"], fs=FS, target=0)
    for name, attr in res.items():
        banded = attr.bands({"low": (0.0, 4.0), "mid": (4.0, 8.0)})
        assert "band" in banded.dims and "frequency" not in banded.dims
        np.testing.assert_allclose(banded.total, attr.total, rtol=1e-12, atol=1e-14)
        diff = attr.outputs - attr.baseline_outputs
        np.testing.assert_allclose(banded.total, diff, rtol=1e-6, atol=1e-6)
        assert banded.coords["band"].tolist() == ["low", "mid", "other"], name


@needs_pywt
def test_wavelet_group_by_band(smooth_cnn, series):
    attr = cdig.explain(smooth_cnn, series, domain=Wavelet("db2", level=4, fs=FS), target=0)
    grouped = attr.group_by("band")
    assert grouped.dims == ("channel", "band")
    assert grouped.coords["band"].tolist() == ["cA4", "cD4", "cD3", "cD2", "cD1"]
    assert grouped.values.shape == (4, 2, 5)
    np.testing.assert_allclose(grouped.total, attr.total, rtol=1e-12, atol=1e-14)
    diff = attr.outputs - attr.baseline_outputs
    np.testing.assert_allclose(grouped.total, diff, rtol=1e-6, atol=1e-6)
    cd2 = attr.coords["band"] == "cD2"
    np.testing.assert_allclose(grouped.values[..., 3], attr.values[..., cd2].sum(-1))


# ---------------------------------------------------------------------- coordinates
def _sine(f: float, fs: float, n: int, phase: float = 0.3) -> torch.Tensor:
    t = np.arange(n) / fs
    return torch.as_tensor(np.sin(2 * np.pi * f * t + phase))[None, None]


def _cosine_dct_phase(f: float, fs: float, n: int) -> torch.Tensor:
    """cos(2 pi f (t + 1/(2 fs))): the phase of the DCT-II basis (cosines even about -1/2)."""
    t = (np.arange(n) + 0.5) / fs
    return torch.as_tensor(np.cos(2 * np.pi * f * t))[None, None]


def _peak_frequency(dom, x: torch.Tensor) -> float:
    X = dom.fit(x).forward(x)[0, 0].abs().numpy()  # (F,) or (F, M)
    k = np.unravel_index(np.argmax(X), X.shape)[0]
    return float(dom.coords["frequency"][k])


@pytest.mark.parametrize("f", [2.0, 5.0, 11.0])
def test_sinusoid_peaks_at_its_frequency(f):
    x = _sine(f, FS, 96)  # f is on a Fourier bin of both transforms; any phase
    assert _peak_frequency(Fourier(fs=FS), x) == pytest.approx(f)
    assert _peak_frequency(STFT(n_fft=32, hop_length=8, fs=FS), x) == pytest.approx(f)
    # DCT: exact for a cosine in the DCT's phase; within one DCT bin for any other phase
    assert _peak_frequency(DCT(fs=FS), _cosine_dct_phase(f, FS, 96)) == pytest.approx(f)
    assert abs(_peak_frequency(DCT(fs=FS), x) - f) <= FS / (2 * 96) + 1e-12


@needs_pywt
@pytest.mark.parametrize("f", [3.0, 6.0, 12.0, 24.0])
def test_wavelet_sinusoid_lands_in_its_band(f):
    fs = 64.0
    x = _sine(f, fs, 256)
    dom = Wavelet("db8", level=4, fs=fs).fit(x)
    X = dom.forward(x)[0, 0].numpy()
    c = dom.coords
    inside = (c["band_low"] <= f) & (f <= c["band_high"])
    assert len(set(c["band"][inside])) == 1
    assert inside[np.argmax(np.abs(X))]
    energy = {b: np.sum(X[c["band"] == b] ** 2) for b in np.unique(c["band"])}
    assert max(energy, key=energy.__getitem__) == c["band"][inside][0]


@needs_pywt
def test_wavelet_coords():
    dom = Wavelet("db4", level=3, fs=100.0).fit(torch.zeros(1, 1, 100))
    c = dom.coords
    # 100 -> 50 -> 25 -> 13 per level (odd lengths are extended by one sample)
    assert [int(np.sum(c["band"] == b)) for b in ["cA3", "cD3", "cD2", "cD1"]] == [13, 13, 25, 50]
    assert c["band"][0] == "cA3" and c["band"][-1] == "cD1"
    assert set(c["level"][c["band"] == "cD2"]) == {2}
    d1 = c["band"] == "cD1"
    assert set(c["band_low"][d1]) == {25.0} and set(c["band_high"][d1]) == {50.0}
    a3 = c["band"] == "cA3"
    assert set(c["band_low"][a3]) == {0.0} and set(c["band_high"][a3]) == {6.25}
    np.testing.assert_allclose(c["time"][d1][:3], [0.005, 0.025, 0.045])  # 2k + 0.5 samples
    assert np.all(c["time"] <= 0.99)
    assert dom.units["band_low"] == "Hz" and dom.units["time"] == "s"
    assert Wavelet("db4").fit(torch.zeros(1, 1, 64)).units["band_high"] == "cycles/sample"


def test_stft_coords_and_shape():
    dom = STFT(n_fft=16, hop_length=4, fs=8.0).fit(torch.zeros(2, 3, 50))
    c = dom.coords
    np.testing.assert_allclose(c["frequency"], np.arange(9) * 0.5)
    # frames centred at 0, 4, ..., up to the first centre at or past the last sample (49)
    np.testing.assert_allclose(c["time"], np.arange(14) * 4 / 8.0)
    assert dom.forward(torch.zeros(2, 3, 50)).shape == (2, 3, 9, 14)
    two = STFT(n_fft=8, hop_length=2, onesided=False).fit(torch.zeros(1, 1, 20))
    np.testing.assert_allclose(two.coords["frequency"], [0, 1, 2, 3, -4, -3, -2, -1])
    assert two.units == {"frequency": "bin", "time": "sample"}


def test_dct_and_cepstrum_coords():
    dct_c = DCT(fs=10.0).fit(torch.zeros(1, 1, 20)).coords["frequency"]
    np.testing.assert_allclose(dct_c, np.arange(20) * 10.0 / 40)
    q = Cepstrum(fs=4.0).fit(torch.ones(1, 1, 8)).coords["quefrency"]
    np.testing.assert_allclose(q, [0, 0.25, 0.5, 0.75, -1.0, -0.75, -0.5, -0.25])


# ---------------------------------------------------------------------- independent references
@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym7", "coif3", "bior3.5", "rbio2.4", "dmey"])
@pytest.mark.parametrize("n_times", [128, 131, 250])
def test_wavelet_matches_pywavelets(wavelet, n_times):
    pywt = pytest.importorskip("pywt")
    x = np.random.default_rng(n_times).normal(size=(2, 2, n_times))
    dom = Wavelet(wavelet).fit(torch.as_tensor(x))
    ours = dom.forward(torch.as_tensor(x)).numpy()
    coeffs = pywt.wavedec(x, wavelet, mode="periodization", level=dom.level_)
    np.testing.assert_allclose(ours, np.concatenate(coeffs, axis=-1), rtol=0, atol=1e-12)
    assert dom.check_invertible(torch.as_tensor(x)) < 1e-12  # exact, dmey included
    if wavelet != "dmey":  # dmey's tabulated filters do not reconstruct exactly in pywt
        back = pywt.waverec(coeffs, wavelet, mode="periodization")[..., :n_times]
        rec = dom.inverse(torch.as_tensor(np.concatenate(coeffs, axis=-1))).numpy()
        np.testing.assert_allclose(rec, back, rtol=0, atol=1e-9)


@needs_pywt
def test_wavelet_default_level_is_pywavelets_max():
    pywt = pytest.importorskip("pywt")
    dom = Wavelet("db4").fit(torch.zeros(1, 1, 96))
    assert dom.level_ == pywt.dwt_max_level(96, 8) == 3


def test_dct_matches_scipy():
    for n in [1, 2, 7, 96, 101]:
        x = np.random.default_rng(n).normal(size=(2, 3, n))
        dom = DCT().fit(torch.as_tensor(x))
        np.testing.assert_allclose(
            dom.forward(torch.as_tensor(x)).numpy(), scipy.fft.dct(x, norm="ortho"), atol=1e-12
        )
        np.testing.assert_allclose(
            dom.inverse(torch.as_tensor(x)).numpy(), scipy.fft.idct(x, norm="ortho"), atol=1e-12
        )


@pytest.mark.parametrize("onesided", [True, False])
def test_stft_matches_torch_stft(onesided):
    x = torch.as_tensor(np.random.default_rng(5).normal(size=(2, 3, 96)))
    dom = STFT(n_fft=32, hop_length=8, onesided=onesided).fit(x)
    w = torch.hann_window(32, periodic=True, dtype=torch.float64)
    ref = torch.stft(
        x.reshape(6, 96), 32, 8, window=w, center=True, pad_mode="constant",
        onesided=onesided, return_complex=True,
    ).reshape(2, 3, -1, 13)  # fmt: skip
    torch.testing.assert_close(dom.forward(x), ref, rtol=0, atol=1e-12)
    back = torch.istft(
        ref.reshape(6, *ref.shape[2:]), 32, 8, window=w, center=True, onesided=onesided,
        length=96, return_complex=not onesided,
    )  # fmt: skip
    torch.testing.assert_close(dom.inverse(ref), back.real.reshape(2, 3, 96), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("window", "n_fft", "hop"),
    [
        ("hann", 64, 16),
        ("hann", 64, 64),
        ("hamming", 32, 32),
        ("boxcar", 8, 8),
        ("bartlett", 16, 16),
        (("tukey", 0.5), 20, 7),
        ("blackman", 16, 15),
    ],
)
def test_check_nola_agrees_with_scipy(window, n_fft, hop):
    expected = scipy.signal.check_NOLA(window, n_fft, n_fft - hop)
    assert check_nola(window, n_fft, hop) == expected
    assert check_nola(window, n_fft, hop, n_times=200) == expected


def test_check_nola_gap():
    assert not check_nola("boxcar", 8, 12)
    assert check_nola("boxcar", 8, 8, n_times=50)


def test_cepstrum_of_minimum_phase_closed_form():
    """x = delta - a delta(n-1): complex cepstrum -a**n / n for n >= 1, zero elsewhere."""
    a, n = 0.5, 64
    x = torch.zeros(1, 1, n, dtype=torch.float64)
    x[..., 0], x[..., 1] = 1.0, -a
    dom = Cepstrum(eps=0.0).fit(x)
    c = dom.forward(x)[0, 0].numpy()
    k = np.arange(1, n // 2)
    np.testing.assert_allclose(c[1 : n // 2], -(a**k) / k, atol=1e-15)
    np.testing.assert_allclose(c[0], 0.0, atol=1e-15)
    np.testing.assert_allclose(c[n // 2 :], 0.0, atol=1e-9)  # circular aliasing ~ a**n


def test_cepstrum_turns_convolution_into_sum():
    n = 64
    rng = np.random.default_rng(2)
    h = np.zeros(n)
    h[:3] = [1.0, 0.6, 0.2]  # minimum phase
    s = rng.normal(size=n) + 3.0
    y = np.real(np.fft.ifft(np.fft.fft(s) * np.fft.fft(h)))  # circular convolution
    batch = torch.as_tensor(np.stack([s, h, y])[:, None])
    c = Cepstrum(eps=0.0).fit(batch).forward(batch)[:, 0].numpy()
    np.testing.assert_allclose(c[2], c[0] + c[1], atol=1e-10)


def test_cepstrum_handles_negative_mean_and_delay():
    x = torch.as_tensor(np.random.default_rng(4).normal(size=(3, 1, 48)))
    x = torch.roll(x - 2.0, shifts=7, dims=-1)
    dom = Cepstrum().fit(x)
    assert bool(dom.sign_.all())
    torch.testing.assert_close(dom.inverse(dom.forward(x)), x, rtol=0, atol=1e-12)


def test_cepstrum_warns_for_unreachable_baseline(smooth_cnn, series):
    x = np.abs(series) + 0.1  # positive mean
    with pytest.warns(UserWarning, match="baseline cannot be reproduced exactly") as rec:
        attr = cdig.explain(smooth_cnn, x, domain="cepstrum", baselines=-1.0, target=0, n_steps=64)
    ours = [w for w in rec if "reproduced exactly" in str(w.message)]
    assert ours and all(w.filename == __file__ for w in ours)  # the user's line, not cdig's
    diff = np.abs(attr.outputs - attr.baseline_outputs)
    assert np.all(np.abs(attr.delta) <= 1e-6 * np.maximum(1.0, diff))


# ---------------------------------------------------------------------- custom domains
def test_custom_nonlinear_uses_coefficient_pass(smooth_cnn, series):
    attr = cdig.explain(smooth_cnn, series, domain=Custom(torch.sinh, torch.asinh), target=0)
    assert attr.settings.pass_kind == "coefficients"
    assert attr.dims == ("channel", "coefficient")


def test_custom_dims_and_coords():
    dom = Custom(
        lambda x: x.reshape(len(x), -1),
        lambda X: X.reshape(len(X), 2, 10),
        dims=["flat"],
        coords={"flat": np.arange(20) * 0.5, "label": np.repeat(["a", "b"], 10)},
        units={"flat": "s"},
    ).fit(torch.zeros(3, 2, 10))
    assert dom.dims == ("flat",)
    np.testing.assert_allclose(dom.coords["flat"], np.arange(20) * 0.5)
    assert dom.units == {"flat": "s"}


def test_linear_basis_attributes_basis_vectors(smooth_cnn, series):
    """With an orthogonal basis, attributions equal projections of the time gradient."""
    Q = _orthogonal(96)
    attr = cdig.explain(smooth_cnn, series, domain=LinearBasis(Q), target=0, n_steps=64)
    time = cdig.explain(smooth_cnn, series, domain="time", target=0, n_steps=64)
    np.testing.assert_allclose(attr.total, time.total, rtol=1e-10)
    assert attr.dims == ("channel", "basis")
    ident = cdig.explain(smooth_cnn, series, domain=LinearBasis(np.eye(96)), target=0, n_steps=64)
    np.testing.assert_allclose(ident.values, time.values, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- clear errors
X96 = torch.zeros(2, 1, 96)


@pytest.mark.parametrize(
    ("dom", "match"),
    [
        (STFT(n_fft=128), r"n_fft=128 is longer than the series \(n_times=96\)"),
        (STFT(n_fft=8, hop_length=12, window="boxcar"), r"n_fft=8, hop_length=12.*NOLA"),
        (STFT(n_fft=16, hop_length=16, window="hann"), r"not invertible.*hop_length"),
        (STFT(n_fft=16, window="nonsense"), r"window='nonsense' is not a known window"),
        (STFT(n_fft=16, window=np.ones(15)), r"window has shape \(15,\) but n_fft=16"),
        (STFT(n_fft=0), r"n_fft=0 must be a positive integer"),
        (STFT(hop_length=0), r"hop_length=0 must be a positive integer"),
        pytest.param(Wavelet("db4", level=5), r"level=5 .* max level is 3", marks=needs_pywt),
        pytest.param(Wavelet("db4", level=0), r"max level is 3", marks=needs_pywt),
        pytest.param(
            Wavelet("db99"), r"wavelet='db99' is not a wavelet PyWavelets knows", marks=needs_pywt
        ),
        pytest.param(Wavelet("morl"), r"'morl' is a continuous wavelet", marks=needs_pywt),
        pytest.param(Wavelet("cmor1.5-1.0"), r"continuous wavelet", marks=needs_pywt),
        pytest.param(
            Wavelet("dmey"), r"too short for wavelet='dmey'.*at least 122 samples", marks=needs_pywt
        ),
        (Cepstrum(eps=-1.0), r"eps=-1.0 must be a finite number >= 0"),
        (LinearBasis(np.ones((96, 96))), r"condition number"),
        (LinearBasis(np.diag([1.0] * 95 + [1e-14])), r"condition number 1e\+14 > max_condition"),
        (LinearBasis(np.eye(50)), r"shape \(50, 50\) but the series have 96 samples"),
        (get_domain("custom"), r"domain='custom' needs your transform.*Custom\(forward, inverse\)"),
        (get_domain("linear_basis"), r"LinearBasis\(matrix\)"),
    ],
)
def test_bad_settings_raise_clear_errors(dom, match):
    with pytest.raises(ValueError, match=match):
        dom.clone().fit(X96)


def test_bad_settings_raise_before_integration(smooth_cnn, series):
    calls = []

    def model(x):
        calls.append(1)
        return smooth_cnn(x)

    with pytest.raises(ValueError, match="n_fft=512 is longer"):
        cdig.explain(model, series, domain=STFT(n_fft=512))
    if HAS_PYWT:
        with pytest.raises(ValueError, match="max level is 3"):
            cdig.explain(model, series, domain=Wavelet(level=9))
    assert calls == []


def test_custom_not_invertible_reports_error():
    dom = Custom(lambda x: x, lambda X: 1.01 * X)
    with pytest.raises(
        ValueError, match=r"does not reconstruct its input: relative reconstruction error 0\.0"
    ):
        dom.fit(torch.ones(2, 1, 16))


def test_custom_false_linear_claim_is_caught():
    dom = Custom(torch.sinh, torch.asinh, linear=True)
    with pytest.raises(ValueError, match="linear=True but inverse is not affine"):
        dom.fit(torch.randn(2, 1, 16, dtype=torch.float64))


def test_custom_bad_shapes():
    with pytest.raises(ValueError, match="inverse must return a tensor of the input's shape"):
        Custom(lambda x: x, lambda X: X[..., :-1]).fit(torch.ones(2, 1, 16))
    with pytest.raises(ValueError, match=r"dims=\['a'\] must name each of the 2"):
        Custom(lambda x: x, lambda X: X, dims=["a"]).fit(torch.ones(2, 1, 16))
    with pytest.raises(ValueError, match=r"coords\['coefficient'\] has shape \(3,\)"):
        Custom(lambda x: x, lambda X: X, coords={"coefficient": [1, 2, 3]}).fit(
            torch.ones(2, 1, 16)
        )


def test_cepstrum_eps_zero_rejects_zero_bins(smooth_cnn):
    x = torch.zeros(1, 1, 16, dtype=torch.float64)
    x[..., ::2] = 1.0  # spectrum zero except at DC and Nyquist
    with pytest.raises(ValueError, match=r"Cepstrum\(eps=0\).*bin 1 .*exactly zero.*eps > 0"):
        Cepstrum(eps=0.0).fit(x)
    y = torch.as_tensor(np.random.default_rng(0).normal(size=(1, 2, 96)))
    with pytest.raises(ValueError, match=r"Cepstrum\(eps=0\) cannot take the log"):
        cdig.explain(smooth_cnn, y, domain=Cepstrum(eps=0.0), target=0)  # zeros baseline


def test_cepstrum_needs_index_for_other_rows():
    dom = Cepstrum().fit(torch.randn(3, 1, 16))
    with pytest.raises(ValueError, match="fitted on 3 samples but got 2 rows"):
        dom.forward(torch.randn(2, 1, 16))


@pytest.mark.parametrize("make", [Cepstrum, cdig.domains.PCA], ids=["cepstrum", "pca"])
def test_per_sample_index_out_of_range_is_a_clear_error(make):
    """Every per-sample domain checks ``index`` the same way (the cepstrum raised IndexError)."""
    x = torch.randn(4, 2, 16, dtype=torch.float64)
    dom = make().fit(x)
    with pytest.raises(ValueError, match=r"index must lie in \[0, 4\).*from 0 to 5"):
        dom.forward(x[:2], torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="index has 1 entries for 2 rows"):
        dom.forward(x[:2], torch.tensor([1]))
    rows = torch.tensor([3, 1])
    np.testing.assert_allclose(dom.forward(x[rows], rows), dom.forward(x)[rows], atol=1e-12)


def test_get_params_follows_init_and_drives_clone_and_repr():
    dom = STFT(n_fft=16, hop_length=4, fs=FS)
    assert dom.get_params() == {
        "n_fft": 16, "hop_length": 4, "window": "hann", "fs": FS, "onesided": True,
    }  # fmt: skip
    fitted = dom.clone().fit(torch.randn(2, 1, 64))
    copy = fitted.clone()
    assert not copy.is_fitted and copy is not fitted and type(copy) is STFT
    assert copy.get_params() == dom.get_params() and repr(copy) == repr(dom)
    assert repr(dom) == "STFT(n_fft=16, hop_length=4, window='hann', fs=32.0, onesided=True)"
    double, half = (lambda x: 2 * x), (lambda X: X / 2)
    custom = Custom(double, half, linear=True, dims=("coefficient",))
    params = custom.get_params()
    assert params["forward"] is double and params["inverse"] is half and params["linear"]
    assert params["dims"] == ("coefficient",) and custom.clone().get_params() == params


def test_get_params_refuses_a_parameter_not_stored():
    class Scaled(cdig.domains.Time):
        def __init__(self, scale: float = 2.0) -> None:
            self._scale = scale

    with pytest.raises(AttributeError, match=r"takes 'scale' but does not store it as self\.scale"):
        Scaled().clone()
