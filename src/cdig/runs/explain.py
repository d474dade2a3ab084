"""``explain_dataset``: explain a whole dataset, streaming results to disk, resumable."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._checks import check_int, check_optional_int
from .._inputs import as_dataset_baselines, as_series, resolve_domains
from .._optional import require
from .._progress import SampleProgress
from .._settings import MAX_STEPS, N_STEPS, PARAMETERS, RTOL, Method, Settings, fill_doc
from .._warnings import warn_unconverged_run
from ..domains import Domain
from ..engine import DomainsArg
from ..models import wrap
from ..targets import TargetSpec, as_target
from ._engines import LocalEngine, RayEngine
from ._job import Job, blind_spots, describe, model_fingerprint
from ._job import fingerprint as settings_fingerprint
from ._sources import Batch, as_source
from ._store import FORMAT, FORMAT_VERSION, RunStore
from .run import DatasetRun

__all__ = ["explain_dataset"]

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")


@fill_doc(settings=PARAMETERS)
def explain_dataset(
    model: Any,
    inputs: Any,
    domain: DomainsArg = "time",
    *,
    out: str | Path,
    target: Any = None,
    labels: Any = None,
    baselines: Any = None,
    fs: float | None = None,
    shard_size: int = 64,
    n_steps: int | Literal["auto"] = N_STEPS,
    method: Method | None = None,
    internal_batch_size: int | None = None,
    time_axis: int = -1,
    rtol: float = RTOL,
    atol: float = 0.0,
    max_steps: int = MAX_STEPS,
    engine: Literal["local", "ray"] = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    fingerprint: str | None = None,
) -> DatasetRun:
    """Explain every sample of a dataset; results stream to ``out`` and the run can resume.

    Samples are cut into shards of ``shard_size``; shard ``k`` (samples
    ``k * shard_size ..``) is explained with :meth:`cdig.CrossDomainIG.explain` and written
    atomically. Rerunning the same call after an interruption skips finished
    shards (their inputs are re-read and compared with a stored hash) and gives results
    identical to an uninterrupted run. A folder holding results of other settings, another
    model or other data is refused. Memory stays bounded by a few batches.

    Parameters
    ----------
    model : torch.nn.Module or callable
        As in :func:`cdig.explain`. Its weights are hashed to guard resumption.
    inputs : array-like, str, Dataset, DataLoader or iterable
        Numpy array or tensor of shape ``(n_samples, channels, time)`` (a memory-mapped array
        or the path of a ``.npy`` file streams from disk), a map-style torch ``Dataset``
        whose items are ``x`` or ``(x, y)``, a ``DataLoader`` (``shuffle=False``), or any
        iterable of batches ``x`` or ``(x, y)``. Every sample must have the same shape.
    domain : str, Domain, or a list / dict of them, default="time"
        Domains to explain in; linear ones share one integration pass. Labels (names or
        dict keys) name the files and must be letters, digits, ``_`` or ``-``.
    out : str or Path
        Folder of the run: created if missing, resumed if it holds this run.
    target : None, int, tuple, "predicted", "label", array of shape (n_samples,), or callable
        As in :func:`cdig.explain`; ``"label"`` explains each sample's labelled class and
        a 1-d integer array gives the class of every sample of the dataset. Text labels
        given with ``labels=`` are mapped to class indices in sorted order (as
        ``np.unique``, scikit-learn's and aeon's ``classes_`` do: ``"1", "2"`` -> 0, 1);
        the run keeps the names in its ``labels``.
    labels : array-like of shape (n_samples,), optional
        Labels for array ``inputs`` (other kinds carry their own).
    baselines : None, float, or array-like, default=None
        One baseline broadcastable to a sample's shape, or several stacked on a leading
        axis, shape ``(n_baselines, *sample_shape)``.
    fs : float, optional
        Sampling rate in Hz for domains given by name.
    shard_size : int, default=64
        Samples per shard (each shard is explained in one call; how many model evaluations
        one forward pass holds is ``internal_batch_size``).
    {settings}
    time_axis : int, default=-1
        Axis of time in the samples, as in :func:`cdig.explain`.
    engine : {"local", "ray"}, default="local"
        ``"ray"`` computes shards on Ray actors (``pip install cdig[ray]``). Both engines
        write the same files.
    workers : int, optional
        Ray actors (one CPU each); default: every CPU of the cluster.
    ray_address : str, optional
        ``ray.init(address=...)`` for an existing cluster (``"auto"``,
        ``"ray://head:10001"``); ``None`` starts a local Ray. Ignored if Ray is initialized.
    ray_options : mapping, optional
        Resources of each Ray actor, passed to ``.options()``; default ``{"num_cpus": 1}``.
        E.g. ``{"num_gpus": 1}`` for one GPU per worker (the model must then live on a GPU
        that exists on every worker; it is sent to them pickled).
    progress : bool, default=True
        Show a progress bar over the samples (samples/s and ETA, via tqdm; a line on stderr
        every 10 s when not on a terminal with tqdm). As ``progress=`` of :func:`cdig.explain`,
        on by default here because a dataset takes long.
    fingerprint : str, optional
        Your own key for what cdig cannot read (see "What the fingerprint covers" in
        ``docs/datasets.md``): a string that changes whenever the model or a callable
        target changes in a way cdig cannot see, e.g. a compiled JAX function's version.
        It becomes part of the run's fingerprint. Without it, a run whose model or target
        holds something cdig cannot read inside is computed but never resumed.

    Returns
    -------
    DatasetRun
        Lazy access to the results: ``run.open(domain)[i:j]``, ``run.summary(domain)``,
        ``run.plot(domain)``.

    Raises
    ------
    ValueError, TypeError
        For invalid arguments or data (naming the sample), a folder of another run, or a
        corrupted shard (naming the file).
    OSError
        When ``out`` cannot be written (read-only, full); finished shards are kept.

    Warns
    -----
    ConvergenceWarning
        ``n_steps="auto"``: once, naming the samples that are not certified, each with its
        reason as one call's warning does (budget spent, singular path at the baseline,
        rounding floor); ``run.unconverged(domain)`` lists them, ``run.status(domain)``
        gives each sample's reason and ``run.error(domain)`` its estimated error.
    CompletenessWarning
        A fixed ``n_steps``: once, naming the samples whose completeness error exceeds
        ``rtol * |f(x) - f(x')| + atol``.

    Examples
    --------
    >>> run = cdig.explain_dataset(model, X, ["fourier", "stft"], target="predicted",
    ...                            fs=500.0, out="runs/forda")  # doctest: +SKIP
    >>> run.summary("fourier")  # doctest: +SKIP
    """
    _check_args(shard_size, engine, workers, ray_address, ray_options, progress)
    if fingerprint is not None and (not isinstance(fingerprint, str) or not fingerprint):
        raise TypeError(
            f"fingerprint={fingerprint!r} must be a non-empty string that changes whenever the "
            "model changes (e.g. a version or a hash of its weights), or None."
        )
    settings = Settings(n_steps, method, internal_batch_size, rtol, atol, max_steps, time_axis)
    if engine == "ray":
        require("ray", "engine='ray'")  # before anything is written
    named = resolve_domains(domain if not isinstance(domain, (str, Domain)) else [domain], fs)
    for label, _ in named:
        if not _LABEL.fullmatch(label):
            raise ValueError(
                f"domain label {label!r} cannot name files; use letters, digits, '_' or '-' "
                "(pass a dict {label: domain})."
            )
    wrap(model)  # a TypeError for what is not a model, before anything is read
    spec = as_target(target, dataset=True)
    if spec.kind == "label" and labels is not None:
        spec = _label_classes(labels, spec)
    source = as_source(inputs, labels)
    stream = source.batches(shard_size)
    first = next(stream)
    as_series(first.x[:1], time_axis, None, None)  # checks time_axis against the layout
    if spec.kind == "label" and first.y is None:
        raise ValueError("target='label' needs labels; pass labels= or inputs that yield (x, y).")
    n_samples = source.n_samples
    if spec.kind == "per_sample" and n_samples is not None and len(spec.value) != n_samples:
        raise ValueError(
            f"target has {len(spec.value)} entries; give one class index per sample ({n_samples})."
        )
    job = Job(
        domains=tuple(named),
        settings=settings,
        target=spec,
        baselines=as_dataset_baselines(baselines, first.x.shape[1:]),
    )
    root = Path(out).expanduser().resolve()
    manifest = _manifest(job, model, first, source.n_samples, shard_size, fingerprint)
    store = RunStore.open(root, manifest)
    if manifest.get("unverified") and not store.done:
        warnings.warn(
            f"cdig cannot read inside {manifest['unverified'][0]}, so this run in out="
            f"{str(root)!r} will not resume: a later call could not tell whether it changed. "
            "Pass fingerprint=KEY (a string that changes when it does) to make it resumable.",
            UserWarning,
            stacklevel=2,
        )
    try:  # the store holds the folder's lock until closed
        runner = (
            RayEngine(model, job, root, workers, ray_address, ray_options)
            if engine == "ray"
            else LocalEngine(model, job, root)
        )
        total = store.manifest.get("n_samples")
        with SampleProgress(total, store.done_samples, root.name, progress) as bar, runner:
            _drive(chain([first], stream), store, runner, shard_size, bar)
    finally:
        store.close()
    run = DatasetRun(root)
    warn_unconverged_run(run, settings)
    return run


def _check_args(
    shard_size: Any, engine: Any, workers: Any, ray_address: Any, ray_options: Any, progress: Any
) -> None:
    check_int(shard_size, "shard_size")
    if engine not in ("local", "ray"):
        raise ValueError(f"engine={engine!r} must be 'local' or 'ray'.")
    check_optional_int(workers, "workers")
    if ray_address is not None and not isinstance(ray_address, str):
        raise TypeError(f"ray_address={ray_address!r} must be a string such as 'auto' or None.")
    if ray_options is not None and not isinstance(ray_options, Mapping):
        raise TypeError(
            f"ray_options must be a dict of actor options such as {{'num_gpus': 1}}; got "
            f"{type(ray_options).__name__}."
        )
    if not isinstance(progress, bool):
        raise TypeError(f"progress={progress!r} must be True or False.")


def _label_classes(labels: Any, spec: TargetSpec) -> TargetSpec:
    """``target="label"`` with text labels: one class index per sample, names sorted."""
    lab = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if lab.ndim != 1 or not (np.issubdtype(lab.dtype, np.str_) or lab.dtype == object):
        return spec
    try:
        _, index = np.unique(lab.astype(str), return_inverse=True)
    except (TypeError, ValueError):  # pragma: no cover - unorderable objects
        return spec
    return TargetSpec("per_sample", index.astype(np.int64), origin="label")


def _manifest(
    job: Job,
    model: Any,
    first: Batch,
    n_samples: int | None,
    shard_size: int,
    key: str | None = None,
) -> dict[str, Any]:
    from .._version import __version__

    settings = {
        "explain": {
            "domain_labels": [label for label, _ in job.domains],
            "domains": {label: describe(d) for label, d in job.domains},
            "target": {"kind": job.target.kind, "value": describe(job.target.value)},
            "baselines": describe(job.baselines),
            **job.settings.as_dict(),  # n_steps, method, ..., time_axis
            "shard_size": shard_size,
        },
        "model": model_fingerprint(model),
        "data": {"sample_shape": list(first.x.shape[1:]), "dtype": first.x.dtype.str},
        "key": key,
    }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cdig_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": settings_fingerprint(settings),
        "unverified": [] if key is not None else blind_spots(settings),
        "settings": settings,
        "shard_size": shard_size,
        "n_samples": n_samples,
        "n_shards": None if n_samples is None else -(-n_samples // shard_size),
        "complete": False,
        "domains": None,
        "columns": None,
    }


def _drive(
    stream: Iterator[Batch], store: RunStore, runner: Any, shard_size: int, bar: Any
) -> None:
    """Feed unfinished batches to the engine and record what comes back."""
    n_seen = n_shards = 0

    def record(result: tuple[dict[str, Any], dict[str, Any]]) -> None:
        meta, layout = result
        store.record_layout(layout, int(meta["index"]))
        store.add(meta)
        bar.update(int(meta["stop"]) - int(meta["start"]))

    for batch in stream:
        index = batch.start // shard_size
        n_seen, n_shards = batch.stop, index + 1
        digest = batch.digest()
        done = store.done.get(index)
        if done is not None:
            if done.get("input_sha256") != digest or int(done["stop"]) != batch.stop:
                raise ValueError(
                    f"samples {batch.start}..{batch.stop - 1} differ from the data shard {index} "
                    f"in {str(store.root)!r} was computed from; the data changed since the run "
                    "started. Use a new `out=` folder for other data."
                )
            if store.manifest.get("domains") is None:  # interrupted before it was recorded
                store.record_layout(done["layout"], index)
            continue
        for result in runner.submit(index, batch, digest):
            record(result)
    for result in runner.drain():
        record(result)
    store.finish(n_seen, n_shards)
