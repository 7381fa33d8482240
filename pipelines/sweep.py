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

import copy
import json
import os
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from n2r.config import ConfigError, RunConfig
from n2r.registry import UnknownNameError
from pipelines.layout import SEEDS_SUFFIX, SUMMARY_FILE, SWEEP_FILE, TRAIN_RUNS, WALL_FILE, train_run_name
from pipelines.storage import Staging, Storage

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
DATASET_FIELDS = ("name", "path", "options", "label", "model", "objective", "train")
SCHEDULER_DEFAULTS = {"type": "asha", "grace_period": 2, "reduction_factor": 2}
SECTION_FIELDS = {"metric": ("select", "sparsity_tolerance"), "search": ("num_samples", "seed", "max_concurrent_trials"),
                  "scheduler": tuple(SCHEDULER_DEFAULTS),
                  "resources": ("num_workers", "cpus_per_worker", "use_gpu", "gpus_per_worker"), "retrain": ("seeds",)}


@dataclass
class Study:
    """One (data set, encoder, objective) combination of a sweep file; ``name`` is
    ``DATASET-ENCODER-OBJECTIVE`` (its Tune experiment's folder)."""
    name: str
    run: dict[str, Any]          # the base RunConfig (as a dict) for this study
    dataset: str = ""            # the data set's label (its name, plus options or a given label)
    encoder: str = ""
    objective: str = ""


@dataclass
class SweepSpec:
    name: str
    studies: list[Study]
    space: dict[str, dict[str, Any]]
    num_samples: int = 8
    seed: int = 0
    max_concurrent_trials: int | None = None
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(SCHEDULER_DEFAULTS))
    num_workers: int = 1
    use_gpu: bool = False
    resources_per_worker: dict[str, float] = field(default_factory=lambda: {"CPU": 1})
    retrain_seeds: list[int] = field(default_factory=list)
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ loading and validation
    @classmethod
    def from_yaml(cls, path: str | Path) -> "SweepSpec":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the sweep file: {exc}") from exc
        return cls.from_dict(raw or {}, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "<sweep>") -> "SweepSpec":
        def fail(name: str, message: str) -> ConfigError:
            return ConfigError(f"{source}: {name}: {message}")

        known = {"name", "base", "datasets", "encoders", "objectives", "space", "metric", "search", "scheduler",
                 "resources", "retrain"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise fail(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
        for required in ("name", "datasets", "encoders", "objectives", "space"):
            if not raw.get(required):
                raise fail(required, "required and must not be empty")
        from n2r.data import DATASETS
        from n2r.models import ENCODERS
        from n2r.objectives import OBJECTIVES

        sections = {}
        for section, fields in SECTION_FIELDS.items():
            value = raw.get(section) or {}
            if not isinstance(value, dict):
                raise fail(section, f"expected a mapping, got {type(value).__name__}")
            unknown = sorted(set(value) - set(fields))
            if unknown:
                raise fail(f"{section}.{unknown[0]}", f"unknown field (known: {', '.join(fields)})")
            sections[section] = value
        base = copy.deepcopy(raw.get("base") or {})
        metric = sections["metric"]
        select = metric.get("select", "accuracy")
        if select not in ("accuracy", "f1"):
            raise fail("metric.select", f"{select!r} is not produced by the trainer; use 'accuracy' or 'f1'")
        def named(registry, name, field_name):
            try:
                return registry.get(name)
            except UnknownNameError as exc:
                raise fail(field_name, str(exc)) from None

        studies = []
        labels = _dataset_labels(raw["datasets"], fail)
        for i, dataset in enumerate(raw["datasets"]):
            entry = {"name": dataset} if isinstance(dataset, str) else dict(dataset)
            unknown = sorted(set(entry) - set(DATASET_FIELDS))
            if unknown:
                raise fail(f"datasets[{i}].{unknown[0]}", f"unknown field (known: {', '.join(DATASET_FIELDS)})")
            named(DATASETS, entry.get("name"), f"datasets[{i}].name")
            for j, encoder in enumerate(raw["encoders"]):
                enc = {"name": encoder} if isinstance(encoder, str) else dict(encoder)
                named(ENCODERS, enc.get("name"), f"encoders[{j}].name")
                for k, objective in enumerate(raw["objectives"]):
                    named(OBJECTIVES, objective, f"objectives[{k}]")
                    run = _study_run(base, entry, enc, objective, select, metric.get("sparsity_tolerance"))
                    RunConfig.from_dict(run, source=f"{source} (study {entry['name']}-{enc['name']}-{objective})")
                    if select == "f1" and DATASETS.get(entry["name"]).has_rationales is False:
                        raise fail(f"datasets[{i}].name", f"{entry['name']!r} has no rationales, so metric.select "
                                   "'f1' is not produced; use 'accuracy'")
                    studies.append(Study(f"{labels[i]}-{enc['name']}-{objective}", run, dataset=labels[i],
                                         encoder=enc["name"], objective=objective))
        space = _validate_space(raw["space"], studies, fail)
        search, resources = sections["search"], sections["resources"]
        scheduler = {**SCHEDULER_DEFAULTS, **sections["scheduler"]}
        if scheduler.get("type") not in ("asha", "none"):
            raise fail("scheduler.type", f"{scheduler.get('type')!r} is not 'asha' or 'none'")
        num_samples = search.get("num_samples", 8)
        if not isinstance(num_samples, int) or num_samples < 1:
            raise fail("search.num_samples", "must be an integer >= 1")
        num_workers = resources.get("num_workers", 1)
        if not isinstance(num_workers, int) or num_workers < 1:
            raise fail("resources.num_workers", "must be an integer >= 1")
        retrain = sections["retrain"]
        seeds = retrain.get("seeds", [])
        if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds) \
                or len(set(seeds)) != len(seeds):
            raise fail("retrain.seeds", "must be a list of distinct integers")
        per_worker = {"CPU": float(resources.get("cpus_per_worker", 1))}
        if resources.get("use_gpu"):
            gpus = resources.get("gpus_per_worker", 1)
            if not isinstance(gpus, (int, float)) or gpus <= 0 or (gpus > 1 and gpus != int(gpus)):
                raise fail("resources.gpus_per_worker", f"{gpus!r}: a fraction in (0, 1] (several small trials "
                           "share a GPU) or a whole number")
            per_worker["GPU"] = float(gpus)
        return cls(name=str(raw["name"]), studies=studies, space=space, num_samples=num_samples,
                   seed=int(search.get("seed", 0)), max_concurrent_trials=search.get("max_concurrent_trials"),
                   scheduler=scheduler, num_workers=num_workers, use_gpu=bool(resources.get("use_gpu", False)),
                   resources_per_worker=per_worker, retrain_seeds=seeds, source=source, raw=raw)

    # ------------------------------------------------------------------ Tune objects
    def param_space(self) -> dict[str, Any]:
        from ray import tune

        out = {}
        for key, spec in self.space.items():
            kind, args = next(iter(spec.items()))
            out[key] = {"uniform": lambda a: tune.uniform(*a), "loguniform": lambda a: tune.loguniform(*a),
                        "int": lambda a: tune.randint(a[0], a[1] + 1), "choice": lambda a: tune.choice(a)}[kind](args)
        return out


def _dataset_labels(datasets: list, fail) -> list[str]:
    """Study-name prefix per dataset entry: its ``label``, else its name — plus its options
    (``beer-heldout-split-aspect1``) where the same name appears more than once."""
    entries = [{"name": d} if isinstance(d, str) else dict(d) for d in datasets]
    names = [str(e.get("name")) for e in entries]
    labels = []
    for entry, name in zip(entries, names):
        label = entry.get("label") or name
        if "label" not in entry and names.count(name) > 1 and entry.get("options"):
            label += "-" + "-".join(f"{k}{v}" for k, v in sorted(entry["options"].items()))
        labels.append(str(label))
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise fail(f"datasets[{i}]", f"two entries would share the study name prefix {label!r}; "
                       "give them different options or a 'label'")
    return labels


def _study_run(base: dict, dataset: dict, encoder: dict, objective: str, select: str,
               tolerance: float | None) -> dict[str, Any]:
    run = copy.deepcopy(base)
    run.setdefault("data", {})
    run["data"].update({k: v for k, v in dataset.items() if k in ("name", "path", "options")})
    for section in ("model", "objective", "train"):
        run.setdefault(section, {})
        run[section].update(dataset.get(section, {}))
    run["model"].update({k: v for k, v in encoder.items() if k not in ("name", "train", "objective")})
    for section in ("train", "objective"):   # per-encoder budgets, e.g. fewer epochs for BERT
        run[section].update(encoder.get(section, {}))
    run["model"]["encoder"] = encoder["name"]
    run["objective"]["name"] = objective
    run["train"]["selection_metric"] = select
    if tolerance is not None:
        run["train"]["sparsity_tolerance"] = float(tolerance)
    return run


def _validate_space(space: Any, studies: list[Study], fail) -> dict[str, dict[str, Any]]:
    if not isinstance(space, dict):
        raise fail("space", "expected a mapping of 'section.field' to a distribution")
    out = {}
    for key, spec in space.items():
        name = f"space.{key}"
        section, _, attr = str(key).partition(".")
        if section not in ("model", "objective", "train") or not attr:
            raise fail(name, "keys are 'model.X', 'objective.X' or 'train.X'")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise fail(name, f"expected one of {{{', '.join(DISTRIBUTIONS)}: ...}}")
        kind, args = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(args, list) or not args:
                raise fail(name, "choice needs a non-empty list")
        else:
            if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, (int, float)) for a in args)):
                raise fail(name, f"{kind} needs [low, high]")
            low, high = args
            if not low < high:
                raise fail(name, f"empty or inverted range [{low}, {high}]")
            if kind == "loguniform" and low <= 0:
                raise fail(name, "loguniform needs low > 0")
        for study in studies:  # every sampled value must make a valid run config: both ends, every choice
            for value in args:
                probe = copy.deepcopy(study.run)
                probe.setdefault(section, {})[attr] = value
                try:
                    RunConfig.from_dict(probe)
                except ConfigError as exc:
                    raise fail(name, str(exc)) from None
        out[key] = {kind: args}
    return out


def apply_params(run: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    run = copy.deepcopy(run)
    for key, value in params.items():
        section, _, attr = key.partition(".")
        run.setdefault(section, {})[attr] = value
    return run


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
                                callbacks=[TuneReportCallback()])
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
    if spec.scheduler.get("type") == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", metric="score", mode="max", max_t=epochs,
                                  grace_period=spec.scheduler["grace_period"],
                                  reduction_factor=spec.scheduler["reduction_factor"])
    else:
        scheduler = FIFOScheduler()
    searcher = OptunaSearch(metric="score", mode="max", seed=spec.seed)
    return tune.Tuner(
        tune.with_resources(run_trial, _resources(spec)),
        param_space={**_trial_constants(spec, study.run, storage.child(study.name), cache_dir), **spec.param_space()},
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=spec.num_samples,
                                    max_concurrent_trials=spec.max_concurrent_trials or _concurrency(spec),
                                    reuse_actors=True),
        run_config=_tune_run_config(study.name, storage))


def _trial_constants(spec: SweepSpec, run: dict[str, Any], experiment: Storage, cache_dir: str | None) -> dict:
    """What every trial of one Tune experiment gets besides the sampled values."""
    return {"run": run, "cache_dir": cache_dir, "num_workers": spec.num_workers, "use_gpu": spec.use_gpu,
            "resources_per_worker": spec.resources_per_worker,
            "train_storage": experiment.child(TRAIN_RUNS).ray_args()}


def _tune_run_config(name: str, storage: Storage):
    from ray import tune

    return tune.RunConfig(name=name, **storage.ray_args(), failure_config=tune.FailureConfig(max_failures=2),
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=2))


def _seeds_tuner(spec: SweepSpec, study: Study, params: dict[str, Any], storage: Storage, cache_dir: str | None):
    """The best configuration retrained once per ``retrain.seeds`` (a grid, no early stopping)."""
    from ray import tune

    name = study.name + SEEDS_SUFFIX
    param_space = {**_trial_constants(spec, apply_params(study.run, params), storage.child(name), cache_dir),
                   "train.seed": tune.grid_search(spec.retrain_seeds)}
    return tune.Tuner(tune.with_resources(run_trial, _resources(spec)), param_space=param_space,
                      tune_config=tune.TuneConfig(max_concurrent_trials=spec.max_concurrent_trials or _concurrency(spec),
                                                  reuse_actors=True),
                      run_config=_tune_run_config(name, storage))


# CPUs a local instance declares beyond the machine's cores, kept free for Ray Data's read and
# tokenize tasks: with every core held by Train workers, streaming ingest starves and the
# worker group waits forever (measured on 2 cores).
LOCAL_SPARE_CPUS = 2
_spare_cpus = 0


def _concurrency(spec: SweepSpec) -> int:
    import ray

    cpus = ray.cluster_resources().get("CPU", 1) - _spare_cpus
    per_trial = spec.resources_per_worker.get("CPU", 1) * spec.num_workers
    return max(1, int(cpus // max(per_trial, 1e-9)))


def run_sweep(spec: SweepSpec, sweep_dir: str | Path, cache_dir: str | None = None, resume: bool = False,
              filesystem=None) -> dict:
    """Run (or, with ``resume``, restore) every study; writes and returns the sweep summary.

    ``sweep_dir`` is a local folder or a storage URI (``file://``, ``s3://``, ``gs://``), or a
    path on ``filesystem`` (a ``pyarrow.fs.FileSystem``); everything the sweep writes goes there.
    """
    from ray import tune

    storage = Storage.resolve(sweep_dir, filesystem)
    storage.makedirs()
    raw = copy.deepcopy(spec.raw)
    for i, dataset in enumerate(raw.get("datasets", [])):  # record resolved data paths for resume/export
        entry = {"name": dataset} if isinstance(dataset, str) else dict(dataset)
        paths = {s.run["data"].get("path") for s in spec.studies if s.run["data"]["name"] == entry["name"]}
        if len(paths) == 1 and None not in paths:
            entry["path"] = paths.pop()
        raw["datasets"][i] = entry
    storage.write_text(SWEEP_FILE, yaml.safe_dump(raw, sort_keys=False))
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
        summary = summarize_study(grid, study_wall_time(location, time.perf_counter() - t0), spec, storage)
        summary["unrecorded_trials"] = unrecorded_trials(location, grid, storage)
        return summary

    for study in spec.studies:
        summary = fit(study.name, lambda: _tuner(spec, study, storage, cache_dir))
        if spec.retrain_seeds and summary["best"] is not None:
            params = {k: v for k, v in summary["best"]["params"].items() if k != "train.seed"}
            seeds = fit(study.name + SEEDS_SUFFIX, lambda: _seeds_tuner(spec, study, params, storage, cache_dir))
            summary["seeds"] = [{"seed": int(t["params"]["train.seed"]), **{k: t[k] for k in (
                "trial_id", "path", "best_score", "best_epoch", "best_dev")}} for t in seeds["trials"] if t.get("params")]
            summary["seeds"].sort(key=lambda t: t["seed"])
            summary["unrecorded_trials"] += seeds["unrecorded_trials"]
            summary["train_time_s"] += seeds["train_time_s"]
            summary["wall_time_s"] += seeds["wall_time_s"]
            summary["useful_work_share"] = summary["train_time_s"] / max(
                summary["wall_time_s"] * summary["concurrency"], 1e-9)
        studies[study.name] = summary
    wall = time.perf_counter() - started
    concurrency = spec.max_concurrent_trials or _concurrency(spec)
    useful = sum(s["train_time_s"] for s in studies.values())
    summary = {"name": spec.name, "sweep_dir": storage.uri, "wall_time_s": wall, "studies": studies,
               "concurrency": concurrency, "useful_work_share": useful / max(wall * concurrency, 1e-9)}
    storage.write_text(SUMMARY_FILE, json.dumps(summary, indent=2))
    return summary


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


def _resources(spec: SweepSpec) -> dict[str, float]:
    """What one trial asks Tune for — the same for a new and a restored study. A multi-worker
    trial is only the driver of its TorchTrainer: a sliver of the TRAIN_DRIVER resource."""
    return {"CPU": 0, "TRAIN_DRIVER": 0.01} if spec.num_workers > 1 else dict(spec.resources_per_worker)


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


def summarize_study(grid, wall_time_s: float, spec: SweepSpec, storage: Storage) -> dict[str, Any]:
    """Best trial by its best ``score`` over epochs, plus per-trial curves and the useful-work share.
    Trial folders are recorded relative to the sweep folder, so the summary stays valid when the
    storage is read from elsewhere."""
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
                       "best_score": float(best_row["score"]), "best_epoch": int(best_row["epoch"]),
                       "best_dev": {c[4:]: float(best_row[c]) for c in df.columns if c.startswith("dev_")},
                       "curves": curves, "redone_epochs": redone,
                       "error": str(result.error) if result.error else None})
    scored = [t for t in trials if t.get("best_score") is not None]
    # ties (e.g. several infeasible trials) go to the larger trial id: the same choice after a restore
    best = max(scored, key=lambda t: (t["best_score"], t["trial_id"])) if scored else None
    # useful work: the epochs' training + dev evaluation, summed over trials
    train_time = sum(sum(t["curves"].get("epoch_time_s", [])) for t in scored)
    concurrency = spec.max_concurrent_trials or _concurrency(spec)
    return {"trials": trials, "best": best, "wall_time_s": wall_time_s, "train_time_s": train_time,
            "concurrency": concurrency, "useful_work_share": train_time / max(wall_time_s * concurrency, 1e-9)}


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` or start a local Ray (with the small ``TRAIN_DRIVER`` resource the
    driver side of multi-worker trials asks for)."""
    import ray

    global _spare_cpus
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        ray.init(address=address)
    else:
        _spare_cpus = LOCAL_SPARE_CPUS
        # the dashboard stays on: it cleans up the placement groups of early-stopped Train trials
        ray.init(num_cpus=(num_cpus or os.cpu_count() or 1) + LOCAL_SPARE_CPUS, resources={"TRAIN_DRIVER": 100},
                 log_to_driver=False)


# ---------------------------------------------------------------------- command line
DEMO_SWEEPS = ("synthetic-text.yaml", "ba2motifs.yaml")
SPACES_DIR = Path(__file__).resolve().parents[1] / "tune_spaces"


def with_data_dir(spec: SweepSpec, data_dir: str | None) -> SweepSpec:
    """Fill ``data.path`` of every study that names none from ``--data-dir``."""
    from n2r.data import DATASETS, default_data_path

    for study in spec.studies:
        data = study.run["data"]
        if data.get("path") or DATASETS.get(data["name"]).generated:
            continue
        if not data_dir:
            raise ConfigError(f"{spec.source}: datasets: {data['name']!r} is read from files; pass --data-dir "
                              "(the folder holding beer/, movies/, …) or set its path in the sweep file")
        data["path"] = default_data_path(data["name"], data_dir)
    return spec


def _finish(sweep_dirs: list[Storage], args) -> None:
    """Export the best configuration of each study, explain a few examples, write the report —
    into the sweep's storage (through a local staging folder when the storage is remote)."""
    from pipelines.export import export_sweep
    from pipelines.report import write_report

    for storage in sweep_dirs:
        stage = Staging(storage)
        try:
            stage.pull(SUMMARY_FILE)
            bundles = export_sweep(storage, stage.path / "export", cache_dir=args.cache)
            explained = explain_examples(bundles, args.cache)
            (stage.path / "explanations.json").write_text(json.dumps(explained, indent=2))
            write_report(stage.path, explained)
            for name in ("export", "explanations.json", "report.html"):
                stage.push(name)
            print(f"report: {storage.uri}/report.html")
        finally:
            stage.close()


def explain_examples(bundles: dict[str, Path], cache_dir: str | None, n: int = 3) -> dict[str, list]:
    """A few test inputs of each study, explained by its exported bundle."""
    from n2r.bundle import load_bundle
    from n2r.data.cache import prepare

    out = {}
    for study, path in bundles.items():
        bundle = load_bundle(path)
        data = bundle.config.data
        entry = prepare(data.name, data.path, data.options, cache_dir=cache_dir)
        rows = entry.table("test").slice(0, n).to_pylist()
        if bundle.kind == "graph":
            items = [{"x": r["x"], "edge_index": r["edge_index"]} for r in rows]
        else:
            items = [{"tokens": r["tokens"]} for r in rows]
        out[study] = [{**bundle.explain(item), "gold_label": r["label"]} for item, r in zip(items, rows)]
    return out


def main_sweep(args) -> int:
    files = [Path(f) for f in args.sweep_files] or [SPACES_DIR / name for name in DEMO_SWEEPS]
    specs = [with_data_dir(SweepSpec.from_yaml(f), args.data_dir) for f in files]  # all validated before any trial
    for spec in specs:
        if args.num_samples:
            spec.num_samples = args.num_samples
            spec.raw.setdefault("search", {})["num_samples"] = args.num_samples
    ensure_ray(args.address)
    root = Storage.resolve(args.storage)
    dirs, useful, capacity = [], 0.0, 0.0
    for spec in specs:
        sweep_dir = root.child(spec.name)
        summary = run_sweep(spec, sweep_dir.uri, cache_dir=args.cache)
        print_summary(summary)
        dirs.append(sweep_dir)
        useful += sum(s["train_time_s"] for s in summary["studies"].values())
        capacity += summary["wall_time_s"] * summary["concurrency"]
    if len(specs) > 1:
        print(f"all sweeps: useful-work share {useful / max(capacity, 1e-9):.2f}")
    if not args.no_export:
        _finish(dirs, args)
    return 0


def main_resume(args) -> int:
    storage = Storage.resolve(args.sweep_dir)
    if not storage.is_file(SWEEP_FILE):
        raise FileNotFoundError(f"{storage.uri}/{SWEEP_FILE}: not a sweep folder")
    source = f"{storage.uri}/{SWEEP_FILE}"
    spec = SweepSpec.from_dict(yaml.safe_load(storage.read_text(SWEEP_FILE)), source=source)
    ensure_ray(args.address)
    summary = run_sweep(spec, storage.uri, cache_dir=args.cache, resume=True)
    print_summary(summary)
    if not args.no_export:
        _finish([storage], args)
    return 0


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
