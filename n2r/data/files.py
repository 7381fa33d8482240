"""Users' own data in the canonical schema (:mod:`n2r.data.schema`), as Parquet or JSON lines.

``path`` is a folder with ``train``, ``dev`` and (optionally) ``test`` files (``.parquet`` or
``.jsonl``), or one file whose ``split`` column says which split each row belongs to. Text
rows need ``id``, ``label``, ``tokens`` (``rationale`` optional); graph rows need the graph
columns (detected by an ``edge_index`` column).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from n2r.data.base import SPLITS, DataError, ReadResult
from n2r.data.schema import graphs_from_table, validate_graph, validate_text_table


def _read_table(path: Path) -> pa.Table:
    if path.suffix == ".parquet":
        try:
            return pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(path, f"not a readable Parquet file ({exc})") from None
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(path, f"not valid JSON ({exc.msg})", lineno) from None
    if not rows:
        raise DataError(path, "no rows")
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(path, f"rows do not share one schema ({exc})") from None


def _rows(table: pa.Table, path: Path, split: str) -> tuple[str, list]:
    if "edge_index" in table.column_names:
        graphs = graphs_from_table(table)
        for i, g in enumerate(graphs, 1):
            validate_graph(g, path, i)
        return "graph", graphs
    validate_text_table(table, path)
    rows = []
    for r in table.to_pylist():
        rows.append({"id": str(r["id"]), "split": split, "label": int(r["label"]), "tokens": list(r["tokens"]),
                     "rationale": r.get("rationale")})
    return "text", rows


def read_files(path: str | Path) -> ReadResult:
    root = Path(path)
    splits: dict[str, list] = {}
    kinds = set()
    if root.is_file():
        table = _read_table(root)
        if "split" not in table.column_names:
            raise DataError(root, "a single file needs a 'split' column (train/dev/test)")
        split_column = table.column("split").to_pylist()
        unknown = sorted(set(split_column) - set(SPLITS))
        if unknown:
            raise DataError(root, f"unknown split value(s) {unknown}; use {list(SPLITS)}")
        for split in SPLITS:
            mask = pa.array([s == split for s in split_column])
            kind, rows = _rows(table.filter(mask), root, split)
            kinds.add(kind)
            splits[split] = rows
    else:
        for split in SPLITS:
            found = [p for p in (root / f"{split}.parquet", root / f"{split}.jsonl") if p.is_file()]
            if not found:
                if split == "test":
                    splits[split] = []
                    continue
                raise DataError(root / f"{split}.parquet", f"missing {split} split (.parquet or .jsonl)")
            kind, rows = _rows(_read_table(found[0]), found[0], split)
            kinds.add(kind)
            splits[split] = rows
    if len(kinds) > 1:
        raise DataError(root, "splits mix text and graph rows")
    return ReadResult(splits, variant=f"files:{root.name}", skipped=Counter(), info={"kind": kinds.pop()})
