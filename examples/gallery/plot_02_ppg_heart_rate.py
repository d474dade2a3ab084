"""
Which frequencies drive a heart-rate network? (KID-PPG, Keras)
==============================================================

The paper's case study. The KID-PPG attention network estimates the heart rate in beats per
minute (BPM) from an 8 s photoplethysmography (PPG) window sampled at 32 Hz. Its published
Keras 2 weights (one model per left-out subject) are loaded into the same architecture
rebuilt in Keras 3, and one real window per subject is explained in the one-sided Fourier
domain, with frequencies in BPM, against the all-zero window. The integration is the
adaptive default: each window's path is refined where the gradient changes fast until the
attributions are certified to 1 %.

The weights and the two windows are not shipped with cdig. They come from the paper's
public repository (``esl-epfl/cross-domain-saliency-maps-paper`` on GitHub):
``model_S13.h5``, ``model_S9.h5`` and ``ppg_samples.npz``. Put them in one folder and point
the environment variable ``CDIG_KIDPPG_DATA`` at it (or pass ``--data`` to
``examples/ppg_heart_rate.py``); without them this page says what is missing and shows no
results.
"""

# %%
# First, whether the data and Keras are here:
import importlib.util
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[1]))  # examples/
import ppg_heart_rate

import cdig

data = Path(os.environ.get("CDIG_KIDPPG_DATA", ppg_heart_rate.DEFAULT_DATA))
needed = ["ppg_samples.npz", *(f"model_{s}.h5" for s in ppg_heart_rate.SUBJECTS)]
missing = [name for name in needed if not (data / name).is_file()]
no_keras = [p for p in ("keras", "tensorflow") if importlib.util.find_spec(p) is None]
if missing:
    print(
        f"THE KID-PPG DATA IS MISSING: this page was built without {', '.join(missing)} "
        "(the network's weights and the PPG windows), so it shows no results. They are in "
        "the paper's public repository, github.com/esl-epfl/cross-domain-saliency-maps-paper; "
        "put them in one folder and set CDIG_KIDPPG_DATA to it."
    )
elif no_keras:
    print(f"{' and '.join(no_keras)} not installed: this page was built without the network.")
    print("Install them with: pip install cdig[keras,plot]")
else:
    print(f"KID-PPG data found: {', '.join(needed)}")
ready = not missing and not no_keras

# %%
# The cdig call, per subject: the Keras model as it is (cdig bridges it), the window in
# Keras' layout ``(batch, time, channels)`` (``time_axis=1``), the one-sided Fourier domain,
# and the adaptive default with a budget of 2048 evaluations (the S13 window has a sharp
# transition along its path that the default 512 does not resolve to 1 %).
results = []
if ready:
    for subject, (x, truth) in ppg_heart_rate.load_windows(data).items():
        model = ppg_heart_rate.load_model(data, subject)
        attr = cdig.explain(
            model,
            x,  # (1, 256, 1)
            domain=cdig.domains.Fourier(onesided=True, fs=ppg_heart_rate.FS),
            time_axis=1,
            max_steps=2048,
        )
        attr = ppg_heart_rate.in_bpm(attr)  # frequency coordinates x 60
        rise = float(attr.outputs[0] - attr.baseline_outputs[0])
        results.append(
            {
                "subject": subject,
                "x": x,
                "truth": truth,
                "attr": attr,
                "prediction": float(attr.outputs[0]),
                "diff": rise,
                "delta": float(attr.delta[0]),
                "steps": int(attr.n_evaluations[0]),
            }
        )
        top = ", ".join(f"{t['frequency']:.1f} ({t['value']:+.1f})" for t in attr.top(3))
        print(
            f"{subject}: prediction {attr.outputs[0]:.1f} BPM (truth {truth:.1f}); "
            f"f(x) - f(x') = {rise:.1f} BPM after {attr.n_evaluations[0]} evaluations, "
            f"estimated error {100 * attr.error[0]:.2f} %; top BPM (attribution): {top}"
        )

# %%
# Attribution per frequency (bars) with the window's amplitude spectrum (grey), the true
# heart rate (dashed) and the prediction (dotted). When the prediction is right (subject
# 13), the heart-rate bin and its second harmonic carry most of the rise; when it is wrong
# (subject 9), the largest attribution sits far from the heart rate.

# sphinx_gallery_multi_image = "single"
for r in results:
    fig = ppg_heart_rate.window_figure(r)
