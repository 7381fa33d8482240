"""Generated data sets with known rationales, for the default demo and for tests.

- ``synthetic-text``: planted-rationale reviews. The label is decided by 1–3 marker words of
  its class (positive: "excellent", "delicious", …; negative: "terrible", "awful", …) placed
  at random positions among neutral distractor words; the rationale is exactly the markers.
- ``ba2motifs``: BA-2Motifs-style graphs (Luo et al. 2020) made with PyG's generators: a
  Barabási–Albert base graph with one attached motif, a house (label 0) or a 5-cycle
  (label 1); the ground-truth explanation is the motif's edges. Node features are constant
  (0.1 in each of ``num_features`` channels), so only structure can decide the label — and,
  for a rationalizer, only the structure of the *selected* edges. (A GCN on these features
  stays at chance: measured dev accuracy 0.50 after 30 epochs; use ``model.degree_bins`` so
  the encoders see a differentiable encoding of each node's weighted degree.)
Both are seeded and deterministic.
"""
from __future__ import annotations

import random
from typing import Any

POSITIVE = ["excellent", "delicious", "wonderful", "fantastic", "superb", "great", "perfect", "lovely"]
NEGATIVE = ["terrible", "awful", "horrible", "disgusting", "bland", "poor", "worst", "nasty"]
NEUTRAL = (
    "the a an of and to in was it this that with for on as is at by from beer glass bottle color head "
    "taste smell time place day water light dark brown white foam pour poured into my some very "
    "little bit more less after before first second then there here which what when where while "
    "one two three four five note notes hint hints body finish mouth feel feels nose aroma malt "
    "hops grain wheat yeast fruit citrus pine caramel bread toast coffee chocolate sweet bitter "
    "dry thin thick medium carbonation bubbles lacing ring top side bottom edge room cold warm "
    "temperature served can pint ounce label brewery style year month week evening night friend "
    "store shop price front back left right around about also just still yet again".split()
)


def synthetic_text(n_train: int = 2000, n_dev: int = 500, n_test: int = 500, min_len: int = 20,
                   max_len: int = 40, max_markers: int = 3, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Rows ``{id, split, label, tokens, rationale}`` per split, in the canonical text schema."""
    if not (1 <= min_len <= max_len) or not (1 <= max_markers <= min_len):
        raise ValueError("synthetic-text: need 1 <= max_markers <= min_len <= max_len")
    rng = random.Random(seed)
    splits: dict[str, list[dict[str, Any]]] = {}
    counter = 0
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        rows = []
        for _ in range(n):
            label = rng.randrange(2)
            length = rng.randint(min_len, max_len)
            tokens = [rng.choice(NEUTRAL) for _ in range(length)]
            rationale = [0] * length
            markers = POSITIVE if label == 1 else NEGATIVE
            for pos in rng.sample(range(length), rng.randint(1, max_markers)):
                tokens[pos] = rng.choice(markers)
                rationale[pos] = 1
            rows.append({"id": f"synthetic-{counter}", "split": split, "label": label,
                         "tokens": tokens, "rationale": rationale})
            counter += 1
        splits[split] = rows
    return splits


def ba2motifs(n_graphs: int = 1000, base_nodes: int = 20, num_features: int = 10, seed: int = 0,
              split: tuple[float, float] = (0.8, 0.1)) -> dict[str, list]:
    """PyG ``Data`` graphs per split with ``x``, ``edge_index``, ``y``, ``edge_gt``, ``node_gt``.

    Classes are balanced and splits stratified (``split`` = train and dev shares; test the rest).
    """
    import torch
    from torch_geometric.data import Data
    from torch_geometric.datasets import ExplainerDataset
    from torch_geometric.datasets.graph_generator import BAGraph
    from torch_geometric.datasets.motif_generator import CycleMotif, HouseMotif

    per_class = n_graphs // 2
    out: dict[str, list] = {"train": [], "dev": [], "test": []}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for label, motif in enumerate((HouseMotif(), CycleMotif(5))):
            generated = ExplainerDataset(BAGraph(num_nodes=base_nodes, num_edges=1), motif,
                                         num_motifs=1, num_graphs=per_class)
            graphs = []
            for i in range(per_class):
                g = generated[i]
                graphs.append(Data(
                    x=torch.full((g.num_nodes, num_features), 0.1), edge_index=g.edge_index,
                    y=torch.tensor([label]), edge_gt=g.edge_mask.float(), node_gt=g.node_mask.float(),
                    id=f"ba2motifs-{label}-{i}"))
            order = torch.randperm(per_class).tolist()
            n_train, n_dev = int(split[0] * per_class), int(split[1] * per_class)
            out["train"] += [graphs[i] for i in order[:n_train]]
            out["dev"] += [graphs[i] for i in order[n_train:n_train + n_dev]]
            out["test"] += [graphs[i] for i in order[n_train + n_dev:]]
    return out
