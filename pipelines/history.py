"""A trial's history file (``HISTORY_FILE``), written beside every checkpoint: the metrics of every
epoch up to that checkpoint — the rows the trial reports to Tune — and the trial's restarts.

It reaches the storage with its checkpoint, inside the report, so it survives what Tune's own
result rows may not: on object storage the driver uploads those only at its next sync, and a
driver killed in between loses them (seen: a trial's rows held epochs 2–4 of 4). The summary
reads a trial's curves from here, and how many epochs were trained twice.

    {"epochs": [{"epoch": 1, "score": …, "dev_accuracy": …, …, "reported_at": UNIX_TIME}, …],
     "restarts": [{"from_epoch": 1, "furthest_epoch": 3, "node": RAY_NODE_ID}, …]}
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from pipelines.layout import HISTORY_FILE


def empty() -> dict[str, Any]:
    return {"epochs": [], "restarts": []}


def last_epoch(history: dict[str, Any]) -> int:
    return int(history["epochs"][-1]["epoch"]) if history["epochs"] else 0


def write(folder: Path, epochs: list[dict[str, float]], restarts: list[dict[str, int]]) -> None:
    (folder / HISTORY_FILE).write_text(json.dumps({"epochs": epochs, "restarts": restarts}))


def read(folder: Path) -> dict[str, Any]:
    """The history in a local checkpoint folder (empty for a checkpoint written without one)."""
    path = folder / HISTORY_FILE
    return json.loads(path.read_text()) if path.is_file() else empty()


def furthest_epoch(fs: pafs.FileSystem, folder: str) -> int:
    """The furthest epoch any checkpoint in ``folder`` (a trial's or a Ray Train run's folder on the
    storage) reached. A driver killed between two snapshots of Tune's experiment state restores a
    trial from the checkpoint the snapshot recorded — or from scratch, if it recorded none — while
    the killed run may have persisted later ones: the epochs in between are trained again."""
    furthest = 0
    for info in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
        if info.type != pafs.FileType.Directory or not info.base_name.startswith("checkpoint_"):
            continue
        try:
            with fs.open_input_stream(posixpath.join(info.path, HISTORY_FILE)) as stream:
                furthest = max(furthest, last_epoch(json.loads(stream.read())))
        except (OSError, ValueError, KeyError):
            continue           # a checkpoint being written or deleted right now, or one without a history
    return furthest


def restarted(history: dict[str, Any], fs: pafs.FileSystem, folder: str, node: str | None = None) -> dict[str, Any] | None:
    """``history`` (of the checkpoint a trial restarts from; empty when it starts from scratch) with
    this restart appended, where ``folder`` on ``fs`` holds the trial's checkpoints and ``node`` is
    the Ray node it restarts on. None for a first start: no checkpoint, and none persisted by an
    earlier run."""
    restored = last_epoch(history)
    furthest = max(restored, furthest_epoch(fs, folder))
    if not history["epochs"] and not history["restarts"] and furthest == 0:
        return None
    restart = {"from_epoch": restored, "furthest_epoch": furthest, **({"node": node} if node else {})}
    return {**history, "restarts": [*history["restarts"], restart]}


def redone_epochs(history: dict[str, Any]) -> int:
    """Epochs trained more than once: per restart, those between the checkpoint it started from
    and the furthest one an earlier run of the trial had persisted."""
    return sum(r["furthest_epoch"] - r["from_epoch"] for r in history.get("restarts", []))
