"""Readers and model loaders raise ordinary exceptions; the command line words them."""

from __future__ import annotations

import numpy as np
import pytest

from cdig._io import read_array, read_series
from cdig.models import load as load_model


def test_readers_raise_ordinary_exceptions(tmp_path):
    with pytest.raises(FileNotFoundError, match="input file not found"):
        read_series(tmp_path / "absent.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros(4), b=np.ones(4))
    with pytest.raises(ValueError, match="choose one with key="):
        read_series(tmp_path / "two.npz")
    with pytest.raises(ValueError, match="key='c' is not in"):
        read_series(tmp_path / "two.npz", key="c")
    np.testing.assert_array_equal(read_series(tmp_path / "two.npz", key="b"), np.ones((1, 1, 4)))
    np.save(tmp_path / "obj.npy", np.array([{}, 1], dtype=object))
    with pytest.raises(ValueError, match=r"baseline .* without unpickling"):
        read_array(tmp_path / "obj.npy", name="baseline")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(ValueError, match="holds <U1 data"):
        read_array(tmp_path / "text.npy")


def test_model_loader_raises_ordinary_exceptions(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_model(tmp_path / "absent.ts")
    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="is not a model file cdig reads"):
        load_model(junk)
    with pytest.raises(ValueError, match=r"is not a readable torch\.export program"):
        load_model(junk.rename(tmp_path / "junk.pt2"), trust=True)
