"""Ray Data ingest: Parquet cache → tokenization in ``map_batches`` → each worker's training data.

The same code runs on a laptop (local Ray) and on a cluster:

1. :func:`n2r.data.cache.prepare` reads the source once into canonical Parquet files — on the
   node that prepares them; with a ``shared`` storage (a sweep on object storage) they are copied
   there once (:func:`share_entry`) and every node reads them from it, not from a local disk;
2. :func:`build_ray_data` opens them with ``ray.data.read_parquet`` and tokenizes with
   ``map_batches`` over Arrow batches (GloVe ids: a vectorized Arrow lookup run as tasks; a
   Hugging Face tokenizer: a callable class, loaded once per actor);
3. each Ray Train worker reads every split whole (:func:`worker_data`, in the data set's order:
   ``preserve_order``) into the same :class:`~n2r.data.PreparedData` a one-process run opens from
   the cache, and batches it with the same loader: every rank draws the same epoch order from the
   seed and keeps its disjoint share (:class:`~n2r.batch.BucketBatchSampler`), so a trial batches,
   pads and shuffles alike with 1 or N workers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from n2r.config import RunConfig
from n2r.data import GRAPH, TEXT, PreparedData
from n2r.data.base import SPLITS
from n2r.data.cache import CacheEntry, prepare
from n2r.data.schema import graphs_from_table
from n2r.logs import bars_enabled
from pipelines.storage import Storage


class Tokenize:
    """``map_batches`` callable class: applies an n2r tokenizer to an Arrow batch."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.tokenizer(batch)


@dataclass
class RayData:
    """Ray Datasets per split plus what the model builder needs."""

    kind: str
    datasets: dict[str, ray.data.Dataset]
    entry: CacheEntry
    pad_id: int = 0
    model_inputs: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None


# Entries up to this size on disk are read and tokenized once and kept in the object store
# (``Dataset.materialize``), where every worker reads them; each worker reads and tokenizes a
# larger one itself (once per run), so the object store never holds it whole.
MATERIALIZE_LIMIT_BYTES = 256 * 2**20


def share_entry(entry: CacheEntry, shared: Storage) -> Storage:
    """The cache entry's Parquet files in the ``shared`` storage folder (``DATA_NAME/KEY/``, the
    entry's own key), copied there once: ``meta.json`` goes last and marks a complete copy."""
    where = shared.child(entry.directory.parent.name, entry.directory.name)
    if not where.is_file("meta.json"):
        for split in SPLITS:
            where.upload(entry.directory / f"{split}.parquet", f"{split}.parquet")
        where.upload(entry.directory / "meta.json", "meta.json")
    return where


def build_ray_data(cfg: RunConfig, cache_dir: str | Path | None = None, materialize: bool | None = None,
                   splits: tuple[str, ...] = SPLITS, shared: Storage | None = None) -> RayData:
    """Prepare (or hit) the Parquet cache for ``cfg.data`` and open ``splits`` as tokenized Ray
    Datasets. ``materialize``: tokenize once into the object store, which every worker then reads,
    instead of each worker reading and tokenizing the Parquet files itself; ``None`` does so when
    the entry's files total at most :data:`MATERIALIZE_LIMIT_BYTES`. ``shared``: a
    :class:`~pipelines.storage.Storage` folder every node reaches (the sweep's, on object
    storage): the read tasks, wherever Ray places them, read the entry from there."""
    from n2r.models import family_of

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    # Ray Data draws progress bars wherever a dataset runs (a trial, a Train worker), and Ray forwards
    # each redraw to the driver's output as a line: ≈ 1,200 lines for one 400-row two-worker trial.
    # As for n2r's own bars, only where someone watches: a terminal on this process's stderr.
    context.enable_progress_bars = bars_enabled()
    # A prepared entry is one Parquet file per split. Ray 2.60's DataSourceV2 reader starts a pool
    # of 32 footer-reading actors for every read_parquet, each a new process importing Ray Data
    # (seconds of CPU each); the V1 reader reads one file's footer in the task that reads it.
    context.use_datasource_v2 = False
    entry = prepare(cfg.data.name, cfg.data.path, cfg.data.options, cache_dir=cache_dir)
    kind = entry.meta["kind"]
    paths = entry.paths()
    if materialize is None:
        materialize = sum(Path(p).stat().st_size for p in paths.values()) <= MATERIALIZE_LIMIT_BYTES
    keep = (lambda ds: ds.materialize()) if materialize else (lambda ds: ds)
    if shared is not None:
        where = share_entry(entry, shared)
        read = lambda split: ray.data.read_parquet(where.child(f"{split}.parquet").path, filesystem=where.fs)  # noqa: E731
    else:
        read = lambda split: ray.data.read_parquet(paths[split])  # noqa: E731
    if kind == GRAPH:
        first = pq.read_table(paths["train"], columns=["x"]).slice(0, 1).to_pylist()[0]["x"]
        datasets = {s: keep(read(s)) for s in splits if entry.meta["counts"][s]}
        return RayData(GRAPH, datasets, entry, model_inputs=family_of(cfg.model).model_inputs(
            cfg.model, num_features=len(first[0])))
    tokens = {s: pq.read_table(paths[s], columns=["tokens"]).to_pylist() for s in SPLITS}
    family = family_of(cfg.model)
    tokenizer = family.build_tokenizer(cfg.model, {s: rows for s, rows in tokens.items()})
    datasets = {s: keep(_tokenized(read(s), tokenizer)) for s in splits if entry.meta["counts"][s]}
    return RayData(TEXT, datasets, entry, pad_id=tokenizer.pad_id, tokenizer=tokenizer,
                   model_inputs=family.model_inputs(cfg.model, tokenizer))


def _tokenized(ds: ray.data.Dataset, tokenizer) -> ray.data.Dataset:
    """A tokenizer that is cheap to ship (GloVe lookups) runs as plain tasks (no actor start-up per
    pass); one that loads slowly (Hugging Face) in a small actor pool, loaded once per actor."""
    if not tokenizer.loads_slowly:
        return ds.map_batches(tokenizer, batch_format="pyarrow")
    return ds.map_batches(Tokenize, fn_constructor_args=(tokenizer,), batch_format="pyarrow", concurrency=(1, 2))


def split_table(source) -> pa.Table:
    """A whole split — a ``ray.data.Dataset`` or a worker's ``DataIterator`` over an unsplit data
    set — as one Arrow table, in the data set's order."""
    iterator = source.iterator() if isinstance(source, ray.data.Dataset) else source
    blocks = list(iterator.iter_batches(batch_size=None, batch_format="pyarrow"))
    if not blocks:
        raise ValueError("split_table: the split has no rows")
    return pa.concat_tables(blocks)


def worker_data(kind: str, sources: dict[str, Any], pad_id: int = 0) -> PreparedData:
    """Splits read whole from Ray Data (:func:`split_table`) → the :class:`~n2r.data.PreparedData`
    that :func:`n2r.training.run_loaders` batches, as in a one-process run."""
    tables = {split: split_table(source) for split, source in sources.items()}
    if kind == GRAPH:
        return PreparedData(GRAPH, {s: graphs_from_table(t) for s, t in tables.items()})
    return PreparedData(TEXT, tables, pad_id=pad_id)
