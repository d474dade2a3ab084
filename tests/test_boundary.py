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
