"""Selection rules in training and evaluation (n2r/models/selection.py)."""
import pytest
import torch

from n2r.config import ModelConfig
from n2r.data.synthetic import ba2motifs
from n2r.models import build_rationalizer


def test_gru_selection_is_zero_on_padding_and_argmax_in_eval(tiny_gru, text_batch):
    tiny_gru.eval()
    out = tiny_gru(text_batch)
    assert out.z.shape == text_batch.input_ids.shape
    assert (out.z[~text_batch.attention_mask] == 0).all()
    expected = (out.generator_logits[..., 1] > out.generator_logits[..., 0]).float() * text_batch.unit_mask
    assert torch.equal(out.z, expected)
    assert torch.equal(tiny_gru(text_batch).z, out.z)  # deterministic in eval
    assert out.h.shape == (3, 12) and out.logits.shape == (3, 2)


def test_sampled_evaluation_option_is_stochastic(tiny_gru, text_batch):
    tiny_gru.eval()
    tiny_gru.eval_selection = "sample"
    draws = {tuple(tiny_gru(text_batch).z.flatten().tolist()) for _ in range(20)}
    assert len(draws) > 1


def test_topk_selection_keeps_each_examples_top_share_of_real_units():
    from n2r.models.selection import topk_selection

    # selection scores (logit 1 - logit 0) per position; row 1 has 3 real units, row 2 has none
    scores = torch.tensor([[0.5, -1.0, 2.0, 0.1, -3.0],
                           [4.0, -2.0, -1.0, 9.0, 9.0],
                           [1.0, 1.0, 1.0, 1.0, 1.0]])
    logits = torch.stack([torch.zeros_like(scores), scores], -1)
    real = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    # share 0.4: k = floor(0.4 n + 0.5) = floor(2.5) = 2 of 5, floor(1.7) = 1 of 3, 0 of 0
    z = topk_selection(logits, real, 0.4)
    assert z.tolist() == [[1, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    # padded positions never count, even with the best scores; at least one unit per example
    assert topk_selection(logits, real, 0.01).tolist() == [[0, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0] * 5]
    # ties go to the earlier unit
    flat = torch.zeros(1, 4, 2)
    assert topk_selection(flat, torch.ones(1, 4, dtype=torch.bool), 0.5).tolist() == [[1, 1, 0, 0]]


def test_topk_selection_on_flat_graph_units_ranks_within_each_graph():
    from n2r.models.selection import topk_selection

    scores = torch.tensor([3.0, -1.0, 0.0, 2.0, 5.0, 1.0, -2.0, 4.0])
    group = torch.tensor([0, 0, 1, 0, 1, 1, 0, 2])      # graph sizes 4, 3, 1 (not contiguous)
    logits = torch.stack([torch.zeros_like(scores), scores], -1)
    z = topk_selection(logits, torch.ones(8, dtype=torch.bool), 0.5, group)
    # graph 0: top 2 of {3, -1, 2, -2} -> edges 0, 3; graph 1: k = floor(1.5 + .5) = 2 of {0, 5, 1}
    # -> edges 4, 5; graph 2: k = max(1, floor(0.5 + 0.5)) = 1 -> edge 7
    assert z.tolist() == [1, 0, 0, 1, 1, 1, 0, 1]


def test_topk_evaluation_reaches_the_target_share_deterministically(tiny_gru, text_batch):
    from torch_geometric.data import Batch

    tiny_gru.eval()
    tiny_gru.eval_selection, tiny_gru.eval_share = "topk", 0.25
    out = tiny_gru(text_batch)
    n = text_batch.unit_mask.sum(-1)
    assert out.z.sum(-1).tolist() == torch.clamp(torch.floor(n * 0.25 + 0.5), min=1).tolist()
    assert (out.z[~text_batch.unit_mask.bool()] == 0).all()
    assert torch.equal(tiny_gru(text_batch).z, out.z)
    probs = out.generator_logits.softmax(-1)[..., 1].masked_fill(~text_batch.unit_mask.bool(), -1)
    for row in range(len(n)):  # the selected units are the most probable ones
        chosen = probs[row][out.z[row].bool()]
        assert chosen.min() >= probs[row][~out.z[row].bool()].max()

    graphs = ba2motifs(n_graphs=6, base_nodes=8, seed=3)["train"]
    batch = Batch.from_data_list(graphs)
    cfg = ModelConfig(encoder="gcn", hidden_size=8, select_nodes=True, eval_selection="topk", eval_share=0.3)
    model = build_rationalizer(cfg, in_channels=10).eval()
    out = model(batch)
    edge_graph = batch.batch[batch.edge_index[0]]
    for g, graph in enumerate(graphs):
        assert out.z[edge_graph == g].sum() == max(1, int(graph.edge_index.shape[1] * 0.3 + 0.5))
        assert out.z_nodes[batch.batch == g].sum() == max(1, int(graph.num_nodes * 0.3 + 0.5))
    with pytest.raises(ValueError, match="needs model.eval_share"):
        build_rationalizer(ModelConfig(encoder="gcn", eval_selection="topk"), in_channels=10)
