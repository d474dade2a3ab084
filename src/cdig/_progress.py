"""Progress bars, in one place: over model evaluations (one call) and over dataset samples.

Both show on stderr through tqdm (the ``progress`` extra) when stderr is a terminal. A call
that asks for a bar with ``progress=True`` needs tqdm; a dataset run falls back to a line
every 10 s without it. When stderr is not a terminal (a log file, CI), a bar that redraws
itself would pile up there line by line, so both write a plain line at most every
:data:`LINE_INTERVAL` seconds and one when done.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from ._optional import require

__all__ = ["LINE_INTERVAL", "SampleProgress", "evaluation_bar"]

#: Seconds between two progress lines when stderr is not a terminal.
LINE_INTERVAL = 10.0


def _terminal() -> bool:
    """Whether stderr is an interactive terminal (where a bar can redraw itself)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class _Lines:
    """The interface of the tqdm bar the engine uses (``total``, ``n``, ``reset``,
    ``update``, ``close``), written as a plain line at most every :data:`LINE_INTERVAL`
    seconds and once at the end."""

    def __init__(self, desc: str, unit: str) -> None:
        self.desc, self.unit = desc, unit
        self.total, self.n = 0, 0
        self._t0 = self._last = time.monotonic()

    def reset(self, total: int | None = None) -> None:
        self.total, self.n = int(total or 0), 0

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        now = time.monotonic()
        if now - self._last >= LINE_INTERVAL:
            self._last = now
            self._write(f"{self.n}/{self.total} {self.unit}s")

    def close(self) -> None:
        elapsed = time.monotonic() - self._t0
        self._write(f"done, {self.n} {self.unit}s in {elapsed:.1f} s")

    def _write(self, what: str) -> None:
        print(f"{self.desc}: {what}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def evaluation_bar(show: bool) -> Iterator[Any]:
    """A tqdm bar over model evaluations (total set once the passes are known), or None.

    Not on a terminal: plain lines instead (:class:`_Lines`), still only with tqdm installed,
    so that ``progress=True`` behaves the same wherever it runs.
    """
    if not show:
        yield None
        return
    tqdm = require("tqdm", "progress=True").tqdm
    bar = (
        tqdm(total=0, unit="eval", desc="explaining", leave=False)
        if _terminal()
        else _Lines("explaining", "model evaluation")
    )
    try:
        yield bar
    finally:
        bar.close()


class SampleProgress:
    """A bar over dataset samples (rate and ETA) for :func:`cdig.explain_dataset`.

    tqdm when installed; else a plain line on stderr every 10 s (``progress=False``: nothing).
    """

    def __init__(self, total: int | None, initial: int, name: str, progress: bool) -> None:
        self.quiet, self.total, self.n, self.name = not progress, total, initial, name
        self.bar: Any = None
        self._t0 = self._last = time.monotonic()
        self._start = initial
        if self.quiet or not _terminal():
            return  # not a terminal: the plain lines of update()
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(
            total=total,
            initial=initial,
            unit="sample",
            desc=f"explain -> {name}",
            dynamic_ncols=True,
        )

    def __enter__(self) -> SampleProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet:
            self._line(time.monotonic())  # the last word: where the run stopped

    def update(self, n: int) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if self.quiet or now - self._last < LINE_INTERVAL:
            return
        self._last = now
        self._line(now)

    def _line(self, now: float) -> None:
        rate = (self.n - self._start) / max(now - self._t0, 1e-9)
        eta = "" if self.total is None else f", ETA {(self.total - self.n) / max(rate, 1e-9):.0f} s"
        print(
            f"explain -> {self.name}: {self.n}/{self.total or '?'} samples, "
            f"{rate:.1f} samples/s{eta}",
            file=sys.stderr,
        )
