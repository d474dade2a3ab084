"""Adapters that make any model a differentiable torch function.

The engine only ever calls a torch function ``(n, ...) -> (n, ...)``. A PyTorch module or
callable is used as is. Keras / TensorFlow and JAX models are wrapped once in a
``torch.autograd.Function`` whose forward runs the framework and whose backward asks it for
the vector-Jacobian product (see :func:`wrap`). TensorFlow and JAX are imported only when a
model from them is wrapped. :func:`load` reads saved models: ONNX graphs and
``MODULE:FACTORY`` plus weights as data, code-carrying formats only with ``trust=True``.
"""

from typing import TYPE_CHECKING, Any

from ._bridge import BridgedModel
from ._jax import JaxModel
from ._load import UntrustedModelError, load, load_weights
from ._tensorflow import KerasModel, TensorFlowModel
from ._torch import ModelAdapter, TorchModel
from ._wrap import FRAMEWORKS, detect_framework, wrap
from .adapters import OutputNotFound, Selected, select

if TYPE_CHECKING:  # pragma: no cover - imported on first use, below
    from ._onnx import ONNX_OPERATORS, from_onnx

#: The ONNX converter is imported on first use (it is the largest module of the package).
_LAZY_NAMES = ("ONNX_OPERATORS", "from_onnx")


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        from . import _onnx

        value = getattr(_onnx, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))


__all__ = [
    "FRAMEWORKS",
    "BridgedModel",
    "JaxModel",
    "KerasModel",
    "ONNX_OPERATORS",
    "ModelAdapter",
    "OutputNotFound",
    "Selected",
    "TensorFlowModel",
    "TorchModel",
    "UntrustedModelError",
    "detect_framework",
    "from_onnx",
    "load",
    "load_weights",
    "select",
    "wrap",
]
