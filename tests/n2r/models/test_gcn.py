"""The GCN family (n2r/models/gcn.py): edge and node selection, degree encoding."""
import pytest
import torch

from n2r.config import ModelConfig
from n2r.data.synthetic import ba2motifs
from n2r.models import build_rationalizer


def test_gcn_selects_edges_and_optionally_nodes():
    from torch_geometric.data import Batch

    graphs = ba2motifs(n_graphs=4, base_nodes=8, seed=1)["train"]
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    model = build_rationalizer(ModelConfig(encoder="gcn", hidden_size=8, num_layers=2), in_channels=10)
    assert not model.sequential
    out = model(batch)
    assert out.z.shape == (batch.edge_index.shape[1],) and out.z_nodes is None
    assert out.h.shape == (len(graphs), 8)
    out.logits.sum().backward()
    with_nodes = build_rationalizer(ModelConfig(encoder="gcn", hidden_size=8, select_nodes=True), in_channels=10)
    out = with_nodes(batch)
    assert out.z_nodes.shape == (batch.num_nodes,)
    with pytest.raises(ValueError, match="model.pooling"):
        build_rationalizer(ModelConfig(encoder="gcn", pooling="cls"), in_channels=10)


def test_gcn_predictor_ignores_unselected_edges():
    from torch_geometric.data import Batch

    graph = ba2motifs(n_graphs=10, base_nodes=8, seed=2)["train"][0]
    model = build_rationalizer(ModelConfig(encoder="gcn", hidden_size=8, dropout=0.0), in_channels=10).eval()
    batch = Batch.from_data_list([graph])
    z = torch.zeros(batch.edge_index.shape[1])
    z[:4] = 1.0
    logits_a, _ = model.predict(batch, z)
    rewired = batch.clone()
    rewired.edge_index = batch.edge_index.clone()
    rewired.edge_index[:, 4:] = torch.flip(rewired.edge_index[:, 4:], dims=[1])  # change only dropped edges
    logits_b, _ = model.predict(rewired, z)
    assert torch.allclose(logits_a, logits_b, atol=1e-6)


def test_degree_encoding_is_one_hot_for_whole_degrees_and_differentiable():
    from n2r.models.gcn import degree_encoding

    edge_index = torch.tensor([[0, 1, 2, 0], [1, 0, 0, 2]])   # node 0 has in-degree 2
    weights = torch.tensor([1.0, 1.0, 0.5, 1.0], requires_grad=True)
    enc = degree_encoding(edge_index, 4, bins=3, edge_weight=weights)
    assert enc.tolist() == [[0, 0.5, 0.5], [0, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert degree_encoding(edge_index, 4, bins=2).tolist() == [[0, 1], [0, 1], [0, 1], [1, 0]]  # clamped
    enc[0, 2].backward()
    assert weights.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # exactly the two edges into node 0
