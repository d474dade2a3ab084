"""Synthetic spoken digits: a stand-in for AudioMNIST made with the espeak-ng speech synthesizer.

AudioMNIST (recordings of 60 people saying 0-9) cannot be obtained here, so this script
*synthesizes* speech instead: the words "zero" .. "nine" spoken by espeak-ng with 32 voice
variants (16 female, 16 male) across 8 English accents, each clip with a random pitch and
speed, resampled to 8 kHz and placed at a random offset in a 1 s window (8000 samples),
as AudioMNIST's clips are. It is formant-synthesized speech, not human recordings: results
on it say how methods behave on speech-like signals, not on real voices.

Two tasks, as in AudioMNIST: the digit (10 classes) and the speaker's gender (2 classes).
Train and test speakers are disjoint (6 of 16 voices per gender are held out).

Usage::

    python benchmarks/spoken_digits.py            # writes .cache/cdig-bench/spoken_digits.npz

Needs the ``espeak-ng`` program (Debian: ``apt-get install espeak-ng``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FEMALE = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "aunty", "belinda",
          "linda", "steph", "steph2", "steph3", "anika", "grandma")  # fmt: skip
MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "adam", "Andy", "david", "ed",
        "john", "max", "paul", "robert")  # fmt: skip
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")  # fmt: skip
FS = 8000
LENGTH = 8000
N_TEST_PER_GENDER = 6
DEFAULT_PATH = Path(__file__).resolve().parents[1] / ".cache" / "cdig-bench" / "spoken_digits.npz"


def available() -> bool:
    """Whether the espeak-ng program is installed."""
    return shutil.which("espeak-ng") is not None


def _speak(voice: str, pitch: int, speed: int, word: str) -> tuple[np.ndarray, int]:
    """One utterance as float64 samples in [-1, 1] and its sampling rate (Hz)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", word],
        check=True,
        capture_output=True,
    ).stdout
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise RuntimeError(f"espeak-ng did not return a WAV file for voice {voice!r}.")
    rate = int.from_bytes(wav[24:28], "little")
    start = wav.index(b"data") + 8  # the size field is a placeholder when streaming
    pcm = np.frombuffer(wav[start : start + (len(wav) - start) // 2 * 2], dtype="<i2")
    return pcm.astype(np.float64) / 32768.0, rate


def _clip(samples: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Resample to 8 kHz, trim silence, peak-normalize, place at a random offset in 1 s."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(FS, rate)
    y = resample_poly(samples, FS // g, rate // g)
    loud = np.flatnonzero(np.abs(y) > 0.02 * np.abs(y).max())
    y = y[loud[0] : loud[-1] + 1][:LENGTH]
    y = y / np.abs(y).max()
    out = np.zeros(LENGTH)
    offset = int(rng.integers(0, LENGTH - len(y) + 1))
    out[offset : offset + len(y)] = y
    return out


def make(path: Path = DEFAULT_PATH, n_repeats: int = 5, seed: int = 0) -> Path:
    """Synthesize the dataset and save it as ``.npz``; returns the path.

    Arrays: ``X`` (n, 1, 8000) float32 at 8 kHz; ``digit`` (n,); ``gender`` (n,) with
    0 = female, 1 = male; ``speaker`` (n,); ``test`` (n,) bool, held-out speakers.
    """
    if not available():
        raise RuntimeError(
            "espeak-ng is not installed; install it with `apt-get install espeak-ng`."
        )
    rng = np.random.default_rng(seed)
    speakers = [(v, 0) for v in FEMALE] + [(v, 1) for v in MALE]
    test_voices = set(FEMALE[-N_TEST_PER_GENDER:]) | set(MALE[-N_TEST_PER_GENDER:])
    jobs = []
    for s, (variant, gender) in enumerate(speakers):
        accent = ACCENTS[s % len(ACCENTS)]
        base_pitch = int(rng.integers(35, 66))
        for d, word in enumerate(DIGITS):
            for _ in range(n_repeats):
                pitch = int(np.clip(base_pitch + rng.integers(-10, 11), 0, 99))
                speed = int(rng.integers(130, 211))
                jobs.append((f"{accent}+{variant}", pitch, speed, word, d, gender, s, variant))
    with ThreadPoolExecutor(max_workers=2) as pool:
        spoken = list(pool.map(lambda j: _speak(j[0], j[1], j[2], j[3]), jobs))
    X = np.stack([_clip(y, rate, rng) for y, rate in spoken])[:, None, :].astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        X=X,
        digit=np.array([j[4] for j in jobs], dtype=np.int64),
        gender=np.array([j[5] for j in jobs], dtype=np.int64),
        speaker=np.array([j[6] for j in jobs], dtype=np.int64),
        test=np.array([j[7] in test_voices for j in jobs]),
    )
    return path


def load(path: Path = DEFAULT_PATH) -> dict[str, np.ndarray]:
    """The arrays saved by :func:`make` (synthesizing them first when the file is missing)."""
    if not path.exists():
        make(path)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--repeats", type=int, default=5, help="clips per speaker and digit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not available():
        print("espeak-ng is not installed (apt-get install espeak-ng); nothing written.")
        return 1
    path = make(args.out, args.repeats, args.seed)
    data = load(path)
    print(
        f"wrote {path}: {len(data['X'])} clips, {len(set(data['speaker']))} speakers, "
        f"{int(data['test'].sum())} test clips (synthetic speech, espeak-ng)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
