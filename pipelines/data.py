"""Ray Data ingest: Parquet cache → tokenization in ``map_batches`` → per-worker shards → batches.

The same code runs on a laptop (local Ray) and on a cluster:

1. :func:`n2r.data.cache.prepare` reads the source once into canonical Parquet files;
2. :func:`build_ray_data` opens them with ``ray.data.read_parquet`` and tokenizes with
   ``map_batches`` over Arrow batches (GloVe ids: a vectorized Arrow lookup run as tasks; a
   Hugging Face tokenizer: a callable class, loaded once per actor);
3. a Ray Train worker takes its shard with ``ray.train.get_dataset_shard`` and iterates it with
   :func:`iter_epoch`, which uses ``iter_torch_batches`` with a collate that pads each text
   batch to its own longest input (optionally length-bucketed) or builds a PyG ``Batch``.

Order is deterministic for a seed (``preserve_order`` plus a seeded local shuffle per epoch).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from ray.data.collate_fn import ArrowBatchCollateFn

from n2r.batch import collate_text_table, length_sorted_batches
from n2r.config import RunConfig
from n2r.data import GRAPH, TEXT
from n2r.data.base import SPLITS
from n2r.data.cache import CacheEntry, prepare
from n2r.data.schema import graphs_from_table


class Tokenize:
    """``map_batches`` callable class: applies an n2r tokenizer to an Arrow batch."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.tokenizer(batch)


class TextCollate(ArrowBatchCollateFn):
    """Arrow rows → :class:`~n2r.batch.TextBatch` padded to the batch maximum.

    With ``bucket_batch_size`` the incoming rows are a window of several batches: they are sorted
    by length, cut into batches of that size (little padding) and returned in a seeded random
    order as a list, which :func:`iter_epoch` flattens.
    """

    def __init__(self, pad_id: int = 0, bucket_batch_size: int | None = None, seed: int = 0,
                 pad_to: int | None = None):
        self.pad_id = pad_id
        self.bucket_batch_size = bucket_batch_size
        self.rng = random.Random(seed)
        self.pad_to = pad_to

    def __call__(self, batch: pa.Table):
        if not self.bucket_batch_size:
            return collate_text_table(batch, self.pad_id, self.pad_to)
        lengths = pc.list_value_length(batch.column("input_ids")).to_pylist()
        chunks = [collate_text_table(batch.take(pa.array(rows, type=pa.int64())), self.pad_id, self.pad_to)
                  for rows in length_sorted_batches(range(batch.num_rows), lengths, self.bucket_batch_size)]
        self.rng.shuffle(chunks)
        return chunks


class GraphCollate(ArrowBatchCollateFn):
    """Arrow graph rows (canonical schema) → ``torch_geometric.data.Batch``."""

    def __call__(self, batch: pa.Table):
        from torch_geometric.data import Batch

        return Batch.from_data_list(graphs_from_table(batch))


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
# (``Dataset.materialize``); larger ones stream from Parquet every epoch. Measured on 2 cores:
# re-executing read → tokenize for every epoch of a 128-row set cost 4–7 s per epoch and split.
MATERIALIZE_LIMIT_BYTES = 256 * 2**20


def build_ray_data(cfg: RunConfig, cache_dir: str | Path | None = None, materialize: bool | None = None,
                   splits: tuple[str, ...] = SPLITS) -> RayData:
    """Prepare (or hit) the Parquet cache for ``cfg.data`` and open ``splits`` as tokenized Ray
    Datasets. ``materialize``: keep the tokenized splits in the object store instead of re-reading
    and re-tokenizing them every epoch; ``None`` does so when the entry's files total at most
    :data:`MATERIALIZE_LIMIT_BYTES`."""
    from n2r.data import build_tokenizer

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
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
    if kind == GRAPH:
        first = pq.read_table(paths["train"], columns=["x"]).slice(0, 1).to_pylist()[0]["x"]
        datasets = {s: keep(ray.data.read_parquet(paths[s])) for s in splits if entry.meta["counts"][s]}
        return RayData(GRAPH, datasets, entry, model_inputs={"in_channels": len(first[0])})
    tokens = {s: pq.read_table(paths[s], columns=["tokens"]).to_pylist() for s in SPLITS}
    tokenizer = build_tokenizer(cfg.model, {s: rows for s, rows in tokens.items()})
    datasets = {s: keep(_tokenized(ray.data.read_parquet(paths[s]), tokenizer))
                for s in splits if entry.meta["counts"][s]}
    model_inputs: dict[str, Any] = {}
    pad_id = 0
    if hasattr(tokenizer, "vocab"):
        from n2r.embeddings import load_glove

        model_inputs["embedding_matrix"] = load_glove(tokenizer.vocab, cfg.model.embeddings)
    else:
        pad_id = tokenizer.pad_id
    return RayData(TEXT, datasets, entry, pad_id=pad_id, model_inputs=model_inputs, tokenizer=tokenizer)


def _tokenized(ds: ray.data.Dataset, tokenizer) -> ray.data.Dataset:
    """GloVe lookups are cheap to ship: run them as plain tasks (no actor start-up per pass).
    A Hugging Face tokenizer runs in a small actor pool so each actor loads it once."""
    if hasattr(tokenizer, "vocab"):
        return ds.map_batches(tokenizer, batch_format="pyarrow")
    return ds.map_batches(Tokenize, fn_constructor_args=(tokenizer,), batch_format="pyarrow", concurrency=(1, 2))


def iter_epoch(shard, kind: str, batch_size: int, *, pad_id: int = 0, epoch: int = 1, seed: int = 0,
               shuffle: bool = True, bucket_window: int | None = None, prefetch_batches: int = 1,
               pin_memory: bool = False, pad_to: int | None = None) -> Iterator[Any]:
    """Batches of one epoch from a ``DataIterator`` (a worker's shard) or a ``Dataset``.

    Shuffling is a local shuffle seeded by ``(seed, epoch)``; ``bucket_window`` (text) groups
    that many batches, sorts them by length and pads each to its own maximum. ``pin_memory``
    (CUDA workers) page-locks each batch so its copy to the GPU can be asynchronous. ``pad_to``
    (text) pads every batch to that length (``train.pad_to``).
    """
    iterator = shard.iterator() if isinstance(shard, ray.data.Dataset) else shard
    epoch_seed = seed * 100_003 + epoch
    if kind == GRAPH:
        collate, rows = GraphCollate(), batch_size
    elif bucket_window and bucket_window > 1:
        collate, rows = TextCollate(pad_id, batch_size, epoch_seed, pad_to), batch_size * bucket_window
    else:
        collate, rows = TextCollate(pad_id, pad_to=pad_to), batch_size
    batches = iterator.iter_torch_batches(
        batch_size=rows, collate_fn=collate, prefetch_batches=prefetch_batches,
        local_shuffle_buffer_size=max(rows * 4, 256) if shuffle else None,
        local_shuffle_seed=epoch_seed if shuffle else None)
    for item in batches:
        for batch in item if isinstance(item, list) else (item,):
            yield batch.pin_memory() if pin_memory else batch
