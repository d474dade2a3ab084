"""Load a saved model as a model adapter, without unpickling Python objects.

TorchScript archives are read with :func:`torch.jit.load` (which runs the archive's
TorchScript program when the model is called, by design), ``torch.export`` programs
(``.pt2``) are vetted entry by entry (:mod:`cdig.models._pt2`) before
:func:`torch.export.load`, and Keras files are read with ``safe_mode=True``.

Failures are ordinary exceptions (:class:`FileNotFoundError`, :class:`ValueError`, and
:class:`ImportError` for a missing framework) whose messages say what was refused and how to
save the model instead; the command line prints them as they are.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._text import first_line
from ._torch import ModelAdapter

__all__ = ["KERAS_SUFFIXES", "ExportedModel", "load_model"]

#: File suffixes read as Keras models.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(path: str | os.PathLike[str], device: Any = "cpu", *, name: str = "model") -> Any:
    """Load a saved model as a cdig model adapter, without unpickling Python objects.

    Parameters
    ----------
    path : str or path
        ``.pt2``: a ``torch.export`` program (:func:`torch.export.save`); the archive is
        vetted first and refused when it holds anything torch would unpickle or execute
        (opaque or pickled constants, pickled weights, AOTInductor code, code in shape
        expressions or guards). ``.keras`` / ``.h5`` / ``.hdf5``: a Keras model,
        loaded with ``safe_mode=True`` (needs TensorFlow and cdig's Keras bridge). Anything
        else: a TorchScript archive (:func:`torch.jit.save`).
    device : str or torch.device, default="cpu"
        Where torch models run.
    name : str, default="model"
        How error messages name the file (the command line passes ``"MODEL"``).

    Returns
    -------
    cdig.models.ModelAdapter

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        When the file is not one of these formats (for instance a pickle written by
        ``torch.save(model)``), or is refused as unsafe.
    ImportError
        When a Keras file is given and Keras is not installed.
    """
    from ._wrap import wrap

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    suffix = p.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        return _load_keras(p, name)
    if suffix == ".pt2":
        return _load_exported(p, device, name)
    return wrap(_load_torchscript(p, device, name))


def _load_torchscript(p: Path, device: Any, name: str) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            return torch.jit.load(str(p), map_location=device)
    except (RuntimeError, ValueError, OSError) as err:
        raise ValueError(
            f"{name} {p} is not a TorchScript archive ({first_line(err)}). cdig loads TorchScript "
            "(torch.jit.save), torch.export programs (.pt2) and Keras files (.keras), and never "
            "unpickles Python objects, so torch.save(model) or a state dict cannot be loaded: "
            "script or export the model first."
        ) from err


@contextlib.contextmanager
def _weights_only() -> Iterator[None]:
    """Force every torch.load inside to ``weights_only=True`` and quiet torch's export logs."""
    saved = {
        k: os.environ.get(k)
        for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    }
    loggers = [logging.getLogger(n) for n in ("torch.export", "torch._export")]
    levels = [lg.level for lg in loggers]
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _load_exported(p: Path, device: Any, name: str) -> Any:
    import torch

    from ._pt2 import UnsafePt2Error, vetted_pt2

    try:
        # torch.export.load would unpickle opaque objects and exec guards: it only ever sees
        # a copy holding the vetted programs, JSON configs and raw tensor bytes
        archive = vetted_pt2(p)
        with _weights_only(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(archive)
    except UnsafePt2Error as err:
        raise ValueError(
            f"{name} {p} is refused: {err} cdig never unpickles or runs code from a model file."
        ) from err
    except Exception as err:  # torch raises many kinds for a foreign or damaged archive
        raise ValueError(
            f"{name} {p} is not a readable torch.export program ({first_line(err, 240)}); save "
            "one with torch.export.save(torch.export.export(model, (example,)), 'model.pt2'). "
            "Programs holding pickled Python objects are refused."
        ) from err
    return ExportedModel(program, device)


def _load_keras(p: Path, name: str) -> Any:
    from .._optional import require
    from ._wrap import wrap

    keras = require("keras", f"loading the Keras model {p.name}")
    try:
        model = keras.saving.load_model(str(p), compile=False, safe_mode=True)
    except Exception as err:  # Keras raises many kinds for unreadable files
        refusal = _safe_mode_refusal(err)
        if refusal:
            raise ValueError(
                f"{name} {p} was refused by Keras safe mode: it holds {refusal} (Python code "
                "that would run on loading). cdig never turns safe mode off. Fix: in Python, "
                "import the code defining the custom objects (registered with "
                "@keras.saving.register_keras_serializable()), load the model yourself and call "
                "cdig.explain(model, x); or rebuild the model without Lambda layers."
            ) from err
        raise ValueError(f"{name} {p} is not a loadable Keras model: {first_line(err)}") from err
    try:
        return wrap(model, framework="keras")
    except ValueError as err:
        raise ValueError(
            f"{name} {p} is a Keras model that cdig cannot run as loaded: {err}"
        ) from err


def _safe_mode_refusal(err: BaseException) -> str:
    """What Keras safe mode refused in ``err`` ('' when it was not a safe-mode refusal)."""
    texts: list[str] = []
    e: BaseException | None = err
    while e is not None and len(texts) < 20:
        texts.append(str(e))
        e = e.__cause__ or e.__context__
    text = " ".join(texts)
    found = []
    if re.search(r"Lambda\b", text):
        found.append("a Lambda layer")
    for kind, what in re.findall(r"Could not locate (function|class) '([^']+)'", text):
        found.append(f"the unregistered custom {kind} {what!r}")
    if "safe_mode" in text or "unsafe" in text.lower():
        found = found or ["an object that only unsafe deserialization can load"]
    return ", ".join(dict.fromkeys(found))


class ExportedModel(ModelAdapter):
    """A ``torch.export`` program as a model adapter.

    The program runs as exported (its train/eval mode is fixed at export time, and
    ``eval()`` is not supported on it). When its batch size is static, inputs are split and
    zero-padded to that size, so any number of rows can be evaluated.

    Parameters
    ----------
    program : torch.export.ExportedProgram
    device : str or torch.device
        Where the program's module runs.
    """

    def __init__(self, program: Any, device: Any) -> None:
        self.module = program.module().to(device)
        self.batch = _static_batch(program)

    def __call__(self, x: Any) -> Any:
        import torch

        if self.batch is None or x.shape[0] == self.batch:
            return self.module(x)
        outs = []
        for lo in range(0, x.shape[0], self.batch):
            part = x[lo : lo + self.batch]
            n = part.shape[0]
            if n < self.batch:
                pad = torch.zeros((self.batch - n, *part.shape[1:]), dtype=x.dtype, device=x.device)
                part = torch.cat([part, pad])
            outs.append(self.module(part)[:n])
        return torch.cat(outs)

    @property
    def dtype(self) -> Any:
        for t in self.module.parameters():
            if t.is_floating_point():
                return t.dtype
        return None

    @property
    def device(self) -> Any:
        for t in self.module.parameters():
            return t.device
        return None


def _static_batch(program: Any) -> int | None:
    """Batch size of the program's first user input when it is fixed, else None."""
    names = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in names:
            val = node.meta.get("val")
            if val is not None and getattr(val, "ndim", 0) >= 1:
                size = val.shape[0]
                return int(size) if isinstance(size, int) else None
            return None
    return None
