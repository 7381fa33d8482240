"""The model registry and what every rationalizer shares (n2r/models/__init__.py, base.py)."""
import pytest
import torch

from n2r.batch import collate_text
from n2r.config import ModelConfig
from n2r.models import FAMILIES, build_rationalizer


def test_encoder_registry_and_unknown_encoder():
    assert {"bert", "gcn", "gru"} <= set(FAMILIES.names())
    with pytest.raises(ValueError, match="encoder\n  Value error, unknown encoder 'lstm'; known: bert, gcn, gru"):
        ModelConfig(encoder="lstm")
    with pytest.raises(KeyError, match="unknown encoder 'lstm'"):      # past the schema (unvalidated)
        build_rationalizer(ModelConfig.model_construct(encoder="lstm"))


def test_predictor_sees_only_the_selected_tokens(tiny_gru):
    tiny_gru.eval()
    batch_a = collate_text([{"input_ids": [3, 4, 5], "label": 1}])
    batch_b = collate_text([{"input_ids": [3, 9, 5], "label": 1}])  # differs only at position 1
    z = torch.tensor([[1.0, 0.0, 1.0]])
    assert torch.equal(tiny_gru.predict(batch_a, z)[0], tiny_gru.predict(batch_b, z)[0])
    z[0, 1] = 1.0
    assert not torch.equal(tiny_gru.predict(batch_a, z)[0], tiny_gru.predict(batch_b, z)[0])


def test_embeddings_are_frozen_and_shared_encoder_option():
    emb = torch.randn(20, 8)
    separate = build_rationalizer(ModelConfig(hidden_size=4), embedding_matrix=emb)
    assert not separate.generator.embedding.weight.requires_grad
    assert separate.generator.encoder is not separate.predictor.encoder
    shared = build_rationalizer(ModelConfig(hidden_size=4, shared_encoder=True), embedding_matrix=emb)
    assert shared.generator.encoder is shared.predictor.encoder
    n_sep = sum(p.numel() for p in separate.parameters() if p.requires_grad)
    n_sh = sum(p.numel() for p in shared.parameters() if p.requires_grad)
    assert n_sh < n_sep


def test_init_selection_sets_the_initial_selection_probability(tiny_gru, text_batch):
    emb = torch.randn(20, 8)
    model = build_rationalizer(ModelConfig(hidden_size=4, init_selection=0.9), embedding_matrix=emb)
    probs = model.generator(text_batch).logits.softmax(-1)[..., 1]
    assert torch.allclose(model.generator.head.bias, torch.tensor([0.0, 2.1972246]))
    assert 0.8 < probs[text_batch.attention_mask].mean() < 0.97
    gcn = build_rationalizer(ModelConfig(encoder="gcn", init_selection=0.2, select_nodes=True), in_channels=3)
    assert torch.allclose(gcn.generator.edge_head[-1].bias, torch.tensor([0.0, -1.3862944]))
    assert torch.allclose(gcn.generator.node_head.bias, torch.tensor([0.0, -1.3862944]))
