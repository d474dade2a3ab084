"""The on-disk format of a dataset run: a JSON manifest plus one folder of ``.npy`` files per shard.

Everything here is plain numpy and JSON so that a run can be read without cdig (see
``docs/datasets.md`` for the format). A shard is written into a hidden temporary folder and
renamed into place when complete, so a shard folder either exists whole or not at all, and
every file is checked against the SHA-256 recorded in the shard's ``shard.json`` on resume
and when it is first read. When the run finishes, the manifest records the SHA-256 of every
``shard.json``, so a shard folder that was swapped, replaced or edited is detected too.
The manifest is replaced atomically (temporary file, fsync, rename). One process writes a
run folder at a time: it holds an exclusive lock on ``.lock`` in the folder (``fcntl.flock``;
``msvcrt.locking`` on Windows), which the operating system drops when the process ends, also
when it crashes or is killed.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._npy import check_dtype, read_npy

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CorruptShardError",
    "RunLock",
    "RunStore",
    "load_shard_file",
    "read_manifest",
    "shard_dir",
    "write_shard",
]

FORMAT = "cdig.dataset-run"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARDS = "shards"
SHARD_META = "shard.json"
LOCK = ".lock"
_TMP_MARK = ".tmp-"


class CorruptShardError(ValueError):
    """A shard on disk does not match the checksums recorded when it was written."""


# ---------------------------------------------------------------------- paths
def shard_name(index: int) -> str:
    return f"{index:06d}"


def shard_dir(root: Path, index: int) -> Path:
    return root / SHARDS / shard_name(index)


def _io_error(err: OSError, what: str, path: Path, kept: str) -> OSError:
    """An OSError of the same kind whose message names the path, the cause and the fix."""
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
    }.get(err.errno or -1, err.strerror or str(err))
    return type(err)(
        err.errno,
        f"cannot {what} {str(path)!r}: {reason}. {kept} Free space or choose a writable "
        "`out=` folder, then rerun the same call to resume.",
    )


# ---------------------------------------------------------------------- lock
class RunLock:
    """An exclusive lock on a run folder, held by the one process that writes it.

    The lock is ``fcntl.flock`` (``msvcrt.locking`` on Windows) on the file ``.lock`` in the
    folder: the operating system releases it when the process exits, even after a crash or
    ``kill -9``, so a stale lock never blocks a resume.
    """

    def __init__(self, root: Path, fd: int) -> None:
        self.root = root
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, root: Path) -> RunLock:
        """Lock ``root`` (created if needed) or raise ``ValueError`` naming the folder."""
        path = root / LOCK
        try:
            root.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():  # O_NOFOLLOW below; this check also covers Windows
                raise _link_error(path)
            # never through a link: truncating the pid into a linked file would change a file
            # outside the run folder
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise _link_error(path) from None
            raise _io_error(err, "create the run folder", root, "Nothing was written.") from err
        try:
            _lock_fd(fd)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ValueError(
                f"out={str(root)!r} is being written by another process{holder}; two writers "
                "would mix their results. Wait for it to finish (rerun then to resume), or use "
                "another `out=` folder. The lock is released as soon as that process ends, "
                "even if it crashed."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # the pid is only informative
            pass
        return cls(root, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock_fd(fd)
        finally:
            os.close(fd)


def _link_error(path: Path) -> ValueError:
    return ValueError(
        f"{str(path)!r} is a symbolic link; a run folder's lock must be a plain file (writing "
        "through the link would change the file it points to). Nothing was written. Remove the "
        "link, or use another `out=` folder."
    )


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except (OSError, AttributeError):
        return ""
    return f" (process {text})" if text.isdigit() else ""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# ---------------------------------------------------------------------- json
def _dump_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{uuid.uuid4().hex[:8]}")
    data = json.dumps(obj, indent=1, sort_keys=True).encode()
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the run in ``root``; ``ValueError`` when it is not a cdig run."""
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"{str(root)!r} is not a cdig dataset run (no {MANIFEST}); pass the `out=` folder "
            "of an explain_dataset call."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"the manifest {str(path)!r} is not valid JSON ({err}); the run folder is damaged. "
            "Restore it or start a new run in an empty folder."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a cdig dataset-run manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has format version {manifest.get('format_version')}; this cdig reads "
            f"version {FORMAT_VERSION}. Use the cdig version that wrote it, or recompute."
        )
    check_manifest(manifest, path)
    return manifest


def _bad_manifest(path: Path, why: str) -> ValueError:
    return ValueError(
        f"the manifest {str(path)!r} is not valid: {why}. The run folder is damaged or was "
        "edited; restore it, or recompute in an empty `out=` folder."
    )


def _is_int(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(k, str) for k in v)


def check_manifest(m: dict[str, Any], path: Path, finished: bool = False) -> None:
    """Types and sizes of a manifest's entries, checked before anything is allocated from them.

    ``finished``: also what a finished run must have (sample count, layout, shard digests).
    Raises ``ValueError`` naming the entry.
    """
    for key in ("cdig_version", "fingerprint", "settings", "shard_size"):
        if key not in m:
            raise _bad_manifest(path, f"the entry {key!r} is missing")
    if not isinstance(m["cdig_version"], str) or not isinstance(m["fingerprint"], str):
        raise _bad_manifest(path, "'cdig_version' and 'fingerprint' must be strings")
    explain = m["settings"].get("explain") if isinstance(m["settings"], dict) else None
    if not isinstance(explain, dict) or not _str_list(explain.get("domain_labels")):
        raise _bad_manifest(path, "'settings.explain.domain_labels' must be a list of strings")
    if not _is_int(m["shard_size"], 1):
        raise _bad_manifest(path, f"shard_size={m['shard_size']!r} must be a positive integer")
    n: Any = m.get("n_samples")
    shards: Any = m.get("n_shards")
    if n is not None or finished:
        if not _is_int(n):
            raise _bad_manifest(path, f"n_samples={n!r} must be a non-negative integer")
        if shards != -(-n // m["shard_size"]):
            raise _bad_manifest(
                path,
                f"n_shards={shards!r} does not match {n} samples in batches of {m['shard_size']}",
            )
    for key in ("complete",):
        if key in m and not isinstance(m[key], bool):
            raise _bad_manifest(path, f"{key}={m[key]!r} must be true or false")
    if m.get("columns") is not None and not _str_list(m["columns"]):
        raise _bad_manifest(path, "'columns' must be a list of strings")
    domains = m.get("domains")
    if domains is not None or finished:
        if not isinstance(domains, dict) or set(explain["domain_labels"]) - set(domains):
            raise _bad_manifest(path, "'domains' must describe every domain label")
        for label, info in domains.items():
            _check_domain_info(info, f"domains.{label}", path)
    digests = m.get("shards")
    if digests is not None or finished:
        if finished and not m.get("complete"):
            raise _bad_manifest(path, "the run is not marked complete")
        want = [shard_name(i) for i in range(shards)] if _is_int(shards) else None
        if not isinstance(digests, dict) or (want is not None and sorted(digests) != want):
            raise _bad_manifest(
                path,
                "'shards' must record the SHA-256 of every shard's shard.json (a finished run "
                "without them cannot be checked, so it is not read)",
            )
        if not all(isinstance(d, str) and len(d) == 64 for d in digests.values()):
            raise _bad_manifest(path, "every entry of 'shards' must be a SHA-256 in hex")


def _check_domain_info(info: Any, where: str, path: Path) -> None:
    from ..attribution import coord_array

    if not isinstance(info, dict):
        raise _bad_manifest(path, f"{where} must be an object")
    if not _str_list(info.get("dims")):
        raise _bad_manifest(path, f"{where}.dims must be a list of axis names")
    shape = info.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != len(info["dims"])
        or not all(_is_int(k) for k in shape)
    ):
        raise _bad_manifest(path, f"{where}.shape must be one non-negative length per axis")
    try:
        check_dtype(info.get("dtype"), f"{where}.dtype")
        for name, value in (info.get("coords") or {}).items():
            coord_array(value, f"{where}.coords.{name}")
    except (ValueError, TypeError) as err:
        raise _bad_manifest(path, str(err)) from None
    units = info.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(u, str) for u in units.values()):
        raise _bad_manifest(path, f"{where}.units must map names to strings")


# ---------------------------------------------------------------------- shards
def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    # No fsync per file: a killed process loses nothing written (the page cache survives it),
    # and after a machine crash the SHA-256 check on resume reports a damaged shard.
    with open(path, "wb") as fh:
        fh.write(data)


def write_shard(
    root: Path, index: int, start: int, arrays: Mapping[str, np.ndarray], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """Write one shard atomically and return its metadata (the content of ``shard.json``).

    The files go to a hidden temporary folder first, which is renamed to ``shards/NNNNNN``
    only when every file is written and synced. On any failure the temporary folder is
    removed and shards written before are untouched.
    """
    final = shard_dir(root, index)
    tmp = final.with_name(f".{final.name}{_TMP_MARK}{uuid.uuid4().hex[:8]}")
    n = len(next(iter(arrays.values())))
    meta: dict[str, Any] = {
        "index": index,
        "start": start,
        "stop": start + n,
        "files": {},
        **extra,
    }
    try:
        tmp.mkdir(parents=True)
        for name, arr in arrays.items():
            data = _npy_bytes(arr)
            _write_bytes(tmp / f"{name}.npy", data)
            meta["files"][name] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "shape": list(arr.shape),
                "dtype": np.asarray(arr).dtype.str,
            }
        _write_bytes(tmp / SHARD_META, json.dumps(meta, indent=1, sort_keys=True).encode())
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / SHARD_META).is_file():
                raise
            # a complete copy is already there (two workers computed the same shard); the
            # results are the same, keep the first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _io_error(
            err,
            f"write shard {index} (samples {start}..{start + n - 1}) to",
            final,
            "Shards written before are kept.",
        ) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _corrupt(path: Path, why: str, folder: Path) -> CorruptShardError:
    return CorruptShardError(
        f"corrupted shard file {str(path)!r}: {why}. Nothing was changed on disk; delete the "
        f"folder {str(folder)!r} and rerun the same call to recompute that shard."
    )


def read_shard_meta(
    folder: Path, index: int, meta_sha256: str | None = None, start: int | None = None
) -> dict[str, Any]:
    """The metadata of shard ``index``, checked to belong there (not the files' contents).

    ``meta_sha256``: the SHA-256 of ``shard.json`` recorded in the manifest of a finished
    run; ``start``: the first sample the shard must hold.
    """
    meta_path = folder / SHARD_META
    try:
        raw = meta_path.read_bytes()
        meta = json.loads(raw.decode())
        meta["files"].items()
        n = int(meta["stop"]) - int(meta["start"])
        own = int(meta["index"])
    except FileNotFoundError:
        raise _corrupt(meta_path, "it is missing", folder) from None
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
        raise _corrupt(meta_path, f"it is not valid shard metadata ({err!r})", folder) from None
    if meta_sha256 is not None and hashlib.sha256(raw).hexdigest() != meta_sha256:
        raise _corrupt(
            meta_path,
            "its SHA-256 differs from the one the manifest recorded when the run finished (the "
            "shard folder was replaced, moved or edited)",
            folder,
        )
    if own != index or (start is not None and int(meta["start"]) != start) or n < 0:
        raise _corrupt(
            meta_path,
            f"it describes shard {own} (samples {meta['start']}..{int(meta['stop']) - 1}), but "
            f"the folder is that of shard {index}; shard folders were moved or swapped",
            folder,
        )
    return dict(meta)


def verify_shard_file(folder: Path, meta: Mapping[str, Any], name: str) -> None:
    """Check one file of a shard against the SHA-256 and length recorded in its metadata."""
    path = folder / f"{name}.npy"
    info = meta["files"].get(name)
    if info is None:
        raise _corrupt(folder / SHARD_META, f"it records no file {name}.npy", folder)
    if not path.is_file():
        raise _corrupt(path, "it is missing", folder)
    if _sha256_file(path) != info.get("sha256"):
        why = "its SHA-256 differs from the one recorded when it was written"
        raise _corrupt(path, why, folder)
    n = int(meta["stop"]) - int(meta["start"])
    if not info.get("shape") or info["shape"][0] != n:
        raise _corrupt(path, f"it does not hold {n} samples", folder)


def verify_shard(folder: Path, index: int | None = None) -> dict[str, Any]:
    """Check every file of a finished shard against its recorded SHA-256; return the metadata."""
    meta = read_shard_meta(folder, int(folder.name) if index is None else index)
    for name in meta["files"]:
        verify_shard_file(folder, meta, name)
    return meta


def shard_meta_sha256(root: Path, index: int) -> str:
    """SHA-256 of the ``shard.json`` of shard ``index`` (recorded in the finished manifest)."""
    return hashlib.sha256((shard_dir(root, index) / SHARD_META).read_bytes()).hexdigest()


def load_shard_file(folder: Path, name: str, mmap: bool = False) -> np.ndarray:
    """One array of a shard (``mmap``: memory-mapped, read only), its header checked first."""
    path = folder / f"{name}.npy"
    try:
        return read_npy(path, what=f"shard file {str(path)!r}", mmap=mmap, kinds="biufUS")
    except ValueError as err:
        raise _corrupt(path, str(err), folder) from None


# ---------------------------------------------------------------------- the store
class RunStore:
    """Writer side of a run folder: creates or resumes it and records progress.

    Parameters
    ----------
    root : Path
        The ``out=`` folder.
    manifest : dict
        The manifest of this call (settings, fingerprint, data description), without the
        per-domain metadata, which is recorded from the first computed shard.
    """

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        self.root = root
        self.manifest = manifest
        self.done: dict[int, dict[str, Any]] = {}
        self.lock: RunLock | None = None

    # -------------------------------------------------------------- opening
    @classmethod
    def open(cls, root: Path, manifest: dict[str, Any]) -> RunStore:
        """Create ``root`` or resume the run in it.

        Raises
        ------
        ValueError
            When ``root`` holds a run of other settings, another kind of content, or a
            corrupted shard (:class:`CorruptShardError`).
        OSError
            When ``root`` cannot be created or written.
        """
        store = cls(root, manifest)
        if root.exists() and not root.is_dir():
            raise ValueError(f"out={str(root)!r} is a file; pass a folder for the run.")
        store._existing_manifest()  # refuse a foreign folder before leaving a lock file in it
        store.lock = RunLock.acquire(root)  # one writer at a time, from here to close()
        try:
            old = store._existing_manifest()
            if old is None:
                store._create()
            else:
                _check_version(root, old, manifest)
                _check_same_run(root, old, manifest)
                for key in ("domains", "columns", "complete", "created"):
                    if key in old:
                        manifest[key] = old[key]
                for key in ("n_samples", "n_shards"):  # known now, or from the first pass
                    if manifest.get(key) is None:
                        manifest[key] = old.get(key)
                store._check_writable()
                store._scan()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Release the folder's lock (also done by the operating system at exit)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _existing_manifest(self) -> dict[str, Any] | None:
        if not self.root.is_dir():
            return None
        if (self.root / MANIFEST).is_file():
            return read_manifest(self.root)
        visible = [p.name for p in self.root.iterdir() if not p.name.startswith(".")]
        if visible:
            raise ValueError(
                f"out={str(self.root)!r} is not empty and holds no cdig run ({MANIFEST} is "
                f"missing; found {sorted(visible)[:5]}); choose an empty or new folder."
            )
        return None

    def _create(self) -> None:
        try:
            (self.root / SHARDS).mkdir(parents=True, exist_ok=True)
            self.manifest.setdefault("complete", False)
            _dump_json(self.root / MANIFEST, self.manifest)
        except OSError as err:
            raise _io_error(
                err, "create the run folder", self.root, "Nothing was written."
            ) from err

    def _check_writable(self) -> None:
        probe = self.root / SHARDS / f".probe{_TMP_MARK}{uuid.uuid4().hex[:8]}"
        try:
            (self.root / SHARDS).mkdir(exist_ok=True)
            _write_bytes(probe, b"cdig")
        except OSError as err:
            raise _io_error(
                err, "write to the run folder", self.root, "The results already there are kept."
            ) from err
        finally:
            probe.unlink(missing_ok=True)

    def _scan(self) -> None:
        """Drop leftovers of interrupted writes and verify every finished shard."""
        for entry in sorted((self.root / SHARDS).iterdir()):
            if entry.name.startswith(".") and _TMP_MARK in entry.name:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
                continue
            if entry.name.isdigit() and entry.is_dir():
                meta = verify_shard(entry)  # also that it is the shard its folder names
                self.done[int(entry.name)] = meta

    # -------------------------------------------------------------- recording
    @property
    def done_samples(self) -> int:
        return sum(int(m["stop"]) - int(m["start"]) for m in self.done.values())

    def record_layout(self, layout: Mapping[str, Any], index: int) -> None:
        """Store the array layout of the first computed shard; check later ones against it.

        ``layout`` has ``"columns"`` (names of the per-sample arrays besides the domains) and
        ``"domains"`` (per domain: dims, shape, dtype, coords, units, ...).
        """
        if self.manifest.get("domains") is None:
            self.manifest["domains"] = dict(layout["domains"])
            self.manifest["columns"] = list(layout["columns"])
            self._save()
            return
        known = self.manifest["domains"]
        for label, dom in layout["domains"].items():
            old = known.get(label)
            if old is None or old["dims"] != dom["dims"] or old["shape"] != dom["shape"]:
                raise ValueError(
                    f"shard {index}: domain {label!r} produced coefficients of shape "
                    f"{dom['shape']} over {dom['dims']}, but earlier shards have "
                    f"{old and old['shape']} over {old and old['dims']}; the domain must give "
                    "the same coefficient layout for every batch."
                )
        if list(layout["columns"]) != self.manifest["columns"]:
            raise ValueError(
                f"shard {index} holds the arrays {layout['columns']}, earlier shards "
                f"{self.manifest['columns']}; every batch must carry the same (e.g. labels)."
            )

    def add(self, meta: dict[str, Any]) -> None:
        self.done[int(meta["index"])] = meta

    def finish(self, n_samples: int, n_shards: int) -> None:
        extra = sorted(i for i in self.done if i >= n_shards)
        if extra:
            raise ValueError(
                f"the run folder {str(self.root)!r} holds shard {extra[0]} but the data end at "
                f"{n_samples} samples ({n_shards} shards); the data changed since the run "
                "started. Use a new `out=` folder."
            )
        try:
            digests = {shard_name(i): shard_meta_sha256(self.root, i) for i in sorted(self.done)}
        except OSError as err:
            raise _io_error(err, "read the shards of", self.root, "Shards are kept.") from err
        self.manifest.update(n_samples=n_samples, n_shards=n_shards, complete=True, shards=digests)
        self._save()

    def _save(self) -> None:
        try:
            _dump_json(self.root / MANIFEST, self.manifest)
        except OSError as err:
            raise _io_error(
                err, "update the manifest", self.root / MANIFEST, "Shards are kept."
            ) from err


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _check_version(root: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """A run is continued only by the cdig version that started it (its manifest keeps it)."""
    if old.get("cdig_version") != new.get("cdig_version"):
        raise ValueError(
            f"out={str(root)!r} holds a run written by cdig {old.get('cdig_version')}; this is "
            f"cdig {new.get('cdig_version')}. Results of two versions are not mixed, and the run "
            "is left as it is. Resume it with the version that wrote it, read it with "
            "cdig.open_run, or use a new `out=` folder."
        )


def _check_same_run(root: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse to mix results: the fingerprint of the settings must match."""
    if old.get("fingerprint") == new["fingerprint"] and new.get("unverified"):
        raise ValueError(
            f"out={str(root)!r} holds a run that cannot be resumed safely: cdig cannot read "
            f"inside {new['unverified'][0]}, so it cannot tell whether that changed since "
            "the run started (resuming could return stale numbers). Pass fingerprint=KEY to "
            "explain_dataset (a string that changes whenever it does, e.g. a version) and use a "
            "new `out=` folder, or delete this folder to recompute."
        )
    if old.get("fingerprint") == new["fingerprint"]:
        if (
            old.get("n_samples") is not None
            and new.get("n_samples") is not None
            and old["n_samples"] != new["n_samples"]
        ):
            raise ValueError(
                f"out={str(root)!r} holds a run over {old['n_samples']} samples; the data given "
                f"now has {new['n_samples']}. Use a new `out=` folder for other data."
            )
        return
    a, b = _flatten(old.get("settings", {})), _flatten(new["settings"])
    diffs = [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
    detail = "; ".join(diffs[:6]) + (" ..." if len(diffs) > 6 else "")
    model = [d.split(":")[0] for d in diffs if d.startswith("model.")]
    hint = (
        f" The model is not the model the run was started with ({', '.join(model)} "
        f"{'differs' if len(model) == 1 else 'differ'}; model.sha256 covers the weights, "
        "model.structure the architecture and forward code)."
        if model
        else ""
    )
    raise ValueError(
        f"out={str(root)!r} holds results computed with different settings "
        f"({detail or 'fingerprints differ'}); refusing to mix them.{hint} Use a new `out=` "
        "folder, or delete this one to recompute."
    )
