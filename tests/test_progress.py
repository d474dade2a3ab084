"""Progress output where stderr is not a terminal (logs, CI): lines, not a redrawn bar."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import cdig
from cdig import _progress


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_no_bar_piles_up_in_a_log(monkeypatch):
    pytest.importorskip("tqdm")
    log = _Log()
    monkeypatch.setattr("sys.stderr", log)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    x = np.random.default_rng(0).normal(size=(4, 1, 64)).astype(np.float32)
    attr = cdig.explain(model, x, "fourier", target=0, n_steps=32, progress=True,
                        internal_batch_size=4)  # fmt: skip
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text  # no redraws, no cursor moves
    lines = text.splitlines()
    # 32 chunks of updates, well under LINE_INTERVAL: only the closing line
    assert lines == [lines[-1]] and lines[-1].startswith("explaining: done, 128 model")
    assert attr.values.shape == (4, 1, 33)


def test_lines_at_most_every_interval(monkeypatch):
    log = _Log()
    monkeypatch.setattr("sys.stderr", log)
    clock = iter(np.arange(0.0, 1000.0, 4.0))  # 4 s per reading
    monkeypatch.setattr(_progress.time, "monotonic", lambda: float(next(clock)))
    bar = _progress._Lines("explaining", "model evaluation")
    bar.reset(total=100)
    for _ in range(10):  # 40 s of updates: a line every 10 s or more, not one per update
        bar.update(10)
    bar.close()
    lines = log.getvalue().splitlines()
    assert 3 <= len(lines) <= 5 and lines[-1].startswith("explaining: done, 100 model")
    assert all("/100 model evaluations" in ln for ln in lines[:-1])


def test_dataset_progress_in_a_log_writes_lines_not_a_bar(monkeypatch):
    pytest.importorskip("tqdm")
    log = _Log()
    monkeypatch.setattr("sys.stderr", log)
    with _progress.SampleProgress(total=50, initial=0, name="run", progress=True) as p:
        for _ in range(50):
            p.update(1)
    assert p.bar is None and "\r" not in log.getvalue()
