"""The sweep file: its schema and validation (:class:`SweepSpec`), the studies it names
(:class:`Study`: one data set × encoder × objective) and the search space.

A sweep file (``tune_spaces/*.yaml``) has ``name``, ``base`` (run-config sections shared by every
study), ``datasets``, ``encoders``, ``objectives``, ``space`` (``section.field`` → a distribution),
``metric``, ``search``, ``scheduler``, ``resources`` and ``retrain``. Every unknown key, at every
level, is refused naming the file and the dotted field; every study's run config is validated, and
so is every value the space can sample at its ends.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from n2r.config import ConfigError, RunConfig
from n2r.registry import UnknownNameError

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
