"""The recipes of docs/recipes.md, checked: real client models, each layout handled.

The doc blocks themselves run in tests/test_docs.py; these tests check their results with
independent paths (the client library's own predictions, a transposed model).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig


class Forecaster(torch.nn.Module):
    """A batch-first LSTM: (batch, time, features) -> (batch,)."""

    def __init__(self, n_features: int = 3, hidden: int = 8):
        super().__init__()
        self.lstm = torch.nn.LSTM(n_features, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1]).squeeze(-1)


class ChannelsFirst(torch.nn.Module):
    """The same model called with (batch, features, time): an independent path."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.transpose(1, 2))


def test_batch_first_lstm_time_axis_1_equals_the_transposed_model():
    torch.manual_seed(0)
    model = Forecaster().double()
    x = torch.randn(4, 24, 3, dtype=torch.float64)
    res = cdig.explain(model, x, ["time", "fourier"], time_axis=1, fs=24.0, n_steps=128)
    ref = cdig.explain(
        ChannelsFirst(model), x.transpose(1, 2), ["time", "fourier"], fs=24.0, n_steps=128
    )
    for name in ("time", "fourier"):
        np.testing.assert_allclose(res[name].values, ref[name].values, rtol=1e-10, atol=1e-12)
        assert res[name].values.shape[:2] == (4, 3)  # channels first in .values
    # completeness against the model's own outputs
    with torch.no_grad():
        diff = model(x) - model(torch.zeros_like(x))
    np.testing.assert_allclose(res["time"].values.sum(axis=(1, 2)), diff.numpy(), atol=1e-4)
    # the input layout: time-domain values laid out like x, frequency axis before channels
    back = res["time"].values_in_input_layout()
    assert back.shape == tuple(x.shape)
    np.testing.assert_array_equal(back, res["time"].values.transpose(0, 2, 1))
    assert res["fourier"].values_in_input_layout().shape == (4, 13, 3)
    assert model.training  # the module's mode is restored


def test_values_in_input_layout_for_each_layout():
    torch.manual_seed(1)
    lin = torch.nn.Linear(32, 1)
    x2 = torch.randn(3, 32)
    a2 = cdig.explain(lambda t: lin(t).squeeze(-1), x2)
    assert a2.values.shape == (3, 1, 32) and a2.values_in_input_layout().shape == (3, 32)
    # linear model: IG = w * x exactly, in the input's layout
    expected = (lin.weight.detach()[0] * x2).numpy()
    np.testing.assert_allclose(a2.values_in_input_layout(), expected, rtol=1e-5, atol=1e-6)
    a3 = cdig.explain(lambda t: lin(t).sum(dim=(1, 2)), x2[:, None, :])
    assert a3.values_in_input_layout() is a3.values
    pca = cdig.explain(
        lambda t: torch.tanh(t).sum(dim=(1, 2)),
        torch.randn(2, 32, 2),
        cdig.domains.PCA(),
        time_axis=1,
    )
    assert pca.dims[0] == "component"
    with pytest.raises(ValueError, match="no input layout"):
        pca.values_in_input_layout()


def test_plot_and_report_take_x_in_the_explained_layout(tmp_path):
    pytest.importorskip("matplotlib")
    from cdig.report import render_report

    torch.manual_seed(2)
    model = Forecaster(n_features=2).double()
    x = np.random.default_rng(0).normal(size=(2, 40, 2))  # (batch, time, channels)
    res = cdig.explain(model, x, ["time", "fourier"], time_axis=1, fs=10.0)
    for attr in res.values():
        for given in (x, x[1], x.transpose(0, 2, 1)):  # as explained, one sample, channels first
            fig = attr.plot(sample=1, inputs=given)
            lines = [ln for ax in fig.axes for ln in ax.get_lines() if len(ln.get_ydata()) > 1]
            assert lines  # the input (or its spectrum) is drawn
    # the time plot draws channel 1 of sample 1 as the input line
    from cdig.plot import _series

    np.testing.assert_array_equal(_series(x, res["time"], 1, 2), x[1].T)
    np.testing.assert_array_equal(_series(x[1], res["time"], 1, 2), x[1].T)
    html = render_report(res, x, samples=[0, 1])
    assert html.count("<img") >= 4


def test_aeon_fcn_keras_model_explained_directly(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow", reason="the aeon recipe needs TensorFlow (cdig[keras])")
    pytest.importorskip("aeon", reason="the aeon recipe needs aeon (cdig[data])")
    from aeon.classification.deep_learning import FCNClassifier
    from aeon.datasets import load_gunpoint

    monkeypatch.chdir(tmp_path)  # aeon writes a checkpoint into its file_path, "./"
    X, y = load_gunpoint(split="train")
    clf = FCNClassifier(n_epochs=1, n_filters=[8, 16, 8], batch_size=16, random_state=0)
    clf.fit(X, y)
    x = X[:3]
    attr = cdig.explain(
        clf.model_, x.transpose(0, 2, 1), domain="fourier", time_axis=1, target="predicted"
    )
    proba = clf.predict_proba(x)
    # the explained output is aeon's probability of aeon's predicted class
    np.testing.assert_allclose(attr.outputs, proba.max(axis=1), rtol=1e-5)
    assert list(clf.classes_[attr.target_index]) == list(clf.predict(x))
    # completeness: sum(attr) = p(x) - p(0), with p(0) from the network itself
    p0 = clf.model_.predict(np.zeros_like(x.transpose(0, 2, 1)), verbose=0)
    np.testing.assert_allclose(
        attr.values.sum(axis=(1, 2)),
        attr.outputs - p0[np.arange(3), attr.target_index],
        atol=5e-3,
    )
    assert attr.values.shape == (3, 1, 76)
    assert attr.values_in_input_layout().shape == (3, 76, 1)
