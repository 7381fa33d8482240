"""Training objectives: ``rnp`` (MMI), ``n2r`` and ``rnp+n2r``, with their loss terms.

Notation (Liu et al., "Breaking Free from MMI", ICLR 2025): the generator selects a mask
``z`` over units (tokens or edges), the predictor maps the selected input ``Z`` to a
representation ``h = Enc(Z)`` and class logits.

- Sparsity  Ω_s(z) = | Σ z·m / Σ m − s |          (m: real units, s: target share)
- Continuity Ω_c(z) = Σ_t |z_t − z_{t−1}| m_t m_{t−1} / Σ_t m_t m_{t−1}
- Norm       L_n(h) = −mean_b log(‖h_b‖₂ + ε)       (``norm_form: log``; ``plain``: −mean ‖h_b‖₂)

For ``n2r`` and ``rnp+n2r`` Ω_s and Ω_c are by default computed as the reference code computes
them, over every position of the padded batch (:func:`padded_sparsity_loss`,
:func:`padded_continuity_loss`; the sample at a padding position counts), over plain shuffled
batches. The forms over real units only (:func:`sparsity_loss`, :func:`continuity_loss`; the
default of ``rnp``) do not depend on how far a batch was padded, but on the emergence protocol
(``benchmarks/emergence.py``, docs/results.md) the N2R objectives' rationales drift away from the
annotated tokens with them — and with length-bucketed batches, which leave little padding to
count — while the padded forms over shuffled batches climb with the authors' code
(``objective.padding_in_penalties`` sets either form for any objective).

Each objective's :meth:`Objective.train_step` performs the full update for one batch through
an ``update(loss)`` callback supplied by the engine (zero grads, backward, gradient sync,
clipping, optimizer step), so the same objective runs single-process and under DDP.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from n2r.config import ObjectiveConfig
from n2r.models.base import RationaleOutput, Rationalizer
from n2r.registry import Registry

Update = Callable[[torch.Tensor], None]

OBJECTIVES: Registry = Registry("objective")


# --------------------------------------------------------------------------- loss terms
def sparsity_loss(z: torch.Tensor, unit_mask: torch.Tensor, target: float) -> torch.Tensor:
    """Ω_s = |Σ z·m / Σ m − s| over the whole batch (Lei et al. 2016; N2R Eq. for Ω)."""
    m = unit_mask.to(z.dtype)
    return ((z * m).sum() / m.sum().clamp_min(1.0) - target).abs()


def continuity_loss(z: torch.Tensor, unit_mask: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Ω_c over adjacent pairs of real tokens (padding is never a neighbour); 0 when no pair exists.

    ``window`` W: Ω_c = Σ_b Σ_t |z_t − z_{t−1}| m_t m_{t−1} / (B·(W − 1)), the transitions per
    input priced against a fixed window of W positions — one more transition in one input costs
    λc / (B·(W − 1)) whatever the input's length and however its batch was padded or grouped.
    ``None``: the mean over the batch's real pairs, Σ_b Σ_t |Δz| m m / Σ_b Σ_t m m.
    """
    if z.dim() < 2 or z.shape[-1] < 2:
        return z.sum() * 0.0
    m = unit_mask.to(z.dtype)
    pairs = m[..., 1:] * m[..., :-1]
    changes = ((z[..., 1:] - z[..., :-1]).abs() * pairs).sum()
    if window is not None:
        return changes / (z.shape[0] * max(window - 1, 1))
    return changes / pairs.sum().clamp_min(1.0)


def padded_sparsity_loss(z_all: torch.Tensor, unit_mask: torch.Tensor, target: float) -> torch.Tensor:
    """The reference's Ω_s = |Σ z / Σ m − s|: the numerator sums the sample at *every* position of
    the padded batch (a selected padding position counts), the denominator counts real units."""
    return (z_all.sum() / unit_mask.to(z_all.dtype).sum().clamp_min(1.0) - target).abs()


def padded_continuity_loss(z_all: torch.Tensor) -> torch.Tensor:
    """The reference's Ω_c = mean |z_t − z_{t−1}| over all B × (T − 1) adjacent positions of the
    padded batch, padding included (so its weight shrinks as padding grows)."""
    if z_all.dim() < 2 or z_all.shape[-1] < 2:
        return z_all.sum() * 0.0
    return (z_all[..., 1:] - z_all[..., :-1]).abs().mean()


def norm_loss(h: torch.Tensor, form: str = "log", eps: float = 1e-6) -> torch.Tensor:
    """N2R's norm term: −mean log(‖h‖₂ + ε) (``log``) or −mean ‖h‖₂ (``plain``).

    ‖0‖₂ has a zero (not NaN) gradient in PyTorch, so an all-zero selection is safe.
    """
    norms = torch.linalg.vector_norm(h.float(), ord=2, dim=-1)
    if form == "log":
        return -torch.log(norms + eps).mean()
    if form == "plain":
        return -norms.mean()
    raise ValueError(f"objective.norm_form: unknown {form!r}; use 'log' or 'plain'")


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on the parameters that have it (restored after)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


# --------------------------------------------------------------------------- objectives
class Objective:
    """Base: holds the coefficients and the shared regulariser Ω = λs·Ω_s + λc·Ω_c."""

    name = "base"

    def __init__(self, cfg: ObjectiveConfig):
        self.cfg = cfg
        self.ce_weight = cfg.ce_weight

    def regularizer(self, model: Rationalizer, out: RationaleOutput) -> dict[str, torch.Tensor]:
        """λs·Ω_s (+ node sparsity for graphs that select nodes) and λc·Ω_c (sequences only)."""
        c = self.cfg
        padded = c.pads_penalties() and out.z_all is not None
        if padded:
            sparsity = padded_sparsity_loss(out.z_all, out.unit_mask, c.sparsity_target)
        else:
            sparsity = sparsity_loss(out.z, out.unit_mask, c.sparsity_target)
        if out.z_nodes is not None:
            sparsity = sparsity + sparsity_loss(out.z_nodes, out.node_mask, c.sparsity_target)
        if not model.sequential:
            continuity = out.z.sum() * 0.0
        elif padded:
            continuity = padded_continuity_loss(out.z_all)
        else:
            continuity = continuity_loss(out.z, out.unit_mask, c.continuity_window)
        return {"sparsity": sparsity, "continuity": continuity,
                "omega": c.lambda_sparsity * sparsity + c.lambda_continuity * continuity}

    def train_step(self, model: Rationalizer, batch: Any, update: Update) -> dict[str, torch.Tensor]:
        raise NotImplementedError  # pragma: no cover - interface

    # The two building blocks of every objective below.
    def _rnp_step(self, model, batch, update, *, detach_mask: bool, prefix: str) -> dict[str, torch.Tensor]:
        """Step 1: CE of the predictor on the sampled rationale + Ω.

        With ``detach_mask`` (``n2r``) the CE reaches only the predictor; Ω reaches the generator.
        """
        out = model(batch, detach_mask=detach_mask)
        ce = F.cross_entropy(out.logits.float(), batch_labels(batch))
        reg = self.regularizer(model, out)
        loss = self.ce_weight * ce + reg["omega"]
        update(loss)
        return _detached(prefix, loss=loss, ce=ce, sparsity=reg["sparsity"], continuity=reg["continuity"])

    def _norm_step(self, model, batch, update, *, prefix: str) -> dict[str, torch.Tensor]:
        """Step 2: predictor frozen, fresh forward; the generator minimises Ω + λn·L_n(h)."""
        with frozen(model.predictor):
            out = model(batch)
            reg = self.regularizer(model, out)
            norm = norm_loss(out.h, self.cfg.norm_form, self.cfg.norm_eps)
            loss = reg["omega"] + self.cfg.lambda_norm * norm
            update(loss)
        h_norm = torch.linalg.vector_norm(out.h.detach().float(), dim=-1).mean()
        return _detached(prefix, loss=loss, norm=norm, h_norm=h_norm,
                         sparsity=reg["sparsity"], continuity=reg["continuity"])


def batch_labels(batch: Any) -> torch.Tensor:
    return batch.labels if hasattr(batch, "labels") else batch.y


def _detached(prefix: str, **terms: torch.Tensor) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{k}": v.detach().float() for k, v in terms.items()}


@OBJECTIVES.register("rnp")
class RNP(Objective):
    """MMI (RNP, Lei et al. 2016): CE through the straight-through mask into both modules + Ω."""

    name = "rnp"

    def train_step(self, model, batch, update):
        return self._rnp_step(model, batch, update, detach_mask=False, prefix="step1")


@OBJECTIVES.register("n2r")
class N2R(Objective):
    """N2R: step 1 predictor CE on the detached mask (generator gets Ω only); step 2 norm."""

    name = "n2r"

    def train_step(self, model, batch, update):
        logs = self._rnp_step(model, batch, update, detach_mask=True, prefix="step1")
        logs.update(self._norm_step(model, batch, update, prefix="step2"))
        return logs


@OBJECTIVES.register("rnp+n2r")
class RNPPlusN2R(Objective):
    """MMI+N2R: step 1 is the full RNP update, step 2 the norm step of N2R."""

    name = "rnp+n2r"

    def train_step(self, model, batch, update):
        logs = self._rnp_step(model, batch, update, detach_mask=False, prefix="step1")
        logs.update(self._norm_step(model, batch, update, prefix="step2"))
        return logs


def build_objective(cfg: ObjectiveConfig) -> Objective:
    return OBJECTIVES.get(cfg.name)(cfg)
