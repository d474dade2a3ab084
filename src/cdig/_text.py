"""Text helpers for error messages, shared by the loaders and the command line."""

from __future__ import annotations

__all__ = ["first_line"]


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first sentence of an error message, at most ``limit`` characters."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    if text.startswith("The following operation failed in the TorchScript interpreter"):
        text = lines[-1]  # the original error comes last, after TorchScript's traceback
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."
