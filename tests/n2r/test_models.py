"""Model families: shapes, masking, selection modes, parameter groups, the BERT path offline."""
import pytest
import torch

from n2r.batch import collate_text
from n2r.config import ModelConfig
from n2r.data.synthetic import ba2motifs
from n2r.models import ENCODERS, build_rationalizer


def test_encoder_registry_and_unknown_encoder():
    assert ENCODERS.names() == ["bert", "gcn", "gru"]
    with pytest.raises(ValueError, match="encoder\n  Input should be 'gru', 'bert' or 'gcn'"):
        ModelConfig(encoder="lstm")
    with pytest.raises(KeyError, match="unknown encoder 'lstm'"):      # past the schema (unvalidated)
        build_rationalizer(ModelConfig.model_construct(encoder="lstm"))


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


def test_gru_outputs_do_not_depend_on_padding(tiny_gru):
    tiny_gru.eval()
    alone = collate_text([{"input_ids": [3, 4, 5], "label": 1}])
    padded = collate_text([{"input_ids": [3, 4, 5], "label": 1}, {"input_ids": list(range(2, 12)), "label": 0}])
    a, b = tiny_gru(alone), tiny_gru(padded)
    assert torch.allclose(a.generator_logits[0], b.generator_logits[0, :3], atol=1e-6)
    assert torch.allclose(a.h[0], b.h[0], atol=1e-6)
    assert torch.allclose(a.logits[0], b.logits[0], atol=1e-6)


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


def test_bert_rationalizer_forward_backward_offline():
    from n2r.data.schema import text_table
    from n2r.batch import collate_text_table
    from n2r.data.tokenize import HFTokenizer
    from n2r.engine import build_optimizer
    from n2r.config import TrainConfig

    hf = HFTokenizer()
    tokenizer = hf.tokenizer
    rows = [{"tokens": ["a", "wonderful", "unbelievably", "hoppy", "beer"], "label": 1, "rationale": [0, 1, 1, 0, 0]},
            {"tokens": ["flat"], "label": 0, "rationale": [1]}]
    encoded = hf(text_table([{"id": str(i), "split": "train", **r} for i, r in enumerate(rows)]))
    # word → sub-word alignment: every piece of a rationale word carries its bit, specials are not units
    first = encoded.to_pylist()[0]
    pieces = tokenizer.convert_ids_to_tokens(first["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert first["unit_mask"][0] == first["unit_mask"][-1] == 0
    marked = [p for p, r in zip(pieces, first["rationale"]) if r]
    assert "wonderful" in marked and len(marked) >= 2 and "hoppy" not in marked
    batch = collate_text_table(encoded, pad_id=tokenizer.pad_token_id)
    assert batch.unit_mask[1].tolist() == [False, True, False] + [False] * (batch.input_ids.shape[1] - 3)
    torch.manual_seed(0)
    model = build_rationalizer(ModelConfig(encoder="bert", pooling="mean"))
    assert model.generator.encoder is not model.predictor.encoder
    model.train()
    out = model(batch)
    assert out.z.shape == batch.input_ids.shape
    assert (out.z[~batch.unit_mask] == 0).all()
    assert out.h.shape == (2, 384)
    torch.nn.functional.cross_entropy(out.logits, batch.labels).backward()
    assert model.generator.head.weight.grad is not None      # straight-through reached the generator
    assert model.predictor.classifier.weight.grad is not None
    opt = build_optimizer(model, TrainConfig(lr=1e-3, lr_encoder=2e-5, predictor_lr_scale=0.5))
    rates = {(name.split(".")[0], "encoder." in name): group["lr"] for name, p in model.named_parameters()
             for group in opt.param_groups if any(p is q for q in group["params"])}
    assert rates == {("generator", True): 2e-5, ("generator", False): 1e-3,      # pretrained weights: lr_encoder
                     ("predictor", True): 1e-5, ("predictor", False): 5e-4}      # the predictor's: × 0.5 (DR)


def test_degree_encoding_is_one_hot_for_whole_degrees_and_differentiable():
    from n2r.models.gcn import degree_encoding

    edge_index = torch.tensor([[0, 1, 2, 0], [1, 0, 0, 2]])   # node 0 has in-degree 2
    weights = torch.tensor([1.0, 1.0, 0.5, 1.0], requires_grad=True)
    enc = degree_encoding(edge_index, 4, bins=3, edge_weight=weights)
    assert enc.tolist() == [[0, 0.5, 0.5], [0, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert degree_encoding(edge_index, 4, bins=2).tolist() == [[0, 1], [0, 1], [0, 1], [1, 0]]  # clamped
    enc[0, 2].backward()
    assert weights.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # exactly the two edges into node 0


def test_init_selection_sets_the_initial_selection_probability(tiny_gru, text_batch):
    emb = torch.randn(20, 8)
    model = build_rationalizer(ModelConfig(hidden_size=4, init_selection=0.9), embedding_matrix=emb)
    probs = model.generator(text_batch).logits.softmax(-1)[..., 1]
    assert torch.allclose(model.generator.head.bias, torch.tensor([0.0, 2.1972246]))
    assert 0.8 < probs[text_batch.attention_mask].mean() < 0.97
    gcn = build_rationalizer(ModelConfig(encoder="gcn", init_selection=0.2, select_nodes=True), in_channels=3)
    assert torch.allclose(gcn.generator.edge_head[-1].bias, torch.tensor([0.0, -1.3862944]))
    assert torch.allclose(gcn.generator.node_head.bias, torch.tensor([0.0, -1.3862944]))


def test_collate_pads_to_the_batch_maximum_and_checks_alignment():
    batch = collate_text([{"input_ids": [5, 6, 7], "label": 1, "rationale": [0, 1, 0]},
                          {"input_ids": [8], "label": 0, "rationale": [1]}], pad_id=9)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 9, 9]]
    assert batch.attention_mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.rationale.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert torch.equal(batch.unit_mask, batch.attention_mask)
    partial = collate_text([{"input_ids": [5], "label": 1, "rationale": [1]}, {"input_ids": [6], "label": 0}])
    assert partial.rationale is None  # a batch is annotated only when every example is
    with pytest.raises(ValueError, match="example 0 has 2 rationale bits for 1 ids"):
        collate_text([{"input_ids": [5], "label": 1, "rationale": [1, 0]}])
    with pytest.raises(ValueError, match="an example has no tokens"):
        collate_text([{"input_ids": [], "label": 1}])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_gru_masked_max_ignores_padding_in_every_dtype(dtype):
    """Regression (found on an H200): cuDNN GRU states come back in fp16 under CUDA autocast, and
    filling padding with −1e6 overflowed fp16."""
    from n2r.models.gru import masked_max

    states = torch.tensor([[[1.0, -2.0], [3.0, -5.0], [9.0, 9.0]],
                           [[-4.0, -1.0], [70000.0, 70000.0], [70000.0, 70000.0]]]).clamp(max=60000).to(dtype)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    h = masked_max(states, mask)
    assert h.dtype == dtype
    assert h.float().tolist() == [[3.0, -2.0], [-4.0, -1.0]]


def _bigru_grads(encoder, x, mask, weights):
    x = x.detach().clone().requires_grad_(x.requires_grad)
    out = encoder(x, mask)
    (out * weights).sum().backward()
    grads = [None if p.grad is None else p.grad.clone() for p in encoder.parameters()]
    encoder.zero_grad(set_to_none=True)
    return out.detach(), (None if x.grad is None else x.grad.clone()), grads


@pytest.mark.parametrize("input_needs_grad,frozen", [(True, False), (False, False), (True, True)])
def test_bigru_parallel_directions_give_the_same_outputs_and_exactly_the_same_gradients(input_needs_grad, frozen):
    """The two directions in two threads (engine default on CPU with >= 2 threads): same outputs,
    same input and parameter gradients; frozen parameters (N2R's step 2) get none."""
    from n2r.models.gru import BiGRUEncoder, set_parallel_directions

    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 4)
    encoder.requires_grad_(not frozen)
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    x = torch.randn(3, 6, 5, requires_grad=input_needs_grad)
    weights = torch.randn(3, 6, 8)
    sequential = _bigru_grads(encoder, x, mask, weights)
    assert set_parallel_directions(torch.nn.Sequential(encoder), True) == 1 and encoder.parallel
    parallel = _bigru_grads(encoder, x, mask, weights)
    assert torch.allclose(parallel[0], sequential[0], atol=1e-6)
    if input_needs_grad:
        assert torch.allclose(parallel[1], sequential[1], atol=1e-6)
    else:
        assert parallel[1] is None
    for ours, ref in zip(parallel[2], sequential[2]):
        assert (ours is None) == (ref is None) == frozen
        if ref is not None:
            assert torch.allclose(ours, ref, atol=1e-6)
    with torch.no_grad():                      # evaluation: no graph, same outputs
        assert torch.allclose(encoder(x, mask), sequential[0], atol=1e-6)


def test_bigru_worker_threads_use_one_thread_and_leave_the_process_default_alone():
    import threading

    from n2r.models.gru import _pool

    before = torch.get_num_threads()
    pool = _pool()
    assert [pool.submit(torch.get_num_threads).result() for _ in range(4)] == [1] * 4
    assert torch.get_num_threads() == before
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert seen == [before]                    # threads started later inherit the caller's count


def test_bigru_equals_a_packed_bigru_at_real_positions_and_ignores_padding():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from n2r.models.gru import BiGRUEncoder

    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 4)
    packed_gru = torch.nn.GRU(5, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(packed_gru, name).copy_(getattr(encoder.forward_gru, name))
            getattr(packed_gru, name + "_reverse").copy_(getattr(encoder.backward_gru, name))
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    x = torch.randn(3, 6, 5, requires_grad=True)
    ours = encoder(x, mask)
    ref, _ = pad_packed_sequence(packed_gru(pack_padded_sequence(x, lengths, batch_first=True,
                                                                 enforce_sorted=False))[0], batch_first=True)
    assert torch.allclose(ours[mask], ref[mask], atol=1e-6)
    # what sits in the padding never reaches a real position
    noisy = x.detach().clone()
    noisy[~mask] = 100.0
    assert torch.allclose(encoder(noisy, mask)[mask], ours[mask].detach(), atol=1e-6)
    (ours[mask].sum()).backward()
    assert x.grad[~mask].abs().max() == 0
