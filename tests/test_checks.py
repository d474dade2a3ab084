"""The shared argument validators of cdig._checks."""

import math

import numpy as np
import pytest

from cdig._checks import check_choice, check_index_list, check_int, check_real


@pytest.mark.parametrize(
    ("kwargs", "value", "ok"),
    [
        ({"low": 0.0}, 0.0, True),
        ({"low": 0.0, "open_low": True}, 0.0, False),
        ({"low": 0.0, "open_low": True}, 1e-300, True),
        ({"low": 0.0, "high": 1.0, "open_low": True, "open_high": True}, 1.0, False),
        ({"low": 0.0, "high": 1.0}, 1.0, True),
        ({}, math.inf, False),
        ({}, math.nan, False),
        ({}, np.float32(2.5), True),
    ],
)
def test_check_real_ranges(kwargs, value, ok):
    if ok:
        assert check_real(value, "v", **kwargs) == float(value)
    else:
        with pytest.raises(ValueError, match=r"v=.* must be finite"):
            check_real(value, "v", **kwargs)


def test_check_real_messages_name_the_interval():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        check_real(2, "p", low=0, high=1, open_low=True, open_high=True)
    with pytest.raises(ValueError, match=r"must be finite and > 0\."):
        check_real(-1, "scale", low=0, open_low=True)
    for bad in (True, "1", None):
        with pytest.raises(TypeError, match="must be a real number"):
            check_real(bad, "x")


def test_check_int_and_choices_and_indices():
    assert check_int(np.int64(3), "n") == 3
    with pytest.raises(ValueError, match="n=0 must be a positive integer"):
        check_int(0, "n")
    with pytest.raises(ValueError, match="at least 2 and at most 4"):
        check_int(5, "k", low=2, high=4)
    with pytest.raises(ValueError, match="must be a positive integer"):
        check_int(2.0, "n")
    assert check_choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="use one of a, b"):
        check_choice("c", "mode", ("a", "b"))
    assert check_index_list([2, 0, 2], "samples", 3) == [2, 0]
    with pytest.raises(ValueError, match=r"0\.\.2"):
        check_index_list([3], "samples", 3)
    with pytest.raises(ValueError, match="is empty"):
        check_index_list([], "samples", 3)
