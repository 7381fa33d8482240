"""Sweeps on a real local Ray with real Optuna (pipelines/sweep.py): selection, resume after SIGKILL, multi-worker trials, storage on a filesystem, export (pipelines/export.py)."""
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from n2r.checkpoint import load_checkpoint
from pipelines.spec import SweepSpec
from pipelines.sweep import run_sweep
from tests.helpers import TINY_SWEEP as TINY
from tests.helpers import cuda, with_changes


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_sweep_on_a_local_instance_without_gpus_is_refused_before_any_trial(tmp_path):
    spec = {**TINY, "resources": {"use_gpu": True, "gpus_per_worker": 0.25}}
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(spec))
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "sweep", str(tmp_path / "gpu.yaml"),
                           "--storage", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "gpu.yaml: resources.use_gpu: each trial needs 1 × 0.25 GPU, this local Ray instance has 0" in done.stderr
    assert not (tmp_path / "runs" / "tiny").exists()                   # nothing was started or written
    assert "started a local Ray" not in done.stderr                     # refused before Ray starts


def test_a_gpu_training_on_a_local_instance_without_gpus_is_refused_before_it_starts(tmp_path):
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(TINY["base"] | {"data": TINY["datasets"][0]}))
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "train", str(tmp_path / "run.yaml"), "--workers", "2",
                           "--gpu", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"--workers 2 --gpu: needs 2 GPU, this local Ray instance has {torch.cuda.device_count()}" in done.stderr
    assert "started a local Ray" not in done.stderr


def test_three_trial_optuna_sweep_selects_by_the_declared_metric(ray_local, tmp_path):
    spec = SweepSpec.from_dict(TINY)
    summary = run_sweep(spec, tmp_path / "sweep", cache_dir=str(tmp_path / "cache"))
    study = summary["studies"]["synthetic-text-gru-n2r"]
    trials = [t for t in study["trials"] if t.get("best_score") is not None]
    assert len(trials) == 3
    assert all(t["curves"]["epoch"] == [1, 2] for t in trials)
    assert study["best"]["best_score"] == max(t["best_score"] for t in trials)
    # the score is the declared metric: dev accuracy, minus 1 when sparsity misses 0.2 by > 0.1
    for t in trials:
        dev = t["best_dev"]
        expected = dev["accuracy"] - (1.0 if abs(dev["sparsity"] - 0.2) > 0.1 else 0.0)
        assert t["best_score"] == pytest.approx(expected, abs=1e-6)
    params = [tuple(sorted(t["params"].items())) for t in trials]
    assert len(set(params)) == 3
    assert json.loads((tmp_path / "sweep" / "summary.json").read_text())["studies"]
    for t in trials:       # each trial's latest checkpoint as Tune recorded it, inside its own folder
        assert t["checkpoint"].startswith(t["path"] + "/checkpoint_")
        assert load_checkpoint(tmp_path / "sweep" / t["checkpoint"] / "checkpoint.pt")["epoch"] == 2


@cuda
def test_cuda_sweep_packs_single_worker_trials_on_one_gpu(ray_local, tmp_path):
    """A Tune sweep with GPU trials: four trials with a quarter GPU each share one GPU."""
    spec = SweepSpec.from_dict(with_changes(search__num_samples=4, search__max_concurrent_trials=4,
                                            resources={"num_workers": 1, "cpus_per_worker": 0.5, "use_gpu": True,
                                                       "gpus_per_worker": 0.25}))
    summary = run_sweep(spec, str(tmp_path / "sweep"), cache_dir=str(tmp_path / "cache"))
    study = summary["studies"]["synthetic-text-gru-n2r"]
    assert len(study["trials"]) == 4 and not any(t["error"] for t in study["trials"]), study["trials"]
    assert study["best"] is not None and study["best"]["best_dev"]["accuracy"] > 0


def test_sweep_on_a_pyarrow_filesystem_retrains_seeds_resumes_and_exports(ray_local, tmp_path):
    """A path on a caller's pyarrow filesystem (a sub-tree standing in for a bucket): everything the
    sweep writes lands there, a resume restores from there, and export reads from there alone."""
    import pyarrow.fs as pafs

    from n2r.bundle import load_bundle
    from pipelines.export import export_sweep

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    fs = pafs.SubTreeFileSystem(str(bucket), pafs.LocalFileSystem())
    spec = SweepSpec.from_dict(with_changes(search__num_samples=2, retrain={"seeds": [5, 6]}))
    summary = run_sweep(spec, "sweeps/tiny", cache_dir=str(tmp_path / "cache"), filesystem=fs)
    study = summary["studies"]["synthetic-text-gru-n2r"]
    assert [t["seed"] for t in study["seeds"]] == [5, 6]
    best_params = {k: v for k, v in study["best"]["params"].items()}
    seeds_dir = bucket / "sweeps" / "tiny" / "synthetic-text-gru-n2r-seeds"
    retrained = [json.loads(p.read_text()) for p in seeds_dir.glob("*/params.json")]
    assert sorted(p["train.seed"] for p in retrained) == [5, 6]
    for params in retrained:                               # the retrained runs use the tuned coefficients
        for key, value in best_params.items():
            section, attr = key.split(".")
            assert params["run"][section][attr] == pytest.approx(value)
    assert (bucket / "sweeps" / "tiny" / "summary.json").is_file() and (bucket / "sweeps" / "tiny" / "sweep.yaml").is_file()
    assert not study["best"]["path"].startswith("/")      # trial folders are relative to the sweep folder

    (bucket / "sweeps" / "tiny" / "summary.json").unlink()
    resumed = run_sweep(spec, "sweeps/tiny", cache_dir=str(tmp_path / "cache"), filesystem=fs, resume=True)
    again = resumed["studies"]["synthetic-text-gru-n2r"]
    assert again["best"]["trial_id"] == study["best"]["trial_id"]       # restored, not rerun
    assert {t["trial_id"] for t in again["trials"]} == {t["trial_id"] for t in study["trials"]}
    assert [t["trial_id"] for t in again["seeds"]] == [t["trial_id"] for t in study["seeds"]]
    # the restored study's wall time includes the first run's, so its useful-work share stays a share
    assert again["wall_time_s"] >= study["wall_time_s"] and 0 < again["useful_work_share"] <= 1
    assert resumed["wall_time_s"] >= again["wall_time_s"] and 0 < resumed["useful_work_share"] <= 1   # sweep-wide too

    bundles = export_sweep("sweeps/tiny", tmp_path / "export", cache_dir=str(tmp_path / "cache"), filesystem=fs)
    bundle = load_bundle(bundles["synthetic-text-gru-n2r"])
    assert bundle.metrics["trial_id"] == study["best"]["trial_id"]
    assert bundle.metrics["dev"]["accuracy"] == pytest.approx(study["best"]["best_dev"]["accuracy"])

    # what `n2r sweep` does after the trials: export, explain a few test inputs, write the report —
    # staged locally and pushed to the filesystem
    import argparse

    from pipelines.cli import _finish
    from pipelines.storage import Storage

    _finish([Storage.resolve("sweeps/tiny", fs)], argparse.Namespace(cache=str(tmp_path / "cache")))
    explained = json.loads((bucket / "sweeps" / "tiny" / "explanations.json").read_text())
    examples = explained["synthetic-text-gru-n2r"]
    assert len(examples) == 3 and all(len(e["rationale"]["mask"]) == len(e["tokens"]) for e in examples)
    assert all(len(e["gold_rationale"]) == len(e["tokens"]) for e in examples)
    report = (bucket / "sweeps" / "tiny" / "report.html").read_text(encoding="utf-8")
    assert report.count("predicted: ") == 3 and report.count("<br>human: ") == 3
    assert (bucket / "sweeps" / "tiny" / "export" / "synthetic-text-gru-n2r" / "manifest.json").is_file()
