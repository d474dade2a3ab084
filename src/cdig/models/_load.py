"""Load a saved model as a model adapter: data-only formats freely, programs only when trusted.

A model file is either data (an ONNX graph of standard operators, a safetensors or
weights-only state dict for an architecture the user names as ``MODULE:FACTORY``, a Keras
file read in safe mode) or a program: TorchScript runs its code at load (``__setstate__``)
and when called, a ``torch.export`` program (``.pt2``) is a graph of operators that can read
and write files, and a pickle (``torch.save(model)``) runs whatever it names when
unpickled. Programs load only with ``trust=True`` (``--trust-model-file``); the ``.pt2``
vetting (:mod:`cdig.models._pt2`) and the zip size checks (:mod:`cdig.models._archive`)
still apply then, as defence in depth.

Failures are ordinary exceptions (:class:`FileNotFoundError`, :class:`ValueError`, and
:class:`ImportError` for a missing framework) whose messages say what was refused and how to
save the model instead; the command line prints them as they are.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._text import ArgumentError, Name, first_line
from ._archive import UnsafeArchiveError, check_zip
from ._torch import ModelAdapter

__all__ = [
    "FACTORY_SPEC",
    "KERAS_SUFFIXES",
    "ExportedModel",
    "UntrustedModelError",
    "load",
    "load_weights",
]

#: File suffixes read as Keras models.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
#: ``package.module:factory`` (the factory may be a dotted attribute path).
FACTORY_SPEC = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

_DATA_ONLY_HINT = (
    "To explain a model you do not trust, give it in a data-only format: ONNX "
    "(torch.onnx.export(model, (x,), 'model.onnx'), then pass model.onnx), or your own "
    "architecture as MODULE:FACTORY with its weights (--weights w.safetensors on the command "
    "line, cdig.models.load('mypkg.nets:build', weights='w.safetensors') in Python)."
)


def _check_device(device: Any) -> None:
    """Refuse a device a model cannot be explained on, before any file is read."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ArgumentError(
            Name("device", device), f" is not a torch device ({first_line(err)})."
        ) from err
    if dev.type == "meta":
        raise ArgumentError(
            Name("device", device),
            " holds shapes but no values, so there is nothing to explain; use ",
            Name("device", "cpu"),
            " or a GPU ('cuda').",
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError(Name("device", device), ": CUDA is not available on this machine.")


class UntrustedModelError(ValueError):
    """A model file that carries code was given without ``trust=True``."""


def load(
    model: str | os.PathLike[str],
    device: Any = "cpu",
    *,
    trust: bool = False,
    weights: str | os.PathLike[str] | None = None,
    name: str = "model",
) -> ModelAdapter:
    """Load a saved model as a cdig model adapter.

    Parameters
    ----------
    model : str or path
        One of

        - ``.onnx``: an ONNX graph of standard operators, converted to a differentiable torch
          module (as :func:`cdig.models.from_onnx`); data only, no trust needed. External data must
          lie in the model's folder.
        - ``"package.module:factory"``: your own architecture; ``factory()`` (imported from
          your environment, never from a file) returns a ``torch.nn.Module``, whose state is
          then loaded from ``weights``.
        - ``.keras`` / ``.h5`` / ``.hdf5``: a Keras model, loaded with ``safe_mode=True``
          always (Lambda layers and unregistered custom objects refused, with or without
          trust; needs TensorFlow).
        - ``.pt2``: a ``torch.export`` program. Needs ``trust=True``; vetted first even then
          (no pickles, no compiled code, no file-touching operators, bounded shape
          expressions, declared tensor sizes within the file).
        - anything else: a TorchScript archive (:func:`torch.jit.save`) or a pickled module
          (``torch.save(model)``). Needs ``trust=True``: loading runs code from the file.
    device : str or torch.device, default="cpu"
        Where torch models run.
    trust : bool, default=False
        Say that the file is trusted: load formats that carry code (TorchScript, ``.pt2``,
        pickles), which can then run that code with your permissions. Changes nothing for
        ONNX, weights and Keras files (Keras stays in safe mode).
    weights : str or path, optional
        With ``model="module:factory"``: a ``.safetensors`` file, or a state dict saved with
        ``torch.save(model.state_dict(), path)``, read with ``torch.load(weights_only=True)``.
        Without it the factory's module is used as it comes.
    name : str, default="model"
        How error messages name the file (the command line passes ``"MODEL"``).

    Returns
    -------
    cdig.models.ModelAdapter

    Raises
    ------
    FileNotFoundError
        When ``model`` (or ``weights``) is not a file.
    UntrustedModelError
        (a :class:`ValueError`) When the file carries code and ``trust`` is False; the message
        says which data-only format to use instead.
    ValueError
        When ``device`` is not a torch device, the ``"meta"`` device (no values to explain)
        or CUDA on a machine without it (before the file is read); when the file is not one
        of these formats, or is refused as unsafe (a compression
        bomb, sizes it does not hold, an unknown ONNX operator, external data outside the
        model's folder, a ``.pt2`` operator that touches files, ...).
    ImportError
        When a package the format needs (onnx, safetensors, keras) is not installed.

    Examples
    --------
    >>> import cdig
    >>> cdig.models.load("model.onnx")  # doctest: +SKIP
    >>> cdig.models.load("mypkg.nets:build", weights="w.safetensors")  # doctest: +SKIP
    >>> cdig.models.load("scripted.pt", trust=True)  # doctest: +SKIP
    """
    from ._wrap import wrap

    if not isinstance(trust, bool):
        raise TypeError(f"trust must be True or False; got {trust!r}.")
    _check_device(device)
    text = os.fspath(model)
    if weights is not None or (FACTORY_SPEC.fullmatch(text) and not Path(text).exists()):
        return wrap(_load_factory(text, weights, device, name))
    p = Path(text)
    if not p.is_file():
        raise FileNotFoundError(f"{name} file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return _load_onnx(p, device, name)
    if suffix in KERAS_SUFFIXES:
        return _load_keras(p, name)
    if suffix == ".safetensors":
        raise ValueError(
            f"{name} {p} holds weights only, not an architecture: pass your architecture as "
            f"MODULE:FACTORY with these weights (--weights {p.name}, or "
            f"cdig.models.load('mypkg.nets:build', weights='{p.name}'))."
        )
    kind = _program_kind(p, name)
    if not trust:
        raise UntrustedModelError(
            f"{name} {p} is {kind[0]}: a program, not data. {kind[1]} cdig loads such files "
            "only when you say you trust them: --trust-model-file on the command line, "
            f"cdig.models.load(path, trust=True) in Python. {_DATA_ONLY_HINT}"
        )
    if suffix == ".pt2":
        return _load_exported(p, device, name)
    if kind[0].startswith("a pickle"):
        return wrap(_load_pickle(p, device, name))
    return wrap(_load_torchscript(p, device, name))


def _program_kind(p: Path, name: str) -> tuple[str, str]:
    """What program ``p`` is (read from its zip directory only) and what loading it runs."""
    if p.suffix.lower() == ".pt2":
        return (
            "a torch.export program (.pt2)",
            "Its graph is a program of torch operators, which can read and write files; "
            "cdig vets it, but cannot prove a program harmless.",
        )
    try:
        with zipfile.ZipFile(p) as zf:
            check_zip(zf, p)
            names = zf.namelist()
    except UnsafeArchiveError as err:
        raise ValueError(f"{name} {p} is refused: {err}") from None
    except (zipfile.BadZipFile, OSError):
        with open(p, "rb") as fh:
            head = fh.read(2)
        if head[:1] == b"\x80":
            return ("a pickle", "Unpickling runs whatever code the file names.")
        raise ValueError(
            f"{name} {p} is not a model file cdig reads: not ONNX (.onnx), Keras (.keras, "
            ".h5), a torch.export program (.pt2), TorchScript or a torch.save file. "
            f"{_DATA_ONLY_HINT}"
        ) from None
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return (
            "a TorchScript archive",
            "Loading it runs its code (__setstate__ methods run inside torch.jit.load), and "
            "so does calling it.",
        )
    return ("a pickle written by torch.save", "Unpickling runs whatever code the file names.")


def _load_torchscript(p: Path, device: Any, name: str) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            return torch.jit.load(str(p), map_location=device)
    except (RuntimeError, ValueError, OSError) as err:
        raise ValueError(
            f"{name} {p} is not a TorchScript archive ({first_line(err)}). Save a scripted "
            "model with torch.jit.save, or use a data-only format. " + _DATA_ONLY_HINT
        ) from err


def _load_pickle(p: Path, device: Any, name: str) -> Any:
    """A module pickled by ``torch.save(model)``; only ever called with trust."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(str(p), map_location=device, weights_only=False)
    except Exception as err:  # whatever the pickle raises
        raise ValueError(f"{name} {p} could not be unpickled: {first_line(err)}") from err
    if isinstance(obj, dict):
        raise ValueError(
            f"{name} {p} is a state dict, not a model: pass its architecture as MODULE:FACTORY "
            f"with --weights {p.name} (no trust needed)."
        )
    if not isinstance(obj, torch.nn.Module):
        raise ValueError(f"{name} {p} unpickles to a {type(obj).__name__}, not a torch.nn.Module.")
    return obj


def _load_onnx(p: Path, device: Any, name: str) -> Any:
    from ._onnx import OnnxError, convert
    from ._wrap import wrap

    try:
        module = convert(p)
    except OnnxError as err:
        raise ValueError(f"{name} {p} is refused: {err}") from err
    return wrap(module.to(device))


def _load_factory(spec: str, weights: Any, device: Any, name: str) -> Any:
    """``package.module:factory()`` with the state dict in ``weights`` (when given)."""
    import torch

    if not FACTORY_SPEC.fullmatch(spec):
        raise ValueError(
            f"{name} {spec!r} is not MODULE:FACTORY (e.g. 'mypkg.nets:build'); --weights / "
            "weights= go with an architecture named that way."
        )
    module_name, attr = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"{name} {spec}: the module {module_name!r} cannot be imported ({first_line(err)}); "
            "install your package or put its folder on PYTHONPATH."
        ) from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{name} {spec}: {module_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{name} {spec}: {attr!r} is not callable; name a function or class.")
    net = obj()
    if not isinstance(net, torch.nn.Module):
        raise ValueError(
            f"{name} {spec}: {attr}() returned a {type(net).__name__}, not a torch.nn.Module."
        )
    if weights is not None:
        state = load_weights(weights)
        missing, unexpected = _key_mismatch(net, state)
        if missing or unexpected:
            raise ValueError(
                f"{name} {spec}: the weights {weights} do not fit the architecture"
                + (f"; missing: {', '.join(missing[:8])}" if missing else "")
                + (f"; unexpected: {', '.join(unexpected[:8])}" if unexpected else "")
                + "."
            )
        own = net.state_dict()
        wrong = [
            f"{k} {tuple(v.shape)} (the architecture has {tuple(own[k].shape)})"
            for k, v in state.items()
            if tuple(v.shape) != tuple(own[k].shape)
        ]
        if wrong:
            raise ValueError(
                f"{name} {spec}: the weights {weights} do not fit the architecture: size "
                f"mismatch of {', '.join(wrong[:8])}."
            )
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(
                f"{name} {spec}: the weights {weights} do not fit the architecture: "
                f"{first_line(err, 400)}"
            ) from err
    return net.to(device)


def _key_mismatch(net: Any, state: dict[str, Any]) -> tuple[list[str], list[str]]:
    own = set(net.state_dict())
    return sorted(own - set(state)), sorted(set(state) - own)


def load_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A state dict from a ``.safetensors`` file or a weights-only ``torch.save`` file.

    Parameters
    ----------
    path : str or path
        ``.safetensors`` (read with the ``safetensors`` package), or a file written by
        ``torch.save(model.state_dict(), path)`` (read with ``torch.load(weights_only=True,
        mmap=True)`` after its zip sizes are checked; the legacy non-zip format is refused).

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or one that is not a flat mapping of names to tensors.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    if p.suffix.lower() == ".safetensors":
        state = _read_safetensors(p)
    else:
        try:
            with zipfile.ZipFile(p) as zf:
                check_zip(zf, p)
        except UnsafeArchiveError as err:
            raise ValueError(f"weights {p} are refused: {err}") from None
        except (zipfile.BadZipFile, OSError):
            raise ValueError(
                f"weights {p} are neither .safetensors nor a torch.save file of the zip format "
                "(torch >= 1.6); save them with safetensors.torch.save_file(state, "
                "'w.safetensors') or torch.save(model.state_dict(), 'w.pt')."
            ) from None
        try:
            state = torch.load(str(p), map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # the weights-only unpickler refuses with many kinds
            raise ValueError(
                f"weights {p} could not be read as a weights-only state dict "
                f"({first_line(err, 300)}); only tensors in plain containers are accepted, "
                "nothing is unpickled beyond them."
            ) from err
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"weights {p} are not a flat state dict of tensors (as model.state_dict() "
            "returns); save model.state_dict(), not a checkpoint holding other things."
        )
    return state


def _read_safetensors(p: Path) -> dict[str, Any]:
    from .._optional import require

    st = require("safetensors.torch", f"reading the weights {p.name}")
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(8)
    n = int.from_bytes(head, "little") if len(head) == 8 else -1
    if n < 2 or n > min(size - 8, 100 << 20):
        raise ValueError(
            f"weights {p} are not a safetensors file: its header declares {n} bytes in a file "
            f"of {size}."
        )
    try:
        return dict(st.load_file(str(p), device="cpu"))
    except Exception as err:  # safetensors raises its own error kinds
        raise ValueError(
            f"weights {p} are not a valid safetensors file: {first_line(err)}"
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
            f"{name} {p} is refused: {err} Even a trusted .pt2 is vetted: cdig loads plain "
            "exported programs of torch operators only."
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

    if p.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(p) as zf:
                check_zip(zf, p)
        except UnsafeArchiveError as err:
            raise ValueError(f"{name} {p} is refused: {err}") from None
        except (zipfile.BadZipFile, OSError) as err:
            raise ValueError(f"{name} {p} is not a .keras archive: {err}") from None
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
