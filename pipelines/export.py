"""``n2r export``: the best trial of every study of a sweep → a production bundle.

Selection uses the sweep summary (dev ``score`` only). The exported weights are the trial's
dev-selected state (``best_state`` in its latest checkpoint, as the summary records it); the test split
is evaluated here, once, for the metrics card — never for selection. Reads only the sweep's
storage (local or a URI): no running Ray cluster is needed.
"""
from __future__ import annotations

import json
import logging
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from n2r.logs import progress
from n2r.bundle import save_run_bundle
from n2r.config import RunConfig
from n2r.checkpoint import CheckpointError, load_checkpoint
from n2r.engine import resolve_device
from n2r.models import build_rationalizer
from n2r.training import test_metrics
from pipelines.storage import Storage
from pipelines.layout import CHECKPOINT_FILE, SUMMARY_FILE
from n2r.data import prepare_data


logger = logging.getLogger(__name__)

def checkpoint_file(storage: Storage, trial: dict[str, Any]) -> str:
    """The ``checkpoint.pt`` of a trial's latest checkpoint (relative to the sweep folder), as the
    summary recorded it (:func:`pipelines.summary.latest_checkpoint`: the Tune trial's, or its Ray
    Train run's). The dev-selected weights travel in every checkpoint (``best_state``): Ray's
    score-ordered retention keeps the *later* of equal scores, while the engine selects the
    *first* best epoch, as the reference does."""
    if not trial.get("checkpoint"):
        raise CheckpointError(f"{storage.uri}/{trial.get('path')}: trial {trial.get('trial_id')} has no checkpoint")
    return posixpath.join(trial["checkpoint"], CHECKPOINT_FILE)


def local_copy(storage: Storage, relative: str, scratch: Path) -> Path:
    """A file of the sweep as a local path: itself on local storage, else downloaded to ``scratch``."""
    return storage.local_path() / relative if storage.is_local else storage.download(relative, scratch)


def export_sweep(sweep_dir: str | Path | Storage, out: str | Path, cache_dir: str | None = None,
                 filesystem=None) -> dict[str, Path]:
    """Bundles (local folders under ``out``) for the best trial of every study of the sweep at
    ``sweep_dir``: a local folder, a storage URI, or a path on ``filesystem``."""
    storage = sweep_dir if isinstance(sweep_dir, Storage) else Storage.resolve(sweep_dir, filesystem)
    out = Path(out)
    if not storage.is_file(SUMMARY_FILE):
        raise FileNotFoundError(f"{storage.uri}/{SUMMARY_FILE}: no sweep summary (has the sweep finished? "
                                "try n2r resume)")
    summary = json.loads(storage.read_text(SUMMARY_FILE))
    bundles = {}
    with tempfile.TemporaryDirectory(prefix="n2r-export-") as work:
        for study, info in progress(summary["studies"].items(), total=len(summary["studies"]), desc="exporting",
                                    unit="study"):
            best = info.get("best")
            if best is None:
                logger.warning("%s: no finished trial, nothing to export", study)
                continue
            relative = checkpoint_file(storage, best)
            checkpoint = local_copy(storage, relative, Path(work) / study / CHECKPOINT_FILE)
            bundles[study] = export_checkpoint(checkpoint, out / study, cache_dir=cache_dir,
                                               extra={"study": study, "trial_id": best["trial_id"],
                                                      "params": best["params"], "tuning_score": best["best_score"],
                                                      "checkpoint": f"{storage.uri}/{relative}"})
            logger.info("%s: trial %s exported to %s", study, best["trial_id"], bundles[study])
    return bundles


def export_checkpoint(checkpoint: Path, out: Path, cache_dir: str | None = None,
                      extra: dict[str, Any] | None = None) -> Path:
    payload = load_checkpoint(checkpoint)
    if payload.get("best_state") is None or "config" not in payload:
        raise CheckpointError(f"{checkpoint}: lacks the dev-selected state or the run config")
    cfg = RunConfig.from_dict(payload["config"])
    data = prepare_data(cfg.data, cfg.model, cache_dir)
    model = build_rationalizer(cfg.model, **data.model_inputs())
    model.load_state_dict(payload["best_state"])
    test = test_metrics(model, data, cfg, resolve_device("cpu"))
    best = payload["best"]
    return save_run_bundle(out, cfg, model, data, best_epoch=best["epoch"], dev=best["dev"], test=test,
                           epochs_trained=payload["epoch"], extra=extra)
