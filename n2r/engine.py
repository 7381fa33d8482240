"""Single-process training engine: ``fit`` / ``evaluate`` (checkpoints: :mod:`n2r.checkpoint`).

The Ray Train loop (``pipelines/train.py``) runs this same code per worker; it passes a
``grad_sync`` hook (gradient all-reduce) and an ``on_epoch_end`` callback (report +
checkpoint). Model selection looks at dev metrics only.
"""
from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from n2r.checkpoint import load_checkpoint, save_checkpoint
from n2r.config import TrainConfig
from n2r.metrics import RationaleCounts, accuracy, auroc, comprehensiveness, sufficiency
from n2r.models.base import Rationalizer, set_cpu_parallelism
from n2r.objectives import Objective, batch_labels
from n2r.errors import NonFiniteLossError  # noqa: F401  (raised here; defined there)


# --------------------------------------------------------------------------- set-up helpers
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device: {name!r} requested but CUDA is not available")
    return device


def autocast_for(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when enabled; full precision on CPU."""
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, in up to four groups: generator or predictor ×
    pretrained transformer weights or not. A group's rate is ``lr`` (``lr_encoder`` for pretrained
    transformer weights), times ``predictor_lr_scale`` for the predictor's own parameters (DR);
    a parameter the two modules share (``model.shared_encoder``, FR) is the generator's."""
    encoder_ids: set[int] = set()
    # A model holding pretrained transformer weights has loaded the module that defines them; loading
    # it here for any other model would cost every training process about 4 s (it imports
    # torch.distributed.tensor and torch._dynamo).
    modeling = sys.modules.get("transformers.modeling_utils")
    if modeling is not None:
        for module in model.modules():
            if isinstance(module, modeling.PreTrainedModel):
                encoder_ids |= {id(p) for p in module.parameters()}
    generator = getattr(model, "generator", model)
    generator_ids = {id(p) for p in generator.parameters()}
    groups: dict[tuple[bool, bool], list[torch.Tensor]] = {}
    seen: set[int] = set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        groups.setdefault((id(p) in generator_ids, id(p) in encoder_ids), []).append(p)
    rates = {False: cfg.lr, True: cfg.lr_encoder or cfg.lr}
    return torch.optim.Adam([{"params": params, "lr": rates[pretrained] * (1.0 if in_generator else cfg.predictor_lr_scale)}
                             for (in_generator, pretrained), params in groups.items()], weight_decay=cfg.weight_decay)


def make_update(model: nn.Module, optimizer: torch.optim.Optimizer, grad_clip: float | None = None,
                grad_sync: Callable[[nn.Module], None] | None = None,
                after_step: Callable[[nn.Module], None] | None = None) -> Callable[[torch.Tensor], None]:
    """The ``update(loss)`` callback objectives call: zero → backward → sync → clip → step.

    Gradients are zeroed to ``None``, so parameters frozen for a step get no gradient and
    PyTorch's optimizers skip them entirely (no momentum or weight-decay drift).
    """
    params = [p for p in model.parameters()]

    def update(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_sync is not None:
            grad_sync(model)
        if grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step(model)

    return update


def move(batch: Any, device: torch.device) -> Any:
    return batch.to(device, non_blocking=True) if device.type == "cuda" else batch.to(device)


def gold_units(batch: Any) -> torch.Tensor | None:
    """Human/planted rationale per unit: text ``rationale`` or graph ``edge_gt``."""
    if hasattr(batch, "rationale"):
        return batch.rationale
    return getattr(batch, "edge_gt", None)


# --------------------------------------------------------------------------- train / eval
def train_epoch(model: Rationalizer, objective: Objective, batches: Iterable, update, *, device: torch.device,
                epoch: int, bf16: bool = True, check_every: int = 20) -> dict[str, float]:
    """One pass over ``batches``; returns mean loss terms. Non-finite terms raise, naming the step."""
    model.train()
    sums: dict[str, torch.Tensor] = {}
    pending: list[tuple[int, dict[str, torch.Tensor]]] = []
    n_batches = n_examples = 0
    for index, batch in enumerate(batches):
        batch = move(batch, device)
        with autocast_for(device, bf16):
            logs = objective.train_step(model, batch, update)
        pending.append((index, logs))
        n_batches += 1
        n_examples += len(batch_labels(batch))
        if len(pending) >= check_every:
            _check_finite(pending, epoch, sums)
    _check_finite(pending, epoch, sums)
    means = {k: float(v) / max(n_batches, 1) for k, v in sums.items()}
    means["examples"] = float(n_examples)
    return means


def _check_finite(pending: list, epoch: int, sums: dict[str, torch.Tensor]) -> None:
    """One host sync per ``check_every`` batches; folds checked terms into ``sums``."""
    if not pending:
        return
    keys = list(pending[0][1])
    stacked = torch.stack([torch.stack([logs[k] for k in keys]) for _, logs in pending])
    finite = torch.isfinite(stacked)
    if not bool(finite.all()):
        row, col = (~finite).nonzero()[0].tolist()
        index = pending[row][0]
        raise NonFiniteLossError(
            f"non-finite {keys[col]} = {float(stacked[row, col])} at epoch {epoch}, batch {index}; "
            "the run is stopped (lower the learning rate or the loss weights)")
    for k, total in zip(keys, stacked.sum(0)):
        sums[k] = sums.get(k, 0.0) + total
    pending.clear()


@torch.no_grad()
def evaluate(model: Rationalizer, batches: Iterable, *, device: torch.device, bf16: bool = True,
             faithfulness: bool = True) -> dict[str, float]:
    """Accuracy, rationale sparsity/P/R/F1 (micro, when gold exists; ``node_*`` too for graphs
    that select nodes), ERASER comprehensiveness and sufficiency (when ``faithfulness``), and
    edge-score AUROC for graphs. Test splits are evaluated with this too, never selected on."""
    model.eval()
    counts, node_counts = RationaleCounts(), RationaleCounts()
    total = 0
    predicted: list[torch.Tensor] = []
    gold_labels: list[torch.Tensor] = []
    faithful: list[tuple[torch.Tensor, ...]] = []
    has_gold = True
    scores, golds = [], []
    for batch in batches:
        batch = move(batch, device)
        labels = batch_labels(batch)
        with autocast_for(device, bf16):
            out = model(batch)
            gold = gold_units(batch)
            has_gold = has_gold and gold is not None
            counts.add(out.z > 0.5, gold, out.unit_mask)
            if out.z_nodes is not None:
                node_counts.add(out.z_nodes > 0.5, getattr(batch, "node_gt", None), out.node_mask)
            total += len(labels)
            predicted.append(out.logits.argmax(-1))
            gold_labels.append(labels)
            if faithfulness:
                full = out.unit_mask.to(out.z.dtype)
                full_nodes = None if out.z_nodes is None else torch.ones_like(out.z_nodes)
                p_full = model.predict(batch, full, full_nodes)[0].float().softmax(-1)
                p_without = model.predict(batch, full - out.z, full_nodes)[0].float().softmax(-1)
                p_only = out.logits.float().softmax(-1)
                y_hat = p_full.argmax(-1)
                faithful.append((p_full, p_without, p_only, y_hat))
            if not model.sequential and gold is not None:
                scores.append(out.generator_logits.float().softmax(-1)[..., 1].cpu())
                golds.append(gold.cpu())
    acc = accuracy(torch.cat(predicted), torch.cat(gold_labels)) if total else 0.0
    metrics = {"accuracy": acc, "sparsity": counts.sparsity(), "n": total}
    if has_gold and total:
        metrics.update(precision=counts.precision(), recall=counts.recall(), f1=counts.f1())
    if faithful:
        p_full, p_without, p_only, y_hat = (torch.cat(parts) for parts in zip(*faithful))
        metrics.update(comprehensiveness=comprehensiveness(p_full, p_without, y_hat),
                       sufficiency=sufficiency(p_full, p_only, y_hat))
    if node_counts.total:
        metrics["node_sparsity"] = node_counts.sparsity()
        if node_counts.tp + node_counts.fn > 0:
            metrics.update(node_precision=node_counts.precision(), node_recall=node_counts.recall(),
                           node_f1=node_counts.f1())
    if scores:
        metrics["auroc"] = auroc(torch.cat(scores), torch.cat(golds))
    return metrics


# --------------------------------------------------------------------------- checkpoints
# --------------------------------------------------------------------------- fit
@dataclass
class FitResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = -math.inf
    best_dev: dict[str, float] = field(default_factory=dict)
    best_state: dict[str, torch.Tensor] | None = None

    def summary(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_metric": self.best_metric, "best_dev": self.best_dev,
                "epochs": len(self.history)}


def selection_score(dev: dict[str, float], metric: str, sparsity_target: float,
                    tolerance: float | None = None) -> float:
    """The dev metric used for model selection (and as the sweep's tuning metric):
    ``dev[metric]``, minus 1 (below every feasible value) when a ``tolerance`` is set and the
    achieved sparsity misses ``sparsity_target`` by more than it."""
    value = float(dev[metric])
    if tolerance is not None and abs(dev["sparsity"] - sparsity_target) > tolerance:
        value -= 1.0
    return value


def reseed_shuffle(loader: Any, seed: int, epoch: int) -> None:
    """Make the shuffle a function of (seed, epoch), so a resumed run sees the same order (and every
    data-parallel rank the same epoch order): the loader's sampler generator is reseeded."""
    generator = getattr(getattr(loader, "batch_sampler", None), "generator", None)
    generator = generator or getattr(getattr(loader, "sampler", None), "generator", None)
    if generator is not None:
        generator.manual_seed(seed * 100_003 + epoch)


def fit(model: Rationalizer, objective: Objective, train_loader: Iterable, dev_loader: Iterable,
        cfg: TrainConfig, *, device: torch.device | None = None, optimizer: torch.optim.Optimizer | None = None,
        checkpoint_path: str | Path | None = None, resume: bool = False,
        grad_sync: Callable[[nn.Module], None] | None = None,
        after_step: Callable[[nn.Module], None] | None = None,
        on_epoch_end: Callable[[dict[str, Any], "FitResult"], None] | None = None,
        extra_state: dict[str, Any] | None = None) -> FitResult:
    """Train for ``cfg.epochs`` epochs, evaluating on dev after each and keeping the best
    state by :func:`selection_score` of the dev metrics (the sparsity target is the
    objective's own, so ``cfg.sparsity_tolerance`` always has one to measure against).

    With ``checkpoint_path`` a checkpoint is written after each epoch; with ``resume`` an
    existing one is loaded first (model, optimizer, epoch, RNG, history, best) and training
    continues with the next epoch.
    """
    device = device or resolve_device(cfg.device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    set_cpu_parallelism(model, cfg.parallel_directions and device.type == "cpu" and torch.get_num_threads() >= 2)
    model.to(device)
    optimizer = optimizer or build_optimizer(model, cfg)
    update = make_update(model, optimizer, cfg.grad_clip, grad_sync, after_step)
    result = FitResult()
    start = 1
    if resume and checkpoint_path is not None and Path(checkpoint_path).is_file():
        payload = load_checkpoint(checkpoint_path, model, optimizer, restore_rng=True)
        start = int(payload["epoch"]) + 1
        result.history = list(payload.get("history", []))
        best = payload.get("best", {})
        result.best_epoch = int(best.get("epoch", 0))
        result.best_metric = float(best.get("metric", -math.inf))
        result.best_dev = dict(best.get("dev", {}))
        result.best_state = payload.get("best_state")
    else:
        seed_everything(cfg.seed)
    for epoch in range(start, cfg.epochs + 1):
        reseed_shuffle(train_loader, cfg.seed, epoch)
        t0 = time.perf_counter()
        train_logs = train_epoch(model, objective, train_loader, update, device=device, epoch=epoch,
                                 bf16=cfg.bf16, check_every=cfg.check_every)
        train_time = time.perf_counter() - t0
        dev = evaluate(model, dev_loader, device=device, bf16=cfg.bf16, faithfulness=cfg.dev_faithfulness)
        epoch_time = time.perf_counter() - t0
        if cfg.selection_metric not in dev:
            raise ValueError(f"train.selection_metric: {cfg.selection_metric!r} is not produced on dev "
                             f"(dev has {sorted(dev)}); 'f1' needs an annotated dev split")
        record = {"epoch": epoch, "train": train_logs, "dev": dev, "train_time_s": train_time, "epoch_time_s": epoch_time,
                  "examples_per_s": train_logs["examples"] / max(train_time, 1e-9)}
        result.history.append(record)
        metric = selection_score(dev, cfg.selection_metric, objective.cfg.sparsity_target, cfg.sparsity_tolerance)
        record["score"] = metric
        if metric > result.best_metric:
            result.best_epoch, result.best_metric, result.best_dev = epoch, metric, dev
            result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, optimizer, {
                "epoch": epoch, "history": result.history, "best_state": result.best_state,
                "best": {"epoch": result.best_epoch, "metric": result.best_metric, "dev": result.best_dev},
                **(extra_state or {})})
        if on_epoch_end is not None:
            on_epoch_end(record, result)
    return result
