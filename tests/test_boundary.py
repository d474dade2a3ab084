"""The boundary: settings, targets, baselines and results validated and shaped in one place."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cdig
from cdig._settings import Settings


# ---------------------------------------------------------------------- settings
def test_settings_are_validated_once_and_frozen():
    s = Settings(n_steps=32, method="riemann_trapezoid", rtol=0.05)
    assert (s.auto, s.rule) == (False, "riemann_trapezoid")
    assert Settings().rule == "adaptive" and Settings(n_steps=8).rule == "gausslegendre"
    with pytest.raises(AttributeError):
        s.n_steps = 4  # type: ignore[misc]
    for bad, word in (
        (dict(n_steps=0), "n_steps=0"),
        (dict(n_steps="many"), "n_steps='many'"),
        (dict(method="simpson", n_steps=8), "method='simpson'"),
        (dict(method="riemann_left"), "n_steps='auto' uses"),
        (dict(max_steps=16), "max_steps=16"),
        (dict(internal_batch_size=0), "internal_batch_size=0"),
        (dict(rtol=-1.0), "rtol=-1.0"),
        (dict(rtol=0.0, atol=0.0), "rtol > 0 or atol > 0"),
    ):
        with pytest.raises(ValueError, match=word.replace("(", r"\(")):
            Settings(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="time_axis"):
        Settings(time_axis="1")  # type: ignore[arg-type]


def test_settings_dict_is_json_and_round_trips():
    s = Settings(n_steps=np.int64(16), internal_batch_size=8, time_axis=1)
    d = s.as_dict()
    assert "progress" not in d and json.loads(json.dumps(d)) == d
    assert Settings(**d) == s


def test_one_parameter_text_in_every_signature():
    from cdig._settings import PARAMETERS

    first = PARAMETERS.splitlines()[1].strip()
    for fn in (cdig.explain, cdig.CrossDomainIG.explain, cdig.explain_dataset):
        assert first in (fn.__doc__ or ""), fn
        assert "{settings}" not in (fn.__doc__ or "")


def test_dataset_manifest_records_the_settings_dict(tmp_path, smooth_cnn, series):
    run = cdig.explain_dataset(
        smooth_cnn, series, "fourier", out=tmp_path / "r", target=0, n_steps=8, quiet=True
    )
    recorded = run.manifest["settings"]["explain"]
    expected = Settings(n_steps=8).as_dict()
    assert {k: recorded[k] for k in expected} == expected


# ---------------------------------------------------------------------- targets, baselines
def test_one_target_spec_understands_datasets():
    import torch

    from cdig._inputs import as_target

    out = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.0, 0.2, 0.7]])
    pred = as_target("predicted").for_rows(10, out)
    assert pred.kind == "per_sample" and pred.value.tolist() == [1, 0, 2]
    assert pred.describe() == "predicted class"
    label = as_target("label", dataset=True).for_rows(10, out, np.array([2, 2, 0]))
    assert label.value.tolist() == [2, 2, 0] and label.describe() == "labelled class"
    rows = as_target(np.arange(20) % 3, dataset=True).for_rows(10, out)  # rows 10..12
    assert rows.value.tolist() == [1, 2, 0] and rows.describe() == "class per sample"
    assert as_target(1).for_rows(10, out) == as_target(1)
    with pytest.raises(ValueError, match="sample 11: class index 5"):
        as_target("label", dataset=True).for_rows(10, out, np.array([0, 5, 1]))
    with pytest.raises(ValueError, match="'label'"):
        as_target("label")  # a single batch has no labels
    with pytest.raises(ValueError, match="one integer class per sample"):
        as_target(np.array([0.5, 1.0]), dataset=True)


def test_dataset_baselines_share_the_element_checks(tmp_path, smooth_cnn, series):
    from cdig._inputs import as_dataset_baselines, batch_baselines

    shape = series.shape[1:]
    for bad, err, word in (
        (np.ones(shape, dtype=bool), TypeError, "boolean"),
        (np.full(shape, np.nan), ValueError, "NaN or infinite"),
        (np.ones((2, 3, 96)), ValueError, "Per-sample baselines are not supported"),
        (float("inf"), ValueError, "must be finite"),
    ):
        with pytest.raises(err, match=word):
            as_dataset_baselines(bad, shape)
    stack = np.zeros((3, *shape))
    assert batch_baselines(as_dataset_baselines(stack, shape), 3).shape == (3, 1, *shape)
    assert as_dataset_baselines(2, shape) == 2.0
    # a dataset run with stacked baselines gives what one call on the same samples gives
    stack = np.stack([np.zeros(shape), np.full(shape, 0.1)])
    run = cdig.explain_dataset(
        smooth_cnn, series, "time", out=tmp_path / "r", target=0, n_steps=8,
        baselines=stack, batch_size=4, quiet=True,
    )  # fmt: skip
    one = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=8, baselines=stack[:, None])
    np.testing.assert_array_equal(run.open("time")[:], one.values)
