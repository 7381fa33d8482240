"""Batched explanation: the answer for an input does not depend on the batch it shares."""
import math
import random

import pytest

from n2r.bundle import load_bundle
from n2r.explain import as_response, explain_many, length_buckets
from n2r.inputs import InputError, InputLimits

def test_length_buckets_bound_padding_and_size():
    lengths = [3, 10, 4, 6, 1, 2, 7, 30]
    buckets = length_buckets(lengths, ratio=2.0, max_size=3)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    assert buckets == [[4, 5], [0, 2, 3], [6, 1], [7]]
    for bucket in buckets:
        assert max(lengths[i] for i in bucket) <= 2 * min(lengths[i] for i in bucket) and len(bucket) <= 3
    assert length_buckets([5, 5, 5], ratio=1.0) == [[0, 1, 2]]
    with pytest.raises(ValueError, match="ratio must be ≥ 1"):
        length_buckets([1], ratio=0.5)


@pytest.mark.parametrize("rule", ["argmax", "topk"])
def test_text_batches_give_the_one_by_one_answers(text_bundle, rule):
    bundle = load_bundle(text_bundle[0])
    bundle.model.eval_selection, bundle.model.eval_share = rule, 0.25    # top-k: a quarter of each text
    words = bundle.vocab.words[2:]                           # past <pad>, <unk>: words the model knows
    rng = random.Random(0)
    docs = [{"tokens": [rng.choice(words) for _ in range(rng.randint(1, 40))]} for _ in range(25)]
    together = explain_many(bundle, docs, bucket_ratio=1.5)
    for doc, batched in zip(docs, together):
        alone = bundle.explain(doc)
        assert batched["tokens"] == alone["tokens"] == doc["tokens"]
        assert batched["rationale"] == alone["rationale"] and batched["spans"] == alone["spans"]
        assert batched["label"] == alone["label"]
        assert batched["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)
    if rule == "topk":
        assert all(sum(r["rationale"]) == max(1, math.floor(0.25 * len(r["tokens"]) + 0.5)) for r in together)


def test_graph_batches_give_the_one_by_one_answers(graph_bundle):
    bundle = load_bundle(graph_bundle)
    rng = random.Random(1)
    graphs = []
    for n in (3, 6, 2, 5):
        edges = [(a, b) for a in range(n) for b in range(n) if a != b and rng.random() < 0.5] or [(0, 1)]
        graphs.append({"x": [[rng.random() for _ in range(10)] for _ in range(n)],
                       "edge_index": [[a for a, _ in edges], [b for _, b in edges]]})
    together = explain_many(bundle, graphs)
    for graph, batched in zip(graphs, together):
        alone = bundle.explain(graph)
        assert batched["edges"] == alone["edges"] and batched["label"] == alone["label"]
        assert len(batched["edge_scores"]) == len(graph["edge_index"][0])
        assert batched["edge_scores"] == pytest.approx(alone["edge_scores"], abs=1e-6)
        assert all(edge in list(map(list, zip(*graph["edge_index"]))) for edge in batched["edges"])


def test_response_shape_and_limits(text_bundle):
    bundle = load_bundle(text_bundle[0])
    result = bundle.explain({"tokens": ["dark", "pour", "nice", "head"]})
    response = as_response(result)
    assert response["tokens"] == result["tokens"] and response["rationale"]["mask"] == result["rationale"]
    assert response["rationale"]["tokens"] == [t for t, b in zip(result["tokens"], result["rationale"]) if b]
    assert response["rationale"]["spans"] == result["spans"] and response["label"] == result["label"]
    assert len(bundle.explain({"tokens": ["a"] * 2000})["rationale"]) == 2000      # no limit in library use
    with pytest.raises(InputError, match="input 1.tokens: 6 tokens, more than the limit of 5"):
        explain_many(bundle, [{"tokens": ["a"]}, {"tokens": ["a"] * 6}], InputLimits(max_tokens=5))
