"""Sweeps: Ray Tune + Optuna (TPE, seeded) over datasets × encoders × objectives.

A sweep file (``tune_spaces/*.yaml``) names the studies and the search space; each study —
one (dataset, encoder, objective) — is its own Tune experiment folder under the sweep folder,
with its own Optuna study, ASHA early stopping on the monotonic ``epoch`` and the tuning
metric ``score`` (:func:`n2r.engine.selection_score`: dev accuracy with a feasibility penalty
when the achieved sparsity misses its target by more than a tolerance, or dev rationale F1 on
an annotated validation split). Test metrics are never looked at here.

Trials with one worker run :func:`pipelines.train.run_training` inside the Tune function trial
(actor reuse, no worker group); trials with several workers build a ``TorchTrainer`` with a
stable per-trial name and forward its reports with ``TuneReportCallback``.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import yaml

from n2r.config import ConfigError, RunConfig
from pipelines.layout import (DATA_FOLDER, KEEP_CHECKPOINTS, SEEDS_SUFFIX, SUMMARY_FILE, SWEEP_FILE, TRAIN_RUNS,
                              train_run_name, trial_folder_name)
from pipelines.spec import Study, SweepSpec, apply_params
from pipelines.storage import Storage
from pipelines.summary import study_wall_time, summarize_study, unrecorded_trials


logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------- the trial
def run_trial(config: dict[str, Any]) -> None:
    """A Tune function trial: one training with the sampled coefficients."""
    from ray import tune

    params = {k: v for k, v in config.items() if "." in k}
    run = apply_params(config["run"], params)
    if config.get("num_workers", 1) > 1:
        from ray.tune.integration.ray_train import TuneReportCallback

        from pipelines.train import build_trainer

        trial = tune.get_context().get_trial_id()
        trainer = build_trainer(RunConfig.from_dict(run), num_workers=config["num_workers"],
                                **config["train_storage"], name=train_run_name(trial),
                                use_gpu=config.get("use_gpu", False),
                                resources_per_worker=config.get("resources_per_worker"),
                                max_failures=config.get("max_failures", 1), cache_dir=config.get("cache_dir"),
                                callbacks=[TuneReportCallback()], data_storage=config.get("data_storage"))
        trainer.fit()
        return
    from pipelines.train import TuneSession, run_training

    run_training({"run": run, "cache_dir": config.get("cache_dir")}, TuneSession(config))


# ---------------------------------------------------------------------- running a sweep
def _tuner(spec: SweepSpec, study: Study, storage: Storage, cache_dir: str | None):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    epochs = RunConfig.from_dict(study.run).train.epochs
    if spec.scheduler.type == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", metric="score", mode="max", max_t=epochs,
                                  grace_period=spec.scheduler.grace_period,
                                  reduction_factor=spec.scheduler.reduction_factor)
    else:
        scheduler = FIFOScheduler()
    searcher = OptunaSearch(metric="score", mode="max", seed=spec.seed)
    return tune.Tuner(
        tune.with_resources(run_trial, _resources(spec)),
        param_space={**_trial_constants(spec, study.run, storage, study.name, cache_dir), **spec.param_space()},
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=spec.num_samples,
                                    max_concurrent_trials=spec.max_concurrent_trials or _concurrency(spec),
                                    reuse_actors=True, trial_dirname_creator=trial_folder_name),
        run_config=_tune_run_config(study.name, storage))


def _trial_constants(spec: SweepSpec, run: dict[str, Any], storage: Storage, experiment_name: str,
                     cache_dir: str | None) -> dict:
    """What every trial of one Tune experiment gets besides the sampled values. On object storage
    (or a caller's filesystem) multi-worker trials read the prepared data from the sweep's
    ``DATA_FOLDER``, which every node reaches, instead of the trial node's local cache."""
    experiment = storage.child(experiment_name)
    return {"run": run, "cache_dir": cache_dir, "num_workers": spec.num_workers, "use_gpu": spec.use_gpu,
            "resources_per_worker": spec.resources_per_worker, "experiment_storage": experiment.ray_args(),
            "train_storage": experiment.child(TRAIN_RUNS).ray_args(),
            "data_storage": None if storage.is_local else storage.child(DATA_FOLDER).ray_args()}


def _tune_run_config(name: str, storage: Storage):
    from ray import tune

    return tune.RunConfig(name=name, **storage.ray_args(), failure_config=tune.FailureConfig(max_failures=2),
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS))


def _seeds_tuner(spec: SweepSpec, study: Study, params: dict[str, Any], storage: Storage, cache_dir: str | None):
    """The best configuration retrained once per ``retrain.seeds`` (a grid, no early stopping)."""
    from ray import tune

    name = study.name + SEEDS_SUFFIX
    param_space = {**_trial_constants(spec, apply_params(study.run, params), storage, name, cache_dir),
                   "train.seed": tune.grid_search(spec.retrain_seeds)}
    return tune.Tuner(tune.with_resources(run_trial, _resources(spec)), param_space=param_space,
                      tune_config=tune.TuneConfig(max_concurrent_trials=spec.max_concurrent_trials or _concurrency(spec),
                                                  reuse_actors=True, trial_dirname_creator=trial_folder_name),
                      run_config=_tune_run_config(name, storage))


# CPUs a local instance declares beyond the machine's cores, kept free for Ray Data's read and
# tokenize tasks: with every core held by Train workers, streaming ingest starves and the
# worker group waits forever (measured on 2 cores).
LOCAL_SPARE_CPUS = 2
LOCAL_MARKER = "N2R_LOCAL_INSTANCE"     # a custom resource: this is a local instance ensure_ray started


def local_shortfall(per_worker: dict[str, float], num_workers: int,
                    resources: dict[str, float]) -> tuple[str, float, float] | None:
    """``(resource, needed, available)`` when ``num_workers`` workers of ``per_worker`` cannot be
    placed on a local Ray instance (which cannot grow); ``None`` when they can, or when this is a
    connected cluster — it may autoscale (``cluster/*.yaml`` start with no GPU nodes), so what it
    has now does not decide."""
    if not resources.get(LOCAL_MARKER):
        return None
    for name, amount in per_worker.items():
        have = max(resources.get(name, 0.0) - (LOCAL_SPARE_CPUS if name == "CPU" else 0.0), 0.0)
        if amount * num_workers > have:
            return name, amount * num_workers, have
    return None


def refuse_if_short(per_unit: dict[str, float], count: int, address: str | None, what: str, hint: str = "") -> None:
    """Refuse ``count`` units of ``per_unit`` resources (workers, replicas) that can never be
    placed on the local instance — checked before that instance is started (:func:`ray_resources`).
    ``what`` names the flags that asked for them."""
    short = local_shortfall(per_unit, count, ray_resources(address))
    if short is not None:
        raise ConfigError(f"{what}: needs {short[1]:g} {short[0]}, this local Ray instance has {short[2]:g}{hint}")


def check_fits(spec: SweepSpec, resources: dict[str, float]) -> None:
    """Refuse, before any trial starts, a sweep whose trials can never be placed here."""
    short = local_shortfall(spec.resources_per_worker, spec.num_workers, resources)
    if short is not None:
        name, need, have = short
        field = {"CPU": "resources.cpus_per_worker", "GPU": "resources.use_gpu"}.get(name, "resources")
        raise ConfigError(f"{spec.source}: {field}: each trial needs {spec.num_workers} × "
                          f"{spec.resources_per_worker[name]:g} {name}, this local Ray instance has {have:g}"
                          + ("; no GPU here (use_gpu: false, or connect to a GPU cluster with --address)"
                             if name == "GPU" else ""))


def _concurrency(spec: SweepSpec) -> int:
    import ray

    resources = ray.cluster_resources()
    cpus = resources.get("CPU", 1) - (LOCAL_SPARE_CPUS if resources.get(LOCAL_MARKER) else 0)
    per_trial = spec.resources_per_worker.get("CPU", 1) * spec.num_workers
    return max(1, int(cpus // max(per_trial, 1e-9)))


def run_sweep(spec: SweepSpec, sweep_dir: str | Path, cache_dir: str | None = None, resume: bool = False,
              filesystem=None) -> dict:
    """Run (or, with ``resume``, restore) every study; writes and returns the sweep summary.

    ``sweep_dir`` is a local folder or a storage URI (``file://``, ``s3://``, ``gs://``), or a
    path on ``filesystem`` (a ``pyarrow.fs.FileSystem``); everything the sweep writes goes there.
    """
    import ray
    from ray import tune

    check_fits(spec, ray.cluster_resources())
    storage = Storage.resolve(sweep_dir, filesystem)
    storage.makedirs()
    storage.write_text(SWEEP_FILE, yaml.safe_dump(spec.raw, sort_keys=False))   # composed, data paths filled
    started = time.perf_counter()
    studies = {}
    def fit(name: str, make_tuner):
        location = storage.child(name)
        restore_fs = location.fs if location.custom else None
        if resume and tune.Tuner.can_restore(location.uri, storage_filesystem=restore_fs):
            tuner = tune.Tuner.restore(location.uri, trainable=tune.with_resources(run_trial, _resources(spec)),
                                       resume_unfinished=True, resume_errored=True, storage_filesystem=restore_fs)
        else:
            tuner = make_tuner()
        t0 = time.perf_counter()
        grid = tuner.fit()
        summary = summarize_study(grid, study_wall_time(location, time.perf_counter() - t0), spec, storage,
                                  spec.max_concurrent_trials or _concurrency(spec), study=name)
        summary["unrecorded_trials"] = unrecorded_trials(location, grid, storage)
        return summary

    for study in spec.studies:
        summary = fit(study.name, lambda: _tuner(spec, study, storage, cache_dir))
        if spec.retrain_seeds and summary["best"] is not None:
            params = {k: v for k, v in summary["best"]["params"].items() if k != "train.seed"}
            seeds = fit(study.name + SEEDS_SUFFIX, lambda: _seeds_tuner(spec, study, params, storage, cache_dir))
            summary["seeds"] = [{"seed": int(t["params"]["train.seed"]), **{k: t[k] for k in (
                "trial_id", "path", "checkpoint", "best_score", "best_epoch", "best_dev")}} for t in seeds["trials"] if t.get("params")]
            summary["seeds"].sort(key=lambda t: t["seed"])
            summary["unrecorded_trials"] += seeds["unrecorded_trials"]
            summary["train_time_s"] += seeds["train_time_s"]
            summary["wall_time_s"] += seeds["wall_time_s"]
            summary["useful_work_share"] = summary["train_time_s"] / max(
                summary["wall_time_s"] * summary["concurrency"], 1e-9)
        studies[study.name] = summary
    # studies run one after another: a resumed sweep's wall time is its studies' (which include
    # the earlier runs' time), not the seconds this run took to restore them
    wall = max(time.perf_counter() - started, sum(s["wall_time_s"] for s in studies.values()))
    concurrency = spec.max_concurrent_trials or _concurrency(spec)
    useful = sum(s["train_time_s"] for s in studies.values())
    summary = {"name": spec.name, "sweep_dir": storage.uri, "wall_time_s": wall, "studies": studies,
               "concurrency": concurrency, "useful_work_share": useful / max(wall * concurrency, 1e-9)}
    storage.write_text(SUMMARY_FILE, json.dumps(summary, indent=2))
    return summary


def _resources(spec: SweepSpec) -> dict[str, float]:
    """What one trial asks Tune for — the same for a new and a restored study. A multi-worker
    trial is only the driver of its TorchTrainer: a sliver of the TRAIN_DRIVER resource."""
    return {"CPU": 0, "TRAIN_DRIVER": 0.01} if spec.num_workers > 1 else dict(spec.resources_per_worker)


def ray_resources(address: str | None = None) -> dict[str, float]:
    """The resources work will be placed on: a running Ray's (started in this process, or the
    cluster at ``address``, which this connects to), else those of the local instance
    :func:`ensure_ray` would start — without starting it, so that work which cannot run there is
    refused in a second instead of after a Ray start-up."""
    import ray

    if ray.is_initialized() or address:
        ensure_ray(address)
        return ray.cluster_resources()
    import torch

    return {"CPU": float(local_cpus()), "GPU": float(torch.cuda.device_count()), LOCAL_MARKER: 1.0}


def local_cpus(num_cpus: int | None = None) -> int:
    """The CPUs a local instance declares: this machine's (or ``num_cpus``) plus the spare ones."""
    return (num_cpus or os.cpu_count() or 1) + LOCAL_SPARE_CPUS


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` or start a local Ray (with the small ``TRAIN_DRIVER`` resource the
    driver side of multi-worker trials asks for)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        ray.init(address=address)
        logger.info("connected to the Ray cluster at %s: %s", address, ray.cluster_resources())
    else:
        # the dashboard stays on: it cleans up the placement groups of early-stopped Train trials
        ray.init(num_cpus=local_cpus(num_cpus), resources={"TRAIN_DRIVER": 100, LOCAL_MARKER: 1},
                 log_to_driver=False)
        logger.info("started a local Ray instance: %s", ray.cluster_resources())
