"""cdig._settings: the explanation settings, validated once, frozen, and recorded as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cdig
from cdig._settings import Settings


# ---------------------------------------------------------------------- validated once, frozen
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


def test_typed_modes_match_what_is_accepted():
    import typing

    from cdig._settings import Method
    from cdig.quadrature import METHODS
    from cdig.targets import TargetKind

    assert set(typing.get_args(Method)) == set(METHODS)
    assert set(typing.get_args(TargetKind)) == {
        "none", "index", "per_sample", "callable", "predicted", "label", "each",
    }  # fmt: skip
