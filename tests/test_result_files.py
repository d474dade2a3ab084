"""Attribution.from_dict refuses hostile or damaged result dicts before allocating anything.

The dicts come from ``--json`` files, dataset shards and manifests: anything a file can say.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch

import cdig
from cdig.attribution import Attribution, jsonable


@pytest.fixture(scope="module")
def good() -> dict:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 16, 3)).double()
    x = torch.randn(3, 2, 16, dtype=torch.float64)
    res = cdig.explain(model, x, target=1, domain="fourier", fs=16.0, n_steps=8)
    return json.loads(json.dumps(jsonable(res.to_dict())))  # the --json form


def _set(**changes):
    def edit(d: dict) -> dict:
        out = json.loads(json.dumps(d))
        for key, value in changes.items():
            if callable(value):
                out[key] = value(out)
            elif value is _DROP:
                out.pop(key)
            else:
                out[key] = value
        return out

    return edit


_DROP = object()


def _coord(dtype, shape, values):
    return lambda d: {
        **d["coords"],
        "frequency": {"dtype": dtype, "shape": shape, "values": values},
    }


def _per_target(steps, outputs):
    rows = [[0.0] * len(steps)] * 3
    return {"dim": "frequency", "steps": steps, "outputs": outputs,
            "baseline_outputs": rows, "delta": rows}  # fmt: skip


HOSTILE = {
    "values as text NaN": _set(values=lambda d: [[["NaN"] * 9] * 2] * 3),
    "values with null": _set(values=lambda d: [[[None] * 9] * 2] * 3),
    "values ragged": _set(values=[[1.0, 2.0], [3.0]]),
    "values a string": _set(values="1,2,3"),
    "delta with null": _set(delta=[None, 0.0, 0.0]),
    "delta with text inf": _set(delta=["inf", 0.0, 0.0]),
    "delta of the wrong length": _set(delta=[0.0, 0.0]),
    "outputs of the wrong length": _set(outputs=[0.0] * 5),
    "baseline_outputs of the wrong length": _set(baseline_outputs=[0.0]),
    "outputs huge beyond float": _set(outputs=[1e400, 0.0, 0.0]),
    "outputs null": _set(outputs=None),
    "dims as a string": _set(dims="channel,frequency"),
    "dims of the wrong count": _set(dims=["channel"]),
    "coordinate of a sub-array dtype": _set(coords=_coord("(50000000,)f8", [1], [0.0])),
    "coordinate of object dtype": _set(coords=_coord("|O", [1], [0.0])),
    "coordinate of a huge text dtype": _set(coords=_coord("<U100000000", [1], ["a"])),
    "coordinate shape larger than its values": _set(coords=_coord("<f8", [10**9], [0.0])),
    "coordinate dtype not a dtype": _set(coords=_coord("no such type", [1], [0.0])),
    "n_steps negative": _set(n_steps=[-5, -5, -5]),
    "n_steps not integral": _set(n_steps=[2.5, 8, 8]),
    "converged as text": _set(converged="no"),
    "converged as a list of text": _set(converged=["no", "yes", "no"]),
    "converged as numbers": _set(converged=[0, 1, 1]),
    "target_index beyond int64": _set(target_index=[10**30, 1, 1]),
    "error negative": _set(error=[-1.0, 0.0, 0.0]),
    "n_evaluations negative": _set(n_evaluations=[-1, 8, 8]),
    "units not text": _set(units={"frequency": 3}),
    "settings not a mapping": _set(settings="fast"),
    "target not text": _set(target=1),
    "values missing": _set(values=_DROP),
    "layout with time on the batch axis": _set(layout={"input_ndim": 3, "time_axis": 0}),
    "layout not a mapping": _set(layout="channels first"),
    "layout fs negative": _set(layout={"input_ndim": 3, "time_axis": 2, "fs": -1.0}),
    "settings n_steps as text": _set(settings={"method": "gausslegendre", "n_steps": "8"}),
    "settings shared_with not labels": _set(settings={"n_steps": 8, "shared_with": [1]}),
    "coord_dims naming no axis": _set(coord_dims={"frequency": ["nope"]}),
    "coord_dims of a missing coordinate": _set(coord_dims={"band": ["frequency"]}),
    "coord_dims not a mapping": _set(coord_dims=["frequency"]),
    "per_target of the wrong shape": _set(per_target=_per_target([0, 1], [[0.0, 0.0]] * 2)),
    "per_target with NaN": _set(per_target=_per_target([0], [[None]] * 3)),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_dicts_are_refused(good, name):
    bad = HOSTILE[name](good)
    tracemalloc.start()
    try:
        with pytest.raises((ValueError, TypeError)) as info:
            Attribution.from_dict(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{name}: {peak / 2**20:.0f} MiB allocated before refusing"
    message = str(info.value)
    field = "coords" if name.startswith("coordinate") else name.split()[0]
    assert field in message or "dict" in message, message


def test_good_dict_round_trips_in_both_forms(good):
    attr = Attribution.from_dict(good)  # JSON: a fixed n_steps has error null (not estimated)
    assert np.isnan(attr.error).all() and attr.values.shape == (3, 2, 9)
    again = Attribution.from_dict(attr.to_dict())
    np.testing.assert_array_equal(again.values, attr.values)
    np.testing.assert_array_equal(again.delta, attr.delta)
    assert again.dims == attr.dims and again.converged.dtype == bool
    # completeness holds for what was read back
    np.testing.assert_allclose(
        again.values.reshape(3, -1).sum(1), again.outputs - again.baseline_outputs + again.delta
    )


def test_object_arrays_are_refused(good):
    d = dict(Attribution.from_dict(good).to_dict())
    d["delta"] = np.array([0.0, 0.0, 0.0], dtype=object)
    with pytest.raises(TypeError, match="delta must hold floats"):
        Attribution.from_dict(d)
    d = dict(Attribution.from_dict(good).to_dict())
    d["values"] = np.full((3, 2, 9), np.inf)
    with pytest.raises(ValueError, match="values holds non-finite"):
        Attribution.from_dict(d)
