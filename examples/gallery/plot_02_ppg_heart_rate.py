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

The weights and windows are not shipped with cdig: this page runs
``examples/ppg_heart_rate.py`` on the folder ``../shared/data/kidppg`` next to the
repository (or the folder named by the environment variable ``CDIG_KIDPPG_DATA``) when it
holds ``model_S13.h5``, ``model_S9.h5`` and ``ppg_samples.npz``, and says so plainly when
it does not.
"""

# %%
# First, whether the data and Keras are here (if not, this page was built without them and
# shows no results):
import importlib.util
import os
import sys
from pathlib import Path
from tempfile import mkdtemp

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[1]))  # examples/
import ppg_heart_rate

data = Path(os.environ.get("CDIG_KIDPPG_DATA", ppg_heart_rate.DEFAULT_DATA)).resolve()
needed = ["ppg_samples.npz", *(f"model_{s}.h5" for s in ppg_heart_rate.SUBJECTS)]
missing = [name for name in needed if not (data / name).is_file()]
no_keras = [p for p in ("keras", "tensorflow") if importlib.util.find_spec(p) is None]
if missing:
    print(f"THE KID-PPG DATA IS MISSING: {data} lacks {', '.join(missing)}.")
    print("This page was built without it, so it shows no results.")
elif no_keras:
    print(f"{' and '.join(no_keras)} not installed: this page was built without the network.")
    print("Install them with: pip install cdig[keras,plot]")
else:
    print(f"KID-PPG data: {data}")

# %%
# The script's ``main`` loads each subject's network and window, explains it and prints
# what drives the prediction.
if not missing and not no_keras:
    results = ppg_heart_rate.main(["--data", str(data), "--out", mkdtemp()])

# %%
# Attribution per frequency (bars) with the window's amplitude spectrum (grey), the true
# heart rate (dashed) and the prediction (dotted). When the prediction is right (subject
# 13), the heart-rate bin and its second harmonic carry most of the rise; when it is wrong
# (subject 9), the largest attribution sits far from the heart rate.

# sphinx_gallery_multi_image = "single"
if not missing and not no_keras:
    for r in results:
        fig = ppg_heart_rate.window_figure(r)
