"""
What the model looks at, per class, over a whole dataset
========================================================

:func:`cdig.explain_dataset` explains a dataset batch by batch and writes the attributions
to disk as shards (resumable after an interruption); the run then summarizes them per class
without loading them all at once. Here the small FordA CNN of the multi-domain example
(``_forda.py``) is explained on 128 test recordings in the Fourier and wavelet domains, and
the mean attribution per frequency and per wavelet band is drawn for each predicted class,
with a band of one standard deviation across the class's recordings.
"""

# %%
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import cdig

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parent))  # _forda.py, beside this script
from _forda import forda_model

model, test, accuracy = forda_model()
X, labels = test.X[:128], test.classes[test.y[:128]]
out = Path(tempfile.mkdtemp()) / "forda"
run = cdig.explain_dataset(
    model,
    X,
    domain=["fourier", "wavelet"],
    labels=labels,
    target="predicted",
    out=out,
    shard_size=64,
    progress=False,  # no progress bar on this page
)
summary = run.summary("fourier")
counts = ", ".join(f"class {g}: {n}" for g, n in zip(summary.groups, summary.counts))
print(f"explained {len(X)} recordings in {out}; per predicted class: {counts}")
print(f"largest |delta| over the run: {np.abs(run.delta('fourier')).max():.1e}")

# %%
# Mean Fourier attribution per predicted class (class 0 is FordA's label -1, class 1 its
# label 1). The two classes lean on different parts of
# the spectrum: where one class's mean is positive (evidence for it), the other's is often
# negative.
fig = run.plot("fourier")
fig.axes[0].set_xlim(0.0, 125.0)

# %%
# The same run summed per wavelet band (``cA``: the approximation, ``cD1``: the finest
# details); each band is labelled with the frequencies it covers, in cycles per sample.
fig, ax = plt.subplots(figsize=(9, 3.6), constrained_layout=True)
run.plot("wavelet", ax=ax)
ticks = [t.get_text().replace(" cycles/sample", "") for t in ax.get_xticklabels()]
ax.set_xticks(ax.get_xticks(), ticks, fontsize=8)
ax.set_xlabel("wavelet band (frequencies in cycles per sample)")

# %%
# The summary as numbers: for each class, the five frequencies with the largest mean
# attribution (frequency bins: cycles per 500-sample recording, as FordA states no sampling
# rate).
freq = summary.coords["frequency"]
for group, mean in zip(summary.groups, summary.mean):
    total = mean.sum(axis=0)  # over the channel axis
    top = np.argsort(-total)[:5]
    print(f"class {group}: " + ", ".join(f"bin {freq[k]:g} ({total[k]:+.3f})" for k in top))
