"""How much does the framework bridge cost, and which VJP strategy is faster?

Prints ratios of median wall times measured side by side in one run (interleaved repeats),
so a busy machine slows every variant alike:

1. one network (Conv1D + tanh + pool + Dense) explained through torch natively, through the
   Keras bridge and through the JAX bridge (same weights, same results);
2. Keras VJP strategies on the KID-PPG architecture (random weights): the shipped one
   (compiled forward + compiled VJP that recomputes the forward) against an eager
   ``GradientTape`` kept from the forward call;
3. JAX VJP strategies: residuals kept from ``jax.vjp`` in the forward call (shipped) against
   recomputing the forward in the backward call.

Run: ``python benchmarks/bridge.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _timing import rounds

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cdig
from cdig.models import JaxModel, KerasModel

ROOT = Path(__file__).resolve().parents[1]


def interleaved(variants: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds per variant over ``repeats`` shuffled rounds (``_timing.rounds``)."""
    return {k: float(np.median(v)) for k, v in rounds(variants, repeats).items()}


def report(title: str, med: dict[str, float], ref: str) -> None:
    print(f"\n{title}")
    for name, t in med.items():
        print(f"  {name:<34s} {t * 1e3:9.1f} ms   x{t / med[ref]:.2f} of {ref}")


class EagerTapeKeras(KerasModel):
    """The alternative strategy: eager forward, tape kept for the backward call."""

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.model(self.tf.convert_to_tensor(x), training=False).numpy()

    def _forward_vjp(self, x: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        tf = self.tf
        xt = tf.convert_to_tensor(x)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(xt)
            y = self.model(xt, training=False)

        def vjp(g: np.ndarray) -> np.ndarray:
            return tape.gradient(y, xt, output_gradients=tf.cast(g, y.dtype)).numpy()

        return y.numpy(), vjp


class RecomputeJax(JaxModel):
    _keep_residuals = False


def small_networks() -> tuple[Any, Any, Any]:
    import jax
    import keras

    rng = np.random.default_rng(0)
    cw, cb = rng.normal(size=(5, 4, 16)).astype("float32") * 0.4, np.zeros(16, "float32")
    dw, db = rng.normal(size=(16, 3)).astype("float32"), np.zeros(3, "float32")

    inp = keras.Input((256, 4))
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(16, 5, activation="tanh")(inp))
    km = keras.Model(inp, keras.layers.Dense(3)(h))
    km.layers[1].set_weights([cw, cb])
    km.layers[-1].set_weights([dw, db])

    tm = torch.nn.Sequential(torch.nn.Conv1d(4, 16, 5), torch.nn.Tanh())
    with torch.no_grad():
        tm[0].weight.copy_(torch.from_numpy(cw.transpose(2, 1, 0).copy()))
        tm[0].bias.zero_()
    dense = torch.from_numpy(dw)

    def torch_net(x: torch.Tensor) -> torch.Tensor:
        return tm(x).mean(-1) @ dense

    params = {"w": jax.numpy.asarray(cw), "d": jax.numpy.asarray(dw)}

    def jax_net(p: Any, x: Any) -> Any:
        h = jax.lax.conv_general_dilated(
            x, p["w"], (1,), "VALID", dimension_numbers=("NWC", "WIO", "NWC")
        )
        return jax.numpy.tanh(h).mean(1) @ p["d"]

    return torch_net, km, JaxModel(jax_net, params=params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = np.random.default_rng(1).normal(size=(8, 256, 4)).astype("float32")
    kw = {"domain": "fourier", "target": 0, "n_steps": 64, "fs": 32.0}

    torch_net, keras_net, jax_net = small_networks()
    x_t = x.transpose(0, 2, 1).copy()
    med = interleaved(
        {
            "torch (native)": lambda: cdig.explain(torch_net, x_t, **kw),
            "keras (bridge)": lambda: cdig.explain(keras_net, x, time_axis=1, **kw),
            "jax (bridge)": lambda: cdig.explain(jax_net, x, time_axis=1, **kw),
        },
        args.repeats,
    )
    report("1. one network, 8 series x 64 steps, Fourier domain", med, "torch (native)")

    spec = importlib.util.spec_from_file_location("ppg", ROOT / "examples" / "ppg_heart_rate.py")
    assert spec is not None and spec.loader is not None
    ppg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ppg)
    model = ppg.build_model()
    xp = np.random.default_rng(2).normal(size=(4, 256, 1)).astype("float32") * 30
    kp = {"domain": "fourier", "n_steps": 64, "time_axis": 1, "internal_batch_size": 256}
    shipped, eager = KerasModel(model), EagerTapeKeras(model)
    med = interleaved(
        {
            "compiled fwd + compiled VJP": lambda: cdig.explain(shipped, xp, **kp),
            "eager tape": lambda: cdig.explain(eager, xp, **kp),
        },
        args.repeats,
    )
    report(
        "2. KID-PPG network, 4 windows x 64 steps: Keras VJP strategy",
        med,
        "compiled fwd + compiled VJP",
    )

    recompute = RecomputeJax(jax_net.fn, params=jax_net.params)
    med = interleaved(
        {
            "residuals kept (jax.vjp)": lambda: cdig.explain(jax_net, x, time_axis=1, **kw),
            "recompute in backward": lambda: cdig.explain(recompute, x, time_axis=1, **kw),
        },
        args.repeats,
    )
    report("3. JAX VJP strategy (network of 1.)", med, "residuals kept (jax.vjp)")


if __name__ == "__main__":
    main()
