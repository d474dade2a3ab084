"""A published seizure detector on real EEG: Fourier, STFT and ICA attributions.

The paper's EEG case. The model is the CNN + bidirectional LSTM seizure detector of Sladky et
al. (2022, Brain Communications, doi:10.1093/braincomms/fcac115) with its published weights,
from ``brainmaze-torch==0.2.0`` (``load_trained_model("modelA")``). It reads a spectrogram of
one channel (1 s segments every 0.5 s, bins 0-99 Hz, z-scored) and gives four class
probabilities per 0.5 s column; class 3 is "seizure" (the package does not name classes 0-2).
Its preprocessing ``preprocess_input`` is numpy/scipy, so it is rewritten here in torch
(:class:`SeizureFrontEnd`, equal to it within float64 rounding) and composed with the network
(:class:`SeizureDetector`): the attributions are on the raw recording.

Three parts:

a. A real 15 s iEEG segment (openspindlenet's ``ieeg_sample.txt``, 250 Hz, after its
   zero-filled gap) in the Fourier domain, summed over the clinical bands, and in the STFT.
b. A known answer: a 3 Hz spike-and-wave train added to the same segment from t = 5 s,
   explained from the original recording as baseline. The Fourier attributions lie on 3 Hz and
   its harmonics, the STFT attributions after 5 s, and the seizure probability rises.
c. ICA over channels: spkit's 14-channel Emotiv recording with artifacts (128 Hz, 16 s), the
   detector applied to every channel and averaged, explained through the independent components
   of FastICA fitted on the whole recording, from spkit's artifact-cleaned copy of the same
   recording as baseline; the blink component (slow, frontal) is named and its share measured.

The detector normalises its input (z-scores the raw signal, then every spectrogram bin), so its
output is the same for every scaled copy of a recording and the zero baseline is a singular
point; part a starts from a phase-randomised surrogate
(:func:`cdig.baselines.phase_randomized`) instead. Run::

    python examples/eeg_seizure.py

(needs ``pip install cdig[eeg]`` and ``pip install --no-deps openspindlenet==0.1.1``).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Sampling rate of openspindlenet's samples (its inference code uses sampling_period=1/250).
FS_IEEG = 250
#: Clinical EEG bands in Hz (gamma up to the detector's last spectrogram bin).
BANDS = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 100.0),
}
#: The detector's seizure class and its time step (seconds between output columns).
SEIZURE, COLUMN_S = 3, 0.5
FRONTAL = ("AF3", "AF4", "F7", "F8")
N_BINS = 100  # the detector's spectrogram bins, 0-99 Hz


# ---------------------------------------------------------------------- the model
class SeizureFrontEnd(torch.nn.Module):
    """``brainmaze_torch.seizure_detection.preprocess_input`` in torch, differentiable.

    ``(batch, n_samples) -> (batch, 100, n_columns)``, ``n_columns = (n_samples - fs) //
    (fs // 2) + 1``. Steps (as the original): z-score each row (population std; a constant
    row is only centred); spectrogram as :func:`scipy.signal.spectrogram` with its defaults
    (Tukey window 0.25, constant detrend per segment, one-sided PSD density) with 1 s segments
    every 0.5 s; bins 0-99 Hz; each bin z-scored over the columns with power, columns without
    power left at 0. Inputs must be finite (cdig rejects NaN before calling a model); the
    original's zero-filling of NaN samples is not reproduced.
    """

    def __init__(self, fs: int) -> None:
        super().__init__()
        from scipy.signal import get_window

        self.fs, self.hop = int(fs), int(fs) // 2
        if self.fs != fs or self.fs % 2 or self.fs < 2 * N_BINS:
            raise ValueError(f"fs={fs} must be an even whole number of Hz >= {2 * N_BINS}.")
        win = get_window(("tukey", 0.25), self.fs)
        weight = np.full(N_BINS, 2.0 / (self.fs * (win**2).sum()))
        weight[0] /= 2  # the DC bin is not doubled in a one-sided PSD
        self.register_buffer("window", torch.tensor(win))
        self.register_buffer("weight", torch.tensor(weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        z = (x - mu) / torch.sqrt(torch.where(var > 0, var, torch.ones_like(var)))
        seg = z.unfold(-1, self.fs, self.hop)  # (batch, n_columns, fs)
        seg = seg - seg[..., :1]  # a constant segment detrends to exactly 0, as in scipy
        seg = seg - seg.mean(-1, keepdim=True)
        spec = torch.fft.rfft(seg * self.window.to(x.dtype), dim=-1)[..., :N_BINS]
        power = ((spec.real**2 + spec.imag**2) * self.weight.to(x.dtype)).transpose(-1, -2)
        valid = (power.sum(-2, keepdim=True) != 0).to(x.dtype)  # columns with power
        count = valid.sum(-1, keepdim=True).clamp_min(1.0)
        mean = (power * valid).sum(-1, keepdim=True) / count
        var_f = (((power - mean) * valid) ** 2).sum(-1, keepdim=True) / count
        sd = torch.sqrt(torch.where(var_f > 0, var_f, torch.ones_like(var_f)))
        return torch.where(valid > 0, (power - mean) / sd, power)


def fft_resample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Upsample along the last axis by ``factor`` with zero-padded FFT (scipy.signal.resample).

    Linear and exact for band-limited periodic signals; it adds no content above the original
    Nyquist frequency.
    """
    n = x.shape[-1]
    X = torch.fft.rfft(x, dim=-1)
    if n % 2 == 0:  # split the Nyquist bin between +f and -f, as scipy.signal.resample
        X = torch.cat([X[..., :-1], X[..., -1:] / 2], dim=-1)
    return torch.fft.irfft(X, n=n * factor, dim=-1) * factor


class SeizureDetector(torch.nn.Module):
    """Raw channels in, class probabilities per 0.5 s column out, batch first.

    ``(batch, channels, n_samples)`` at ``fs`` Hz (or ``fs / upsample``) ->
    ``(batch, n_columns, 4)``: the detector run on every channel, probabilities averaged over
    the channels (one channel: the detector itself). The network is the published
    ``modelA`` (float32; the front end runs in the input's dtype).
    """

    def __init__(self, fs: int, upsample: int = 1, net: torch.nn.Module | None = None) -> None:
        super().__init__()
        from brainmaze_torch.seizure_detection import load_trained_model

        self.front = SeizureFrontEnd(fs)
        self.upsample = int(upsample)
        self.net = load_trained_model("modelA") if net is None else net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[0], x.shape[1] if x.ndim == 3 else 1
        rows = x.reshape(batch * channels, x.shape[-1])
        if self.upsample > 1:
            rows = fft_resample(rows, self.upsample)
        spec = self.front(rows).to(torch.float32)
        _, probs = self.net(spec)  # time first: (n_columns, batch * channels, 4)
        probs = probs.transpose(0, 1).reshape(batch, channels, -1, 4)
        return probs.mean(dim=1).to(x.dtype)


# ---------------------------------------------------------------------- the data
def load_ieeg() -> np.ndarray:
    """openspindlenet's real iEEG sample: 7500 samples (30 s at 250 Hz), a text file."""
    spec = importlib.util.find_spec("openspindlenet")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "openspindlenet is not installed: pip install --no-deps openspindlenet==0.1.1 "
            "(only its data files are read)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "ieeg_sample.txt"
    x = np.loadtxt(path, dtype=np.float64, max_rows=7500)
    if x.shape != (7500,) or not np.isfinite(x).all():
        raise ValueError(f"{path} does not hold 7500 finite samples")
    return x


def ieeg_segment(seconds: float = 15.0) -> np.ndarray:
    """Up to 15 s of real iEEG after the sample's zero-filled gap (which ends at 14.4 s)."""
    if not 1.0 <= seconds <= 15.0:
        raise ValueError(f"seconds={seconds} must lie in [1, 15]")
    return load_ieeg()[15 * FS_IEEG : 15 * FS_IEEG + round(seconds * FS_IEEG)]


def spike_and_wave(n: int, fs: float, onset_s: float, amplitude: float) -> np.ndarray:
    """A 3 Hz spike-and-wave train from ``onset_s``: a 12 ms spike then a slow negative wave."""
    t = np.arange(n) / fs
    phase = (3.0 * t) % 1.0
    spike = np.exp(-0.5 * ((phase - 0.1) / 0.012) ** 2)
    wave = -0.6 * np.exp(-0.5 * ((phase - 0.45) / 0.09) ** 2)
    return amplitude * (spike + wave) * (t >= onset_s)


def load_emotiv() -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """spkit's 16 s, 14-channel Emotiv recording with artifacts, and spkit's ICA-cleaned copy.

    Returns ``(raw, cleaned, channel_names, fs)``: two ``(14, 2048)`` arrays at 128 Hz. Read
    by spkit's own loader from the package's own file (spkit unpickles its bundled
    ``EEG16sec_artifact.pkl``; nothing of the user's is unpickled).
    """
    import spkit

    data = spkit.data.eeg_sample_artifact()
    raw = np.asarray(data["X_raw"], dtype=np.float64).T
    cleaned = np.asarray(data["X_ica"], dtype=np.float64).T
    return raw, cleaned, [str(c) for c in data["ch_names"]], int(data["fs"])


def fit_ica(x: np.ndarray) -> Any:
    """FastICA on the whole recording ``(channels, time)``: one component per channel."""
    from sklearn.decomposition import FastICA

    ica = FastICA(n_components=x.shape[0], whiten="unit-variance", random_state=0, max_iter=1000)
    ica.fit(x.T)
    return ica


def ica_domain(ica: Any) -> Any:
    """The source activations of a fitted ICA as a cdig domain, ``x = A s + m``.

    Coefficients ``(batch, component, time)``: ``s = W (x - m)``; the inverse ``A s + m``
    is affine, so the domain is linear and the path from a baseline ``x'`` runs through the
    sources of ``x'``.
    """
    import cdig

    A = torch.tensor(ica.mixing_)  # (channels, components)
    W = torch.linalg.inv(A)
    m = torch.tensor(ica.mean_)[:, None]
    names = [f"ic{k}" for k in range(A.shape[1])]

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("kc,nct->nkt", W.to(x.dtype), x - m.to(x.dtype))

    def inverse(s: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ck,nkt->nct", A.to(s.dtype), s) + m.to(s.dtype)

    return cdig.domains.Custom(
        forward, inverse, linear=True, dims=("component", "time"), coords={"component": names}
    )


# ---------------------------------------------------------------------- the checks
def harmonic_share(
    attr: Any, f0: float = 3.0, width: float = 0.25, absolute: bool = False
) -> float:
    """Share of the attributions' sum (or of ``|attribution|``) within ``width`` Hz of ``f0``
    and its harmonics."""
    f = np.asarray(attr.coords["frequency"], dtype=np.float64)
    near = np.abs(f - f0 * np.round(f / f0)) <= width
    near &= f >= f0 - width
    v = attr.values.sum(axis=tuple(range(attr.values.ndim - 1)))  # per frequency
    v = np.abs(v) if absolute else v
    return float(v[near].sum() / v.sum())


def after_share(attr: Any, t0: float) -> float:
    """Share of the STFT attributions' sum in frames centred at ``t >= t0`` seconds."""
    t = np.asarray(attr.coords["time"], dtype=np.float64)
    v = attr.values.sum(axis=tuple(range(attr.values.ndim - 1)))  # per frame
    return float(v[t >= t0].sum() / v.sum())


def frontal_weight(ica: Any, names: list[str]) -> np.ndarray:
    """Per component: the share of its squared mixing weights on the frontal channels."""
    A = np.asarray(ica.mixing_)
    rows = [names.index(c) for c in FRONTAL]
    return (A[rows] ** 2).sum(axis=0) / (A**2).sum(axis=0)


def blink_score(ica: Any, x: np.ndarray, names: list[str], fs: float) -> np.ndarray:
    """Per component: slow (< 3 Hz) power it puts on the frontal channels AF3, AF4, F7, F8.

    Eye blinks and movements are slow and frontal: the blink component is the one with the
    largest score (its frontal squared mixing weights times its source's variance below
    3 Hz over the recording ``x``, ``(channels, time)``).
    """
    from scipy.signal import butter, sosfiltfilt

    A = np.asarray(ica.mixing_)
    sources = np.asarray(ica.transform(x.T)).T
    slow = sosfiltfilt(butter(4, 3.0, fs=fs, output="sos"), sources, axis=-1)
    return (A[[names.index(c) for c in FRONTAL]] ** 2).sum(axis=0) * slow.var(axis=-1)


# ---------------------------------------------------------------------- the three parts
def part_a(seconds: float = 15.0) -> dict[str, Any]:
    """A real iEEG segment in Fourier (bands) and STFT, from a phase-randomised surrogate."""
    import cdig

    x = ieeg_segment(seconds)[None, None]  # (1 recording, 1 channel, 3750 samples)
    model = SeizureDetector(FS_IEEG)
    target = cdig.TimeColumns("mean", cls=SEIZURE)
    domains = {"fourier": cdig.domains.Fourier(fs=FS_IEEG), "stft": cdig.domains.STFT(
        n_fft=FS_IEEG, hop_length=FS_IEEG // 2, fs=FS_IEEG)}  # fmt: skip
    start = time.perf_counter()
    attrs = cdig.explain(
        model, x, list(domains.values()), target=target,
        baselines=cdig.baselines.phase_randomized(x, n=1, seed=0),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    fourier, stft = attrs["fourier"], attrs["stft"]
    return {"fourier": fourier, "stft": stft, "bands": fourier.bands(BANDS), "seconds": seconds}


def part_b(amplitude: float = 6.0) -> dict[str, Any]:
    """The known answer: a 3 Hz spike-and-wave train from 5 s, from the original recording."""
    import cdig

    x0 = ieeg_segment()
    sw = spike_and_wave(x0.size, FS_IEEG, 5.0, amplitude * x0.std())
    x, base = (x0 + sw)[None, None], x0[None, None]
    model = SeizureDetector(FS_IEEG)
    target = cdig.TimeColumns("mean", cls=SEIZURE, last_s=10, column_s=COLUMN_S)
    start = time.perf_counter()
    attrs = cdig.explain(
        model, x, [cdig.domains.Fourier(fs=FS_IEEG), cdig.domains.STFT(
            n_fft=FS_IEEG, hop_length=FS_IEEG // 2, fs=FS_IEEG)],
        target=target, baselines=base,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    fourier, stft = attrs["fourier"], attrs["stft"]
    return {
        "fourier": fourier,
        "stft": stft,
        "harmonic_share": harmonic_share(fourier),
        "after_share": after_share(stft, 5.0),
        "seconds": seconds,
    }


def part_c(window: tuple[float, float] = (5.0, 9.0)) -> dict[str, Any]:
    """ICA over channels on spkit's artifact recording, from its artifact-cleaned copy."""
    import cdig

    rec, cleaned, names, fs = load_emotiv()
    ica = fit_ica(rec)  # on the whole 16 s
    lo, hi = (round(s * fs) for s in window)
    x, base = rec[None, :, lo:hi], cleaned[None, :, lo:hi]  # (1, 14, 512): 4 s
    model = SeizureDetector(2 * fs, upsample=2)  # 128 Hz upsampled to 256 Hz in the model
    target = cdig.TimeColumns("mean", cls=SEIZURE)
    start = time.perf_counter()
    attr = cdig.explain(model, x, ica_domain(ica), target=target, baselines=base)
    seconds = time.perf_counter() - start
    per_component = attr.sum_over("time")
    blink = int(np.argmax(blink_score(ica, rec, names, fs)))
    share = np.abs(per_component.values[0])
    return {
        "attribution": attr,
        "per_component": per_component,
        "ica": ica,
        "names": names,
        "frontal": frontal_weight(ica, names),
        "blink": blink,
        "blink_share": float(share[blink] / share.sum()),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    out: dict[str, dict[str, Any]] = {}
    out["a"] = a = part_a()
    f = a["fourier"]
    print(f"a. real iEEG, 15 s: {a['seconds']:.1f} s, {int(f.n_evaluations.sum())} evaluations")
    print(f"   f(x) = {f.outputs[0]:.4f}, f(x') = {f.baseline_outputs[0]:.4f}, delta = "
          f"{f.delta[0]:.1e}")  # fmt: skip
    for name, value in zip(a["bands"].coords["band"], a["bands"].values[0, 0]):
        print(f"   {name:6s} {value:+.4f}")
    out["b"] = b = part_b()
    f = b["fourier"]
    print(f"b. spike-and-wave from 5 s: {b['seconds']:.1f} s, "
          f"{int(f.n_evaluations.sum())} evaluations")  # fmt: skip
    print(
        f"   seizure probability {f.baseline_outputs[0]:.3f} -> {f.outputs[0]:.3f}; "
        f"3 Hz + harmonics {b['harmonic_share']:.1%}; after 5 s {b['after_share']:.1%}"
    )
    out["c"] = c = part_c()
    pc = c["per_component"]
    print(f"c. 14-channel ICA: {c['seconds']:.1f} s, {int(pc.n_evaluations.sum())} evaluations")
    A = np.asarray(c["ica"].mixing_)
    for k in np.argsort(-np.abs(pc.values[0]))[:5]:
        top = ", ".join(c["names"][i] for i in np.argsort(-np.abs(A[:, k]))[:3])
        tag = "  <- blinks" if k == c["blink"] else ""
        print(f"   ic{k:<3d} {pc.values[0, k]:+.4f}  channels {top}{tag}")
    print(f"   blink component ic{c['blink']}: {c['blink_share']:.1%} of |attribution|")
    return out


if __name__ == "__main__":
    main()
