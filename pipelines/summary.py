"""Sweep results as the summary records them: per study the trials' per-epoch records, the best
trial by the tuning score, useful-work time, and what a hard kill left behind."""
from __future__ import annotations

import json
import logging
import posixpath
from typing import Any

import pandas as pd

from pipelines.layout import HISTORY_FILE, WALL_FILE, train_run_folder
from pipelines.spec import SweepSpec
from pipelines.storage import Storage
from pipelines.history import redone_epochs

logger = logging.getLogger(__name__)

def study_wall_time(location: Storage, elapsed: float) -> float:
    """The study's wall time over every run that worked on it: ``elapsed`` (this run's
    ``Tuner.fit``) plus what earlier, interrupted or finished, runs recorded in ``WALL_FILE``
    — so a resumed study's useful-work share compares its trials' time with all the wall time
    spent on them, not with the second it takes to restore a finished study. (A run killed
    before its ``fit`` returned records nothing.)"""
    previous = 0.0
    if location.is_file(WALL_FILE):
        try:
            previous = float(json.loads(location.read_text(WALL_FILE))["wall_time_s"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{location.uri}/{WALL_FILE}: not a wall-time record ({exc})") from exc
    total = previous + elapsed
    location.write_text(WALL_FILE, json.dumps({"wall_time_s": total}))
    return total


def epoch_records(df):
    """A trial's results with one row per epoch, in epoch order, and how many rows were dropped.

    Tune snapshots its experiment state every few seconds, not after every result: a driver that
    dies in between leaves epochs in a trial's ``result.json`` that its restored state does not
    know, and the resumed trial trains them again from its last recorded checkpoint. The later
    record of an epoch (the run that continued) is kept; the earlier ones are redone work."""
    deduplicated = df.drop_duplicates("epoch", keep="last").sort_values("epoch", kind="stable")
    return deduplicated, len(df) - len(deduplicated)


def unrecorded_trials(location: Storage, grid, storage: Storage) -> list[str]:
    """Trial folders of the study at ``location`` that the (restored) experiment does not list,
    relative to the sweep folder: trials a killed run started after Tune's last snapshot of its
    experiment state, found by their result rows or their checkpoints (on object storage a trial's
    rows may never have been uploaded, its checkpoints always are). The search asks for their
    configurations again under new trials; their folders are reported here, never deleted or
    mixed into the results."""
    known = {posixpath.basename(str(result.path).rstrip("/")) for result in grid}
    found = set()
    for info in location.files():
        parts = storage.relative(info.path)[len(storage.relative(location.path)) + 1:].split("/")
        trial_file = len(parts) == 2 and parts[1] == "result.json"
        checkpoint_file = len(parts) == 3 and parts[1].startswith("checkpoint_")
        if (trial_file or checkpoint_file) and parts[0] not in known:
            found.add(storage.relative(posixpath.join(location.path, parts[0])))
    return sorted(found)


def latest_checkpoint(result, storage: Storage, study: str) -> str | None:
    """A trial's latest checkpoint folder, relative to the sweep folder, as Ray recorded it: the
    Tune trial's own, or for a multi-worker trial its Ray Train run's (read from the storage with
    :meth:`ray.train.Result.from_path`). None when it has none."""
    if result.checkpoint is not None:
        return storage.relative(result.checkpoint.path)
    trial_id = result.metrics.get("trial_id") if result.metrics else None
    run = storage.child(*train_run_folder(study, trial_id).split("/")) if trial_id else None
    if run is None or not run.exists():
        return None
    from ray.train import Result

    try:
        where = run.ray_args()                                  # as the run was given its storage
        train_result = Result.from_path(where["storage_path"], storage_filesystem=where["storage_filesystem"])
    except RuntimeError:                                        # no checkpoint record in it
        return None
    return storage.relative(train_result.checkpoint.path) if train_result.checkpoint else None


def checkpoint_history(storage: Storage, folder: str | None, trial_folder: str) -> tuple[str | None, dict | None]:
    """The history (``HISTORY_FILE``) of the checkpoint at ``folder``, with that folder. If Ray's
    record names a checkpoint whose history is not in the storage, the trial folder's checkpoint
    that reached the furthest epoch stands in (said in the log)."""
    if folder and storage.is_file(posixpath.join(folder, HISTORY_FILE)):
        return folder, json.loads(storage.read_text(posixpath.join(folder, HISTORY_FILE)))
    found = []
    for info in storage.files(trial_folder):
        if info.base_name == HISTORY_FILE and posixpath.basename(posixpath.dirname(info.path)).startswith("checkpoint_"):
            candidate = storage.relative(posixpath.dirname(info.path))
            history = json.loads(storage.read_text(posixpath.join(candidate, HISTORY_FILE)))
            found.append((len(history["epochs"]), candidate, history))
    if not found:
        return folder, None
    _, candidate, history = max(found)
    logger.warning("%s: Ray records checkpoint %s, which has no %s in %s; using %s", trial_folder, folder,
                   HISTORY_FILE, storage.uri, candidate)
    return candidate, history


CURVES = ("epoch", "score", "dev_accuracy", "dev_sparsity", "dev_f1", "epoch_time_s", "reported_at")


def trial_id_of(result, df) -> str | None:
    """The trial's id from its last result, else from its result rows."""
    trial_id = result.metrics.get("trial_id") if result.metrics else None
    if trial_id is None and df is not None and not df.empty:
        trial_id = df["trial_id"].iloc[-1]
    return trial_id


def rank(trial: dict[str, Any]) -> tuple:
    """How the best trial is chosen, the smallest key first: the highest dev ``score`` over its
    epochs; of equal scores the one that reached it at the earlier epoch, then the smaller trial id
    — the same after a restore, whatever order Tune lists the trials in."""
    return -trial["best_score"], trial["best_epoch"], trial["trial_id"]


def summarize_study(grid, wall_time_s: float, spec: SweepSpec, storage: Storage, concurrency: int,
                    study: str = "") -> dict[str, Any]:
    """Per trial of Ray's ``ResultGrid``: its curves, best epoch and latest checkpoint; the best trial
    (:func:`rank`) and the useful-work share. A trial's curves are its latest checkpoint's history
    (every epoch of the run that continued), not Tune's result rows: a restored trial's rows lose
    the epochs its killed run reported after Tune's last snapshot (seen on a local folder), and on
    object storage the rows of a killed driver may never have been uploaded (seen: epochs 2–4 of
    4) — so the ranking reads the histories too. Redone epochs: the most of what the restarts
    counted and the epochs Tune recorded twice. Trial folders are recorded relative to the sweep
    folder, so the summary stays valid when the storage is read from elsewhere."""
    trials = []
    for result in grid:
        df = result.metrics_dataframe
        path = storage.relative(result.path)
        checkpoint, history = checkpoint_history(storage, latest_checkpoint(result, storage, study), path)
        restarts = len(history["restarts"]) if history else 0
        if history is not None and history["epochs"]:
            records, redone = pd.DataFrame(history["epochs"]), redone_epochs(history)
            if df is not None and not df.empty:
                redone = max(redone, epoch_records(df)[1])
        elif df is not None and not df.empty:
            records, redone = epoch_records(df)
        else:
            trials.append({"trial_id": trial_id_of(result, df), "epochs": [],
                           "error": str(result.error) if result.error else None})
            continue
        trial_id = trial_id_of(result, df)
        params = {k: v for k, v in result.config.items() if "." in k}
        curves = {c: records[c].tolist() for c in CURVES if c in records}
        best_row = records.loc[records["score"].idxmax()]
        trials.append({"trial_id": str(trial_id), "params": params, "path": path,
                       "checkpoint": checkpoint,       # the latest checkpoint: its best_state is what export takes
                       "best_score": float(best_row["score"]), "best_epoch": int(best_row["epoch"]),
                       "best_dev": {c[4:]: float(best_row[c]) for c in records.columns if c.startswith("dev_")},
                       "curves": curves, "redone_epochs": int(redone), "restarts": restarts,
                       "error": str(result.error) if result.error else None})
    scored = [t for t in trials if t.get("best_score") is not None]
    best = min(scored, key=rank, default=None)
    # useful work: the epochs' training + dev evaluation, summed over trials
    train_time = sum(sum(t["curves"].get("epoch_time_s", [])) for t in scored)
    return {"trials": trials, "best": best, "wall_time_s": wall_time_s, "train_time_s": train_time,
            "concurrency": concurrency, "useful_work_share": train_time / max(wall_time_s * concurrency, 1e-9)}


def print_summary(summary: dict[str, Any]) -> None:
    print(f"sweep {summary['name']}: {summary['wall_time_s']:.0f} s, useful-work share "
          f"{summary['useful_work_share']:.2f} (sum of trial epoch times / (wall time × {summary['concurrency']}))")
    for name, study in summary["studies"].items():
        best = study["best"]
        line = f"  {name}: {len(study['trials'])} trials, useful-work share {study['useful_work_share']:.2f}"
        if best:
            dev = best["best_dev"]
            line += (f"; best score {best['best_score']:.3f} (dev accuracy {dev.get('accuracy', float('nan')):.3f}, "
                     f"sparsity {dev.get('sparsity', float('nan')):.3f}"
                     + (f", f1 {dev['f1']:.3f}" if "f1" in dev else "") + f") at epoch {best['best_epoch']}")
        print(line)
        redone = sum(t.get("redone_epochs", 0) for t in study["trials"])
        if redone or study.get("unrecorded_trials"):
            print(f"    after an interrupted run: {redone} epoch(s) trained again from the last recorded checkpoint; "
                  f"trial folders the experiment state never recorded: {study.get('unrecorded_trials') or 'none'}")
        if study.get("seeds"):
            scores = [t["best_score"] for t in study["seeds"]]
            mean = sum(scores) / len(scores)
            std = (sum((x - mean) ** 2 for x in scores) / max(len(scores) - 1, 1)) ** 0.5
            print(f"    retrained with seeds {[t['seed'] for t in study['seeds']]}: score {mean:.3f} ± {std:.3f}")
