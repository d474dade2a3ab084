"""cdig.models.select: HuggingFace and Keras models with structured outputs, explained as is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig
from cdig.models import OutputNotFound, select


def _complete(attr, rtol: float = 1e-6) -> None:
    diff = attr.outputs - attr.baseline_outputs
    assert np.all(np.abs(attr.delta) <= rtol * np.maximum(1.0, np.abs(diff)))
    tol = 1e-9 if attr.values.dtype == np.float64 else 1e-5  # sum of float32 values
    np.testing.assert_allclose(attr.total, diff + attr.delta, rtol=tol, atol=1e-12)


def _state(model: torch.nn.Module):
    return (
        [(m, m.training) for m in model.modules()],
        [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def _assert_unchanged(model: torch.nn.Module, before) -> None:
    modes, grads, weights = before
    assert [(m, m.training) for m in model.modules()] == modes
    for p, (req, grad) in zip(model.parameters(), grads):
        assert p.requires_grad == req
        assert (p.grad is None) if grad is None else torch.equal(p.grad, grad)
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k  # batch-norm statistics not updated


def _timesfm(dropout: float = 0.3):
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = tf.TimesFmConfig(
        patch_length=8,
        context_length=64,
        horizon_length=12,
        hidden_size=16,
        intermediate_size=16,
        head_dim=8,
        num_attention_heads=2,
        num_hidden_layers=1,
        attention_dropout=dropout,
    )
    return tf.TimesFmModelForPrediction(config).double()


def test_timesfm_mean_forecast_complete_and_model_left_as_it_was():
    model = _timesfm()
    model.train()
    model.decoder.layers[0].eval()  # a mixed state, restored module by module
    model.decoder.freq_emb.weight.requires_grad_(False)
    before = _state(model)
    wrapped = select(model, "mean_predictions", as_list=True)
    assert isinstance(wrapped, torch.nn.Module) and wrapped.model is model
    x = torch.randn(3, 64, dtype=torch.float64).cumsum(-1) + 10.0
    attr = cdig.explain(wrapped, x, "fourier", target=cdig.Horizon("mean"), n_steps=32)
    _complete(attr)
    _assert_unchanged(model, before)
    # the explained outputs are the model's, in eval mode (dropout would make them random)
    model.eval()
    with torch.no_grad():
        direct = model(past_values=list(x)).mean_predictions.mean(dim=1)
    np.testing.assert_allclose(attr.outputs, direct.numpy(), rtol=1e-12)
    assert attr.target == "mean of horizon steps 0-11" and attr.target_index is None


def test_timesfm_quantile_and_per_series_freq():
    model = _timesfm(dropout=0.0)
    x = torch.randn(2, 64, dtype=torch.float64).cumsum(-1)
    q = cdig.explain(
        select(model, "full_predictions", as_list=True),
        x,
        "time",
        target=cdig.Horizon(4, quantile=0.9, levels=model.config.quantiles),
        n_steps=32,
    )
    _complete(q)
    with torch.no_grad():
        full = model(past_values=list(x)).full_predictions  # (batch, horizon, 1 + 9)
        freq1 = model(past_values=list(x), freq=[1, 1]).mean_predictions
    np.testing.assert_allclose(q.outputs, full[:, 4, 9].numpy(), rtol=1e-12)  # 0.9 is last
    assert q.target == "horizon step 4, quantile 0.9"
    np.testing.assert_array_equal(q.target_index, [[4, 9], [4, 9]])
    # per_series repeats a value for every series of each (chunked) call
    wrapped = select(model, "mean_predictions", as_list=True, per_series={"freq": 1})
    with torch.no_grad():
        np.testing.assert_allclose(wrapped(x).numpy(), freq1.numpy(), rtol=1e-12)
        assert not torch.allclose(select(model, "mean_predictions", as_list=True)(x), freq1)


def test_patchtst_forecast_step_of_one_channel():
    tf = pytest.importorskip("transformers")
    torch.manual_seed(1)
    config = tf.PatchTSTConfig(
        num_input_channels=2,
        context_length=32,
        prediction_length=6,
        patch_length=8,
        patch_stride=8,
        d_model=16,
        num_attention_heads=2,
        num_hidden_layers=1,
        ffn_dim=16,
        dropout=0.2,  # and batch-norm layers: train mode would change outputs and statistics
    )
    model = tf.PatchTSTForPrediction(config).double().train()
    before = _state(model)
    wrapped = select(model, "prediction_outputs")  # past_values=x: the model's main input
    assert "kwarg='past_values'" in repr(wrapped)
    x = torch.randn(3, 32, 2, dtype=torch.float64)  # (batch, time, channels)
    attr = cdig.explain(
        wrapped, x, "fourier", time_axis=1, target=cdig.Horizon(-1, channel=1), n_steps=32
    )
    _complete(attr)
    _assert_unchanged(model, before)
    assert attr.values.shape == (3, 2, 17)
    assert attr.target == "horizon step 5, channel 1"
    np.testing.assert_array_equal(attr.target_index, np.tile([5, 1], (3, 1)))
    model.eval()
    with torch.no_grad():
        direct = model(past_values=x).prediction_outputs[:, 5, 1]
    np.testing.assert_allclose(attr.outputs, direct.numpy(), rtol=1e-12)


def test_keras_model_with_named_and_positional_outputs():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras runs on another backend")
    keras.utils.set_random_seed(0)
    inp = keras.Input((24, 1))
    h = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(inp))
    h = keras.layers.Dropout(0.5)(h)  # active only if cdig called it with training=True
    mean = keras.layers.Dense(6, name="mean")(h)
    scale = keras.layers.Dense(6, activation="softplus", name="scale")(h)
    x = np.random.default_rng(0).normal(size=(3, 24, 1)).astype("float32")
    named = keras.Model(inp, {"mean": mean, "scale": scale})
    attr = cdig.explain(
        select(named, "scale"), x, "fourier", time_axis=1, target=cdig.Horizon("sum")
    )
    _complete(attr, rtol=1e-4)  # float32 model
    expected = named(x, training=False)["scale"].numpy().sum(axis=1)
    np.testing.assert_allclose(attr.outputs, expected, rtol=1e-5)
    pair = keras.Model(inp, [mean, scale])
    attr = cdig.explain(select(pair, 0), x, "time", time_axis=1, target=cdig.Horizon(2))
    _complete(attr, rtol=1e-4)
    np.testing.assert_allclose(attr.outputs, pair(x, training=False)[0].numpy()[:, 2], rtol=1e-5)
    with pytest.raises(ValueError, match=r"'nope' is not an output.*mean, scale"):
        cdig.explain(select(named, "nope"), x, "time", time_axis=1, target=0)


def test_plain_callable_and_clear_errors():
    w = torch.randn(16, dtype=torch.float64)

    def model(series, scale=1.0):
        return {"level": scale * (series * w).sum(-1), "spread": series.std(-1), "note": None}

    x = torch.randn(2, 16, dtype=torch.float64)
    attr = cdig.explain(select(model, "level", scale=2.0), x, "time")
    np.testing.assert_allclose(attr.values[:, 0], 2.0 * (w * x).numpy(), rtol=1e-12)
    with pytest.raises(OutputNotFound, match=r"'lvl' is not an output.*level, spread"):
        select(model, "lvl")(x)
    with pytest.raises(ValueError, match=r"several outputs \(level, spread\).*output=NAME"):
        select(model)(x)
    with pytest.raises(ValueError, match=r"output=5 is out of range.*2 positional"):
        select(lambda s: (s.sum(-1), s.mean(-1)), 5)(x)
    with pytest.raises(
        ValueError, match=r"inputs must have shape \(batch, time\); got \(\d+, 1, 16\)"
    ):
        cdig.explain(select(model, "level", as_list=True), x[:, None], "time")
    with pytest.raises(TypeError, match="given twice"):
        select(model, "level", per_series={"scale": 1.0}, scale=2.0)
    with pytest.raises(TypeError, match="must be a model or a callable"):
        select(3, "level")
    with pytest.raises(TypeError, match=r"output=1\.5"):
        select(model, 1.5)  # type: ignore[arg-type]


def test_a_structured_output_passed_directly_points_to_select():
    tf = pytest.importorskip("transformers")
    config = tf.PatchTSTConfig(
        num_input_channels=1,
        context_length=16,
        prediction_length=4,
        patch_length=4,
        patch_stride=4,
        d_model=8,
        num_attention_heads=2,
        num_hidden_layers=1,
        ffn_dim=8,
    )
    model = tf.PatchTSTForPrediction(config)
    with pytest.raises(
        TypeError,
        match=r"cdig\.models\.select\(model, output=NAME\); outputs: "
        r".*prediction_outputs",
    ):
        cdig.explain(model, torch.randn(2, 16, 1), "time", time_axis=1, target=(0, 0))


def test_the_documented_recipes_run_as_written():
    """The code blocks of docs/frameworks.md's HuggingFace section, run as a user would."""
    pytest.importorskip("transformers")
    pytest.importorskip("tensorflow")
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "frameworks.md").read_text()
    start = text.index("## HuggingFace transformers models")
    section = text[start : text.index("### Forecast targets", start)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    for code in blocks:
        scope: dict = {}
        exec(compile(code, "docs/frameworks.md", "exec"), scope)
        _complete(scope["attr"], rtol=1e-4)
    assert scope["attr"].target == "sum of horizon steps 0-11"
