"""Batched explanation: the answer for an input does not depend on the batch it shares."""
import math
import random

import pytest

from n2r.bundle import load_bundle
from n2r.explain import explain_many, length_buckets
from n2r.explanation import Explanation
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
    words = bundle.text_encoder.words[2:]                           # past <pad>, <unk>: words the model knows
    rng = random.Random(0)
    docs = [{"tokens": [rng.choice(words) for _ in range(rng.randint(1, 40))]} for _ in range(25)]
    together = explain_many(bundle, docs, bucket_ratio=1.5)
    for doc, batched in zip(docs, together):
        alone = bundle.explain(doc)
        assert list(batched.tokens) == list(alone.tokens) == doc["tokens"]
        assert batched.mask == alone.mask and batched.spans == alone.spans and batched.label == alone.label
        assert batched.probabilities == pytest.approx(alone.probabilities, abs=1e-6)
        assert batched.scores == pytest.approx(alone.scores, abs=1e-6)
    if rule == "topk":
        assert all(sum(r.mask) == max(1, math.floor(0.25 * len(r.tokens) + 0.5)) for r in together)


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
        assert batched.mask == alone.mask and batched.label == alone.label
        assert batched.edge_index == tuple(zip(*graph["edge_index"]))
        assert len(batched.scores) == len(graph["edge_index"][0])
        assert batched.scores == pytest.approx(alone.scores, abs=1e-6)


def test_response_shape_and_limits(text_bundle):
    bundle = load_bundle(text_bundle[0])
    result = bundle.explain({"tokens": ["dark", "pour", "nice", "head"]})
    response = result.to_json()
    assert response["tokens"] == list(result.tokens) and response["rationale"]["mask"] == list(result.mask)
    assert response["rationale"]["tokens"] == [t for t, b in zip(result.tokens, result.mask) if b]
    assert response["rationale"]["spans"] == [list(s) for s in result.spans] and response["label"] == result.label
    assert response["probability"] == result.probabilities[result.label] and "probabilities_without" not in response
    assert Explanation.from_json(response) == result                                  # one shape, read back
    assert len(bundle.explain({"tokens": ["a"] * 2000}).mask) == 2000                  # no limit in library use
    with pytest.raises(InputError, match="input 1.tokens: 6 tokens, more than the limit of 5"):
        explain_many(bundle, [{"tokens": ["a"]}, {"tokens": ["a"] * 6}], InputLimits(max_tokens=5))


def test_graph_explanations_keep_node_selections_and_round_trip():
    mask, scores = (1, 0, 1), (0.9, 0.2, 0.7)
    explanation = Explanation(label=1, probabilities=(0.25, 0.75), mask=mask, scores=scores,
                              edge_index=((0, 1), (1, 2), (2, 0)), node_mask=(1, 0, 1))
    answer = explanation.to_json()
    assert answer["rationale"] == {"edges": [[0, 1], [2, 0]], "mask": [1, 0, 1], "scores": [0.9, 0.2, 0.7],
                                   "node_mask": [1, 0, 1]}
    assert answer["probability"] == 0.75 and explanation.kind == "graph"
    assert Explanation.from_json(answer, edge_index=[[0, 1, 2], [1, 2, 0]]) == explanation
    with pytest.raises(ValueError, match="a graph answer needs the input's edge_index"):
        Explanation.from_json(answer)
    with pytest.raises(ValueError, match="3 units but 2 mask entries"):
        Explanation(label=0, probabilities=(1.0,), mask=(1, 0), scores=(0.5, 0.5, 0.5), tokens=("a", "b", "c"))


def test_faithfulness_is_the_predictor_without_the_rationale(text_bundle):
    import torch

    from n2r.batch import collate_text

    bundle = load_bundle(text_bundle[0])
    tokens = bundle.text_encoder.words[2:14]
    explanation = explain_many(bundle, [{"tokens": tokens}], faithfulness=True)[0]
    batch = collate_text([{"input_ids": bundle.text_encoder.encode(tokens), "label": 0}])
    with torch.no_grad():
        complement = 1.0 - torch.tensor([explanation.mask], dtype=torch.float32)
        logits = bundle.model.predict(batch, complement)[0]
    assert explanation.probabilities_without == pytest.approx(logits.softmax(-1)[0].tolist(), abs=1e-6)
    assert explanation.to_json()["probabilities_without"] == list(explanation.probabilities_without)


def test_a_graph_model_that_selects_nodes_answers_its_node_selection():
    import torch
    from torch_geometric.data import Batch, Data

    from n2r.bundle import Bundle
    from n2r.config import RunConfig
    from n2r.models import build_rationalizer

    cfg = RunConfig.from_dict({"data": {"name": "ba2motifs"}, "model": {"encoder": "gcn", "hidden_size": 8,
                                                                        "select_nodes": True, "in_channels": 3}})
    torch.manual_seed(0)
    model = build_rationalizer(cfg.model).eval()
    bundle = Bundle(path=None, config=cfg, model=model, metrics={})
    graph = {"x": [[0.1 * i, 1.0, -0.5] for i in range(5)], "edge_index": [[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]}
    explanation = bundle.explain(graph)
    with torch.no_grad():
        out = model(Batch.from_data_list([Data(x=torch.tensor(graph["x"]), edge_index=torch.tensor(graph["edge_index"]),
                                               y=torch.zeros(1, dtype=torch.long))]))
    assert explanation.node_mask == tuple(int(v > 0.5) for v in out.z_nodes.tolist()) and len(explanation.node_mask) == 5
    assert explanation.to_json()["rationale"]["node_mask"] == list(explanation.node_mask)
