"""cdig._warnings: cdig's warnings, issued once per call and pointing at the user's line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import cdig

from .conftest import linear_net, short_series


# ---------------------------------------------------------------------- at the caller's line
def _only(record, category):
    hits = [w for w in record if issubclass(w.category, category)]
    assert len(hits) == 1, [str(w.message) for w in record]
    return hits[0]


def test_every_entry_point_warns_at_the_callers_line(tmp_path, smooth_cnn, series):
    hard = dict(target=0, rtol=1e-9, max_steps=17)  # cannot converge in 17 evaluations
    hard_horizon = dict(rtol=1e-9, max_steps=17)
    calls = {
        "explain": lambda: cdig.explain(smooth_cnn, series, "fourier", **hard),
        "CrossDomainIG.explain": lambda: cdig.CrossDomainIG(smooth_cnn, "dct").explain(
            series, **hard
        ),
        "CrossDomainIG.attribute": lambda: cdig.CrossDomainIG(smooth_cnn).attribute(series, **hard),
        "explain_dataset": lambda: cdig.explain_dataset(
            smooth_cnn, series, "time", out=tmp_path / "r", progress=False, **hard
        ),
        "horizon": lambda: cdig.explain(
            smooth_cnn, series, target=cdig.Horizon("each", steps=[0, 1]), **hard_horizon
        ),
    }
    for name, call in calls.items():
        with pytest.warns(cdig.ConvergenceWarning) as record:
            call()
        w = record[0]
        assert w.filename == __file__, (name, w.filename)
    with pytest.warns(cdig.CompletenessWarning) as record:
        cdig.explain(smooth_cnn, series, "fourier", target=0, n_steps=2, rtol=1e-9)
    assert _only(record, cdig.CompletenessWarning).filename == __file__


def test_a_metric_warns_at_the_callers_line(smooth_cnn, series):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergence

    attr = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=8)
    values = np.ones((4, 2, 2))  # ICA attributions: (batch, component, channel)
    with pytest.warns(SklearnConvergence) as record:  # ICA fitted inside the metric
        cdig.metrics.deletion(
            smooth_cnn, series, values, cdig.domains.ICA(max_iter=1, tol=1e-12),
            target=attr.target_index, fractions=[0.0, 1.0],
        )  # fmt: skip
    assert _only(record, SklearnConvergence).filename == __file__


# ---------------------------------------------------------------------- a constant output
def test_an_exactly_constant_output_is_named_not_silently_converged():
    def constant(z):
        return torch.ones(len(z), 2, dtype=z.dtype) + 0 * z.sum()

    with pytest.warns(cdig.ConstantOutputWarning, match=r"samples \[0, 1\].*explains nothing"):
        res = cdig.explain(constant, short_series(), target=0)
    assert (res.values == 0).all()
    # a model that does depend on the input gives no such warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", cdig.ConstantOutputWarning)
        cdig.explain(linear_net(), short_series(), target=0, n_steps=8)
