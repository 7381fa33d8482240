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
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from n2r.data.base import SPLITS, DataError, ReadResult

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

        return Vocabulary((self.directory / "vocab.txt").read_text(encoding="utf-8").split("\n"))


def prepare(name: str, path: str | Path | None = None, options: dict[str, Any] | None = None,
            encoder: str | None = None, cache_dir: str | Path | None = None) -> CacheEntry:
    """Read ``name`` (and tokenize for ``encoder`` if given) into a Parquet cache entry."""
    from n2r.config import ModelConfig
    from n2r.data import GRAPH, build_tokenizer, kind_of, read_dataset
    from n2r.data.schema import graph_table, text_table

    options = dict(options or {})
    model = ModelConfig(encoder=encoder or "gru")
    tokenizer_cfg = None if encoder in (None, "gcn") else {"encoder": model.encoder, "embeddings": model.embeddings,
                                                           "checkpoint": model.checkpoint}
    key = cache_key(name, path, options, tokenizer_cfg)
    directory = Path(cache_dir or default_cache_dir()) / name / key
    if (directory / "meta.json").is_file():
        return CacheEntry(directory, hit=True)
    result: ReadResult = read_dataset(name, path, **options)
    kind = kind_of(result)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_mkdir(directory.parent)))
    try:
        tokenizer = None
        if kind != GRAPH and tokenizer_cfg is not None:
            tokenizer = build_tokenizer(model, result.splits)
        counts = {}
        for split in SPLITS:
            rows = result.splits.get(split, [])
            table = graph_table(rows, split) if kind == GRAPH else text_table(rows)
            if tokenizer is not None:
                table = tokenizer(table)
            pq.write_table(table, tmp / f"{split}.parquet")
            counts[split] = table.num_rows
        if tokenizer is not None and hasattr(tokenizer, "vocab"):
            (tmp / "vocab.txt").write_text("\n".join(tokenizer.vocab.words), encoding="utf-8")
        meta = {"name": name, "kind": kind, "variant": result.variant, "skipped": dict(result.skipped),
                "info": result.info, "counts": counts, "options": options, "tokenizer": tokenizer_cfg,
                "source": None if path is None else str(Path(path).resolve())}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return CacheEntry(directory, hit=False)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
