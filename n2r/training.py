"""One training set-up for every entry point: ``n2r train`` (:mod:`n2r.runner`), the Ray trial
(``pipelines/train.py``), export (``pipelines/export.py``) and the benchmarks.

- :func:`build_model`: seeded initial weights from the run config and the data's model inputs.
- :func:`run_loaders`: the training loader (shuffled per epoch, length-bucketed, padded as the
  config says) and the dev loader (sorted by length) of in-process data.
- :func:`test_metrics`: the one test evaluation — the test split, sorted by length, padded as in
  training, in the training's precision (``train.bf16``: bf16 autocast on CUDA, fp32 on CPU).
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from n2r.config import RunConfig
from n2r.data import PreparedData
from n2r.engine import evaluate, seed_everything
from n2r.models import Rationalizer, build_rationalizer


def build_model(cfg: RunConfig, model_inputs: dict[str, Any], device: torch.device | None = None) -> Rationalizer:
    """Seed every RNG with ``train.seed``, then build the rationalizer (on ``device``)."""
    seed_everything(cfg.train.seed)
    model = build_rationalizer(cfg.model, **model_inputs)
    return model if device is None else model.to(device)


def run_loaders(data: PreparedData, cfg: RunConfig, pin_memory: bool = False,
                rank: int = 0, world_size: int = 1) -> tuple[Iterable, Iterable]:
    """``(train, dev)`` loaders as every training entry point uses them, one process or rank
    ``rank`` of ``world_size`` (its share of each training epoch; every rank evaluates all of dev)."""
    t = cfg.train
    train = data.loader("train", t.batch_size, shuffle=True, seed=t.seed, pin_memory=pin_memory,
                        bucket_window=cfg.training_bucket_window(), pad_to=t.pad_to,
                        rank=rank, world_size=world_size)
    dev = data.loader("dev", t.eval_batch_size, pin_memory=pin_memory, by_length=True, pad_to=t.pad_to)
    return train, dev


def test_metrics(model: Rationalizer, data: PreparedData, cfg: RunConfig, device: torch.device,
                 faithfulness: bool = True) -> dict[str, float]:
    """Test metrics of ``model`` (never used for selection); ``{}`` when the data has no test split."""
    rows = data.splits.get("test")
    if rows is None or len(rows) == 0:
        return {}
    loader = data.loader("test", cfg.train.eval_batch_size, by_length=True, pad_to=cfg.train.pad_to)
    return evaluate(model, loader, device=device, bf16=cfg.train.bf16, faithfulness=faithfulness)
