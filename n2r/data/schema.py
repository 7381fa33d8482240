"""The canonical Arrow schemas for text and graph rows, and conversions to/from them.

Text rows: ``id``, ``split``, ``label``, ``tokens`` (list<string>), ``rationale`` (list<int8>
aligned with ``tokens``, null when the source has no annotation). Tokenized tables add
``input_ids`` (list<int32>) and, for sub-word tokenizers, ``unit_mask`` (list<int8>) and a
sub-word–aligned ``rationale``.

Graph rows: ``id``, ``split``, ``label``, ``num_nodes``, ``x`` (list<list<float32>>, nodes ×
features), ``edge_index`` (two int32 lists: sources, targets), ``edge_attr`` (nullable),
``node_gt`` and ``edge_gt`` (nullable list<int8>).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa

from n2r.data.base import DataError

TEXT_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("label", pa.int64(), nullable=False),
    pa.field("tokens", pa.list_(pa.string()), nullable=False),
    pa.field("rationale", pa.list_(pa.int8())),
])

GRAPH_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("label", pa.int64(), nullable=False),
    pa.field("num_nodes", pa.int32(), nullable=False),
    pa.field("x", pa.list_(pa.list_(pa.float32())), nullable=False),
    pa.field("edge_index", pa.list_(pa.list_(pa.int32())), nullable=False),
    pa.field("edge_attr", pa.list_(pa.list_(pa.float32()))),
    pa.field("node_gt", pa.list_(pa.int8())),
    pa.field("edge_gt", pa.list_(pa.int8())),
])


def text_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{k: r.get(k) for k in TEXT_SCHEMA.names} for r in rows], schema=TEXT_SCHEMA)


def graph_table(graphs: Iterable[Any], split: str | None = None) -> pa.Table:
    """PyG ``Data`` objects (with ``y``, optional ``edge_attr``/``edge_gt``/``node_gt``) → Arrow."""
    import torch

    rows = []
    for g in graphs:
        rows.append({
            "id": str(getattr(g, "id", "")), "split": split or getattr(g, "split", ""), "label": int(g.y.view(-1)[0]),
            "num_nodes": int(g.num_nodes), "x": g.x.float().tolist(), "edge_index": g.edge_index.int().tolist(),
            "edge_attr": None if getattr(g, "edge_attr", None) is None else g.edge_attr.float().tolist(),
            "node_gt": None if getattr(g, "node_gt", None) is None else g.node_gt.to(torch.int8).tolist(),
            "edge_gt": None if getattr(g, "edge_gt", None) is None else g.edge_gt.to(torch.int8).tolist(),
        })
    return pa.Table.from_pylist(rows, schema=GRAPH_SCHEMA)


def graphs_from_table(table: pa.Table) -> list:
    """Arrow graph rows → PyG ``Data`` (``edge_gt``/``node_gt`` as float tensors)."""
    import torch
    from torch_geometric.data import Data

    out = []
    for row in table.to_pylist():
        edge_index = torch.tensor(row["edge_index"], dtype=torch.long).view(2, -1)
        data = Data(x=torch.tensor(row["x"], dtype=torch.float32).view(row["num_nodes"], -1),
                    edge_index=edge_index, y=torch.tensor([row["label"]]), id=row["id"])
        if row.get("edge_attr") is not None:
            data.edge_attr = torch.tensor(row["edge_attr"], dtype=torch.float32)
        for key in ("edge_gt", "node_gt"):
            if row.get(key) is not None:
                data[key] = torch.tensor(row[key], dtype=torch.float32)
        out.append(data)
    return out


def validate_text_table(table: pa.Table, where: str | Path) -> None:
    """Schema and alignment checks for user-supplied text data; errors name file and row."""
    missing = [n for n in ("id", "label", "tokens") if n not in table.column_names]
    if missing:
        raise DataError(where, f"missing column(s) {missing}; the text schema is {TEXT_SCHEMA.names}")
    tokens = table.column("tokens").to_pylist()
    rationale = table.column("rationale").to_pylist() if "rationale" in table.column_names else [None] * len(tokens)
    for i, (t, r) in enumerate(zip(tokens, rationale), 1):
        if not t:
            raise DataError(where, "empty token list", i)
        if r is not None and len(r) != len(t):
            raise DataError(where, f"{len(r)} rationale bits for {len(t)} tokens", i)


def validate_graph(graph: Any, where: str | Path, row: int) -> None:
    n = int(graph.num_nodes)
    if graph.edge_index.numel() and (graph.edge_index.min() < 0 or graph.edge_index.max() >= n):
        raise DataError(where, f"an edge points past the graph's {n} nodes", row)
    for key in ("edge_gt", "edge_attr"):
        value = getattr(graph, key, None)
        if value is not None and len(value) != graph.edge_index.shape[1]:
            raise DataError(where, f"{key} has {len(value)} entries for {graph.edge_index.shape[1]} edges", row)
