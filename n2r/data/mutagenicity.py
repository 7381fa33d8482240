"""Mutagenicity molecules (TU format) with ground-truth explanation edges.

Read from ``Mutagenicity.zip`` or the extracted folder: ``_A`` (1-based ``i, j`` node pairs),
``_graph_indicator`` (graph of each node), ``_graph_labels`` (0 = mutagen, 1 = non-mutagen),
``_node_labels`` (element ids, one-hot node features), ``_edge_labels`` (bond valence, one-hot
``edge_attr``) and ``Mutagenicity_edge_gt.txt`` (1 for edges inside NO2/NH2 groups, the usual
ground truth for mutagen explanations). Split: seeded, stratified 80/10/10.
"""
from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from n2r.data.base import DataError, ReadResult, split_rows

PREFIX = "Mutagenicity"
MEMBERS = ("A", "graph_indicator", "graph_labels", "node_labels", "edge_labels", "edge_gt")
NUM_ELEMENTS = 14
NUM_BOND_TYPES = 3


class _Source:
    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise DataError(path, "not a zip file") from None
            self.names = {Path(n).name: n for n in self.zip.namelist()}
        elif path.is_dir():
            self.names = {p.name: p for p in path.iterdir()}
        else:
            raise DataError(path, "neither Mutagenicity.zip nor a folder with its files")

    def read(self, member: str) -> tuple[str, str]:
        name = f"{PREFIX}_{member}.txt"
        if name not in self.names:
            raise DataError(self.path, f"missing member {name}")
        if self.zip is not None:
            return f"{self.path}:{self.names[name]}", self.zip.read(self.names[name]).decode("utf-8")
        return str(self.names[name]), Path(self.names[name]).read_text(encoding="utf-8")


def _ints(where: str, text: str, columns: int) -> np.ndarray:
    try:
        values = np.loadtxt(io.StringIO(text.replace(",", " ")), dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DataError(where, f"non-integer value ({exc})") from None
    if values.shape[1] != columns:
        raise DataError(where, f"expected {columns} value(s) per line, found {values.shape[1]}")
    return values[:, 0] if columns == 1 else values


def read_mutagenicity(path: str | Path, seed: int = 0, shares: tuple[float, float] = (0.8, 0.1)) -> ReadResult:
    root = Path(path)
    source = _Source(root / f"{PREFIX}.zip" if (root / f"{PREFIX}.zip").is_file() else root)
    loaded = {m: source.read(m) for m in MEMBERS}
    edges = _ints(loaded["A"][0], loaded["A"][1], 2) - 1
    graph_of = _ints(loaded["graph_indicator"][0], loaded["graph_indicator"][1], 1) - 1
    labels = _ints(loaded["graph_labels"][0], loaded["graph_labels"][1], 1)
    elements = _ints(loaded["node_labels"][0], loaded["node_labels"][1], 1)
    bonds = _ints(loaded["edge_labels"][0], loaded["edge_labels"][1], 1)
    gt = _ints(loaded["edge_gt"][0], loaded["edge_gt"][1], 1)
    n_nodes, n_graphs = len(graph_of), len(labels)
    if len(elements) != n_nodes:
        raise DataError(loaded["node_labels"][0], f"{len(elements)} node labels for {n_nodes} nodes")
    for member, values in (("edge_labels", bonds), ("edge_gt", gt)):
        if len(values) != len(edges):
            raise DataError(loaded[member][0], f"{len(values)} lines for {len(edges)} edges in _A")
    bad = np.nonzero((edges < 0).any(1) | (edges >= n_nodes).any(1))[0]
    if len(bad):
        raise DataError(loaded["A"][0], f"edge points past the {n_nodes} nodes", int(bad[0]) + 1)
    cross = np.nonzero(graph_of[edges[:, 0]] != graph_of[edges[:, 1]])[0]
    if len(cross):
        raise DataError(loaded["A"][0], "edge joins nodes of two different graphs", int(cross[0]) + 1)
    if graph_of.min() < 0 or graph_of.max() >= n_graphs or (np.diff(graph_of) < 0).any():
        raise DataError(loaded["graph_indicator"][0], "graph ids must be sorted and within the graph labels")
    if elements.max() >= NUM_ELEMENTS or bonds.max() >= NUM_BOND_TYPES:
        raise DataError(loaded["node_labels"][0], "node or edge label outside the documented maps")

    import torch
    from torch_geometric.data import Data

    node_start = np.searchsorted(graph_of, np.arange(n_graphs + 1))
    edge_graph = graph_of[edges[:, 0]]
    order = np.argsort(edge_graph, kind="stable")
    edge_start = np.searchsorted(edge_graph[order], np.arange(n_graphs + 1))
    x_all = np.eye(NUM_ELEMENTS, dtype=np.float32)[elements]
    attr_all = np.eye(NUM_BOND_TYPES, dtype=np.float32)[bonds]
    graphs = []
    for g in range(n_graphs):
        rows = order[edge_start[g]:edge_start[g + 1]]
        lo, hi = node_start[g], node_start[g + 1]
        graphs.append(Data(
            x=torch.from_numpy(x_all[lo:hi]), edge_index=torch.from_numpy((edges[rows] - lo).T.copy()),
            edge_attr=torch.from_numpy(attr_all[rows]), edge_gt=torch.from_numpy(gt[rows].astype(np.float32)),
            y=torch.tensor([int(labels[g])]), id=f"mutagenicity-{g}"))
    train, dev, test = split_rows(graphs, [shares[0], shares[1], 1 - sum(shares)], seed,
                                  label_of=lambda d: int(d.y))
    return ReadResult({"train": train, "dev": dev, "test": test}, variant="mutagenicity", skipped=Counter(),
                      info={"graphs": n_graphs, "nodes": n_nodes, "edges": len(edges), "gt_edges": int(gt.sum())})
