"""Binary unit selection from generator logits ``[..., 2]`` (index 1 = "select").

Training uses the Gumbel-softmax straight-through estimator (Jang et al. 2017): the forward
value is a hard 0/1 sample, the backward pass uses the relaxed softmax's gradient. Evaluation
rules (``eval_selection``):

- ``argmax`` (default): select a unit where its selection probability exceeds 0.5.
- ``sample``: a Gumbel sample, as the reference code does in evaluation too (not deterministic).
- ``topk``: per example, the ``k = max(1, ⌊share·n + ½⌋)`` units of highest selection
  probability among its ``n`` real units (ties: the earlier unit). Deterministic, and the
  achieved sparsity is the target share by construction, so methods are compared at equal
  sparsity. A generator that learned the target *rate* but no preference between units (every
  ``p ≈ s``) selects nothing under ``argmax``; ``topk`` still reads its ranking.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

EVAL_SELECTIONS = ("argmax", "sample", "topk")


def gumbel_straight_through(logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Hard 0/1 sample with straight-through gradients; returns ``logits[..., 1]``'s mask."""
    return F.gumbel_softmax(logits.float(), tau=tau, hard=True)[..., 1]


def argmax_selection(logits: torch.Tensor) -> torch.Tensor:
    """Deterministic 0/1 mask: select where logit 1 beats logit 0 (no gradient)."""
    return (logits[..., 1] > logits[..., 0]).to(torch.float32)


def topk_selection(logits: torch.Tensor, unit_mask: torch.Tensor, share: float,
                   group: torch.Tensor | None = None) -> torch.Tensor:
    """Deterministic 0/1 mask keeping each example's top ``share`` of real units (no gradient).

    Text: ``logits`` is ``[B, L, 2]`` and an example is a row. Graphs: ``logits`` is ``[E, 2]``
    flat over a batch and ``group[e]`` names the example (graph) unit ``e`` belongs to. The
    ranking score is the logit difference, a monotone function of the selection probability.
    """
    score = (logits[..., 1] - logits[..., 0]).float().detach()
    real = unit_mask.bool()
    score = score.masked_fill(~real, float("-inf"))
    if group is None:
        n = real.sum(-1)
        k = _k_of(n, share)
        order = score.argsort(dim=-1, descending=True, stable=True)
        positions = torch.arange(score.shape[-1], device=score.device).expand_as(order)
        rank = torch.empty_like(order).scatter_(-1, order, positions)
        return ((rank < k.unsqueeze(-1)) & real).to(torch.float32)
    group = group.long()
    groups = int(group.max()) + 1 if group.numel() else 0
    n = torch.zeros(groups, dtype=torch.long, device=score.device).index_add_(0, group, real.long())
    k = _k_of(n, share)
    by_score = score.argsort(descending=True, stable=True)
    order = by_score[group[by_score].argsort(stable=True)]      # grouped, best first within group
    sizes = torch.bincount(group, minlength=groups)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=score.device) - starts[group[order]]
    return ((rank < k[group]) & real).to(torch.float32)


def _k_of(n: torch.Tensor, share: float) -> torch.Tensor:
    """``max(1, ⌊share·n + ½⌋)`` for ``n > 0`` (0 for an example without units)."""
    k = torch.floor(n.to(torch.float64) * share + 0.5).long()
    return torch.where(n > 0, k.clamp(min=1), torch.zeros_like(k))


def select_units(logits: torch.Tensor, unit_mask: torch.Tensor, *, training: bool,
                 tau: float = 1.0, eval_selection: str = "argmax", eval_share: float | None = None,
                 group: torch.Tensor | None = None) -> torch.Tensor:
    """The mask ``z`` over units; non-units (padding, special tokens) are always 0."""
    if training or eval_selection == "sample":
        z = gumbel_straight_through(logits, tau)
    elif eval_selection == "topk":
        if eval_share is None:
            raise ValueError("eval_selection 'topk' needs eval_share (model.eval_share)")
        z = topk_selection(logits, unit_mask, eval_share, group)
    elif eval_selection == "argmax":
        z = argmax_selection(logits)
    else:
        raise ValueError(f"unknown eval_selection {eval_selection!r} (known: {', '.join(EVAL_SELECTIONS)})")
    return z * unit_mask.to(z.dtype)
