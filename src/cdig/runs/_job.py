"""One unit of work: explain one batch and lay the results out as the arrays of a shard.

The same :func:`explain_batch` runs in the local engine and inside Ray workers, on the same
batches, so both engines write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._evaluate import evaluate
from .._inputs import as_series, batch_baselines
from .._numerics import status_codes
from .._settings import Settings
from .._warnings import ConstantOutputWarning
from ..attribution import coord_json
from ..domains import Domain
from ..engine import CompletenessWarning, ConvergenceWarning, CrossDomainIG
from ..models import ModelAdapter, TorchModel, wrap
from ..targets import TargetSpec
from ._fingerprint import StateHash
from ._sources import Batch
from ._store import write_shard

__all__ = [
    "Job",
    "blind_spots",
    "describe",
    "explain_batch",
    "fingerprint",
    "model_fingerprint",
    "run_shard",
]

#: The arrays of :meth:`cdig.Attribution.to_dict` stored per domain in every shard, as
#: ``<label>.<name>.npy`` (``outputs`` and the class explained per sample are shared).
DOMAIN_FIELDS = (
    "values",
    "delta",
    "baseline_outputs",
    "n_steps",
    "n_evaluations",
    "error",
    "converged",
)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the model and the batch (picklable)."""

    domains: tuple[tuple[str, Domain], ...]
    settings: Settings  # validated; time_axis is the samples' layout
    target: TargetSpec  # validated; "label" and per-sample kinds are cut per batch
    baselines: Any  # None, float, or ndarray (one baseline, or stacked ones)

    @property
    def time_axis(self) -> int:
        return self.settings.time_axis


def explain_batch(
    model: Any, job: Job, batch: Batch
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Explain one batch.

    Returns
    -------
    arrays : dict of str to ndarray
        The files of the shard: ``outputs``, ``targets``, ``predictions``, ``labels`` (those
        that apply) and per domain ``<label>.values``, ``.delta``, ``.baseline_outputs``,
        ``.n_steps``, ``.n_evaluations``, ``.error``, ``.converged`` and ``.status`` (int8
        codes of :data:`cdig._numerics.STATUSES`).
    layout : dict
        ``"columns"``: names of the per-sample arrays besides the domains; ``"domains"``: per
        domain its dims, coefficient shape, dtype, coords and units (for the manifest).
    """
    adapter = wrap(model)
    x, layout = as_series(batch.x, job.time_axis, adapter.dtype, adapter.device)
    with adapter.inference():  # one call for the batch, as the batch is explained
        out = evaluate(lambda t: adapter(layout.to_user(t)), x, len(x))
    target = job.target.for_rows(batch.start, out, batch.y)
    targets = target.value if target.kind == "per_sample" else None
    ig = CrossDomainIG(model, dict(job.domains), time_axis=job.time_axis)
    with warnings.catch_warnings():
        # judged once for the whole dataset from the stored deltas, with global sample numbers
        warnings.simplefilter("ignore", CompletenessWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        # per batch it would name batch-local sample numbers; runs keep outputs to find them
        warnings.simplefilter("ignore", ConstantOutputWarning)
        baselines = batch_baselines(job.baselines, batch.x.ndim)
        res = ig.run(batch.x, baselines, target, settings=job.settings)
    assert isinstance(res, dict)  # a dict of domains always gives a dict
    first = next(iter(res.values()))
    arrays: dict[str, np.ndarray] = {"outputs": np.asarray(first.outputs, dtype=np.float64)}
    if targets is not None:
        arrays["targets"] = targets
    if out.ndim == 2:
        arrays["predictions"] = out.argmax(dim=1).cpu().numpy().astype(np.int64)
    if batch.y is not None:
        arrays["labels"] = batch.y
    columns = list(arrays)
    info: dict[str, Any] = {}
    for label, attr in res.items():
        d = attr.to_dict()  # the one serialized form: its arrays go to the shard, the rest
        for name in DOMAIN_FIELDS:  # to the manifest (outputs and targets are shared columns)
            arrays[f"{label}.{name}"] = d[name]
        assert attr.status is not None  # Cross-domain IG results always have one
        arrays[f"{label}.status"] = status_codes(attr.status)  # int8 codes, no text on disk
        info[label] = {
            "class": f"{type(attr.domain).__module__}.{type(attr.domain).__qualname__}",
            "dims": d["dims"],
            "shape": list(attr.values.shape[1:]),
            "dtype": attr.values.dtype.str,
            "coords": {k: coord_json(v) for k, v in d["coords"].items()},
            "units": d["units"],
            "pass": d["settings"].get("pass"),
            "shared_with": list(d["settings"].get("shared_with", [])),
            "target": d["target"],
            # the typed fields of the result (Attribution.from_dict reads them back)
            "settings": d["settings"],
            "layout": d["layout"],
            "coord_dims": d["coord_dims"],
        }
    return arrays, {"columns": columns, "domains": info}


def run_shard(
    model: Any, job: Job, root: Path, index: int, batch: Batch, digest: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Explain ``batch`` and write it as shard ``index`` of the run in ``root``.

    Returns the shard metadata and the array layout (see :func:`explain_batch`).
    """
    arrays, layout = explain_batch(model, job, batch)
    meta = write_shard(root, index, batch.start, arrays, {"input_sha256": digest, "layout": layout})
    return meta, layout


# ---------------------------------------------------------------------- fingerprints
def _hash_tensor(h: Any, name: str, t: Any) -> None:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.flatten().view(torch.uint8).numpy().tobytes())
    else:
        a = np.ascontiguousarray(t)
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())


def model_fingerprint(model: Any) -> dict[str, Any]:
    """Class, state and structure of a model, to refuse resuming with another model.

    ``sha256`` covers every value that can change an output (:class:`StateHash`): for a
    ``torch.nn.Module`` every submodule's parameters, buffers (persistent or not), forward
    hooks and own attributes (plain tensors, a temperature); for a plain function, a bound
    method, a callable object or a ``functools.partial``: their code, defaults, closures,
    arguments, the globals their code reads, and whatever modules, tensors and arrays those
    reach; the ``get_weights()`` arrays of a Keras model. ``structure`` covers what else
    decides the function: every submodule's name, type and ``extra_repr`` (layer settings),
    the TorchScript / ``torch.fx`` code of scripted and exported modules, and the ``forward``
    bytecode of modules defined outside torch; for Keras models their JSON config. So the same
    weights in another architecture (``Tanh`` replaced by ``ReLU``) differ. ``blind`` (only
    when not empty) lists what the walk could not read (see :mod:`cdig.runs._fingerprint`).
    """
    inner = model.model if isinstance(model, ModelAdapter) and hasattr(model, "model") else model
    # an adapter's own settings count too (select's output=, a JAX adapter's params), except
    # TorchModel's, which are only a cache of what its model reaches
    whole = (
        model if isinstance(model, ModelAdapter) and not isinstance(model, TorchModel) else inner
    )
    state = StateHash()
    s = hashlib.sha256()
    if isinstance(inner, torch.nn.Module):
        state.feed("model", whole)
        _hash_structure(s, inner)
    elif hasattr(inner, "get_weights"):
        h = hashlib.sha256()
        for i, w in enumerate(inner.get_weights()):
            _hash_tensor(h, str(i), w)
        state.feed("weights", h.hexdigest())
        to_json = getattr(inner, "to_json", None)
        if callable(to_json):
            s.update(str(to_json()).encode())
    else:
        state.feed("model", whole)
        _hash_callable(s, inner, structure=True)
    cls = type(inner)
    label = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(inner, types.FunctionType):
        label = f"{inner.__module__}.{inner.__qualname__}"
    out: dict[str, Any] = {
        "class": label,
        "sha256": state.hexdigest(),
        "structure": s.hexdigest(),
    }
    if state.blind:
        out["blind"] = list(state.blind)
    return out


def _hash_structure(h: Any, module: torch.nn.Module, prefix: str = "") -> None:
    """Submodule names, types, settings and the code that is not torch's own."""
    for name, sub in module.named_modules():
        cls = type(sub)
        h.update(f"{prefix}{name}:{cls.__module__}.{cls.__qualname__}\n".encode())
        original = getattr(sub, "original_name", None)  # TorchScript: the scripted class
        if isinstance(original, str):
            h.update(original.encode())
        try:
            code = getattr(sub, "code", None)  # TorchScript and torch.fx: the forward's source
        except (RuntimeError, AttributeError):  # a scripted module without a forward
            code = None
        if isinstance(code, str):
            h.update(code.encode())
        if not isinstance(sub, torch.jit.ScriptModule):
            h.update(sub.extra_repr().encode())
        if not cls.__module__.startswith("torch."):  # user code: the forward's bytecode
            fwd = getattr(getattr(cls, "forward", None), "__code__", None)
            if fwd is not None:
                _hash_code(h, fwd)


def _hash_code(h: Any, code: types.CodeType) -> None:
    """Bytecode, names and constants, nested code objects (comprehensions) included.

    ``repr`` of a code object holds its memory address, so nested ones are recursed into
    rather than printed: the digest is the same in every process.
    """
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _hash_code(h, c)
        else:
            h.update(repr(c).encode())


def _hash_callable(h: Any, fn: Callable[..., Any], structure: bool = False) -> None:
    """Code and closed-over weights of ``fn`` (``structure``: closed-over modules' structure)."""
    code = getattr(fn, "__code__", None)
    if code is None:  # a callable object: hash its class's __call__
        code = getattr(vars(type(fn)).get("__call__"), "__code__", None)
    script = getattr(fn, "code", None)  # a TorchScript function: its source
    if structure:
        if isinstance(script, str):
            h.update(script.encode())
    elif code is not None:
        _hash_code(h, code)
    for i, cell in enumerate(getattr(fn, "__closure__", None) or ()):
        try:
            v = cell.cell_contents
        except ValueError:  # empty cell
            continue
        if isinstance(v, torch.nn.Module):
            if structure:
                _hash_structure(h, v, prefix=f"{i}.")
            else:
                for name, t in v.state_dict().items():
                    _hash_tensor(h, f"{i}.{name}", t)
        elif structure:
            continue
        elif isinstance(v, (torch.Tensor, np.ndarray)):
            _hash_tensor(h, str(i), v)
        elif isinstance(v, (int, float, str, bool, type(None))):
            h.update(repr(v).encode())


def describe(value: Any) -> Any:
    """A JSON-able description of a setting; arrays and tensors become their digest."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        h = hashlib.sha256()
        _hash_tensor(h, "", value)
        shape = tuple(value.shape)
        return {"array_sha256": h.hexdigest(), "shape": list(shape)}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, Domain):
        params = {
            k: describe(v)
            for k, v in sorted(vars(value).items())
            if not k.endswith("_") and not k.startswith("_")
        }
        state = StateHash()  # every attribute, fitted or private, and a custom class's code
        state.feed("domain", value)
        return {
            "class": f"{type(value).__module__}.{type(value).__qualname__}",
            "params": params,
            "state_sha256": state.hexdigest(),
            **({"blind": list(state.blind)} if state.blind else {}),
        }
    if callable(value):
        state = StateHash()  # code, closures, a partial's arguments, what they reach
        state.feed("callable", value)
        return {
            "callable": getattr(value, "__qualname__", type(value).__qualname__),
            "sha256": state.hexdigest(),
            **({"blind": list(state.blind)} if state.blind else {}),
        }
    return repr(value)


def blind_spots(settings: Any, path: str = "") -> list[str]:
    """What the fingerprint of ``settings`` could not read: ``"<setting>: <what> (<why>)"``."""
    out: list[str] = []
    if isinstance(settings, dict):
        for k, v in settings.items():
            where = f"{path}.{k}" if path else str(k)
            if k == "blind" and isinstance(v, list):
                out.extend(f"{_setting_name(path)}, at {b}" for b in v)
            else:
                out.extend(blind_spots(v, where))
    elif isinstance(settings, list):
        for i, v in enumerate(settings):
            out.extend(blind_spots(v, f"{path}[{i}]"))
    return out


def _setting_name(path: str) -> str:
    if path == "model":
        return "the model"
    if path.startswith("explain.target"):
        return "the target"
    if path.startswith("explain.domains."):
        return f"domain {path.split('.')[2]!r}"
    return path


def fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
