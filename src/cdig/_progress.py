"""Progress bars, in one place: over model evaluations (one call) and over dataset samples.

Both show on stderr through tqdm (the ``progress`` extra). A call that asks for a bar with
``progress=True`` needs tqdm; a dataset run falls back to a line every 10 s without it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from ._optional import require

__all__ = ["SampleProgress", "evaluation_bar"]


@contextlib.contextmanager
def evaluation_bar(show: bool) -> Iterator[Any]:
    """A tqdm bar over model evaluations (total set once the passes are known), or None."""
    if not show:
        yield None
        return
    tqdm = require("tqdm", "progress=True").tqdm
    bar = tqdm(total=0, unit="eval", desc="explaining", leave=False)
    try:
        yield bar
    finally:
        bar.close()


class SampleProgress:
    """A bar over dataset samples (rate and ETA) for :func:`cdig.explain_dataset`.

    tqdm when installed; else a plain line on stderr every 10 s (``quiet``: nothing).
    """

    def __init__(self, total: int | None, initial: int, name: str, quiet: bool) -> None:
        self.quiet, self.total, self.n, self.name = quiet, total, initial, name
        self.bar: Any = None
        self._t0 = self._last = time.monotonic()
        self._start = initial
        if quiet:
            return
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

    def update(self, n: int) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if self.quiet or now - self._last < 10.0:
            return
        self._last = now
        rate = (self.n - self._start) / max(now - self._t0, 1e-9)
        eta = "" if self.total is None else f", ETA {(self.total - self.n) / max(rate, 1e-9):.0f} s"
        print(
            f"explain -> {self.name}: {self.n}/{self.total or '?'} samples, "
            f"{rate:.1f} samples/s{eta}",
            file=sys.stderr,
        )
