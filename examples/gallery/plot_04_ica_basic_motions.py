"""
Independent movement components: ICA on BasicMotions
====================================================

aeon's BasicMotions holds 6-channel smartwatch recordings (acceleration and angular velocity
along x, y and z; 100 samples each) of four activities: badminton, running, standing and
walking. A small 1-D CNN is trained on it (``examples/ica_basic_motions.py``, 40 full-batch
steps here), then each test recording is unmixed on its own by FastICA
(:class:`cdig.domains.ICA`) into 6 independent components, and the predicted class's logit
is attributed to the components: which independent movement pattern drives the decision,
and which sensor channel it loads on most.

The ICA domain's baseline is ``A = 0`` (all component activations zero): the effective
baseline series keeps only each channel's mean, a constant signal, so ``f(x) - f(x')`` is
measured from "no movement at all".
"""

# %%
# Training (plain PyTorch, in the example script) and one test recording per class:
import sys
from pathlib import Path

import numpy as np

import cdig

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[1]))  # examples/
from ica_basic_motions import CHANNELS, train

model, test, accuracy = train(steps=40, seed=0)
pick = [int(np.flatnonzero(test.y == c)[0]) for c in range(test.n_classes)]
x = test.X[pick].astype(np.float64)  # (4, 6, 100): one recording per class
print(f"test accuracy {accuracy:.2f}; explaining {', '.join(test.classes[test.y[pick]])}")

# %%
# The cdig call: FastICA per recording (``max_iter`` high enough that every recording's
# unmixing converges), the predicted class, 64 Gauss-Legendre points.
domain = cdig.domains.ICA(max_iter=2000)
attr = cdig.explain(
    model.double(), x, domain, target="predicted", n_steps=64, channel_names=CHANNELS
)
print("channels:", ", ".join(attr.coords["channel"]))  # the figures label them so
print("FastICA iterations per recording:", attr.domain.n_iter_)
print("completeness error delta per recording:", np.abs(attr.delta).max())

# %%
# Which component matters, and on which sensor it loads most (the mixing matrix
# ``attr.domain.mixing_``, shape (batch, channel, component), names the channels):
per = attr.sum_over("channel")  # (batch, component)
for i, name in enumerate(test.classes[test.y[pick]]):
    k = int(np.argmax(np.abs(per.values[i])))
    channel = CHANNELS[int(np.argmax(np.abs(attr.domain.mixing_[i, :, k])))]
    print(f"{name:>9}: top component ic{k} ({per.values[i, k]:+.3f}), loads most on {channel}")

# %%
# The components of the badminton recording: the bars rank the components by their
# attribution summed over channels, the map splits it per named channel (``acc_x`` ...
# ``gyr_z``), and the rows below draw each
# independent source over time. The attributions are negative here: the constant baseline
# series alone already scores badminton higher than the recording does, a reminder that the
# baseline decides the question an attribution answers.
fig = attr.plot(sample=0)

# %%
# A walking recording: other components, other channels.
fig = attr.plot(sample=attr.batch_size - 1)
