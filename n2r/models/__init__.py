"""Rationalizer models: one file per encoder family, composed by :func:`build_rationalizer`."""
from __future__ import annotations

import torch

from n2r.config import ModelConfig
from n2r.models.base import GeneratorOutput, Generator, Predictor, RationaleOutput, Rationalizer
from n2r.registry import Registry

ENCODERS: Registry = Registry("encoder")


@ENCODERS.register("gru")
def _gru(cfg: ModelConfig, *, embedding_matrix: torch.Tensor | None = None, **_):
    from n2r.models.gru import build_gru

    if embedding_matrix is None:
        raise ValueError("the gru encoder needs an embedding matrix (see n2r.embeddings.load_glove)")
    return build_gru(cfg, embedding_matrix=embedding_matrix), True


@ENCODERS.register("bert")
def _bert(cfg: ModelConfig, *, pretrained: bool = True, **_):
    from n2r.models.bert import build_bert

    return build_bert(cfg, pretrained=pretrained), True


@ENCODERS.register("gcn")
def _gcn(cfg: ModelConfig, *, in_channels: int | None = None, **_):
    from n2r.models.gcn import build_gcn

    channels = cfg.in_channels or in_channels
    if channels is None:
        raise ValueError("the gcn encoder needs the node feature size (model.in_channels)")
    return build_gcn(cfg, in_channels=channels), False


def build_rationalizer(cfg: ModelConfig, *, embedding_matrix: torch.Tensor | None = None,
                       in_channels: int | None = None, pretrained: bool = True) -> Rationalizer:
    """Build the rationalizer named by ``cfg.encoder``.

    ``embedding_matrix`` (gru) comes from :func:`n2r.embeddings.load_glove`; ``in_channels``
    (gcn) is the node feature size; ``pretrained=False`` (bert) skips loading weights, for
    when a checkpoint will overwrite them.
    """
    (generator, predictor), sequential = ENCODERS.get(cfg.encoder)(
        cfg, embedding_matrix=embedding_matrix, in_channels=in_channels, pretrained=pretrained)
    if cfg.init_selection is not None:
        generator.init_selection(cfg.init_selection)
    if cfg.eval_selection == "topk" and cfg.eval_share is None:
        raise ValueError("model.eval_selection 'topk' needs model.eval_share (RunConfig fills it "
                         "from objective.sparsity_target)")
    return Rationalizer(generator, predictor, tau=cfg.tau, eval_selection=cfg.eval_selection,
                        eval_share=cfg.eval_share, sequential=sequential)


__all__ = ["ENCODERS", "Generator", "GeneratorOutput", "Predictor", "RationaleOutput", "Rationalizer",
           "build_rationalizer"]
