"""xarray / pandas results, and pandas or 1-d inputs, against independent paths."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

import cdig


def _model(t: torch.Tensor) -> torch.Tensor:
    return torch.tanh(t).sum(dim=(1, 2)) + (t[:, 0, :8] ** 2).sum(dim=1)


@pytest.fixture(scope="module")
def results() -> dict[str, cdig.Attribution]:
    x = np.random.default_rng(0).normal(size=(3, 2, 64))
    names = ["time", "fourier", "stft", "wavelet", cdig.domains.SeasonalTrend(period=8)]
    pytest.importorskip("pywt")
    pytest.importorskip("statsmodels")
    res = {}
    for d in names:
        a = cdig.explain(_model, x, d, fs=8.0, n_steps=32)
        res[type(a.domain).__name__] = a
    return res


def test_to_xarray_keeps_values_coords_units_and_completeness(results):
    xr = pytest.importorskip("xarray")
    for name, attr in results.items():
        da = attr.to_xarray()
        assert isinstance(da, xr.DataArray)
        assert da.dims == ("sample", *attr.dims), name
        np.testing.assert_array_equal(da.values, attr.values)
        for c, v in attr.coords.items():
            np.testing.assert_array_equal(da.coords[c].values, np.asarray(v))
        for c, unit in attr.units.items():
            if unit:
                assert da.coords[c].attrs["units"] == unit
        # completeness read back from the DataArray alone
        total = da.sum(dim=list(attr.dims))
        np.testing.assert_allclose(
            total - (da.coords["output"] - da.coords["baseline_output"]),
            da.coords["delta"],
            atol=1e-12,
        )
    # selection by coordinate: the 1 Hz Fourier coefficient
    f = results["Fourier"]
    k = int(np.argmin(np.abs(f.coords["frequency"] - 1.0)))
    np.testing.assert_array_equal(
        f.to_xarray().sel(frequency=1.0, channel=0).values, f.values[:, 0, k]
    )


def test_to_pandas_long_table_round_trips_and_agrees_with_xarray(results):
    pytest.importorskip("pandas")
    pytest.importorskip("xarray")
    for name, attr in results.items():
        df = attr.to_pandas()
        assert list(df.columns[: 1 + len(attr.dims)]) == ["sample", *attr.dims], name
        assert df.columns[-1] == "value" and len(df) == attr.values.size
        # back to the array: pivot on (sample, dims)
        back = df.set_index(["sample", *attr.dims])["value"].to_xarray()
        back = back.reindex({d: np.asarray(attr.coords[d]) for d in attr.dims})  # pivot sorts
        np.testing.assert_array_equal(back.values, attr.values)
        # the same table through xarray (an independent path)
        other = attr.to_xarray().to_dataframe()["attribution"].reset_index()
        np.testing.assert_array_equal(other["attribution"].to_numpy(), df["value"].to_numpy())
        per_sample = df.groupby("sample")["value"].sum().to_numpy()
        np.testing.assert_allclose(per_sample, attr.total, rtol=1e-12, atol=1e-12)
    # wavelet: the band column sums to group_by("band")
    w = results["Wavelet"]
    df = w.to_pandas()
    grouped = w.group_by("band")
    table = df.groupby(["sample", "channel", "band"], sort=False)["value"].sum()
    for j, band in enumerate(grouped.coords["band"]):
        np.testing.assert_allclose(
            table.xs(band, level="band").to_numpy(), grouped.values[..., j].ravel(), atol=1e-12
        )
    assert {"band", "time", "level"} <= set(df.columns)


def test_missing_optional_package_says_which_extra(monkeypatch, results):
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now raises ImportError
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"cdig\[interop\]"):
        results["Time"].to_xarray()
    with pytest.raises(ImportError, match=r"cdig\[interop\]"):
        results["Time"].to_pandas()


def _linear(t: torch.Tensor) -> torch.Tensor:
    w = torch.linspace(-1, 1, t.shape[-1], dtype=t.dtype)
    return (t * w).sum(dim=(1, 2))


def test_one_series_as_1d_array_series_or_dataframe_equals_the_batched_call():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    s = rng.normal(size=48)
    ref = cdig.explain(_linear, s[None, None, :], "fourier", fs=4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not writable" warning from torch
        for given in (s, pd.Series(s), torch.from_numpy(s)):
            a = cdig.explain(_linear, given, "fourier", fs=4.0)
            np.testing.assert_array_equal(a.values, ref.values)
    # linear model: time-domain IG = w * x exactly
    a = cdig.explain(_linear, pd.Series(s))
    np.testing.assert_allclose(a.values[0, 0], np.linspace(-1, 1, 48) * s, atol=1e-12)


def test_dataframe_is_one_series_rows_time_columns_channels():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    arr = rng.normal(size=(40, 3))  # (time, channels)
    df = pd.DataFrame(arr, columns=["a", "b", "c"])
    seen = []

    def channels_first(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape[1:]))
        return _linear(t)

    a = cdig.explain(channels_first, df)
    assert seen[0] == (3, 40)
    np.testing.assert_allclose(a.values[0], np.linspace(-1, 1, 40) * arr.T, atol=1e-12)

    def channels_last(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape[1:]))
        return _linear(t.transpose(1, 2))

    b = cdig.explain(channels_last, df, time_axis=1)
    assert seen[-1] == (40, 3)
    np.testing.assert_allclose(b.values, a.values, atol=1e-12)
    assert b.values_in_input_layout().shape == (1, 40, 3)


def test_dataframe_with_text_column_is_refused():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"v": np.arange(10.0), "name": list("abcdefghij")})
    with pytest.raises(TypeError, match="real numbers"):
        cdig.explain(_linear, df)
