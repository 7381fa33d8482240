"""The BiGRU family (n2r/models/gru.py): padding, masked pooling, parallel directions."""
import pytest
import torch

from n2r.batch import collate_text


def test_gru_outputs_do_not_depend_on_padding(tiny_gru):
    tiny_gru.eval()
    alone = collate_text([{"input_ids": [3, 4, 5], "label": 1}])
    padded = collate_text([{"input_ids": [3, 4, 5], "label": 1}, {"input_ids": list(range(2, 12)), "label": 0}])
    a, b = tiny_gru(alone), tiny_gru(padded)
    assert torch.allclose(a.generator_logits[0], b.generator_logits[0, :3], atol=1e-6)
    assert torch.allclose(a.h[0], b.h[0], atol=1e-6)
    assert torch.allclose(a.logits[0], b.logits[0], atol=1e-6)


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
    from n2r.models.base import set_cpu_parallelism
    from n2r.models.gru import BiGRUEncoder

    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 4)
    encoder.requires_grad_(not frozen)
    lengths = torch.tensor([6, 2, 4])
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    x = torch.randn(3, 6, 5, requires_grad=input_needs_grad)
    weights = torch.randn(3, 6, 8)
    sequential = _bigru_grads(encoder, x, mask, weights)
    assert set_cpu_parallelism(torch.nn.Sequential(encoder), True) == 1 and encoder.parallel
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
