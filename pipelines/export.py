"""``n2r export``: the best trial of every study of a sweep → a production bundle.

Selection uses the sweep summary (dev ``score`` only). The exported weights are the trial's
dev-selected state (``best_state`` in the latest checkpoint Ray recorded for it); the test split
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
from pipelines.layout import CHECKPOINT_FILE, SUMMARY_FILE, train_run_folder
from n2r.data import prepare_data


logger = logging.getLogger(__name__)

def latest_checkpoint(storage: Storage, trial: dict[str, Any], study: str) -> str:
    """The ``checkpoint.pt`` of a trial's latest checkpoint (a path relative to the sweep folder),
    as Ray recorded it: the Tune trial's own (single-process trials; the summary holds it) or its
    Ray Train run's (multi-worker trials; :meth:`ray.train.Result.from_path` reads the run's
    checkpoint record from the storage, no cluster needed). The dev-selected weights travel in
    every checkpoint (``best_state``): Ray's score-ordered retention keeps the *later* of equal
    scores, while the engine selects the *first* best epoch, as the reference does."""
    folder = trial.get("checkpoint")
    if not folder:
        from ray.train import Result

        run = train_run_folder(study, trial["trial_id"])
        try:
            where = storage.child(*run.split("/")).ray_args()        # as the run was given its storage
            result = Result.from_path(where["storage_path"], storage_filesystem=where["storage_filesystem"])
        except RuntimeError as exc:          # no such run, or no checkpoint record in it
            raise CheckpointError(f"{storage.uri}/{run}: no Ray Train run of trial {trial['trial_id']} ({exc})") from None
        if result.checkpoint is None:
            raise CheckpointError(f"{storage.uri}/{run}: trial {trial['trial_id']} has no checkpoint")
        folder = storage.relative(result.checkpoint.path)
    return posixpath.join(folder, CHECKPOINT_FILE)


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
            relative = latest_checkpoint(storage, best, study)
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
