"""``n2r data stats``: counts per split and label, length percentiles, rationale sparsity, skips."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def table_stats(table: pa.Table, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": table.num_rows}
    if table.num_rows == 0:
        return out
    labels = table.column("label").to_numpy()
    out["labels"] = {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
    if kind == "graph":
        lengths = table.column("num_nodes").to_numpy()
        edges = pc.list_value_length(pc.list_element(table.column("edge_index"), 0)).to_numpy(zero_copy_only=False)
        out["nodes"] = _percentiles(lengths)
        out["edges"] = _percentiles(edges)
        gt = table.column("edge_gt")
        if gt.null_count < table.num_rows:
            flat = pc.list_flatten(gt).to_numpy(zero_copy_only=False)
            out["rationale_sparsity"] = float(flat.mean()) if len(flat) else 0.0
        return out
    lengths = pc.list_value_length(table.column("tokens")).to_numpy(zero_copy_only=False)
    out["tokens"] = _percentiles(lengths)
    rationale = table.column("rationale")
    annotated = table.num_rows - rationale.null_count
    out["annotated"] = annotated
    if annotated:
        bits = pc.list_flatten(rationale).to_numpy(zero_copy_only=False)
        mask = pc.invert(pc.is_null(rationale))
        out["rationale_sparsity"] = float(bits.sum() / lengths[mask.to_numpy(zero_copy_only=False)].sum())
    return out


def _percentiles(values: np.ndarray) -> dict[str, float]:
    p = np.percentile(values, [50, 90, 99])
    return {"p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2]), "max": float(values.max())}


def format_stats(meta: dict[str, Any], per_split: dict[str, dict[str, Any]]) -> str:
    lines = [f"{meta['name']} ({meta['variant']}, {meta['kind']})"]
    for split, s in per_split.items():
        line = f"  {split:5s} rows {s['rows']:6d}"
        if "labels" in s:
            line += "  labels " + " ".join(f"{k}:{v}" for k, v in s["labels"].items())
        size = s.get("tokens") or s.get("nodes")
        if size:
            unit = "tokens" if "tokens" in s else "nodes"
            line += f"  {unit} p50 {size['p50']:.0f} p90 {size['p90']:.0f} p99 {size['p99']:.0f} max {size['max']:.0f}"
        if "rationale_sparsity" in s:
            line += f"  human rationale sparsity {s['rationale_sparsity']:.3f}"
        lines.append(line)
    for reason, count in sorted(meta.get("skipped", {}).items()):
        lines.append(f"  skipped: {reason}: {count}")
    return "\n".join(lines)
