"""cdig.attribution: the result object's views (top(), bands()) against the values they read."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import cdig
from cdig.report import describe_coefficient

from .conftest import same_result


# ---------------------------------------------------------------------- top() and bands()
def _model(t: torch.Tensor) -> torch.Tensor:
    return torch.tanh(t).sum(dim=(1, 2)) + t[..., ::2].sum(dim=(1, 2))


def test_top_of_wavelet_gives_band_and_time():
    pytest.importorskip("pywt")
    x = np.random.default_rng(0).normal(size=(1, 1, 128))
    attr = cdig.explain(_model, x, "wavelet", fs=10.0)
    rows = attr.top(5)
    for row in rows:
        i = row["coefficient"]
        assert row["band"] == attr.coords["band"][i]
        assert row["time"] == pytest.approx(attr.coords["time"][i])
        assert row["band_low"] == attr.coords["band_low"][i]
        assert row["value"] == attr.values[0, row["channel"], i]
        text = describe_coefficient(attr, row)
        assert f"band {row['band']}" in text and "time" in text and " s" in text
    # sorted by |value|
    assert [abs(r["value"]) for r in rows] == sorted((abs(r["value"]) for r in rows), reverse=True)


def test_top_coordinates_have_no_float_noise():
    freq = np.arange(5) * 0.1 * 6 / 6 * 3  # 0.30000000000000004 among them
    assert any(len(repr(float(f))) > 8 for f in freq)
    attr = cdig.Attribution(
        values=np.arange(5.0)[None, None, :],
        delta=np.zeros(1),
        dims=("channel", "frequency"),
        coords={"channel": np.arange(1), "frequency": freq},
        units={"frequency": "Hz"},
        outputs=np.zeros(1),
        baseline_outputs=np.zeros(1),
        n_steps=np.ones(1, dtype=np.int64),
    )
    got = [r["frequency"] for r in attr.top(5)]
    assert got == [1.2, 0.9, 0.6, 0.3, 0.0]
    assert all(len(repr(g)) <= 4 for g in got)


def test_top_band_includes_the_nyquist_bin():
    x = np.random.default_rng(1).normal(size=(2, 1, 64))
    attr = cdig.explain(_model, x, "fourier", fs=32.0)
    assert attr.coords["frequency"][-1] == 16.0  # the Nyquist bin
    banded = attr.bands({"low": (0, 8), "high": (8, 16)})
    assert list(banded.coords["band"]) == ["low", "high"]  # no "other"
    np.testing.assert_allclose(banded.values.sum(axis=(1, 2)), attr.total, rtol=1e-12)
    np.testing.assert_allclose(
        banded.values[:, 0, 1], attr.values[:, 0, attr.coords["frequency"] >= 8].sum(axis=1)
    )
    # lower bands stay half-open: 8 Hz is in "high", not in "low"
    np.testing.assert_allclose(
        banded.values[:, 0, 0], attr.values[:, 0, attr.coords["frequency"] < 8].sum(axis=1)
    )


# ---------------------------------------------------------------------- to_dict and from_dict
@pytest.mark.parametrize("target", [1, "predicted", [0, 2, 1, 0]])
def test_to_dict_round_trips_in_memory_and_through_json(smooth_cnn, series, target):
    from cdig.attribution import jsonable

    attr = cdig.explain(smooth_cnn, series, "fourier", target=target, fs=32.0, n_steps=8)
    assert attr.target_index is not None
    same_result(cdig.Attribution.from_dict(attr.to_dict()), attr)
    text = json.dumps(jsonable(attr.to_dict()), allow_nan=False)  # NaN error -> null -> NaN
    back = cdig.Attribution.from_dict(json.loads(text))
    same_result(back, attr)
    assert back.domain is None and back.settings.method == "gausslegendre"
