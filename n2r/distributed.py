"""Data parallelism without wrapping the model: average gradients across ranks before each step.

The objectives run two updates per batch, freezing a different module in each and calling the
generator and predictor directly — patterns ``DistributedDataParallel``'s forward hooks do not
see. Averaging the gradients that exist (one flattened all-reduce per update) gives the same
result as DDP for every step, and frozen parameters (``grad is None`` on every rank, since all
ranks run the same code) are left alone. Works with any initialised ``torch.distributed``
process group (gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def allreduce_gradients(model: nn.Module) -> None:
    """Replace every existing gradient by its mean over all ranks (one collective per dtype)."""
    if not is_distributed():
        return
    world = dist.get_world_size()
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in model.parameters():
        if p.grad is not None:
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
    for grads in by_dtype.values():
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= world
        for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(synced)


def broadcast_parameters(model: nn.Module, src: int = 0) -> None:
    """Make every rank start from rank ``src``'s parameters and buffers."""
    if not is_distributed():
        return
    for tensor in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(tensor.data, src)


def assert_same_on_every_rank(values: torch.Tensor, what: str) -> None:
    """Raise if ``values`` differ between ranks: one small all-gather of exact float64
    fingerprints (count, sum, position-weighted sum), naming ``what`` and the first rank that
    differs from rank 0."""
    if not is_distributed():
        return
    flat = values.detach().double().flatten()
    weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64, device=flat.device).remainder_(997)
    count = torch.tensor(float(flat.numel()), dtype=torch.float64, device=flat.device)
    fingerprint = torch.stack([count, flat.sum(), (flat * weights).sum()])
    gathered = [torch.empty_like(fingerprint) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, fingerprint)
    for rank, other in enumerate(gathered[1:], 1):
        if not torch.equal(other, gathered[0]):
            raise RuntimeError(f"{what}: rank {rank} differs from rank 0 "
                               f"({other.tolist()} vs {gathered[0].tolist()}: count, sum, ordered sum)")


def assert_replicas_equal(model: nn.Module) -> None:
    """Raise if any rank's parameters differ from rank 0's (an optional check after each step)."""
    if is_distributed():
        assert_same_on_every_rank(torch.cat([p.detach().flatten() for p in model.parameters()]),
                                  "data-parallel replicas diverged")
