"""Per-sample extra model inputs (``additional_forward_args``), issue 27 item 7."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cdig


class Scaled(torch.nn.Module):
    """f(x, scale, offset=...) = sum_t w_t x_t * scale + offset: linear in x, per sample."""

    def __init__(self, t: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1.0, 1.0, t, dtype=torch.float64))

    def forward(self, x, scale, offset=None):
        out = (x[:, 0] * self.w).sum(dim=1, keepdim=True) * scale
        return out if offset is None else out + offset


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1, 16))
    scale = np.array([[1.0], [-2.0], [0.5]])
    return x, scale


def test_positional_args_follow_each_sample_along_its_path(data):
    x, scale = data
    model = Scaled(16).double()
    attr = cdig.explain(model, x, "time", target=0, additional_forward_args=(scale,))
    # linear in x, zero baseline: IG is exactly w * x * scale per sample
    expected = model.w.detach().numpy() * x[:, 0] * scale
    np.testing.assert_allclose(attr.values[:, 0], expected, rtol=1e-12, atol=1e-14)
    # the explained output is the model's own output on the whole batch
    with torch.no_grad():
        own = model(torch.from_numpy(x), torch.from_numpy(scale))[:, 0].numpy()
    np.testing.assert_array_equal(attr.outputs, own)


def test_keywords_and_captum_style_attribute_agree(data):
    x, scale = data
    model = Scaled(16).double()
    offset = np.array([[3.0], [4.0], [5.0]])
    ig = cdig.CrossDomainIG(model, "fourier")
    v1, d1 = ig.attribute(
        x,
        target=0,
        n_steps=8,
        return_convergence_delta=True,
        additional_forward_args={"scale": scale, "offset": offset},
    )
    v2 = ig.attribute(x, target=0, n_steps=8, additional_forward_args=(scale, offset))
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    assert np.abs(d1).max() < 1e-10  # the offset cancels in f(x) - f(x')
    # one sample alone with its own row gives the same attributions
    alone = ig.attribute(x[1:2], target=0, n_steps=8, additional_forward_args=(scale[1:2],))
    np.testing.assert_allclose(alone[0], v1[1], rtol=1e-12, atol=1e-14)


def test_wrong_batch_is_named_as_such(data):
    x, scale = data
    model = Scaled(16).double()
    with pytest.raises(ValueError, match=r"additional_forward_args\[0\] has shape \(2, 1\).*batch"):
        cdig.explain(model, x, target=0, additional_forward_args=(scale[:2],))
    with pytest.raises(ValueError, match=r"additional_forward_args\['scale'\]"):
        cdig.explain(model, x, target=0, additional_forward_args={"scale": scale[:1, :, None][:0]})
    with pytest.raises(TypeError, match="keyword names"):
        cdig.explain(model, x, target=0, additional_forward_args={0: scale})


def test_select_names_a_batch_size_mismatch_of_fixed_arguments(data):
    x, scale = data

    def net(x, scale):
        return (x[:, 0].sum(dim=1, keepdim=True) * scale).squeeze(1)

    model = cdig.models.select(net, kwarg="x", scale=torch.from_numpy(scale))
    with pytest.raises(ValueError) as err:
        cdig.explain(model, x, n_steps=4)
    text = str(err.value)
    assert "batch-size mismatch" in text and "scale of shape (3, 1)" in text
    assert "additional_forward_args={'scale'" in text and "number of channels" not in text
    # and the fix works
    model = cdig.models.select(net, kwarg="x")
    attr = cdig.explain(model, x, n_steps=4, additional_forward_args={"scale": scale})
    np.testing.assert_allclose(attr.values.sum(axis=(1, 2)), x.sum(axis=(1, 2)) * scale[:, 0])


def _hf_forecaster(kind: str):
    transformers = pytest.importorskip("transformers")
    names = {
        "tst": ("TimeSeriesTransformerConfig", "TimeSeriesTransformerForPrediction"),
        "informer": ("InformerConfig", "InformerForPrediction"),
    }
    config_cls, model_cls = (getattr(transformers, n) for n in names[kind])
    torch.manual_seed(0)
    config = config_cls(
        prediction_length=4,
        context_length=16,
        lags_sequence=[1, 2, 3],
        num_time_features=2,
        encoder_layers=1,
        decoder_layers=1,
        d_model=16,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
    )
    return model_cls(config), config


@pytest.mark.parametrize("kind", ["tst", "informer"])
def test_hf_forecasters_with_per_sample_features(kind):
    net, config = _hf_forecaster(kind)
    net.train()  # cdig must run it in eval mode and give the mode back
    batch, length = 3, config.context_length + max(config.lags_sequence)
    g = torch.Generator().manual_seed(1)
    past_values = torch.randn(batch, length, generator=g) + 5.0
    extra = {
        "past_time_features": torch.randn(batch, length, 2, generator=g),
        "past_observed_mask": torch.ones(batch, length),
        "future_time_features": torch.randn(batch, config.prediction_length, 2, generator=g),
        "future_values": torch.zeros(batch, config.prediction_length),
    }

    def first_step_mean(out):
        dist = net.output_distribution(out.params, loc=out.loc, scale=out.scale)
        return dist.mean[:, 0]

    model = cdig.models.select(net, first_step_mean)
    attr = cdig.explain(model, past_values, "fourier", additional_forward_args=extra)
    assert net.training
    net.eval()
    with torch.no_grad():
        own = first_step_mean(net(past_values=past_values, **extra)).numpy()
    np.testing.assert_allclose(attr.outputs, own, rtol=1e-6, atol=1e-7)
    total = attr.values.sum(axis=tuple(range(1, attr.values.ndim)))
    rise = attr.outputs - attr.baseline_outputs
    np.testing.assert_allclose(total - rise, attr.delta, atol=1e-5)
    assert attr.converged.all()
    # each sample with only its own rows: the same attributions (rows follow their sample)
    one = {k: v[2:3] for k, v in extra.items()}
    alone = cdig.explain(model, past_values[2:3], "fourier", additional_forward_args=one)
    np.testing.assert_allclose(alone.outputs, attr.outputs[2:3], rtol=1e-6)
    np.testing.assert_allclose(alone.values[0], attr.values[2], rtol=1e-4, atol=1e-6)
