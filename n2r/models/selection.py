"""Binary unit selection from generator logits ``[..., 2]`` (index 1 = "select").

Training uses the Gumbel-softmax straight-through estimator (Jang et al. 2017): the forward
value is a hard 0/1 sample, the backward pass uses the relaxed softmax's gradient. Evaluation
uses the argmax by default; ``sample`` reproduces the reference code, which samples in eval too.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gumbel_straight_through(logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Hard 0/1 sample with straight-through gradients; returns ``logits[..., 1]``'s mask."""
    return F.gumbel_softmax(logits.float(), tau=tau, hard=True)[..., 1]


def argmax_selection(logits: torch.Tensor) -> torch.Tensor:
    """Deterministic 0/1 mask: select where logit 1 beats logit 0 (no gradient)."""
    return (logits[..., 1] > logits[..., 0]).to(torch.float32)


def select_units(logits: torch.Tensor, unit_mask: torch.Tensor, *, training: bool,
                 tau: float = 1.0, eval_selection: str = "argmax") -> torch.Tensor:
    """The mask ``z`` over units; non-units (padding, special tokens) are always 0."""
    if training or eval_selection == "sample":
        z = gumbel_straight_through(logits, tau)
    else:
        z = argmax_selection(logits)
    return z * unit_mask.to(z.dtype)
