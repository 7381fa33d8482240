"""The rationalizer: a generator that selects units and a predictor that sees only them.

Every encoder family (GRU, BERT, GCN) supplies a :class:`Generator` and a :class:`Predictor`;
:class:`Rationalizer` composes them with the selection step. The objectives in
:mod:`n2r.objectives` train ``rationalizer.generator`` and ``rationalizer.predictor`` as the two
parameter groups of the paper's two-step update.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from n2r.models.selection import gumbel_straight_through, select_units


class ConcurrentOnCPU(nn.Module):
    """A module with two independent parts it can run in two threads of one intra-op thread each
    on CPU, with unchanged arithmetic (the BiGRU's two directions); :func:`set_cpu_parallelism`
    switches it, as the engine does from ``train.parallel_directions``."""

    parallel = False


def set_cpu_parallelism(model: nn.Module, enabled: bool) -> int:
    """Switch every :class:`ConcurrentOnCPU` module of ``model``; returns how many there are."""
    modules = [m for m in model.modules() if isinstance(m, ConcurrentOnCPU)]
    for module in modules:
        module.parallel = enabled
    return len(modules)


@dataclass
class GeneratorOutput:
    logits: torch.Tensor                  # [..., 2] per unit (token or edge)
    unit_mask: torch.Tensor               # which units are real and selectable
    node_logits: torch.Tensor | None = None   # [N, 2] when graphs also select nodes
    node_mask: torch.Tensor | None = None
    unit_group: torch.Tensor | None = None    # graphs: the example each (flat) unit belongs to
    node_group: torch.Tensor | None = None


@dataclass
class RationaleOutput:
    """One forward pass. ``h`` is the predictor representation whose norm N2R maximises."""

    z: torch.Tensor
    unit_mask: torch.Tensor
    logits: torch.Tensor
    h: torch.Tensor
    generator_logits: torch.Tensor
    z_nodes: torch.Tensor | None = None
    node_mask: torch.Tensor | None = None
    z_all: torch.Tensor | None = None     # training only: the sample at every position, padding included


class Generator(nn.Module):
    def selection_heads(self) -> list[nn.Linear]:
        """The final linear layers producing the 2 selection logits (for ``init_selection``)."""
        heads = []
        for name in ("head", "edge_head", "node_head"):
            module = getattr(self, name, None)
            if isinstance(module, nn.Sequential):
                module = module[-1]
            if isinstance(module, nn.Linear):
                heads.append(module)
        return heads

    def init_selection(self, probability: float) -> None:
        """Bias every unit towards being selected with ``probability`` at the start of training."""
        logit = math.log(probability / (1 - probability))
        with torch.no_grad():
            for head in self.selection_heads():
                head.bias.copy_(torch.tensor([0.0, logit]))

    def forward(self, batch: Any) -> GeneratorOutput:  # pragma: no cover - interface
        raise NotImplementedError


class Predictor(nn.Module):
    def forward(self, batch: Any, z: torch.Tensor,
                z_nodes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(class_logits, h)`` computed from the selected units only."""
        raise NotImplementedError  # pragma: no cover - interface


class Rationalizer(nn.Module):
    """``generator`` + ``predictor``.

    ``sequential`` says whether units are ordered (text), which makes the continuity
    penalty meaningful; graph edges are not. ``eval_selection``/``eval_share``: the evaluation
    rule of :func:`n2r.models.selection.select_units`.
    """

    def __init__(self, generator: Generator, predictor: Predictor, *, tau: float = 1.0,
                 eval_selection: str = "argmax", eval_share: float | None = None,
                 sequential: bool = True):
        super().__init__()
        self.generator = generator
        self.predictor = predictor
        self.tau = tau
        self.eval_selection = eval_selection
        self.eval_share = eval_share
        self.sequential = sequential

    def select(self, batch: Any) -> tuple[GeneratorOutput, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(generator output, z, z_nodes, z_all)``: ``z_all`` is the training sample at every
        position (padding included) before non-units are zeroed; ``None`` outside training."""
        gen = self.generator(batch)
        kwargs = dict(training=self.training, tau=self.tau, eval_selection=self.eval_selection,
                      eval_share=self.eval_share)
        z_all = None
        if self.training:
            z_all = gumbel_straight_through(gen.logits, self.tau)
            z = z_all * gen.unit_mask.to(z_all.dtype)
        else:
            z = select_units(gen.logits, gen.unit_mask, group=gen.unit_group, **kwargs)
        z_nodes = None
        if gen.node_logits is not None:
            z_nodes = select_units(gen.node_logits, gen.node_mask, group=gen.node_group, **kwargs)
        return gen, z, z_nodes, z_all

    def forward(self, batch: Any, detach_mask: bool = False) -> RationaleOutput:
        """Select, then predict. ``detach_mask`` stops the predictor's loss reaching the generator."""
        gen, z, z_nodes, z_all = self.select(batch)
        z_in = z.detach() if detach_mask else z
        zn_in = None if z_nodes is None else (z_nodes.detach() if detach_mask else z_nodes)
        logits, h = self.predictor(batch, z_in, zn_in)
        return RationaleOutput(z=z, unit_mask=gen.unit_mask, logits=logits, h=h, generator_logits=gen.logits,
                               z_nodes=z_nodes, node_mask=gen.node_mask, z_all=z_all)

    def predict(self, batch: Any, z: torch.Tensor,
                z_nodes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The predictor on an explicit mask (used for faithfulness scores)."""
        return self.predictor(batch, z, z_nodes)
