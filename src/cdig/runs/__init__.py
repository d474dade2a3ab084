"""Explain whole datasets: results streamed to disk, resumable, summarized per class.

``explain_dataset`` cuts the data into batches, explains each with the engine and writes it
as one shard (``.npy`` files plus a JSON manifest, readable without cdig; see
``docs/datasets.md``). ``DatasetRun`` reads a finished run lazily and computes global views.

Modules, following the data:

``_sources``  any kind of data -> fixed-size numpy batches
``_job``      one batch -> the arrays of one shard (shared by every engine); fingerprints
``_engines``  where shards are computed: this process, or Ray actors
``_store``    the on-disk format: atomic shard writes, checksums, manifest, resume checks
``explain``   ``explain_dataset``: validates, drives an engine over the data, records
``run``       ``DatasetRun``: lazy reading, per-class summaries; ``_plot`` its figure
"""

from ._plot import plot_summary
from ._store import CorruptShardError
from .explain import explain_dataset
from .run import DatasetRun, RunSummary, ShardedArray, open_run

__all__ = [
    "CorruptShardError",
    "DatasetRun",
    "RunSummary",
    "ShardedArray",
    "explain_dataset",
    "open_run",
    "plot_summary",
]
