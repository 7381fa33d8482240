"""One complete training run from a :class:`~n2r.config.RunConfig`: data → model → fit → test.

Used by ``n2r train`` and, per trial, by the Ray pipelines. Test metrics are computed once,
for the dev-selected state, and are never used for selection.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

import torch

from n2r.bundle import save_run_bundle
from n2r.config import RunConfig
from n2r.data import PreparedData, prepare_data
from n2r.engine import FitResult, fit, resolve_device
from n2r.logs import bars_enabled, progress_bar
from n2r.models import Rationalizer
from n2r.objectives import build_objective
from n2r.training import build_model, run_loaders, test_metrics


logger = logging.getLogger(__name__)
BUNDLE_DIR = "bundle"     # OUT/bundle: the run's bundle (n2r explain / n2r score / load_bundle)


def build_run(cfg: RunConfig, data: PreparedData | None = None,
              cache_dir: str | Path | None = None) -> tuple[PreparedData, Rationalizer]:
    """The run's data (through the Parquet cache, :func:`n2r.data.prepare_data`) and its model."""
    data = data or prepare_data(cfg.data, cfg.model, cache_dir)
    return data, build_model(cfg, data.model_inputs())


def train_run(cfg: RunConfig, out_dir: str | Path | None = None, *, data: PreparedData | None = None,
              resume: bool = False, on_epoch_end: Callable | None = None,
              cache_dir: str | Path | None = None, diagnostic_test: bool = False) -> dict[str, Any]:
    """Train, select on dev, evaluate the selected state on test; returns a summary dict. With
    ``out_dir``: ``config.yaml``, ``checkpoint.pt`` (the latest epoch's state, to resume from),
    ``metrics.json`` and ``bundle/`` (the dev-selected model as a bundle, the same format
    ``n2r export`` writes) are left there. ``on_epoch_end(record, result)`` is called after each
    epoch; with ``diagnostic_test`` its record also holds ``test``: the current state's test
    figures (without faithfulness scores), a diagnostic of how the rationale develops — never
    recorded in the history, never used to select, drawn without touching training's random
    streams (benchmarks/epoch_curve.py, benchmarks/emergence.py)."""
    started = time.perf_counter()
    data, model = build_run(cfg, data, cache_dir)
    t = cfg.train
    device = resolve_device(t.device)
    train_loader, dev_loader = run_loaders(data, cfg, pin_memory=device.type == "cuda")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        cfg.to_yaml(out / "config.yaml")

    bars = bars_enabled()           # on a terminal the bar carries the epoch lines; in a log they are lines
    bar = progress_bar(t.epochs, desc="epochs", unit="epoch", enabled=bars)

    def report(record: dict[str, Any], result: FitResult) -> None:
        dev = record["dev"]
        parts = [f"epoch {record['epoch']:3d}", f"{record['examples_per_s']:.0f} ex/s"]
        parts += [f"dev {k} {dev[k]:.3f}" for k in ("accuracy", "sparsity", "f1") if k in dev]
        logger.log(logging.DEBUG if bars else logging.INFO, "  ".join(parts))
        bar.update(1)
        bar.set_postfix_str("  ".join(parts[2:]))
        if on_epoch_end is not None:
            if diagnostic_test:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    record = {**record, "test": test_metrics(model, data, cfg, device, faithfulness=False)}
            on_epoch_end(record, result)

    result = fit(model, build_objective(cfg.objective), train_loader, dev_loader, t, device=device,
                 checkpoint_path=None if out is None else out / "checkpoint.pt", resume=resume,
                 on_epoch_end=report, extra_state={"config": cfg.to_dict()})
    bar.close()
    logger.info("best dev epoch %d (of %d): %s", result.best_epoch, len(result.history),
                ", ".join(f"{k} {v:.3f}" for k, v in result.best_dev.items() if k in ("accuracy", "sparsity", "f1")))
    model.load_state_dict(result.best_state)
    summary: dict[str, Any] = {**result.summary(), "history": result.history, "data_variant": data.info.get("variant")}
    test = test_metrics(model, data, cfg, device)
    if test:
        summary["test"] = test
    summary["wall_time_s"] = time.perf_counter() - started
    if out is not None:
        (out / "metrics.json").write_text(json.dumps(summary, indent=2))
        summary["bundle"] = str(save_run_bundle(out / BUNDLE_DIR, cfg, model, data, best_epoch=result.best_epoch,
                                                dev=result.best_dev, test=summary.get("test", {}),
                                                epochs_trained=result.history[-1]["epoch"]))
    return summary
