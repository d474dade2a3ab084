"""Vetting a ``torch.export`` archive (``.pt2``) before torch reads it.

:func:`torch.export.load` does more than read tensors: it unpickles "opaque" and "custom"
constants with :func:`pickle.loads` / the TorchScript unpickler, loads pickled weights with
``torch.load(weights_only=False)``, loads compiled AOTInductor libraries, evaluates the
shape expressions of the program with :func:`sympy.sympify` (``eval``) and compiles its
``guards_code`` strings with ``exec``. Any of these runs code written by whoever made the file.

:func:`vetted_pt2` reads the zip archive with Python's :mod:`zipfile`, accepts only

- the format markers (``archive_format`` = ``pt2``, ``archive_version``, ``byteorder``, ...),
- the serialized programs ``models/<name>.json`` (JSON), whose shape expressions, guards
  and operator names are checked against narrow grammars (no names, attributes or calls
  beyond sympy's integer arithmetic, tensor sizes and ``torch.ops`` operators),
- the weight and constant configs ``data/{weights,constants}/<name>_*_config.json`` (JSON),
  whose every entry must be raw tensor bytes (``use_pickle: false``, file ``weight_N`` or
  ``tensor_N``),
- those raw tensor files,

and refuses everything else with a :class:`ValueError` that names the entry. The sample
inputs (``data/sample_inputs/<name>.pt``, a pickle written by ``torch.save``) and the
``extra/`` files are dropped, not read. The vetted entries are copied into a new archive in
memory, so torch reads exactly the bytes that were checked.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

from ._archive import UnsafeArchiveError, check_zip

__all__ = ["NotPt2Error", "UnsafePt2Error", "vetted_pt2"]

_MARKERS = {"archive_format", "archive_version", "byteorder", ".data/version"}
_SKIPPED_MARKERS = {".data/serialization_id"}
_MODEL = re.compile(r"models/([A-Za-z0-9_.-]+)\.json")
_WEIGHTS_CONFIG = re.compile(r"data/weights/([A-Za-z0-9_.-]+)_weights_config\.json")
_CONSTANTS_CONFIG = re.compile(r"data/constants/([A-Za-z0-9_.-]+)_constants_config\.json")
_RAW = {"weights": re.compile(r"weight_\d+"), "constants": re.compile(r"tensor_\d+")}
_SAMPLE_INPUTS = re.compile(r"data/sample_inputs/([A-Za-z0-9_.-]+)\.pt")

# sympy names the export serializer writes in shape expressions (srepr / str forms)
_SYMPY_NAMES = frozenset(
    "Symbol Integer Rational Float Add Mul Pow Mod Max Min Abs Eq Ne Lt Le Gt Ge "
    "StrictLessThan StrictGreaterThan LessThan GreaterThan Equality Unequality And Or Not "
    "true false True False oo zoo nan floor ceiling sqrt Piecewise ITE "
    "FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift "
    "RShift PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator "
    "TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat Identity "
    "positive negative integer real nonnegative nonpositive finite".split()
)
_SYMBOL_NAME = re.compile(r"[a-z]+\d+")
_EXPR_TOKEN = re.compile(
    r"\s+|'[a-z]+\d+'|[A-Za-z_][A-Za-z_0-9]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\*\*|//|==|!=|<=|>="
    r"|[-+*/%(),<>=&|~]"
)
# graph nodes: torch operators (torch.ops.<namespace>.<op>[.<overload>], no dunder parts) and
# the symbolic-shape arithmetic torch's serializer writes by name
_TORCH_OP = re.compile(r"torch\.ops(?:\.(?!__)[A-Za-z_][A-Za-z0-9_]*){2,3}")
_SYM_TARGETS = frozenset(
    [f"_operator.{n}" for n in "eq ne le ge lt gt neg pos mul add sub floordiv mod pow truediv "
     "and_ or_ lshift rshift getitem".split()]
    + [f"torch.{n}" for n in "sym_not sym_int sym_float sym_ite sym_max sym_min sym_sqrt "
       "_sym_sqrt".split()]
    + ["math.trunc", "math.floor", "math.ceil"]
)  # fmt: skip
# guards: comparisons of input sizes (``L['x'].size()[0] <= 64``) and sympy-style helpers
_GUARD_NAMES = frozenset({"L", "math", "inf", "args"}) | _SYMPY_NAMES
_GUARD_ATTRS = frozenset(
    "size stride storage_offset dim shape isnan isinf floor ceil trunc inf".split()
)
_GUARD_NODES = (
    ast.Expression, ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name,
    ast.Load, ast.Subscript, ast.Attribute, ast.Call, ast.Tuple,
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.USub, ast.UAdd, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip


class UnsafePt2Error(ValueError):
    """The archive holds something that loading would unpickle or execute."""


class NotPt2Error(ValueError):
    """The file is not a ``torch.export`` archive of the format this torch reads."""


_Refused = UnsafePt2Error


def vetted_pt2(path: str | Path) -> io.BytesIO:
    """A copy of the ``.pt2`` archive at ``path`` holding only vetted entries, in memory.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`torch.export.save`.

    Returns
    -------
    io.BytesIO
        A ``.pt2`` archive for :func:`torch.export.load`: the programs, configs and raw tensor
        files of ``path``, without sample inputs and extra files.

    Raises
    ------
    ValueError
        When the archive holds anything that torch would unpickle or execute (pickled weights
        or constants, opaque or custom objects, compiled AOTInductor code, code in shape
        expressions or guards, operators outside ``torch.ops``), an entry of unknown kind, or
        is not a ``torch.export`` archive of this format.
    """
    p = Path(path)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as err:
        raise NotPt2Error(f"not a zip archive: {err}") from None
    with zf:
        try:
            check_zip(zf, p)
        except UnsafeArchiveError as err:
            raise _Refused(str(err)) from None
        entries = _entries(p, zf)
        return _rebuild(p, entries)


class _Lazy(dict[str, bytes]):
    """Entry name -> bytes, read from the archive on first access (sizes already checked)."""

    def __init__(self, zf: zipfile.ZipFile, rel: dict[str, str]) -> None:
        super().__init__()
        self._zf, self._rel = zf, rel

    def __contains__(self, key: object) -> bool:
        return key in self._rel

    def __iter__(self) -> Any:
        return iter(self._rel)

    def __len__(self) -> int:
        return len(self._rel)

    def __missing__(self, key: str) -> bytes:
        data = self._zf.read(self._rel[key])
        self[key] = data
        return data

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._rel else default

    def size(self, key: str) -> int:
        return self._zf.getinfo(self._rel[key]).file_size


def _entries(p: Path, zf: zipfile.ZipFile) -> _Lazy:
    names = zf.namelist()
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise _Refused(f"it holds the entry {dup!r} twice; refusing an ambiguous archive.")
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or any("/" not in n for n in names):
        raise NotPt2Error("it is not a torch.export archive (its entries have no common folder).")
    rel = {n.split("/", 1)[1]: n for n in names if not n.endswith("/")}
    if any(".." in r.split("/") or r.startswith("/") or "\\" in r for r in rel):
        raise _Refused("it holds entries with unsafe paths.")
    if "archive_format" not in rel or zf.read(rel["archive_format"]) != b"pt2":
        legacy = [r for r in rel if r.endswith(".pt") or r.endswith(".pkl")]
        raise NotPt2Error(
            "it is not a torch.export archive of the current format"
            + (f" (it holds pickles such as {legacy[0]!r})" if legacy else "")
            + "; re-export the model with torch.export.save in the torch you run cdig with."
        )
    return _Lazy(zf, rel)  # extra/ files and sample inputs are never read


def _rebuild(p: Path, entries: _Lazy) -> io.BytesIO:
    from torch.export.pt2_archive._package import PT2ArchiveWriter
    from torch.export.pt2_archive.constants import ARCHIVE_VERSION_VALUE

    version = entries.get("archive_version", b"0").decode(errors="replace").strip()
    if version != ARCHIVE_VERSION_VALUE:
        raise NotPt2Error(
            f"it has archive version {version!r}; this torch reads {ARCHIVE_VERSION_VALUE!r}. "
            "Re-export the model with the torch you run cdig with."
        )
    order = entries.get("byteorder")
    if order is not None and order.decode(errors="replace").strip() != sys.byteorder:
        raise NotPt2Error(f"it was written on a {order!r}-endian machine; this one is not.")

    models = {m.group(1) for r in entries if (m := _MODEL.fullmatch(r))}
    if "model" not in models:
        raise NotPt2Error("it holds no program models/model.json.")
    keep: dict[str, bytes] = {}
    raw_files: dict[str, dict[str, int]] = {"weights": {}, "constants": {}}
    for name in sorted(models):
        doc = _json(p, entries, f"models/{name}.json")
        _check_program(p, f"models/{name}.json", doc)
        keep[f"models/{name}.json"] = entries[f"models/{name}.json"]
        for kind in ("weights", "constants"):
            cfg_name = f"data/{kind}/{name}_{kind}_config.json"
            if cfg_name not in entries:
                raise _Refused(
                    f"it has no {cfg_name}: an older or foreign layout whose tensors torch "
                    "would unpickle. Re-export with torch.export.save."
                )
            for f, need in _check_payload(p, cfg_name, _json(p, entries, cfg_name), kind).items():
                raw_files[kind][f] = max(raw_files[kind].get(f, 0), need)
            keep[cfg_name] = entries[cfg_name]
        keep[f"data/sample_inputs/{name}.pt"] = b""  # a pickle: dropped, never read
    for kind, files in raw_files.items():
        for f, need in files.items():
            entry = f"data/{kind}/{f}"
            if entry not in entries:
                raise NotPt2Error(f"it lacks the tensor file {entry!r} named in its config.")
            if need > entries.size(entry):
                raise _Refused(
                    f"a {kind[:-1]} stored in {entry!r} declares {need} bytes, but the file "
                    f"holds {entries.size(entry)}; loading would allocate what the archive "
                    "merely declares. Refused."
                )
            keep[entry] = entries[entry]

    for r in entries:
        if r in keep or r in _MARKERS or r in _SKIPPED_MARKERS or r.startswith("extra/"):
            continue
        if _SAMPLE_INPUTS.fullmatch(r):
            continue
        raise _Refused(f"it holds the entry {r!r}, {_why(r)}")

    buf = io.BytesIO()
    with PT2ArchiveWriter(buf) as writer:
        for r, data in keep.items():
            writer.write_bytes(r, data)
    buf.seek(0)
    return buf


def _why(r: str) -> str:
    """Why an entry of unknown or unsafe kind is refused (the end of a sentence)."""
    base = r.rsplit("/", 1)[-1]
    if base.startswith("opaque_obj_") or base.startswith("custom_obj_"):
        return "a pickled Python object that loading would unpickle (and so run its code); refused."
    if r.startswith("data/aotinductor/") or r.startswith("data/executorch/"):
        return "compiled code that loading would execute; cdig loads plain exported programs only."
    if r.endswith(".pt") or r.endswith(".pkl") or r.endswith(".pickle"):
        return "a pickle that loading would unpickle; refused."
    return (
        "which is not part of a plain torch.export program (programs, their JSON configs and "
        "raw tensor files); refused rather than handed to torch."
    )


def _json(p: Path, entries: _Lazy, name: str) -> Any:
    try:
        return json.loads(entries[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotPt2Error(f"{name} is not valid JSON ({err}).") from None


def _check_payload(p: Path, cfg_name: str, cfg: Any, kind: str) -> dict[str, int]:
    """Every entry of a weights / constants config must be raw tensor bytes.

    Returns the raw files named, each with the bytes its tensors need (the extent of their
    sizes, strides and offset), which the caller checks against the file's real size.
    """
    entries = cfg.get("config") if isinstance(cfg, dict) else None
    if not isinstance(entries, dict):
        raise _Refused(f"{cfg_name} is not a torch.export payload config.")
    files: dict[str, int] = {}
    for fqn, meta in entries.items():
        if not isinstance(meta, dict):
            raise _Refused(f"entry {fqn!r} of {cfg_name} is not a payload description.")
        path_name = meta.get("path_name")
        if meta.get("use_pickle") is not False:
            raise _Refused(
                f"{kind[:-1]} {fqn!r} ({cfg_name}, file {path_name!r}) is stored as a "
                "pickle (use_pickle), which loading would unpickle and so could run code; cdig "
                "loads only raw tensor bytes. Re-export a model whose weights and constants "
                "are plain tensors."
            )
        if not isinstance(path_name, str) or not _RAW[kind].fullmatch(path_name):
            raise _Refused(
                f"{kind[:-1]} {fqn!r} ({cfg_name}) points to {path_name!r}, which is not a "
                "raw tensor file; opaque and custom objects are refused."
            )
        tensor_meta = meta.get("tensor_meta")
        if not isinstance(tensor_meta, dict):
            raise _Refused(f"{kind[:-1]} {fqn!r} ({cfg_name}) has no tensor description.")
        need = _extent(tensor_meta)
        if need is None:
            raise _Refused(
                f"{kind[:-1]} {fqn!r} ({cfg_name}) has a malformed tensor description (sizes, "
                "strides, offset and dtype must be plain non-negative integers)."
            )
        files[path_name] = max(files.get(path_name, 0), need)
    return files


def _extent(meta: dict[str, Any]) -> int | None:
    """Bytes of storage a tensor of ``meta`` (serialized TensorMeta) reaches; None if malformed."""
    from torch._export.serde.schema import ScalarType
    from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE

    def ints(values: Any) -> list[int] | None:
        if not isinstance(values, list) or len(values) > 64:
            return None
        out = [v.get("as_int") if isinstance(v, dict) else None for v in values]
        if not all(type(v) is int and 0 <= v < 1 << 62 for v in out):
            return None
        return out  # type: ignore[return-value]

    sizes, strides = ints(meta.get("sizes")), ints(meta.get("strides"))
    offset = ints([meta.get("storage_offset")])
    try:
        dtype = _SERIALIZE_TO_TORCH_DTYPE[ScalarType(int(meta["dtype"]))]
    except (ValueError, KeyError, TypeError):
        return None
    if sizes is None or strides is None or offset is None or len(sizes) != len(strides):
        return None
    if 0 in sizes:
        return 0
    last = offset[0] + sum((n - 1) * st for n, st in zip(sizes, strides))
    return (last + 1) * dtype.itemsize


def _check_program(p: Path, name: str, doc: Any) -> None:
    """Shape expressions, guards and operators of a serialized program: nothing that runs."""
    if not isinstance(doc, dict):
        raise _Refused(f"{name} is not a serialized program.")
    guards = doc.get("guards_code") or []
    if not isinstance(guards, list):
        raise _Refused(f"{name} has malformed guards_code.")
    for code in guards:
        if not isinstance(code, str) or not _safe_guard(code):
            raise _Refused(
                f"{name} holds the guard {str(code)[:80]!r}, which is not a plain size "
                "comparison; torch would execute it as Python code. Refused."
            )
    for key in (doc.get("range_constraints") or {}).keys():
        _check_expr(p, name, str(key))
    _walk(p, name, doc)


def _walk(p: Path, name: str, obj: Any) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "expr_str":
                _check_expr(p, name, v)
            elif (k == "target" and "inputs" in obj and "outputs" in obj) or k == "as_operator":
                _check_operator(name, v)
                if k == "target":
                    _check_sizes(name, v, obj.get("inputs"))
            _walk(p, name, v)
    elif isinstance(obj, list):
        for v in obj:
            _walk(p, name, v)


def _check_operator(name: str, target: Any) -> None:
    """A node's target, or an operator passed by name to a higher-order operator.

    Only the symbolic-shape arithmetic and ``torch.ops`` operators of the namespaces in
    :data:`_NAMESPACES` pass, and of those none that touches files (:func:`_touches_files`):
    torch resolves any other dotted name by ``getattr`` from ``torch``, ``math`` or
    ``operator`` (``torch.os.system``).
    """
    if isinstance(target, str) and target in _SYM_TARGETS:
        return
    if not isinstance(target, str) or not _TORCH_OP.fullmatch(target):
        raise _Refused(
            f"{name} calls {str(target)[:80]!r}, which is not a torch operator "
            "(torch.ops.*); refused."
        )
    parts = target.split(".")
    if parts[2] not in _NAMESPACES:
        raise _Refused(
            f"{name} calls {target!r}, an operator of the namespace {parts[2]!r}; cdig loads "
            f"programs of the operators of {', '.join(sorted(_NAMESPACES))} only. Refused."
        )
    if _touches_files(parts[2], parts[3]):
        raise _Refused(
            f"{name} calls {target!r}, which reads or writes files named in the program; a "
            "model has no business touching files. Refused."
        )


#: Most elements an operator of the program may be asked to create from literal sizes.
MAX_ELEMENTS = 1 << 34


def _check_sizes(name: str, target: str, inputs: Any) -> None:
    """Literal ``size``/``shape`` arguments (``aten.zeros([...])``) within :data:`MAX_ELEMENTS`."""
    if not isinstance(inputs, list):
        return
    for item in inputs:
        if not isinstance(item, dict) or item.get("name") not in ("size", "shape"):
            continue
        arg = item.get("arg")
        sizes = arg.get("as_ints") if isinstance(arg, dict) else None
        if not isinstance(sizes, list) or not all(type(v) is int for v in sizes):
            continue
        n = 1
        for v in sizes:
            n *= max(abs(v), 1)
        if n > MAX_ELEMENTS:
            raise _Refused(
                f"{name} calls {target} with the size {sizes} ({n} elements, above the limit "
                f"of {MAX_ELEMENTS}); the program would allocate what it merely declares. "
                "Refused."
            )


#: Operator namespaces a plain exported model uses.
_NAMESPACES = frozenset({"aten", "prims", "higher_order"})
#: Operators that read or write a file whose name they take (also found by their schemas).
_FILE_OPS = frozenset({"from_file", "save", "load", "_load", "load_tensor"})
_FILE_ARGS = frozenset({"filename", "file", "path", "filepath", "fname", "dirname"})


def _touches_files(namespace: str, op: str) -> bool:
    """Whether ``torch.ops.<namespace>.<op>`` takes a file name (by name or by its schema)."""
    if op in _FILE_OPS:
        return True
    import torch

    try:
        schemas = torch._C._jit_get_schemas_for_operator(f"{namespace}::{op}")
    except RuntimeError:
        return False
    return any(a.name.lower() in _FILE_ARGS for sc in schemas for a in sc.arguments)


#: Limits on an expression torch evaluates: its nodes, its integer literals' digits, and the
#: exponents and shift counts (constants of at most this value: ``9**9**9**9`` never evaluates).
_MAX_NODES = 2_000
_MAX_DIGITS = 19
_MAX_EXPONENT = 64
_POWER_CALLS = frozenset({"Pow", "PowByNatural", "FloatPow", "LShift", "RShift"})


def _bounded(tree: ast.AST) -> bool:
    """Whether evaluating the parsed expression ``tree`` is cheap: small, no huge powers."""
    nodes = list(ast.walk(tree))
    if len(nodes) > _MAX_NODES:
        return False
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            if len(str(abs(node.value))) > _MAX_DIGITS:
                return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift, ast.RShift)):
            if not _small_constant(node.right):
                return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _POWER_CALLS and (
                len(node.args) != 2 or not _small_constant(node.args[1])
            ):
                return False
    return True


def _small_constant(node: ast.AST) -> bool:
    """An integer literal (or ``Integer(k)``, ``-k``) of magnitude at most ``_MAX_EXPONENT``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
        if node.func.id in ("Integer", "Float") and not node.keywords:
            node = node.args[0]
    if not isinstance(node, ast.Constant):
        return False
    value = node.value
    return isinstance(value, (int, float)) and abs(value) <= _MAX_EXPONENT


def _check_expr(p: Path, name: str, expr: Any) -> None:
    """A sympy expression string torch would ``sympify`` (``eval``): sympy arithmetic only."""
    ok = isinstance(expr, str) and len(expr) < 10_000
    if ok:
        pos = 0
        while pos < len(expr):
            m = _EXPR_TOKEN.match(expr, pos)
            if m is None:
                ok = False
                break
            tok = m.group(0)
            if tok[0].isalpha() or tok[0] == "_":
                ok = tok in _SYMPY_NAMES or bool(_SYMBOL_NAME.fullmatch(tok))
                if not ok:
                    break
            pos = m.end()
    if ok:
        try:
            ok = _bounded(ast.parse(expr.strip(), mode="eval"))
        except (SyntaxError, ValueError, RecursionError):
            ok = False
    if not ok:
        raise _Refused(
            f"{name} holds the shape expression {str(expr)[:80]!r}, which is not plain, "
            "bounded sympy arithmetic (small integers and exponents, at most "
            f"{_MAX_NODES} terms); torch would evaluate it as Python code. Refused."
        )


def _safe_guard(code: str) -> bool:
    try:
        tree = ast.parse(code, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return False
    if len(code) > 10_000 or not _bounded(tree):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _GUARD_NODES):
            return False
        if isinstance(node, ast.Name) and node.id not in _GUARD_NAMES:
            return False
        if isinstance(node, ast.Attribute) and node.attr not in _GUARD_ATTRS:
            return False
        if isinstance(node, ast.Call) and node.keywords:
            return False
    return True
