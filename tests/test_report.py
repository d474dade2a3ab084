"""The HTML report: content, self-containment, and a real render in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

import cdig
from cdig.attribution import Attribution
from cdig.report import describe_coefficient, render_report, write_report

from .conftest import SmoothCNN

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.image as mimage  # noqa: E402

FS = 32.0
N = 128
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


def linear_model(weights: np.ndarray) -> torch.nn.Module:
    lin = torch.nn.Linear(weights.size // 2, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weights.reshape(2, -1)))
    return torch.nn.Sequential(torch.nn.Flatten(), lin)


@pytest.fixture(scope="module")
def case():
    """Output 0 reads a 4 Hz cosine, output 1 a 2 Hz one; sample 0 is a 4 Hz cosine."""
    t = np.arange(N) / FS
    w = np.stack([np.cos(2 * np.pi * 4.0 * t), np.cos(2 * np.pi * 2.0 * t)]) / N
    x = np.stack([np.cos(2 * np.pi * 4.0 * t), 0.5 + np.cos(2 * np.pi * 2.0 * t)])[:, None]
    model = linear_model(w)
    # output 0 does not see sample 1 (orthogonal tones): its f(x) - f(x') is a rounding
    # error, which the call names instead of certifying
    with pytest.warns(cdig.ConvergenceWarning, match=r"samples \[1\] .* rounding level"):
        res = cdig.explain(model, x, ["time", "fourier"], target=0, fs=FS)
    with torch.no_grad():
        outputs = model(torch.as_tensor(x)).numpy()
    return res, x, outputs


class Resources(HTMLParser):
    """Collects tags and every attribute that can load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action", "background"):
                self.refs.append((tag, name, value or ""))
            if tag == "img" and name == "src":
                self.images.append(value or "")


def parse(text: str) -> Resources:
    p = Resources()
    p.feed(text)
    return p


def decode_png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return mimage.imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")


# ---------------------------------------------------------------------- content
def test_report_lists_prediction_completeness_settings_and_top_coefficients(case):
    res, x, outputs = case
    text = render_report(
        res, x, samples=[0, 1], settings={"model": "m.pt2"}, model_outputs=outputs, top=3
    )
    f = res["fourier"]
    for s in (0, 1):
        assert f"f(x) = {float(f.outputs[s]):.6g}" in text
        assert f"{float(f.outputs[s] - f.baseline_outputs[s]):.6g}" in text
        assert f"{float(f.delta[s]):.2e}" in text
        assert f"all model outputs: [{outputs[s, 0]:.4g}, {outputs[s, 1]:.4g}]" in text
    assert "<th>model</th><td>m.pt2</td>" in text
    assert "<th>method</th><td>adaptive</td>" in text
    # a linear model: exact on the first mesh, accepted on its second level (33 points)
    # issue 27: every sample spent 33, which reads "33", not "33 to 33"
    assert "<th>n_steps</th><td>auto (adaptive; 33 model evaluations per sample)" in text
    # sample 1 has no 4 Hz: f(x) - f(x') is rounding, which no tolerance can certify; it is
    # named in a banner (by reason), in the batch table, and its top table is flagged
    assert list(f.status) == list(res["time"].status) == ["converged", "floor"]
    assert "<th>not converged</th>" in text and text.count(">1 (floor: 1)</td>") == 2
    banner = text.split("<div class='banner' role='alert'>")
    assert len(banner) == 3  # the page's banner and sample 1's
    assert "Not certified (floor)</b> &mdash; time: samples 1; fourier: samples 1" in banner[1]
    section0, section1 = text.split("<h2>Sample 1</h2>")
    assert "class='flagged'" not in section0.split("<h2>Sample 0</h2>")[1]
    assert section1.count("<table class='flagged'><caption>Not certified (floor)") == 2
    assert f"<td class='num'>{f.error[0]:.2e}</td>" in text
    # sample 0 is the 4 Hz cosine that output 0 reads: the top Fourier coefficient is 4 Hz
    first_row = text.split("<h3>fourier")[1].split("<tr>")[2]  # after the header row
    assert "<td>channel 0, 4.0 Hz</td>" in first_row and "class='num pos'" in first_row
    top_row = f.top(1, sample=0)[0]
    assert top_row["frequency"] == 4.0
    assert f"{top_row['value']:+.4g}" in text
    assert text.count("<h2>Sample ") == 2
    assert text.count("<img ") == 4  # 2 samples x 2 domains


def test_report_lists_each_setting_once(case):
    # issue 27: the command line's "fs (Hz)" and the result's own "fs" were both listed
    res, x, _ = case
    text = render_report(res, x, settings={"fs (Hz)": FS, "model": "m.pt2"})
    table = text.split("<h2>Settings</h2>")[1].split("</table>")[0]
    names = re.findall(r"<tr><th>([^<]+)</th><td>", table)
    assert names.count("fs (Hz)") == 1 and "fs" not in names
    assert len(names) == len(set(names))
    plain = render_report(res, x)  # without the extra row, the result's own fs shows
    assert f"<th>fs</th><td>{FS:.6g}</td>" in plain
    # samples that spent different budgets read as a range
    scaled = x * np.array([[[0.01]], [[3.0]]])  # nearly linear, and saturated
    # the nearly linear one sums a cosine to a rounding error: named, not certified
    with pytest.warns(cdig.ConvergenceWarning, match=r"samples \[0\] .* rounding level"):
        many = cdig.explain(lambda t: torch.tanh(5 * t).sum(dim=(1, 2)), scaled)
    assert many.n_evaluations[0] != many.n_evaluations[1]
    lo, hi = sorted(int(n) for n in many.n_evaluations)
    assert f"auto (adaptive; {lo} to {hi} model evaluations per sample)" in render_report(many, x)


def test_report_is_self_contained_and_its_images_decode(case, tmp_path):
    res, x, _ = case
    path = write_report(tmp_path / "sub" / "r.html", res, x)
    text = path.read_text(encoding="utf-8")
    page = parse(text)
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    bad = [r for r in page.refs if not r[2].startswith(("data:", "#"))]
    assert bad == []
    assert "@import" not in text and "url(" not in text
    assert len(page.images) == 2
    for uri in page.images:
        img = decode_png(uri)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 200
        assert float(img[..., :3].std()) > 0.05  # not a blank canvas


def test_report_accepts_one_attribution_and_escapes_text(case):
    res, x, _ = case
    text = render_report(res["fourier"], x[0], title="<b>x & y</b>", settings={"k": "<i>"})
    assert "<title>&lt;b&gt;x &amp; y&lt;/b&gt;</title>" in text
    assert "<td>&lt;i&gt;</td>" in text
    assert "<h3>fourier" in text


def test_report_rejects_bad_arguments(case):
    res, x, _ = case
    with pytest.raises(ValueError, match="samples contains 5"):
        render_report(res, x, samples=[5])
    with pytest.raises(ValueError, match="samples is empty"):
        render_report(res, x, samples=[])
    with pytest.raises(TypeError, match="Attribution"):
        render_report({"a": np.zeros(3)}, x)
    with pytest.raises(TypeError, match="results must be"):
        render_report([res["time"]], x)
    with pytest.raises(ValueError, match="top=-1"):
        render_report(res, x, top=-1)
    one = cdig.explain(linear_model(np.concatenate([x[0], x[0]])), x[:1], "time", target=0)
    with pytest.raises(ValueError, match="same inputs"):
        render_report({"a": res["time"], "b": one}, x)


# ---------------------------------------------------------------------- meanings
def fake(values, dims, coords, units):
    v = np.asarray(values, dtype=float)
    z = np.zeros(v.shape[0])
    labels = {k: ("coefficient",) for k in coords if k not in dims}  # the wavelet's labels
    return Attribution(v, z, dims, coords, units, z, z, z.astype(int), coord_dims=labels)


def test_describe_coefficient_for_each_family():
    stft = fake(
        np.zeros((1, 1, 3, 2)),
        ("channel", "frequency", "time"),
        {"frequency": np.array([0.0, 4.0, 8.0]), "time": np.array([0.0, 1.5])},
        {"frequency": "Hz", "time": "s"},
    )
    assert describe_coefficient(stft, {"channel": 0, "frequency": 4.0, "time": 1.5}) == (
        "channel 0, 4.0 Hz, 1.5 s"
    )
    wav = fake(
        np.zeros((1, 1, 4)),
        ("channel", "coefficient"),
        {
            "coefficient": np.arange(4),
            "band": np.array(["cA1", "cA1", "cD1", "cD1"]),
            "level": np.array([1, 1, 1, 1]),
            "band_low": np.array([0.0, 0.0, 8.0, 8.0]),
            "band_high": np.array([8.0, 8.0, 16.0, 16.0]),
            "time": np.array([0.5, 1.5] * 2),
        },
        {"time": "s", "band_low": "Hz", "band_high": "Hz"},
    )
    assert describe_coefficient(wav, {"channel": 0, "coefficient": 3}) == (
        "channel 0, coefficient 3 (band cD1 [8–16 Hz], time 1.5 s)"
    )
    plain = fake(
        np.zeros((1, 1, 4)),
        ("channel", "coefficient"),
        {"band": np.array(["cA1", "cA1", "cD1", "cD1"]), "time": np.array([0.5, 1.5] * 2)},
        {"time": "s"},
    )
    assert describe_coefficient(plain, {"channel": 0, "coefficient": 2}) == (
        "channel 0, coefficient 2 (band cD1, time 0.5 s)"
    )
    bins = fake(
        np.zeros((1, 1, 3)),
        ("channel", "frequency"),
        {"frequency": np.arange(3.0)},
        {"frequency": "bin"},
    )
    assert describe_coefficient(bins, {"channel": 1, "frequency": 2.0}) == (
        "channel 1, frequency bin 2"
    )
    ica = fake(
        np.zeros((1, 2, 1)), ("component", "channel"), {"component": np.array(["IC0", "IC1"])}, {}
    )
    assert describe_coefficient(ica, {"component": "IC1", "channel": 0}) == "IC1, channel 0"
    stl = fake(
        np.zeros((1, 1, 2)),
        ("channel", "component"),
        {"component": np.array(["trend", "seasonal"])},
        {},
    )
    assert describe_coefficient(stl, {"channel": 0, "component": "trend"}) == "channel 0, trend"


# ---------------------------------------------------------------------- headless Chromium
def _chromium(url: str, tmp: Path, name: str, size: str = "1100,2600") -> tuple[Path, Path]:
    shot, netlog = tmp / f"{name}.png", tmp / f"{name}.netlog.json"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp / (name + '-profile')}",
        f"--log-net-log={netlog}", f"--screenshot={shot}", f"--window-size={size}", url,
    ]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    if not shot.is_file():
        pytest.fail(f"chromium wrote no screenshot for {url}")
    return shot, netlog


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked the network for.

    Chromium's own background traffic (update checks, account lookups) has no page in its
    network isolation key; requests made by a file:// page carry ``file://`` there.
    """
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for e in log["events"]:
        p = e.get("params", {})
        if e["type"] == start and "file://" in str(p.get("network_isolation_key", "")):
            urls.append(p.get("url", ""))
    return urls


def saturated(img: np.ndarray) -> int:
    """Number of clearly coloured (not white, grey or black) pixels."""
    rgb = img[..., :3]
    return int((rgb.max(axis=-1) - rgb.min(axis=-1) > 0.25).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium_without_network(case, tmp_path):
    res, x, outputs = case
    path = write_report(tmp_path / "report.html", res, x, model_outputs=outputs)
    shot, netlog = _chromium(path.as_uri(), tmp_path, "report")
    img = mimage.imread(shot)
    assert img.shape[0] == 2600 and img.shape[1] == 1100
    assert float(img[..., :3].std()) > 0.05  # not blank
    # the figures were drawn: compare with the same page whose image sources are removed
    # (browsers sniff image bytes, so the data itself must go, not only its MIME type)
    bare_html = re.sub(r"src='data:image/png;base64,[^']*'", "src=''", path.read_text())
    assert "base64" not in bare_html
    (tmp_path / "bare.html").write_text(bare_html)
    bare, bare_log = _chromium((tmp_path / "bare.html").as_uri(), tmp_path, "bare")
    coloured, coloured_bare = saturated(img), saturated(mimage.imread(bare))
    # (the bare page keeps its coloured banner and flagged cells: the figures must add to them)
    assert coloured - coloured_bare > 5000
    assert page_requests(netlog) == []
    assert page_requests(bare_log) == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_network_check_sees_an_external_image(tmp_path):
    """Control for the check above: a page with an external image is caught."""
    page = tmp_path / "ext.html"
    page.write_text('<html><body><img src="http://cdig-test.invalid/x.png"></body></html>')
    _, netlog = _chromium(page.as_uri(), tmp_path, "ext", size="300,200")
    assert page_requests(netlog) == ["http://cdig-test.invalid/x.png"]


# ---------------------------------------------------------------------- the explained class
def _net() -> torch.nn.Module:
    return SmoothCNN(channels=1, n_out=3, width=4)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    t = np.arange(128) / 16.0
    return np.sin(2 * np.pi * 2 * t) + 0.3 * np.random.default_rng(0).normal(size=(2, 1, 128))


def test_report_names_the_class_per_sample(x):
    from cdig.report import render_report

    attr = cdig.explain(_net(), x, "fourier", target="predicted", fs=16.0, n_steps=16)
    html = render_report({"fourier": attr}, x, samples=[0, 1])
    for s in range(2):
        assert f"explained: class {int(attr.target_index[s])} (predicted)" in html
