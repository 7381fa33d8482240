"""Tokenizers over Arrow tables in the text schema: GloVe vocabulary ids or HF sub-words.

Both are picklable callables ``table → table`` that add ``input_ids`` (and, for sub-words,
``unit_mask`` and a sub-word–aligned ``rationale``), so the same object serves the in-process
path and Ray Data's ``map_batches(..., batch_format="pyarrow")``.
"""
from __future__ import annotations


import pyarrow as pa
import pyarrow.compute as pc

from n2r.embeddings import Vocabulary


def _list_column(offsets: pa.Array, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(offsets, values)


class GloveTokenizer:
    """Word → vocabulary id, vectorized: flatten the token lists, one hash lookup, re-nest."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab
        self._values = pa.array(vocab.words, type=pa.string())

    loads_slowly = False     # Ray Data runs it as plain tasks (nothing to load per worker)

    @property
    def pad_id(self) -> int:
        return self.vocab.pad_id

    def save(self, folder) -> None:
        """What reopening a tokenized cache entry needs: its vocabulary."""
        self.vocab.save(folder)

    def __call__(self, table: pa.Table) -> pa.Table:
        tokens = table.column("tokens").combine_chunks()
        if isinstance(tokens, pa.ChunkedArray):  # empty tables
            tokens = pa.array([], type=pa.list_(pa.string()))
        ids = pc.index_in(tokens.flatten(), value_set=self._values)
        ids = pc.fill_null(ids, self.vocab.unk_id).cast(pa.int32())
        offsets = pc.subtract(tokens.offsets, tokens.offsets[0]) if len(tokens) else tokens.offsets
        return _set(table, "input_ids", _list_column(offsets, ids))


class HFTokenizer:
    """Hugging Face sub-words of the words (``is_split_into_words``); each sub-word inherits its
    word's rationale bit; [CLS]/[SEP] get ``unit_mask`` 0 (never selectable)."""

    def __init__(self, checkpoint: str | None = None, max_length: int = 256):
        self.checkpoint = checkpoint
        self.max_length = max_length
        self._tokenizer = None

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from n2r.models.bert import load_tokenizer

            self._tokenizer = load_tokenizer(self.checkpoint)
        return self._tokenizer

    def __getstate__(self):
        return {**self.__dict__, "_tokenizer": None}

    loads_slowly = True      # Ray Data runs it in a small actor pool, loaded once per actor

    def save(self, folder) -> None:
        """Nothing: the checkpoint (part of the cache key) reopens it."""

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def __call__(self, table: pa.Table) -> pa.Table:
        words = table.column("tokens").to_pylist()
        rationales = table.column("rationale").to_pylist() if "rationale" in table.column_names else [None] * len(words)
        enc = self.tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.max_length)
        ids, units, bits = [], [], []
        for i, rationale in enumerate(rationales):
            word_ids = enc.word_ids(i)
            ids.append(enc["input_ids"][i])
            units.append([0 if w is None else 1 for w in word_ids])
            bits.append(None if rationale is None else [0 if w is None else int(rationale[w]) for w in word_ids])
        table = _set(table, "input_ids", pa.array(ids, type=pa.list_(pa.int32())))
        table = _set(table, "unit_mask", pa.array(units, type=pa.list_(pa.int8())))
        return _set(table, "rationale", pa.array(bits, type=pa.list_(pa.int8())))


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)
