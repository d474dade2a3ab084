"""
One FordA series in four domains
================================

The same prediction explained in the time, Fourier, short-time Fourier (STFT) and wavelet
domains. FordA (UCR archive) holds 500-sample recordings of engine noise, normal (class 0)
or with a fault (class 1); a small CNN is trained on it for three epochs, about half a minute (see
``_forda.py`` beside this script).

Each domain answers a different question about the same number ``f(x) - f(x')``:
*when* (time), *which frequencies* (Fourier), *which frequencies when* (STFT) and *which
scales where* (wavelet). All four attributions sum to the same difference: completeness
holds in every domain, and the linear domains share one integration pass.
"""

# %%
import sys
from pathlib import Path

import numpy as np

import cdig

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parent))  # _forda.py, beside this script
from _forda import forda_model

model, test, accuracy = forda_model()
print(f"FordA test accuracy of the small CNN: {accuracy:.2f}")

x = test.X[:1]  # (1, 1, 500): one recording
attrs = cdig.explain(model, x, ["time", "fourier", "stft", "wavelet"], target="predicted")
for name, attr in attrs.items():
    diff = attr.outputs[0] - attr.baseline_outputs[0]
    print(
        f"{name:8s} coefficients {attr.values.shape[1:]!s:15s} sum {attr.values[0].sum():+.4f}"
        f"  f(x) - f(x') {diff:+.4f}  delta {attr.delta[0]:+.1e}"
    )

# %%
# Time: which samples of the recording move the logit of the predicted class.
fig = attrs["time"].plot(inputs=x)

# %%
# Fourier: one score per non-negative frequency (in cycles per sample: FordA states no
# sampling rate), with the recording's amplitude spectrum for reference; above bin 125 the
# model and the recording have almost nothing.
fig = attrs["fourier"].plot(inputs=x, xlim=(0.0, 125.0))

# %%
# STFT: frequency against time.
fig = attrs["stft"].plot(inputs=x)

# %%
# Wavelet: one row per scale band, coefficients along time.
fig = attrs["wavelet"].plot(inputs=x)

# %%
# The totals agree across domains, to the integration's accuracy:
totals = np.array([a.values[0].sum() for a in attrs.values()])
print("sums per domain:", np.round(totals, 4))
