"""Adapters that make any model a differentiable torch function.

The engine only ever calls a torch function ``(n, ...) -> (n, ...)``. A PyTorch module or
callable is used as is; models of other frameworks are wrapped here (see :func:`wrap`).
"""

from ._torch import ModelAdapter, TorchModel, wrap

__all__ = ["ModelAdapter", "TorchModel", "wrap"]
