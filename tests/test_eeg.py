"""The EEG case (examples/eeg_seizure.py) on the published seizure detector and real EEG.

* The torch front end equals brainmaze-torch's ``preprocess_input`` on the real samples
  within float64 rounding; the composed detector equals the package's own pipeline.
* Every result of the three parts is complete (``|delta| <= rtol |f(x) - f(x')|``).
* Part b's known answers: Fourier attributions on 3 Hz and its harmonics (>= 80 % of their
  sum), STFT attributions after the 5 s onset (>= 95 %), the seizure probability rises.
* Part c: the component with the most slow (< 3 Hz) power on the frontal channels is the
  blink component; its largest mixing weight is on a frontal channel, it is among the three
  components with the largest attributions and carries at least 10 % of them.
* A time-first output of the real model raises an error that names ``transpose``.

Skips with a reason when brainmaze-torch, spkit or openspindlenet are not installed
(``pip install cdig[eeg]`` and ``pip install --no-deps openspindlenet==0.1.1``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import cdig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MISSING = [
    name for name in ("brainmaze_torch", "spkit", "openspindlenet", "sklearn")
    if importlib.util.find_spec(name) is None
]  # fmt: skip
pytestmark = [
    pytest.mark.scripts,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{', '.join(MISSING)} not installed: pip install cdig[eeg] and "
        "pip install --no-deps openspindlenet==0.1.1",
    ),
]


@pytest.fixture(scope="module")
def eeg() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_example_eeg_seizure", EXAMPLES / "eeg_seizure.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _complete(attr, rtol: float = 0.01, atol: float = 3e-5) -> None:
    """Complete within ``rtol`` of the gap, or ``atol``: the network computes in float32
    (brainmaze-torch creates its LSTM state in float32), whose rounding in the gradients
    leaves about 1e-5 of the probability unexplained when the gap itself is small."""
    gap = attr.outputs - attr.baseline_outputs
    assert np.all(np.isfinite(attr.values))
    assert np.all(np.abs(attr.delta) <= rtol * np.abs(gap) + atol), (attr.delta, gap)
    np.testing.assert_allclose(attr.values.reshape(len(gap), -1).sum(1), gap + attr.delta,
                               rtol=1e-5, atol=1e-7)  # fmt: skip


def test_front_end_equals_preprocess_input(eeg):
    from brainmaze_torch.seizure_detection import preprocess_input

    root = Path(next(iter(importlib.util.find_spec("openspindlenet").submodule_search_locations)))
    ieeg = eeg.load_ieeg()
    scalp = np.loadtxt(root / "data" / "eeg_sample.txt", max_rows=7500)
    front = eeg.SeizureFrontEnd(eeg.FS_IEEG).double()
    # the whole iEEG sample includes its zero-filled gap (columns without power stay 0)
    for x in (ieeg, eeg.ieeg_segment(), scalp, np.stack([scalp[:2500], ieeg[:2500]])):
        want = preprocess_input(x, eeg.FS_IEEG)
        got = front(torch.tensor(np.atleast_2d(x))).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.abs(want).max())
    # the whole detector equals the package's own pipeline (network in float32)
    model = eeg.SeizureDetector(eeg.FS_IEEG)
    x = eeg.ieeg_segment()
    with torch.no_grad():
        _, probs = model.net(torch.tensor(preprocess_input(x, eeg.FS_IEEG), dtype=torch.float32))
        ours = model(torch.tensor(x)[None, None])
    np.testing.assert_allclose(ours[0].numpy(), probs[:, 0].numpy(), atol=2e-5)


def test_fft_resample_equals_scipy(eeg):
    from scipy.signal import resample

    x = np.random.default_rng(0).normal(size=(3, 128))
    got = eeg.fft_resample(torch.tensor(x), 2).numpy()
    np.testing.assert_allclose(got, resample(x, 256, axis=-1), atol=1e-12)


def test_time_first_output_names_transpose(eeg):
    model = eeg.SeizureDetector(eeg.FS_IEEG)
    x = eeg.ieeg_segment()[None, None, :500]

    def raw(x: torch.Tensor) -> torch.Tensor:  # the network's own (n_columns, batch, 4)
        return model.net(model.front(x[:, 0]).float())[1]

    with pytest.raises(ValueError, match=r"time-first.*transpose"):
        cdig.explain(raw, x, "time", target=lambda p: p[:, -1, 3], n_steps=4)


def test_part_a_real_ieeg_bands(eeg):
    a = eeg.part_a(seconds=6.0)  # the page runs 15 s
    for attr in (a["fourier"], a["stft"]):
        _complete(attr)
        assert attr.converged.all()
    bands = a["bands"]
    assert list(bands.coords["band"][:5]) == list(eeg.BANDS)
    np.testing.assert_allclose(bands.values.sum(), a["fourier"].values.sum(), rtol=1e-5)
    assert "class 3" in a["fourier"].target and "horizon" not in a["fourier"].target


def test_part_b_known_answer(eeg):
    b = eeg.part_b()
    fourier, stft = b["fourier"], b["stft"]
    for attr in (fourier, stft):
        _complete(attr)
    assert fourier.outputs[0] > fourier.baseline_outputs[0] + 0.1  # the seizure probability rises
    assert b["harmonic_share"] >= 0.8
    assert b["after_share"] >= 0.95
    assert fourier.target == "class 3, mean over time columns 9-28 (the last 10 s)"


def test_part_c_blink_component(eeg):
    c = eeg.part_c()  # the page's 4 s (shorter windows leave a gap within float32 noise)
    attr, pc = c["attribution"], c["per_component"]
    _complete(attr)
    assert attr.dims == ("component", "time")
    assert list(pc.coords["component"]) == [f"ic{k}" for k in range(14)]
    blink = c["blink"]
    A = np.asarray(c["ica"].mixing_)
    top = [c["names"][i] for i in np.argsort(-np.abs(A[:, blink]))[:2]]
    assert top[0] in eeg.FRONTAL and c["frontal"][blink] >= 0.5, (top, c["frontal"][blink])
    assert attr.converged.all()
    # the blink component carries a measured share of what the artifacts do (0.19 here)
    assert c["blink_share"] >= 0.1
    assert blink in np.argsort(-np.abs(pc.values[0]))[:3]
    np.testing.assert_allclose(pc.values.sum(), attr.values.sum(), rtol=1e-5)


def test_zero_baseline_is_named_singular(eeg):
    """The detector z-scores its input: from zeros the path is singular at the baseline.
    The default names it early (within a quarter of max_steps), with advice that names the
    baseline that fits, instead of spending the budget and asking for more."""
    model = eeg.SeizureDetector(eeg.FS_IEEG)
    x = eeg.ieeg_segment(6.0)[None, None]
    target = cdig.TimeColumns("mean", cls=eeg.SEIZURE)
    with pytest.warns(cdig.ConvergenceWarning) as record:
        attr = cdig.explain(model, x, "fourier", target=target, fs=eeg.FS_IEEG)
    assert list(attr.status) == ["singular"] and not attr.converged.any()
    assert attr.n_evaluations[0] <= 512 // 4
    message = " ".join(str(w.message) for w in record)
    assert "singular at the baseline" in message and "phase_randomized" in message
    assert "No max_steps can fix this" in message and "raise max_steps" not in message
