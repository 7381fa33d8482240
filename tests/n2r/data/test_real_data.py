"""Readers on the real data sets in ../shared/data (present in CI; a user's clone lacks them)."""

import pytest
import torch

from n2r.data import read_dataset
from tests.helpers import ROOT

SHARED = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not present at {SHARED}")


def labels(rows):
    counts = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    return counts


@pytest.mark.parametrize("aspect, pos, neg, test_items", [(0, 6628, 2103, 936), (1, 6579, 2218, 877)])
def test_beer_label_filter_and_annotation_counts(aspect, pos, neg, test_items):
    result = read_dataset("beer-heldout-split", SHARED / "beer", aspect=aspect, balance_train=False)
    train, dev = result.splits["train"], result.splits["dev"]
    both = labels(train + dev)
    assert both == {1: pos, 0: neg}
    assert len(result.splits["test"]) == test_items
    assert result.variant == f"beer-heldout-split-aspect{aspect}"
    assert len(train) == round(0.8 * pos) + round(0.8 * neg)
    balanced = read_dataset("beer-heldout-split", SHARED / "beer", aspect=aspect)
    assert labels(balanced.splits["train"]) == {0: round(0.8 * neg), 1: round(0.8 * neg)}
    assert balanced.skipped["train: class balancing"] == round(0.8 * pos) - round(0.8 * neg)
    assert all(len(r["tokens"]) <= 256 for rows in balanced.splits.values() for r in rows)


def test_beer_appearance_rationale_alignment_and_sparsity():
    test = read_dataset("beer-heldout-split", SHARED / "beer", aspect=0).splits["test"]
    first = test[0]  # annotations.json line 1: appearance span [0, 29)
    assert first["id"] == "annotations:1"
    assert first["rationale"][:29] == [1] * 29 and first["rationale"][29] == 0
    assert first["tokens"][:3] == ["clear", ",", "burnished"]
    bits = sum(sum(r["rationale"]) for r in test)
    tokens = sum(len(r["tokens"]) for r in test)
    assert bits / tokens == pytest.approx(0.185, abs=0.005)   # the literature's ≈18.5 %


def test_movies_zaidan_counts_split_and_tags():
    result = read_dataset("movies", SHARED / "movies")
    splits = result.splits
    assert (len(splits["train"]), len(splits["dev"]), len(splits["test"])) == (1600, 200, 0)
    tagged = [r for rows in splits.values() for r in rows if any(r["rationale"])]
    assert len(tagged) == 1799
    assert result.skipped["train: kept without rationale tags"] == 1
    assert all(not t.startswith("<") or t not in ("<POS>", "</POS>", "<NEG>", "</NEG>")
               for rows in splits.values() for r in rows for t in r["tokens"])
    dev = {r["id"]: r for r in splits["dev"]}
    assert set(dev) == {f"negR_{i:03d}.txt" for i in range(800, 900)} | {f"posR_{i:03d}.txt" for i in range(800, 900)}
    pos0 = next(r for r in splits["train"] if r["id"] == "posR_000.txt")
    i = pos0["tokens"].index("ably")
    assert pos0["rationale"][i:i + 2] == [1, 1] and pos0["tokens"][i:i + 2] == ["ably", "captures"]
    assert pos0["rationale"][i - 1] == 0
    held = read_dataset("movies", SHARED / "movies", dev_from_train=0.1).splits   # the quality protocol's variant
    assert (len(held["train"]), len(held["dev"]), len(held["test"])) == (1440, 160, 200)
    assert {r["id"] for r in held["test"]} == set(dev)
    assert {r["id"] for r in held["dev"]} == {f"{c}R_{i:03d}.txt" for c in ("neg", "pos") for i in range(720, 800)}


def test_sst2_and_agnews_counts():
    sst2 = read_dataset("sst2", SHARED / "sst2").splits
    assert (len(sst2["train"]), len(sst2["dev"]), len(sst2["test"])) == (60614, 6735, 872)
    assert all(r["rationale"] is None for r in sst2["test"])
    ag = read_dataset("agnews", SHARED / "agnews")
    assert ag.variant == "agnews-dev-split"
    assert len(ag.splits["train"]) + len(ag.splits["dev"]) == 10001
    assert labels(ag.splits["test"]) == {0: 1900, 1: 1900, 2: 1900, 3: 1900}


def test_mutagenicity_counts_and_ground_truth_edges():
    result = read_dataset("mutagenicity", SHARED / "mutagenicity")
    graphs = [g for rows in result.splits.values() for g in rows]
    assert len(graphs) == 4337
    assert sum(int(g.y) == 0 for g in graphs) == 2401
    assert sum(g.num_nodes for g in graphs) == 131488
    assert sum(g.edge_index.shape[1] for g in graphs) == 266894
    assert int(sum(g.edge_gt.sum() for g in graphs)) == 7352
    assert graphs[0].x.shape[1] == 14 and graphs[0].edge_attr.shape[1] == 3
    # stratified split: class shares agree within a percent
    shares = {s: sum(int(g.y) == 0 for g in rows) / len(rows) for s, rows in result.splits.items()}
    assert max(shares.values()) - min(shares.values()) < 0.01
    # ground-truth edges sit on N–O (NO2) or N–H (NH2) bonds: every gt edge touches a nitrogen (label 4)
    g = next(g for g in graphs if g.edge_gt.sum() > 0)
    src, dst = g.edge_index[:, g.edge_gt.bool()]
    element = g.x.argmax(1)
    assert torch.all((element[src] == 4) | (element[dst] == 4))


def test_hf_movie_rationales_evidence_strings_give_the_movies_readers_masks(tmp_path):
    """The same reviews as an ERASER-style Hugging Face data set (review text, evidence strings in
    document order, no offsets) read through the ``hf-movie-rationales`` preset: tokens and labels
    identical; the masks agree except where an evidence string also occurs, unannotated, between
    the previous evidence and its own place (measured: 10 of 1,800 reviews, 70 of 111,744 tokens)."""
    from datasets import Dataset, DatasetDict

    from n2r.metrics import spans_of

    movies = read_dataset("movies", SHARED / "movies")
    source = {"train": movies.splits["train"], "validation": movies.splits["dev"], "test": movies.splits["dev"]}
    DatasetDict({name: Dataset.from_dict({
        "review": [" ".join(r["tokens"]) for r in rows], "label": [r["label"] for r in rows],
        "evidences": [[" ".join(r["tokens"][a:b]) for a, b in spans_of(r["rationale"])] for r in rows]})
        for name, rows in source.items()}).save_to_disk(str(tmp_path / "movie_rationales"))
    hf = read_dataset("hf-movie-rationales", tmp_path / "movie_rationales", max_tokens=100_000)
    pairs = [(a, b) for split in ("train", "dev") for a, b in zip(movies.splits[split], hf.splits[split])]
    assert len(pairs) == 1800 and all(a["tokens"] == b["tokens"] and a["label"] == b["label"] for a, b in pairs)
    selected = sum(sum(a["rationale"]) for a, _ in pairs)
    differing = sum(x != y for a, b in pairs for x, y in zip(a["rationale"], b["rationale"]))
    reviews = sum(a["rationale"] != b["rationale"] for a, b in pairs)
    assert selected == 111_744 and differing <= 70 and reviews <= 10, (differing, reviews)
