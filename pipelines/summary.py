"""Sweep results as the summary records them: per study the trials' per-epoch records, the best
trial by the tuning score, useful-work time, and what a hard kill left behind."""
from __future__ import annotations

import json
import posixpath
from typing import Any

from pipelines.layout import WALL_FILE
from pipelines.spec import SweepSpec
from pipelines.storage import Storage


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
    experiment state. The search asks for their configurations again under new trials; their
    folders are reported here, never deleted or mixed into the results."""
    known = {posixpath.basename(str(result.path).rstrip("/")) for result in grid}
    found = set()
    for info in location.files():
        parent = posixpath.dirname(info.path)
        if info.base_name == "result.json" and posixpath.dirname(parent) == location.path:
            if posixpath.basename(parent) not in known:
                found.add(storage.relative(parent))
    return sorted(found)


def summarize_study(grid, wall_time_s: float, spec: SweepSpec, storage: Storage, concurrency: int) -> dict[str, Any]:
    """The best trial as Ray's ``ResultGrid.get_best_result`` ranks them (``score``, max, over every
    epoch: ``scope="all"``; ties go to the trial Tune lists first, the same after a restore), plus
    per-trial curves and the useful-work share. Trial folders are recorded relative to the sweep
    folder, so the summary stays valid when the storage is read from elsewhere."""
    trials = []
    for result in grid:
        df = result.metrics_dataframe
        if df is None or df.empty:
            trials.append({"trial_id": result.metrics.get("trial_id") if result.metrics else None, "epochs": [],
                           "error": str(result.error) if result.error else None})
            continue
        df, redone = epoch_records(df)
        params = {k: v for k, v in result.config.items() if "." in k}
        curves = {c: df[c].tolist() for c in ("epoch", "score", "dev_accuracy", "dev_sparsity", "dev_f1",
                                              "epoch_time_s") if c in df}
        best_row = df.loc[df["score"].idxmax()]
        trials.append({"trial_id": str(df["trial_id"].iloc[-1]), "params": params,
                       "path": storage.relative(result.path),
                       # the trial's latest checkpoint as Tune recorded it (None: a multi-worker trial,
                       # whose checkpoints are its Ray Train run's — pipelines/export.py reads those)
                       "checkpoint": storage.relative(result.checkpoint.path) if result.checkpoint else None,
                       "best_score": float(best_row["score"]), "best_epoch": int(best_row["epoch"]),
                       "best_dev": {c[4:]: float(best_row[c]) for c in df.columns if c.startswith("dev_")},
                       "curves": curves, "redone_epochs": redone,
                       "error": str(result.error) if result.error else None})
    scored = [t for t in trials if t.get("best_score") is not None]
    best = None
    if scored:
        chosen = storage.relative(grid.get_best_result(metric="score", mode="max", scope="all").path)
        best = next(t for t in scored if t["path"] == chosen)
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
