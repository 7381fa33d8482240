"""The storage layout of a sweep, in one place (written by ``sweep``, read by ``export``/``report``).

    STORAGE/NAME/sweep.yaml                    the sweep file as run (SWEEP_FILE)
    STORAGE/NAME/summary.json                  per-study best trial, params and runs (SUMMARY_FILE)
    STORAGE/NAME/STUDY/                        the study's Tune experiment
    STORAGE/NAME/STUDY/trial_ID/               one Tune trial (trial_folder_name)
    STORAGE/NAME/STUDY/n2r_wall_time.json      Tuner.fit seconds summed over runs (WALL_FILE)
    STORAGE/NAME/STUDY/_train/train-TRIAL/     a multi-worker trial's Ray Train run (train_run_name)
    STORAGE/NAME/STUDY-seeds/                  the study's retraining with retrain.seeds (SEEDS_SUFFIX)
    STORAGE/NAME/_data/DATASET/KEY/            on object storage: the prepared data multi-worker
                                               trials read on every node (DATA_FOLDER)
    .../checkpoint_NNNNNN/checkpoint.pt        a checkpoint's state (CHECKPOINT_FILE)
    .../checkpoint_NNNNNN/history.json         its epochs' metrics and the trial's restarts (HISTORY_FILE)
"""
from __future__ import annotations

SWEEP_FILE = "sweep.yaml"
SUMMARY_FILE = "summary.json"
WALL_FILE = "n2r_wall_time.json"
SEEDS_SUFFIX = "-seeds"
CHECKPOINT_FILE = "checkpoint.pt"
# Beside every checkpoint.pt: the trial's per-epoch metrics up to it (the rows Tune reports) and its
# restarts. It reaches the storage with the checkpoint, inside the report; Tune's own result rows
# reach object storage only at the driver's next sync, so a killed driver can lose some.
HISTORY_FILE = "history.json"
TRAIN_RUNS = "_train"
DATA_FOLDER = "_data"
# Every Tune trial and Ray Train run keeps its latest checkpoints, this many: a resume starts from the
# latest, and each carries the dev-selected weights (Ray's score-based retention would keep the
# later of two equal scores; the engine selects the first, as the reference does).
KEEP_CHECKPOINTS = 2


def trial_folder_name(trial) -> str:
    """A Tune trial's folder: its id (Tune's default name strings the whole trial config together)."""
    return f"trial_{trial.trial_id}"


def train_run_name(trial_id: str) -> str:
    """The Ray Train run name of a multi-worker trial (a folder under ``STUDY/_train``)."""
    return f"train-{trial_id}"


def train_run_folder(study: str, trial_id: str) -> str:
    """A multi-worker trial's Train run folder, relative to the sweep folder."""
    return f"{study}/{TRAIN_RUNS}/{train_run_name(trial_id)}"
