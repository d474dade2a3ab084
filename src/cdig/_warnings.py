"""cdig's warnings, issued once per call and pointing at the user's line.

The warning classes carry what they report as attributes (``samples``, ``rtol``, ...), so
that the command line can phrase them with its own option names.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

__all__ = ["CompletenessWarning", "ConvergenceWarning", "warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class _Report(UserWarning):
    """A warning whose facts are attributes as well as words."""

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.__dict__.update(facts)


class CompletenessWarning(_Report):
    """The completeness error of a fixed-step attribution exceeds the tolerance.

    Attributes
    ----------
    samples : list of int
        Sample indices whose ``|delta| > rtol * |f(x) - f(x')| + atol``.
    rtol : float
        The tolerance that was exceeded.
    worst : float
        The largest relative completeness error among them.
    n_steps : int
        The fixed number of path points that was used.
    domains : list of str
        The domains concerned.
    """

    samples: list[int]
    rtol: float
    worst: float
    n_steps: int
    domains: list[str]


class ConvergenceWarning(_Report):
    """The adaptive integral (``n_steps="auto"``) did not meet its tolerance in its budget.

    Attributes
    ----------
    samples : list of int
        Sample indices whose error estimate or completeness error stayed above ``rtol``.
    rtol : float
        The tolerance asked for.
    worst : float
        The largest relative error (estimate or completeness) among them.
    max_steps : int
        The evaluation budget per sample and baseline that was spent.
    domains : list of str
        The domains concerned.
    """

    samples: list[int]
    rtol: float
    worst: float
    max_steps: int
    domains: list[str]


def _user_stacklevel() -> int:
    """Stack level of the first frame outside the cdig package (for ``warnings.warn``)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE_DIR + os.sep
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn(warning: Warning) -> None:
    """Issue ``warning`` attributed to the caller's line outside cdig."""
    warnings.warn(warning, stacklevel=_user_stacklevel())


def sample_list(samples: Sequence[int], limit: int = 10) -> str:
    """``[0, 3, 7]`` or ``[0, 3, ... (25 in all)]`` for messages."""
    items = [int(s) for s in samples]
    if len(items) <= limit:
        return str(items)
    return "[" + ", ".join(map(str, items[:limit])) + f", ... ({len(items)} in all)]"
