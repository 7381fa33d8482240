"""Rationalizer models: one file per encoder family (model, config fields, data, bundle and input
hooks: :mod:`n2r.models.family`), composed by :func:`build_rationalizer`."""
from __future__ import annotations

import torch

from n2r.config import ModelConfig
from n2r.models import bert, gcn, gru  # noqa: F401  (each registers its family)
from n2r.models.base import Generator, GeneratorOutput, Predictor, RationaleOutput, Rationalizer
from n2r.models.family import FAMILIES, EncoderFamily, family_of


def build_rationalizer(cfg: ModelConfig, *, embedding_matrix: torch.Tensor | None = None,
                       in_channels: int | None = None, pretrained: bool = True, **inputs) -> Rationalizer:
    """Build the rationalizer of ``cfg.encoder``'s family from the data's model inputs:
    ``embedding_matrix`` (gru) from :func:`n2r.embeddings.load_glove`, ``in_channels`` (gcn) the
    node feature size, ``pretrained=False`` (bert) to skip loading weights a checkpoint will
    overwrite; a new family takes whatever its :meth:`~n2r.models.family.EncoderFamily.model_inputs`
    gives."""
    family = family_of(cfg)
    generator, predictor = family.build(cfg, {"embedding_matrix": embedding_matrix, "in_channels": in_channels,
                                              "pretrained": pretrained, **inputs})
    if cfg.init_selection is not None:
        generator.init_selection(cfg.init_selection)
    if cfg.eval_selection == "topk" and cfg.eval_share is None:
        raise ValueError("model.eval_selection 'topk' needs model.eval_share (RunConfig fills it "
                         "from objective.sparsity_target)")
    return Rationalizer(generator, predictor, tau=cfg.tau, eval_selection=cfg.eval_selection,
                        eval_share=cfg.eval_share, sequential=family.sequential)


__all__ = ["FAMILIES", "EncoderFamily", "Generator", "GeneratorOutput", "Predictor", "RationaleOutput",
           "Rationalizer", "build_rationalizer", "family_of"]
