"""Batches the models consume, and the dynamic-padding collate for text.

Text batches are padded to their own longest input, never to a global maximum. Graph
batches are PyTorch Geometric ``Batch`` objects (units = edges, all real).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch


@dataclass
class TextBatch:
    """``input_ids`` and masks are ``[B, T]``.

    ``attention_mask`` marks non-padding positions; ``unit_mask`` marks the positions a
    rationale may select (non-padding, and for BERT not [CLS]/[SEP]). ``rationale`` holds
    human/planted rationale bits (float 0/1) or is ``None``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    unit_mask: torch.Tensor
    labels: torch.Tensor
    rationale: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TextBatch":
        return replace(self, **{
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in fields(self) if getattr(self, f.name) is not None
        })

    def pin_memory(self) -> "TextBatch":
        return replace(self, **{
            f.name: getattr(self, f.name).pin_memory()
            for f in fields(self) if getattr(self, f.name) is not None
        })

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _pad_list_column(column: pa.ChunkedArray | pa.Array, width: int, fill: int, dtype: torch.dtype) -> torch.Tensor:
    """A list<int> Arrow column → ``[rows, width]`` tensor, vectorized (no per-row Python)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = array.offsets.to_numpy()
    values = array.flatten().to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.arange(len(values)) - np.repeat(offsets[:-1] - offsets[0], lengths)
    out = torch.full((len(lengths), width), fill, dtype=dtype)
    out[torch.from_numpy(rows), torch.from_numpy(cols)] = torch.from_numpy(values.astype(np.int64)).to(dtype)
    return out


def collate_text_table(table: pa.Table, pad_id: int = 0, pad_to: int | None = None) -> TextBatch:
    """Tokenized Arrow rows (``input_ids``, ``label``, optional ``rationale``/``unit_mask``) →
    a :class:`TextBatch` padded to the batch's longest input, or to ``pad_to`` (an input longer
    than ``pad_to`` is an error: readers cut inputs, nothing is cut here)."""
    if table.num_rows == 0:
        raise ValueError("collate_text: empty batch")
    ids_column = table.column("input_ids")
    lengths = pc.list_value_length(ids_column).to_numpy(zero_copy_only=False)
    if lengths.min() == 0:
        raise ValueError("collate_text: an example has no tokens")
    width = int(lengths.max())
    if pad_to is not None:
        if width > pad_to:
            bad = int(np.argmax(lengths))
            raise ValueError(f"collate_text: example {bad} has {width} ids, more than train.pad_to = {pad_to}")
        width = pad_to
    ids = _pad_list_column(ids_column, width, pad_id, torch.long)
    attention = torch.arange(width).unsqueeze(0) < torch.from_numpy(lengths.astype(np.int64)).unsqueeze(1)
    units = attention
    if "unit_mask" in table.column_names and table.column("unit_mask").null_count == 0:
        units = _pad_list_column(table.column("unit_mask"), width, 0, torch.bool)
    rationale = None
    if "rationale" in table.column_names and table.column("rationale").null_count == 0:
        r_lengths = pc.list_value_length(table.column("rationale")).to_numpy(zero_copy_only=False)
        if not np.array_equal(r_lengths, lengths):
            bad = int(np.nonzero(r_lengths != lengths)[0][0])
            raise ValueError(f"collate_text: example {bad} has {r_lengths[bad]} rationale bits for {lengths[bad]} ids")
        rationale = _pad_list_column(table.column("rationale"), width, 0, torch.float32)
    labels = torch.from_numpy(table.column("label").to_numpy().astype(np.int64))
    return TextBatch(ids, attention, units, labels, rationale)


def examples_table(examples: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Per-example dicts (``input_ids``, ``label``, optional ``rationale``/``unit_mask``) → Arrow."""
    def lists(key):
        return pa.array([None if e.get(key) is None else list(e[key]) for e in examples], type=pa.list_(pa.int64()))

    return pa.table({"input_ids": lists("input_ids"),
                     "label": pa.array([int(e["label"]) for e in examples], type=pa.int64()),
                     "rationale": lists("rationale"), "unit_mask": lists("unit_mask")})


def collate_text(examples: Sequence[Mapping[str, Any]], pad_id: int = 0, pad_to: int | None = None) -> TextBatch:
    """Per-example dicts → :class:`TextBatch`, through the same vectorized path as Arrow batches."""
    if not examples:
        raise ValueError("collate_text: empty batch")
    return collate_text_table(examples_table(examples), pad_id, pad_to)


class TableCollate:
    """``collate_fn`` for a DataLoader over row indices of a tokenized Arrow table."""

    def __init__(self, table: pa.Table, pad_id: int = 0, pad_to: int | None = None):
        self.table = table
        self.pad_id = pad_id
        self.pad_to = pad_to

    def __call__(self, indices: Sequence[int]) -> TextBatch:
        return collate_text_table(self.table.take(pa.array(indices, type=pa.int64())), self.pad_id, self.pad_to)


def length_sorted_batches(indices: Sequence[int], lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """``indices`` ordered by ``lengths[i]`` (stable: equal lengths keep their order) and cut into
    batches of ``batch_size`` — the one length-bucketing rule of training batches, used on each
    window by :class:`BucketBatchSampler`."""
    order = sorted(range(len(indices)), key=lambda i: lengths[indices[i]])
    ordered = [int(indices[i]) for i in order]
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


def _check_rank(rank: int, world_size: int) -> None:
    if not 0 <= rank < world_size:
        raise ValueError(f"shard_batches: rank {rank} outside a world of {world_size}")


def shard_batches(batches: Sequence[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """Rank ``rank``'s share of one epoch's batches: whole batches ``rank, rank + N, …`` (so each
    has the shape it has in a one-worker run), every rank the same number of steps (data-parallel
    ranks step together). When the batch count is not a multiple of N, the last
    ``count mod N`` batches are pooled and dealt out in N contiguous parts, so every example is
    still seen exactly once per epoch. ``world_size`` 1 returns ``batches`` unchanged."""
    _check_rank(rank, world_size)
    if world_size == 1:
        return list(batches)
    full = len(batches) - len(batches) % world_size
    mine = list(batches[rank:full:world_size])
    rest = [i for batch in batches[full:] for i in batch]
    if rest:
        if len(rest) < world_size:
            raise ValueError(f"shard_batches: {sum(map(len, batches))} examples cannot give each of "
                             f"{world_size} ranks a batch in the last round")
        cut = [round(r * len(rest) / world_size) for r in range(world_size + 1)]
        mine.append(rest[cut[rank]:cut[rank + 1]])
    return mine


class BucketBatchSampler(torch.utils.data.Sampler):
    """Shuffled training batches, the one rule for every trial from 1 to N workers: each epoch a
    seeded permutation is cut into windows of ``batch_size × window`` examples, each window is
    sorted by length and cut into batches, and the batch order is shuffled. With dynamic padding
    this pads each batch to a length close to its examples' own (``window`` 0 or 1: plain
    shuffled batches, the permutation cut in order, as ``DataLoader(shuffle=True)`` does).
    ``generator`` is reseeded per epoch by :func:`n2r.engine.reseed_shuffle`, so a resumed run sees
    the same batches. With ``world_size`` N, every rank draws the same epoch order (same seed) and
    keeps its :func:`shard_batches` share: disjoint, together the whole epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, window: int, generator: torch.Generator,
                 rank: int = 0, world_size: int = 1):
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size, self.window, self.generator = batch_size, max(int(window), 1), generator
        self.rank, self.world_size = rank, world_size
        _check_rank(rank, world_size)

    def epoch_batches(self) -> list[list[int]]:
        """The whole epoch's batches (every rank's), in order; advances the generator."""
        order = torch.randperm(len(self.lengths), generator=self.generator)
        span = self.batch_size * self.window
        batches = []
        lengths = self.lengths.tolist()
        for start in range(0, len(order), span):
            window = order[start:start + span].tolist()
            if self.window > 1:
                batches += length_sorted_batches(window, lengths, self.batch_size)
            else:
                batches += [window[i:i + self.batch_size] for i in range(0, len(window), self.batch_size)]
        if self.window > 1:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        return batches

    def __len__(self) -> int:
        count = (len(self.lengths) + self.batch_size - 1) // self.batch_size
        return -(-count // self.world_size)

    def __iter__(self):
        # a generator: the permutation is drawn at the first batch, after the loader has drawn
        # its base seed (from ``generator`` for a plain shuffle), as ``shuffle=True`` orders them
        yield from shard_batches(self.epoch_batches(), self.rank, self.world_size)
