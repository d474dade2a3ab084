"""Keras / TensorFlow and JAX models through the torch bridge.

One small network (Conv1D + tanh + global average pool + dropout + Dense) is written in torch,
Keras and JAX with identical weights; attributions, completeness and raw VJPs must agree.
TensorFlow and JAX tests skip when the framework is missing (CI installs both).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import cdig
from cdig.models import JaxModel, KerasModel, TensorFlowModel, TorchModel, detect_framework, wrap

from .conftest import every_domain

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SRC = str(Path(__file__).resolve().parents[1] / "src")
C, T, F, K, KERNEL = 2, 64, 4, 3, 5


# ---------------------------------------------------------------------- the network
@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    """Keras layouts: conv kernel (k, in, out), dense kernel (in, out); float64."""
    rng = np.random.default_rng(7)
    return {
        "conv_w": rng.normal(size=(KERNEL, C, F)) * 0.5,
        "conv_b": rng.normal(size=F) * 0.1,
        "dense_w": rng.normal(size=(F, K)),
        "dense_b": rng.normal(size=K) * 0.1,
    }


@pytest.fixture(scope="module")
def x_ntc() -> np.ndarray:
    """Three series in the Keras layout (batch, time, channels), float64."""
    rng = np.random.default_rng(3)
    t = np.arange(T) / 32.0
    x = rng.normal(size=(3, T, C)) * 0.5
    x[:, :, 0] += np.sin(2 * np.pi * 4.0 * t)
    return x


class TorchNet(torch.nn.Module):
    """The torch twin; takes (batch, channels, time)."""

    def __init__(self, w: dict[str, np.ndarray], dtype: torch.dtype) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(C, F, KERNEL, dtype=dtype)
        self.drop = torch.nn.Dropout(0.5)
        self.dense = torch.nn.Linear(F, K, dtype=dtype)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(w["conv_w"].transpose(2, 1, 0).copy()))
            self.conv.bias.copy_(torch.from_numpy(w["conv_b"]))
            self.dense.weight.copy_(torch.from_numpy(w["dense_w"].T.copy()))
            self.dense.bias.copy_(torch.from_numpy(w["dense_b"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.drop(torch.tanh(self.conv(x)).mean(dim=-1)))


def jax_net(p: dict, x):
    """The JAX twin; takes (batch, time, channels)."""
    import jax
    import jax.numpy as jnp

    h = jax.lax.conv_general_dilated(
        x, p["conv_w"], (1,), "VALID", dimension_numbers=("NWC", "WIO", "NWC")
    )
    h = jnp.tanh(h + p["conv_b"]).mean(axis=1)
    return h @ p["dense_w"] + p["dense_b"]


def build_keras(w: dict[str, np.ndarray], dtype: str = "float32", dropout: bool = True):
    keras = pytest.importorskip("keras")
    inp = keras.Input((T, C), dtype=dtype)
    h = keras.layers.Conv1D(F, KERNEL, activation="tanh", dtype=dtype)(inp)
    h = keras.layers.GlobalAveragePooling1D(dtype=dtype)(h)
    if dropout:
        h = keras.layers.Dropout(0.5, dtype=dtype)(h)
    out = keras.layers.Dense(K, dtype=dtype)(h)
    model = keras.Model(inp, out)
    model.layers[1].set_weights([w["conv_w"].astype(dtype), w["conv_b"].astype(dtype)])
    model.layers[-1].set_weights([w["dense_w"].astype(dtype), w["dense_b"].astype(dtype)])
    return model


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow", reason="TensorFlow is not installed (cdig[keras])")


@pytest.fixture(scope="module")
def jax():
    return pytest.importorskip("jax", reason="JAX is not installed (cdig[jax])")


@pytest.fixture(scope="module")
def keras32(tf, weights):
    return build_keras(weights, "float32")


@pytest.fixture(scope="module")
def keras64(tf, weights):
    return build_keras(weights, "float64")


def _params(jax, weights, dtype):
    return {k: jax.numpy.asarray(v.astype(dtype)) for k, v in weights.items()}


def _explain(model, x_ntc, domain, dtype, **kw):
    """Explain class 1 of ``x_ntc``; torch models get the (batch, channels, time) layout."""
    x = x_ntc.astype(dtype)
    if isinstance(model, torch.nn.Module):
        x, kw = x.transpose(0, 2, 1), {**kw, "time_axis": -1}
    else:
        kw = {"time_axis": 1, **kw}
    return cdig.explain(model, x, domain=domain, target=1, fs=32.0, n_steps=32, **kw)


# ---------------------------------------------------------------------- parity
@pytest.mark.parametrize("domain", ["time", "fourier"])
def test_parity_float32(domain, weights, x_ntc, keras32, jax):
    ref = _explain(TorchNet(weights, torch.float32).train(), x_ntc, domain, "float32")
    ker = _explain(keras32, x_ntc, domain, "float32")
    jx = _explain(
        wrap(jax_net, framework="jax", params=_params(jax, weights, "float32")),
        x_ntc,
        domain,
        "float32",
    )
    scale = np.abs(ref.values).max()
    for other in (ker, jx):
        assert other.values.dtype == np.float32 and other.values.shape == ref.values.shape
        np.testing.assert_allclose(other.values, ref.values, atol=1e-5 * scale, rtol=0)
        np.testing.assert_allclose(other.outputs, ref.outputs, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(other.delta, ref.delta, atol=1e-5)
        assert np.all(np.abs(other.delta) < 1e-4 * np.abs(ref.outputs - ref.baseline_outputs))


@pytest.mark.parametrize("domain", ["time", "fourier"])
def test_parity_float64(domain, weights, x_ntc, keras64, jax):
    ref = _explain(TorchNet(weights, torch.float64), x_ntc, domain, "float64")
    ker = _explain(keras64, x_ntc, domain, "float64")
    with jax.enable_x64(True):
        jm = wrap(jax_net, framework="jax", params=_params(jax, weights, "float64"))
        assert jm.dtype == torch.float64
        jx = _explain(jm, x_ntc, domain, "float64")
    assert wrap(keras64).dtype == torch.float64
    for other in (ker, jx):
        assert other.values.dtype == np.float64
        np.testing.assert_allclose(other.values, ref.values, atol=1e-12, rtol=1e-9)
        np.testing.assert_allclose(other.delta, ref.delta, atol=1e-12)


def test_vjp_uses_the_full_grad_output(weights, x_ntc, keras64, jax):
    """backward(grad_output) = grad_output^T J for an arbitrary grad_output of shape (n, K)."""
    x = torch.from_numpy(x_ntc.copy())
    g = torch.from_numpy(np.random.default_rng(0).normal(size=(3, K)))
    net = TorchNet(weights, torch.float64).eval()
    xt = x.transpose(1, 2).detach().requires_grad_(True)
    (want,) = torch.autograd.grad(net(xt), xt, grad_outputs=g)
    with jax.enable_x64(True):
        models = [
            wrap(keras64),
            wrap(jax_net, framework="jax", params=_params(jax, weights, "float64")),
        ]
        for m in models:
            xr = x.clone().requires_grad_(True)
            y = m(xr)
            (got,) = torch.autograd.grad(y, xr, grad_outputs=g)
            np.testing.assert_allclose(got.transpose(1, 2).numpy(), want.numpy(), atol=1e-12)


def test_multi_axis_outputs(tf, weights, x_ntc):
    """Outputs of shape (n, H, F): the target picks one entry, VJPs carry the rest as zeros."""
    keras = pytest.importorskip("keras")
    inp = keras.Input((T, C), dtype="float64")
    out = keras.layers.Conv1D(F, KERNEL, activation="tanh", dtype="float64")(inp)
    model = keras.Model(inp, out)
    model.layers[1].set_weights([weights["conv_w"], weights["conv_b"]])
    conv = TorchNet(weights, torch.float64).conv

    def torch_twin(x):
        return torch.tanh(conv(x)).transpose(1, 2)  # (n, T - 4, F)

    ker = cdig.explain(model, x_ntc, target=(10, 2), time_axis=1, n_steps=16)
    ref = cdig.explain(torch_twin, x_ntc.transpose(0, 2, 1), target=(10, 2), n_steps=16)
    np.testing.assert_allclose(ker.values, ref.values, atol=1e-12)
    np.testing.assert_allclose(ker.outputs, model(x_ntc).numpy()[:, 10, 2], atol=1e-12)


# ---------------------------------------------------------------------- completeness
@pytest.mark.parametrize("name", cdig.domains.available_domains())
def test_keras_complete_in_every_domain(name, keras32, x_ntc):
    domain = every_domain(T)[name]
    x = x_ntc.astype("float32")
    attr = cdig.explain(keras32, x, domain=domain, target=0, time_axis=1, n_steps=64)
    diff = attr.outputs - attr.baseline_outputs
    np.testing.assert_allclose(attr.values.reshape(3, -1).sum(1), diff, rtol=2e-3, atol=1e-5)
    assert np.all(np.isfinite(attr.values))
    np.testing.assert_allclose(attr.outputs, keras32(x, training=False).numpy()[:, 0], rtol=1e-6)


def test_inference_mode_and_model_unchanged(weights, x_ntc, keras32):
    """Dropout is off inside cdig (training=False), and weights stay as they were."""
    before = [w.copy() for w in keras32.get_weights()]
    x = x_ntc.astype("float32")
    a = cdig.explain(keras32, x, target=2, time_axis=1, n_steps=16)
    b = cdig.explain(keras32, x, target=2, time_axis=1, n_steps=16)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_allclose(a.outputs, keras32(x, training=False).numpy()[:, 2], rtol=1e-6)
    for w0, w1 in zip(before, keras32.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_internal_batch_size_does_not_change_results(keras32, x_ntc):
    from cdig.models import _tensorflow

    x = x_ntc.astype("float32")
    ig = cdig.CrossDomainIG(keras32, ["time", "fourier"], time_axis=1, fs=32.0)
    full = ig.explain(x, target=0, n_steps=24)
    traced = dict(_tensorflow._CACHE[keras32])
    tiny = ig.explain(x, target=0, n_steps=24, internal_batch_size=7)
    assert _tensorflow._CACHE[keras32] == traced  # other chunk sizes: no new tracing
    for key in full:
        np.testing.assert_allclose(tiny[key].values, full[key].values, atol=1e-6)
    assert full["fourier"].coords["frequency"][-1] == 16.0


def test_mixed_precision_model_gets_float32(tf, x_ntc):
    """A float16-compute Keras model: float32 inputs and attributions, float16 outputs cast."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inp = keras.Input((T, C))
    h = keras.layers.Conv1D(F, KERNEL, activation="tanh", dtype="mixed_float16")(inp)
    h = keras.layers.GlobalAveragePooling1D(dtype="mixed_float16")(h)
    model = keras.Model(inp, keras.layers.Dense(K, dtype="mixed_float16")(h))
    assert wrap(model).dtype == torch.float32
    x = x_ntc.astype("float32")
    attr = cdig.explain(model, x, target=1, time_axis=1, n_steps=32)
    assert attr.values.dtype == np.float32
    diff = attr.outputs - attr.baseline_outputs
    # f(x) and f(x') come back rounded to float16 (relative spacing 2**-10): allow for that
    rounding = 2.0**-10 * (np.abs(attr.outputs) + np.abs(attr.baseline_outputs))
    assert np.all(np.abs(attr.delta) < 1e-2 * np.abs(diff) + rounding)
    np.testing.assert_allclose(attr.outputs, model(x).numpy()[:, 1].astype(float), rtol=1e-6)


def test_tf_module_and_function(tf, weights, x_ntc):
    class Linear(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(np.linspace(-1, 1, T * C).reshape(T * C, 1).astype("float32"))

        def __call__(self, x):
            return tf.tanh(tf.reshape(x, (-1, T * C)) @ self.w)[:, 0]

    module = Linear()
    assert detect_framework(module) == "tensorflow"
    adapter = wrap(module)
    assert isinstance(adapter, TensorFlowModel) and adapter.dtype == torch.float32
    x = x_ntc.astype("float32")
    attr = cdig.explain(module, x, domain="fourier", time_axis=1, n_steps=48)
    np.testing.assert_allclose(attr.total, module(x).numpy(), rtol=1e-3, atol=1e-5)

    sig = tf.function(module.__call__, input_signature=[tf.TensorSpec((None, T, C), tf.float32)])
    assert wrap(sig).input_shape == (None, T, C)
    with pytest.raises(ValueError, match=r"\(None, 64, 2\)"):
        cdig.explain(sig, x[:, :32], time_axis=1)
    # a plain function of TF ops needs framework= ...
    fn = lambda x: tf.reduce_sum(tf.sin(x), axis=(1, 2))  # noqa: E731
    attr = cdig.explain(wrap(fn, framework="tensorflow"), x, time_axis=1, n_steps=48)
    np.testing.assert_allclose(attr.total, fn(x).numpy(), rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------- errors
def test_wrong_shape_names_expected_and_given(keras32, x_ntc):
    x = x_ntc.astype("float32")
    with pytest.raises(ValueError, match=r"\(\d+, 64, 3\).*expects \(None, 64, 2\)"):
        cdig.explain(keras32, np.concatenate([x, x[..., :1]], axis=-1), target=0, time_axis=1)
    # the (batch, channels, time) layout given to a (batch, time, channels) model
    with pytest.raises(ValueError, match=r"\(\d+, 2, 64\).*time_axis=1"):
        cdig.explain(keras32, x.transpose(0, 2, 1), target=0)


def test_framework_errors_become_cdig_errors(tf, jax, x_ntc):
    """Without a declared input shape the framework's own error is re-raised as ValueError."""
    keras = pytest.importorskip("keras")

    class Subclassed(keras.Model):  # no Input: the shape is known only to its layers
        def __init__(self) -> None:
            super().__init__()
            self.conv = keras.layers.Conv1D(F, KERNEL)

        def call(self, x, training=None):
            return keras.ops.mean(self.conv(x), axis=(1, 2))

    sub = Subclassed()
    sub(x_ntc[:1].astype("float32"))
    assert wrap(sub).input_shape is None
    with pytest.raises(ValueError, match=r"\(\d+, 64, 1\).*expected axis -1 .* value 2"):
        cdig.explain(sub, x_ntc[..., :1], time_axis=1)
    w = tf.Variable(np.ones((T, 1), dtype="float32"))
    tf_fn = TensorFlowModel(lambda x: (x[:, :, 0] @ w)[:, 0])
    with pytest.raises(
        ValueError, match=r"shape \(\d+, 32, 2\)\. ValueError: Dimensions must be equal"
    ):
        cdig.explain(tf_fn, x_ntc[:, :32].astype("float32"), time_axis=1)

    jnp = jax.numpy
    jx = JaxModel(lambda p, x: x[:, :, 0] @ p, params=jnp.ones(T))
    with pytest.raises(ValueError, match=r"shape \(\d+, 32, 2\).*TypeError"):
        cdig.explain(jx, x_ntc[:, :32], time_axis=1)
    jx = JaxModel(lambda p, x: x[:, :, 0] @ p, params=jnp.ones(T), input_shape=(None, T, C))
    with pytest.raises(ValueError, match=r"\(\d+, 32, 2\).*expects \(None, 64, 2\)"):
        cdig.explain(jx, x_ntc[:, :32], time_axis=1)


def test_bad_outputs_and_options(tf, jax, keras32, x_ntc):
    keras = pytest.importorskip("keras")
    inp = keras.Input((T, C))
    two = keras.Model(inp, [keras.layers.Flatten()(inp), keras.layers.Flatten()(inp)])
    with pytest.raises(TypeError, match="one tensor"):
        cdig.explain(two, x_ntc, time_axis=1, target=0)
    jnp = jax.numpy
    with pytest.raises(TypeError, match="complex"):
        cdig.explain(JaxModel(lambda x: jnp.fft.fft(x[:, :, 0])[:, 1]), x_ntc, time_axis=1)
    with pytest.raises(ValueError, match="framework='pytorch'"):
        wrap(keras32, framework="pytorch")
    with pytest.raises(TypeError, match="params"):
        wrap(keras32, params={})
    with pytest.raises(TypeError, match="already"):
        wrap(wrap(keras32), framework="keras")
    with pytest.raises(ValueError, match="64-bit"):
        JaxModel(jax_net, params={}, dtype="float64").dtype  # noqa: B018


# ---------------------------------------------------------------------- JAX specifics
def test_jax_forms_and_complex_intermediates(jax, x_ntc):
    """x -> y (jitted, detected), (params, x) -> y, and complex intermediates (rfft)."""
    jnp = jax.numpy
    w = np.linspace(0.0, 1.0, T // 2 + 1)

    def jax_power(p, x):
        spec = jnp.fft.rfft(x[:, :, 0], axis=-1)
        return jnp.log1p((jnp.abs(spec) ** 2 * p).sum(-1) / T)

    def torch_power(x):
        spec = torch.fft.rfft(x[:, 0, :], dim=-1)
        return torch.log1p((spec.abs() ** 2 * torch.from_numpy(w)).sum(-1) / T)

    jitted = jax.jit(lambda x: jax_power(jnp.asarray(w, dtype=x.dtype), x))
    assert detect_framework(jitted) == "jax"
    with jax.enable_x64(True):
        ref = cdig.explain(torch_power, x_ntc.transpose(0, 2, 1), domain="fourier", n_steps=32)
        a = cdig.explain(jitted, x_ntc, domain="fourier", time_axis=1, n_steps=32)
        b = cdig.explain(
            wrap(jax_power, framework="jax", params=jnp.asarray(w)),
            x_ntc,
            domain="fourier",
            time_axis=1,
            n_steps=32,
        )
    for got in (a, b):
        np.testing.assert_allclose(got.values, ref.values, atol=1e-12)
    # wrapping the same function again reuses JAX's compiled code
    from cdig.models._jax import _compiled

    sizes = [f._cache_size() for f in _compiled().values() if hasattr(f, "_cache_size")]
    with jax.enable_x64(True):
        cdig.explain(
            wrap(jax_power, framework="jax", params=jnp.asarray(w)),
            x_ntc,
            domain="fourier",
            time_axis=1,
            n_steps=32,
        )
    assert sizes == [f._cache_size() for f in _compiled().values() if hasattr(f, "_cache_size")]
    # without 64-bit mode the same function runs in float32
    c = cdig.explain(jitted, x_ntc, domain="fourier", time_axis=1, n_steps=32)
    assert c.values.dtype == np.float32
    np.testing.assert_allclose(c.values, ref.values, atol=1e-5 * np.abs(ref.values).max())


# ---------------------------------------------------------------------- isolation
def _run(code: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_import_does_not_load_tensorflow_or_jax():
    out = _run(
        """
        import sys, torch, cdig
        from cdig.models import detect_framework
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 1))
        attr = cdig.explain(model, torch.randn(2, 1, 32), domain="fourier")
        Fake = type("Fake", (), {"__module__": "keras.src.models.model"})
        Jx = type("Jx", (), {"__module__": "jaxlib._jax"})
        print(detect_framework(model), detect_framework(Fake()), detect_framework(Jx()))
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "jax", "keras")))
        """
    )
    assert out.split("\n")[:2] == ["torch keras jax", "[]"]


def test_other_keras_backends_get_a_recipe(keras32, monkeypatch):
    from cdig.models import _wrap

    for backend, hint in [("jax", "stateless_call"), ("torch", "framework='torch'")]:
        monkeypatch.setattr(_wrap, "_keras_backend", lambda model, b=backend: b)
        with pytest.raises(ValueError, match=hint):
            wrap(keras32)


def test_plain_foreign_functions_get_a_hint(tf, jax, x_ntc):
    """Plain functions of TF / JAX ops look like torch callables; the error says what to do."""
    jnp = jax.numpy
    for fn in (lambda x: jnp.sin(x).sum((1, 2)), lambda x: tf.reduce_sum(x, axis=(1, 2))):
        with pytest.raises(TypeError, match="framework='tensorflow'"):
            cdig.explain(fn, x_ntc, time_axis=1)


def test_torch_adapter_is_default():
    model = torch.nn.Linear(4, 1)
    assert isinstance(wrap(model), TorchModel) and not isinstance(wrap(model), KerasModel)
    assert wrap(model, framework="torch").framework == "torch"
