"""The chunked, gradient-free model evaluator shared by the engine, the CLI and dataset runs.

Every plain forward pass of cdig (the end points of the path integral, the outputs a dataset
batch is judged by, the command line's check that the model accepts its input) goes through
:func:`evaluate`: bounded memory, no autograd graphs, outputs in input order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["evaluate"]


def evaluate(
    call: Callable[..., Tensor], xs: Tensor, chunk: int, samples: Tensor | None = None
) -> Tensor:
    """Outputs of ``call`` for the rows of ``xs``, ``chunk`` rows at a time, without graphs.

    Parameters
    ----------
    call : callable
        Maps a tensor of shape ``(m, ...)`` to outputs of shape ``(m, ...)``; run it in the
        model's inference mode (``adapter.inference()``) where that matters.
    xs : Tensor of shape (n, ...)
        The inputs, in the layout ``call`` takes.
    chunk : int
        Rows per call (at least 1).
    samples : Tensor of shape (n,), optional
        The sample each row belongs to, passed on as ``call(rows, samples_of_rows)`` (for
        models with per-sample extra arguments); ``None`` calls ``call(rows)``.

    Returns
    -------
    Tensor of shape (n, ...)
        The outputs, detached, in the order of ``xs``.
    """
    size = max(1, int(chunk))
    with torch.no_grad():
        if 0 < xs.shape[0] <= size:  # one call: no slices (the copy keeps the outputs its own)
            return torch.cat([call(xs) if samples is None else call(xs, samples)])
        if samples is None:
            return torch.cat([call(xs[lo : lo + size]) for lo in range(0, xs.shape[0], size)])
        return torch.cat(
            [
                call(xs[lo : lo + size], samples[lo : lo + size])
                for lo in range(0, xs.shape[0], size)
            ]
        )
