"""cdig.targets: the one target spec, for a batch and for the rows of a dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig


# ---------------------------------------------------------------------- one target spec
def test_one_target_spec_understands_datasets():
    import torch

    from cdig.targets import as_target

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


# ---------------------------------------------------------------------- target functions
_LIN = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))


def test_a_target_function_returning_integers_is_named():
    with pytest.raises(ValueError, match=r"target function returned .*int64.*float outputs"):
        cdig.explain(_LIN, torch.randn(4, 2, 32), target=lambda out: out.argmax(dim=1))
