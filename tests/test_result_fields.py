"""The result's typed fields: layout, settings, per-target arrays and coordinates bound to axes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import cdig
from cdig.attribution import Attribution, InputLayout, Integration, PerTarget, jsonable

T = 16


@pytest.fixture(scope="module")
def linear() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * T, 1)).double()


@pytest.fixture(scope="module")
def channels_last(linear) -> tuple[np.ndarray, dict[str, Attribution]]:
    x = np.random.default_rng(1).normal(size=(3, T, 2))  # (batch, time, channels)
    res = cdig.explain(linear, x, ["time", "wavelet"], time_axis=1, fs=8.0, n_steps=8)
    return x, res


def _json(attr: Attribution) -> dict:
    return json.loads(json.dumps(jsonable(attr.to_dict())))


# ---------------------------------------------------------------------- typed fields
def test_engine_results_carry_typed_layout_and_settings(linear, channels_last):
    x, res = channels_last
    for attr in res.values():
        assert attr.layout == InputLayout(ndim=3, time_axis=1, fs=8.0)
        assert isinstance(attr.settings, Integration)
        assert (attr.settings.method, attr.settings.n_steps) == ("gausslegendre", 8)
        assert attr.settings.pass_kind == "time" and attr.settings.n_baselines == 1
    assert res["time"].settings.shared_with == ("wavelet",)
    # IG of a linear model in time from zeros: weight * x, in the inputs' own layout
    w = res["time"].values_in_input_layout()
    weight = linear[1].weight.detach().numpy().reshape(T, 2)  # the model flattens (time, ch)
    np.testing.assert_allclose(w, weight * x, atol=1e-12)
    # the layout's two conversions are inverse to each other (both views of values)
    v = res["time"].values
    back = res["time"].layout.from_input(w, batch=3, n_channels=2)
    np.testing.assert_array_equal(back, v)
    assert np.shares_memory(w, v) and np.shares_memory(back, v)


def test_layouts_of_two_dimensional_inputs():
    model = torch.nn.Linear(T, 1).double()
    x = np.random.default_rng(2).normal(size=(2, T))
    attr = cdig.explain(model, x, "time", n_steps=4)
    assert attr.layout == InputLayout(ndim=2, time_axis=1)
    np.testing.assert_array_equal(attr.values_in_input_layout(), attr.values[:, 0])
    # IG of a linear model from zeros is w * x exactly
    w = model.weight.detach().numpy()[0]
    np.testing.assert_allclose(attr.values_in_input_layout(), w * x, atol=1e-12)


@pytest.mark.parametrize(
    ("ndim", "time_axis", "fs"), [(3, 0, None), (2, 2, None), (4, 2, None), (3, 2, -8.0)]
)
def test_invalid_layouts_are_refused(ndim, time_axis, fs):
    with pytest.raises(ValueError, match="layout"):
        InputLayout(ndim, time_axis, fs)


def test_horizon_each_keeps_each_steps_facts_in_per_target():
    torch.manual_seed(0)
    model = torch.nn.Linear(T, 4).double()  # (batch, time) -> 4 forecast steps
    x = torch.randn(2, T, dtype=torch.float64)
    attr = cdig.explain(model, x, "fourier", target=cdig.Horizon("each", steps=[0, 3]), n_steps=8)
    pt = attr.per_target
    assert isinstance(pt, PerTarget) and pt.dim == "horizon"
    np.testing.assert_array_equal(pt.steps, [0, 3])
    with torch.no_grad():
        np.testing.assert_allclose(pt.outputs, model(x)[:, [0, 3]].numpy(), rtol=1e-12)
    np.testing.assert_array_equal(attr.outputs, pt.outputs.sum(axis=1))
    np.testing.assert_array_equal(attr.delta, pt.delta.sum(axis=1))
    # completeness per step: each step's values sum to its own f(x) - f(x') + delta
    per_step = attr.values.reshape(2, 2, -1).sum(axis=2)
    np.testing.assert_allclose(per_step, pt.outputs - pt.baseline_outputs + pt.delta, atol=1e-12)
    da = attr.to_xarray()
    assert da.coords["target_output"].dims == ("sample", "horizon")
    np.testing.assert_array_equal(da.coords["target_delta"].values, pt.delta)
    # the per-target facts round trip, and go with the axis they run along
    for back in (Attribution.from_dict(attr.to_dict()), Attribution.from_dict(_json(attr))):
        assert back.per_target is not None
        np.testing.assert_array_equal(back.per_target.outputs, pt.outputs)
        np.testing.assert_array_equal(back.per_target.delta, pt.delta)
    assert attr.sum_over("horizon").per_target is None
    assert attr.sum_over("channel").per_target is pt


# ---------------------------------------------------------------------- coordinates
def test_wavelet_labels_are_bound_to_their_axis(channels_last):
    _, res = channels_last
    attr = res["wavelet"]
    assert attr.coord_dims["band"] == ("coefficient",)
    assert attr.coord_dims["channel"] == ("channel",)
    da = attr.to_xarray()
    for name, dims in attr.coord_dims.items():
        assert da.coords[name].dims == dims
    assert np.shares_memory(da.values, attr.values)  # a view, not a copy
    # group_by finds the axis from the binding, and keeps completeness
    by_band = attr.group_by("band")
    np.testing.assert_allclose(by_band.total, attr.total, rtol=1e-12, atol=1e-12)
    assert by_band.coord_dims == {"channel": ("channel",), "band": ("band",)}


def test_a_label_of_an_ambiguous_length_is_placed_where_it_is_bound():
    # 3 channels and 3 coefficients: a length rule would have to guess
    values = np.arange(9.0).reshape(1, 3, 3)
    z = np.zeros(1)
    kind = np.array(["a", "b", "c"])
    on_channel = Attribution(
        values, z, ("channel", "coefficient"), {"kind": kind}, {}, z + 36, z, z.astype(int),
        coord_dims={"kind": ("channel",)},
    )  # fmt: skip
    assert on_channel.to_xarray().coords["kind"].dims == ("channel",)
    rows = on_channel.top(k=9)
    for row in rows:  # the label follows the channel, not the coefficient
        assert row["kind"] == "abc"[row["channel"]]
    grouped = on_channel.group_by("kind")  # sums the channels
    np.testing.assert_array_equal(grouped.values[0], values[0])
    df = on_channel.to_pandas()
    assert (df["kind"] == np.array(["a", "b", "c"])[df["channel"]]).all()


def test_unbound_or_misfit_coordinates_are_refused():
    values, z = np.zeros((1, 2, 4)), np.zeros(1)
    dims = ("channel", "coefficient")
    with pytest.raises(ValueError, match=r"'band'.*coord_dims=\{'band'"):
        Attribution(values, z, dims, {"band": np.arange(4)}, {}, z, z, z.astype(int))
    with pytest.raises(ValueError, match="'band' of shape \\(4,\\) cannot label"):
        Attribution(values, z, dims, {"band": np.arange(4)}, {}, z, z, z.astype(int),
                    coord_dims={"band": ("channel",)})  # fmt: skip
    with pytest.raises(ValueError, match="'channel' of shape \\(3,\\)"):
        Attribution(values, z, dims, {"channel": np.arange(3)}, {}, z, z, z.astype(int))


# ---------------------------------------------------------------------- files
def test_typed_fields_round_trip_in_both_forms(channels_last):
    _, res = channels_last
    for attr in res.values():
        for back in (Attribution.from_dict(attr.to_dict()), Attribution.from_dict(_json(attr))):
            assert back.layout == attr.layout
            assert back.settings == attr.settings
            assert back.coord_dims == attr.coord_dims
            np.testing.assert_array_equal(back.values, attr.values)


def test_files_of_the_previous_layout_still_read(channels_last):
    """Before the typed fields: layout and per-step arrays inside ``settings``, no
    ``coord_dims`` (labels bound to the last axis of their length)."""
    _, res = channels_last
    attr = res["wavelet"]
    old = _json(attr)
    for key in ("layout", "coord_dims", "per_target"):
        del old[key]
    old["settings"].update(time_axis=1, input_ndim=3, fs=8.0)
    back = Attribution.from_dict(old)
    assert back.layout == attr.layout and back.settings == attr.settings
    assert back.coord_dims == attr.coord_dims
    np.testing.assert_array_equal(back.values_in_input_layout(), attr.values_in_input_layout())
    # a Horizon("each") file of that layout: the per-step arrays were settings["horizon"]
    model = torch.nn.Linear(T, 3).double()
    x = torch.randn(2, T, dtype=torch.float64)
    each = cdig.explain(model, x, "time", target=cdig.Horizon("each"), n_steps=4)
    old = _json(each)
    per_target = old.pop("per_target")
    del old["layout"], old["coord_dims"]
    old["settings"].update(time_axis=1, input_ndim=2, fs=None, horizon=per_target)
    back = Attribution.from_dict(old)
    assert back.layout == InputLayout(2, 1) and back.per_target is not None
    np.testing.assert_array_equal(back.per_target.outputs, each.per_target.outputs)
    # a label of no axis's length cannot be bound: refused, naming it
    old = _json(attr)
    del old["layout"], old["coord_dims"]
    old["coords"]["odd"] = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"coords\['odd'\].*no coord_dims"):
        Attribution.from_dict(old)


def test_hand_made_results_have_no_settings_and_the_plain_layout():
    z = np.zeros(2)
    attr = Attribution(np.ones((2, 1, 4)), z, ("channel", "time"), {}, {}, z + 4, z, z + 4)
    assert attr.settings is None and attr.layout == InputLayout()
    assert attr.values_in_input_layout() is attr.values
    back = Attribution.from_dict(attr.to_dict())
    assert back.settings is None and back.to_dict()["settings"] == {}


# ---------------------------------------------------------------------- dataset runs
@pytest.fixture(scope="module")
def run(linear, tmp_path_factory):
    x = np.random.default_rng(3).normal(size=(10, T, 2))  # (batch, time, channels)
    out = tmp_path_factory.mktemp("run") / "run"
    kw = dict(time_axis=1, n_steps=4, shard_size=4, progress=False)
    return x, cdig.explain_dataset(linear, x, ["time", "wavelet"], out=out, **kw)


def test_run_results_are_memory_mapped_until_touched(linear, run):
    x, ds = run
    ref = cdig.explain(linear, x[4:7], ["time", "wavelet"], time_axis=1, n_steps=4)
    for domain in ("time", "wavelet"):
        lazy = ds.attribution(domain, slice(4, 7))  # within shard 1 (samples 4-7)
        assert isinstance(lazy.values, np.memmap) and not lazy.values.flags.writeable
        copied = ds.attribution(domain, slice(2, 7))  # crosses a shard: read and copied
        assert not isinstance(copied.values, np.memmap)
        np.testing.assert_array_equal(copied.values[2:], lazy.values)
        np.testing.assert_array_equal(lazy.values, ref[domain].values)
        np.testing.assert_array_equal(lazy.delta, ref[domain].delta)
        assert lazy.layout == ref[domain].layout == InputLayout(3, 1)
        assert lazy.settings == ref[domain].settings
        assert lazy.coord_dims == ref[domain].coord_dims
        np.testing.assert_array_equal(
            lazy.values_in_input_layout(), ref[domain].values_in_input_layout()
        )
        shards = list(ds.attributions(domain))
        assert [a.batch_size for a in shards] == [4, 4, 2]
        assert all(isinstance(a.values, np.memmap) for a in shards)
        np.testing.assert_array_equal(
            np.concatenate([a.values for a in shards]), ds.open(domain)[:]
        )
    # the wavelet's labels reach the run's summary through the binding
    by_band = ds.summary("wavelet", group_by="band")
    assert by_band.dims == ("channel", "band")


def test_runs_written_before_the_typed_fields_still_read(run, tmp_path):
    import shutil

    _, ds = run
    old = tmp_path / "old"
    shutil.copytree(ds.path, old)
    manifest = json.loads((old / "manifest.json").read_text())
    for info in manifest["domains"].values():
        for key in ("settings", "layout", "coord_dims"):
            del info[key]
    (old / "manifest.json").write_text(json.dumps(manifest))
    back = cdig.open_run(old)
    for domain in ("time", "wavelet"):
        a, b = back.attribution(domain, slice(4, 7)), ds.attribution(domain, slice(4, 7))
        assert a.layout == b.layout and a.settings == b.settings and a.coord_dims == b.coord_dims
        np.testing.assert_array_equal(a.values, b.values)


class _Tagged(cdig.domains.Domain):
    """Identity in time with an extra per-time label ``tag`` (not an axis)."""

    name = "tagged-test"
    linear = True

    def __init__(self, bind: bool = True) -> None:
        self.bind = bind

    def forward(self, x, index=None):  # type: ignore[no-untyped-def]
        return x.clone()

    def inverse(self, X, index=None):  # type: ignore[no-untyped-def]
        return X.clone()

    @property
    def dims(self) -> tuple[str, ...]:
        return ("channel", "time")

    def _coords(self):  # type: ignore[no-untyped-def]
        return {"time": np.arange(T, dtype=float), "tag": np.arange(T) % 2}

    @property
    def coord_dims(self) -> dict[str, tuple[str, ...]]:
        if not self.bind:
            return super().coord_dims
        return {"channel": ("channel",), "time": ("time",), "tag": ("time",)}


def test_a_domain_binds_its_own_labels(linear):
    x = np.random.default_rng(4).normal(size=(2, T, 2))
    attr = cdig.explain(linear, x, _Tagged(), time_axis=1, n_steps=4)
    assert attr.coord_dims["tag"] == ("time",)
    odd = attr.group_by("tag")  # sums even and odd time points
    np.testing.assert_allclose(odd.values.sum(axis=-1), attr.values.sum(axis=-1), atol=1e-12)
    with pytest.raises(ValueError, match=r"_Tagged.coords has the labels \['tag'\].*coord_dims"):
        cdig.explain(linear, x, _Tagged(bind=False), time_axis=1, n_steps=4)


def test_custom_domain_labels_are_bound_as_given(linear):
    from cdig.domains import Custom

    x = np.random.default_rng(5).normal(size=(2, T, 2))

    def ident(t, index=None):  # type: ignore[no-untyped-def]
        return t.clone()

    # (channel, time) = (2, 16): "pair" has length 2, and names its axis explicitly
    coords = {"pair": ("channel", np.array(["L", "R"])), "tick": np.arange(T)}
    given = Custom(ident, ident, linear=True, dims=("channel", "time"), coords=coords)
    attr = cdig.explain(linear, x, given, time_axis=1, n_steps=4)
    assert attr.coord_dims["pair"] == ("channel",) and attr.coord_dims["tick"] == ("time",)
    assert attr.to_xarray().coords["pair"].dims == ("channel",)
    with pytest.raises(ValueError, match="names the axis 'nope'"):
        Custom(ident, ident, dims=("channel", "time"), coords={"a": ("nope", [0, 1])}).fit(
            torch.zeros(1, 2, T, dtype=torch.float64)
        )


def test_a_memory_mapped_result_is_not_read_into_memory(tmp_path):
    import tracemalloc

    n = 8192  # 64 samples x 2 channels x 8192 float64: 8 MiB of values per shard
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * n, 1)).double()
    x = np.random.default_rng(0).normal(size=(128, 2, n))
    kw = dict(n_steps=4, shard_size=64, progress=False)
    cdig.explain_dataset(model, x, "time", out=tmp_path / "r", **kw)
    ds = cdig.open_run(tmp_path / "r")
    peaks = {}
    for how, sel in (("view", slice(64, 128)), ("copy", slice(32, 96))):
        tracemalloc.start()
        attr = ds.attribution("time", sel)
        peaks[how] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert attr.values.nbytes == 8 * 2**20
    assert peaks["view"] < 0.5 * 8 * 2**20 < peaks["copy"], peaks
