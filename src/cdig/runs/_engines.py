"""Where shards are computed: in this process, or by Ray actors that each hold the model.

Both engines get the same batches and run the same :func:`~cdig.runs._job.run_shard`, so they
write the same bytes. The driver (``explain_dataset``) reads the data, skips finished shards
and records results; an engine only turns ``(index, batch)`` into a written shard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._optional import require
from ._job import Job, run_shard
from ._sources import Batch
from ._store import SHARD_META, shard_dir

__all__ = ["LocalEngine", "RayEngine"]

Result = tuple[dict[str, Any], dict[str, Any]]  # (shard metadata, domain metadata)


class LocalEngine:
    """Compute each shard when it is submitted, in this process."""

    def __init__(self, model: Any, job: Job, root: Path) -> None:
        self.model, self.job, self.root = model, job, root

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, index: int, batch: Batch, digest: str) -> Iterator[Result]:
        yield run_shard(self.model, self.job, self.root, index, batch, digest)

    def drain(self) -> Iterator[Result]:
        return iter(())


class _Worker:
    """A Ray actor: holds the model and writes the shards it is given."""

    def __init__(self, model: Any, job: Job, root: str) -> None:
        self.model, self.job, self.root = model, job, Path(root)

    def run(self, index: int, batch: Batch, digest: str) -> Result:
        return run_shard(self.model, self.job, self.root, index, batch, digest)


class RayEngine:
    """Compute shards on Ray actors, at most ``2 * workers`` batches in flight.

    Parameters
    ----------
    workers : int, optional
        Number of actors (one CPU each); default: the CPUs of the cluster.
    address : str, optional
        Passed to ``ray.init(address=...)`` when Ray is not initialized yet; ``None`` starts
        a local instance. An already initialized Ray is used as it is.
    options : mapping, optional
        Actor options (resources), default ``{"num_cpus": 1}``.
    """

    def __init__(
        self,
        model: Any,
        job: Job,
        root: Path,
        workers: int | None,
        address: str | None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.model, self.job, self.root = model, job, root
        self.workers, self.address = workers, address
        self.options = {"num_cpus": 1, **(options or {})}
        self._started = False
        self._actors: list[Any] = []
        self._pending: dict[Any, int] = {}  # object ref -> shard index

    def __enter__(self) -> RayEngine:
        ray = require("ray", "engine='ray'")
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False}
            if self.address is not None:
                kwargs["address"] = self.address
            else:
                kwargs["include_dashboard"] = False
                if self.workers is not None:
                    kwargs["num_cpus"] = self.workers
            ray.init(**kwargs)
            self._started = True
        self._busy: dict[Any, Any] = {}  # object ref -> actor
        try:
            n = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            actor = ray.remote(_Worker).options(**self.options)
            model_ref = ray.put(self.model)
            self._actors = [actor.remote(model_ref, self.job, str(self.root)) for _ in range(n)]
        except BaseException:
            self.__exit__(None)
            raise
        # two slots per actor: the next batch is shipped while the current one is computed
        self._idle = [a for a in self._actors for _ in range(2)]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and issubclass(exc_type, Exception) and self._busy:
            # another batch failed: let the batches in flight finish, so that their shards
            # are written and a rerun does not compute them again
            self.ray.wait(list(self._busy), num_returns=len(self._busy))
        for a in self._actors:
            self.ray.kill(a)
        self._actors = []
        if self._started:
            self.ray.shutdown()

    def submit(self, index: int, batch: Batch, digest: str) -> Iterator[Result]:
        while not self._idle:
            yield self._collect()
        actor = self._idle.pop()
        ref = actor.run.remote(index, batch, digest)
        self._busy[ref] = actor
        self._pending[ref] = index

    def drain(self) -> Iterator[Result]:
        while self._busy:
            yield self._collect()

    def _collect(self) -> Result:
        ray = self.ray
        [ref], _ = ray.wait(list(self._busy), num_returns=1)
        actor = self._busy.pop(ref)
        index = self._pending.pop(ref)
        try:
            result: Result = ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise  # pragma: no cover - Ray always sets the cause
        except ray.exceptions.RayActorError as err:
            raise RuntimeError(
                f"the Ray worker computing shard {index} died ({type(err).__name__}: {err}); "
                "finished shards are kept: rerun the same call to resume."
            ) from err
        self._idle.append(actor)
        if not (shard_dir(self.root, index) / SHARD_META).is_file():
            raise RuntimeError(
                f"a Ray worker wrote shard {index} but it is not visible at "
                f"{str(shard_dir(self.root, index))!r} on this machine: `out=` must be a folder "
                "on a file system shared by every node of the cluster (NFS, Lustre, ...)."
            )
        return result
