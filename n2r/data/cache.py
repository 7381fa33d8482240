"""Parquet caches of read (and optionally tokenized) data sets, keyed by what produced them.

The key hashes the data set name, the reader options, the reader code version, the tokenizer
config and the *fingerprint* of every source file (relative path, size, modification time) —
so a second ``prepare`` of unchanged files is a cache hit that opens only the cache. A cache
entry is a folder ``<cache>/<name>/<key>/`` with ``{train,dev,test}.parquet``, ``meta.json``
and, for GloVe tokenization, ``vocab.txt``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from n2r.data.base import SPLITS, DataError, ReadResult
from n2r.logs import progress

if TYPE_CHECKING:
    from n2r.config import ModelConfig
    from n2r.data import PreparedData

logger = logging.getLogger(__name__)
READER_VERSION = 2   # 2: Beer annotation tokens stripped of surrounding whitespace


def default_cache_dir() -> Path:
    return Path(os.environ.get("N2R_CACHE", Path.home() / ".cache" / "n2r"))


def source_fingerprint(path: str | Path | None) -> list[tuple[str, int, int]]:
    if path is None:
        return []
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [(str(p.relative_to(root) if p != root else p.name), p.stat().st_size, p.stat().st_mtime_ns)
            for p in files]


def cache_key(name: str, path: str | Path | None, options: dict[str, Any], tokenizer: dict[str, Any] | None) -> str:
    payload = {"name": name, "options": options, "reader_version": READER_VERSION, "tokenizer": tokenizer,
               "sources": source_fingerprint(path)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class CacheEntry:
    directory: Path
    hit: bool

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.directory / "meta.json").read_text())

    def table(self, split: str) -> pa.Table:
        path = self.directory / f"{split}.parquet"
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(path, f"unreadable cache file ({exc}); delete {self.directory} to rebuild") from None

    def paths(self) -> dict[str, str]:
        return {s: str(self.directory / f"{s}.parquet") for s in SPLITS}

    def vocab(self):
        from n2r.embeddings import Vocabulary

        return Vocabulary.load(self.directory)

    def prepared(self, model: "ModelConfig") -> "PreparedData":
        """The entry as model inputs for ``model``: graphs with their feature size, or tokenized
        text with its vocabulary and GloVe rows (or the checkpoint's tokenizer)."""
        from n2r.data import GRAPH, TEXT, PreparedData
        from n2r.data.schema import graphs_from_table
        from n2r.models.family import family_of

        meta = self.meta
        family = family_of(model)
        _check_encoder(meta["name"], meta["kind"], family)
        info = {"variant": meta["variant"], "skipped": meta["skipped"], **meta["info"]}
        if meta["kind"] == GRAPH:
            splits = {s: graphs_from_table(self.table(s)) for s in SPLITS}
            features = splits["train"][0].x.shape[1]
            return PreparedData(GRAPH, splits, inputs=family.model_inputs(model, num_features=features), info=info)
        if meta["tokenizer"] != tokenizer_key(model):
            raise DataError(self.directory, f"cache entry tokenized for {meta['tokenizer']}, not for "
                            f"{tokenizer_key(model)}; open it with prepare(..., model=...)")
        splits = {s: self.table(s) for s in SPLITS}
        tokenizer = family.open_tokenizer(model, self)
        return PreparedData(TEXT, splits, pad_id=tokenizer.pad_id, inputs=family.model_inputs(model, tokenizer),
                            tokenizer=tokenizer, info=info)


def tokenizer_key(model: "ModelConfig | None") -> dict[str, Any] | None:
    """What tokenization depends on (the encoder family says: the GloVe source for ``gru``, the
    checkpoint for ``bert``); nothing for graphs or untokenized entries."""
    if model is None:
        return None
    from n2r.models.family import family_of

    return family_of(model).tokenizer_key(model)


def prepare(name: str, path: str | Path | None = None, options: dict[str, Any] | None = None,
            encoder: str | None = None, cache_dir: str | Path | None = None,
            model: "ModelConfig | None" = None) -> CacheEntry:
    """Read ``name`` into a Parquet cache entry — tokenized for ``model`` (or for the default
    model of ``encoder``) when one is given, else the canonical rows that Ray Data tokenizes.
    ``n2r data prepare --encoder`` and in-process training open the same tokenized entry."""
    from n2r.config import ModelConfig
    from n2r.data import GRAPH, kind_of, read_dataset
    from n2r.models.family import family_of
    from n2r.data.schema import graph_table, text_table

    options = dict(options or {})
    if model is None and encoder is not None:
        model = ModelConfig(encoder=encoder)
    tokenizer_cfg = tokenizer_key(model)
    key = cache_key(name, path, options, tokenizer_cfg)
    directory = Path(cache_dir or default_cache_dir()) / name / key
    if (directory / "meta.json").is_file():
        logger.debug("%s: cache hit %s", name, directory)
        return CacheEntry(directory, hit=True)
    logger.info("%s: reading %s", name, path if path is not None else "(generated)")
    result: ReadResult = read_dataset(name, path, **options)
    kind = kind_of(result)
    if model is not None:
        _check_encoder(name, kind, family_of(model))
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(directory.parent)))
    try:
        tokenizer = None
        if kind != GRAPH and tokenizer_cfg is not None:
            tokenizer = family_of(model).build_tokenizer(model, result.splits)
        counts = {}
        what = f"{name}: tokenizing for {model.encoder}" if tokenizer is not None else f"{name}: writing"
        for split in progress(SPLITS, desc=what, unit="split"):
            rows = result.splits.get(split, [])
            table = graph_table(rows, split) if kind == GRAPH else text_table(rows)
            if tokenizer is not None:
                table = tokenizer(table)
            pq.write_table(table, tmp / f"{split}.parquet")
            counts[split] = table.num_rows
        if tokenizer is not None:
            tokenizer.save(tmp)                              # what reopening needs (GloVe: vocab.txt)
        meta = {"name": name, "kind": kind, "variant": result.variant, "skipped": dict(result.skipped),
                "info": result.info, "counts": counts, "options": options, "tokenizer": tokenizer_cfg,
                "source": None if path is None else str(Path(path).resolve())}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
        logger.info("%s: %s → %s", name, ", ".join(f"{k} {v}" for k, v in counts.items()), directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return CacheEntry(directory, hit=False)


def _check_encoder(name: str, kind: str, family) -> None:
    if kind != family.data_kind:
        readers = " or ".join(repr(f) for f in _families_reading(kind))
        raise ValueError(f"data.name {name!r} is a {kind} data set; model.encoder must be {readers}")


def _families_reading(kind: str) -> list[str]:
    from n2r.models.family import FAMILIES

    return [name for name in FAMILIES.names() if FAMILIES.get(name).data_kind == kind]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
