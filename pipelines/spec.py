"""The sweep: a validated sweep file (:mod:`pipelines.sweep_file`: schema and ``defaults:``
composition) turned into the studies it names (:class:`Study`: one data set × encoder ×
objective) and the search space.

A sweep file (``tune_spaces/*.yaml``) has ``name``, ``base`` (run-config sections shared by every
study), ``datasets``, ``encoders``, ``objectives``, ``space`` (``section.field`` → a distribution),
``metric``, ``search``, ``scheduler``, ``resources`` and ``retrain``; ``defaults:`` lists files
(relative to this one) merged underneath it in order, so budgets and spaces are written once
(mappings merge key by key, anything else is replaced; the file's own keys win). Every unknown
key, at every level, is refused naming the file and the dotted field; every study's run config is
validated, and so is every value the space can sample at its ends. Each default is written once,
on its field in :mod:`pipelines.sweep_file`; :meth:`SweepSpec.with_overrides` returns a new validated spec.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from n2r.config import ConfigError, RunConfig, config_error
from pipelines.sweep_file import DatasetEntry, SweepFile, compose

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


# --------------------------------------------------------------------------- the spec
@dataclass
class Study:
    """One (data set, encoder, objective) combination of a sweep file; ``name`` is
    ``DATASET-ENCODER-OBJECTIVE`` (its Tune experiment's folder)."""
    name: str
    run: dict[str, Any]          # the base RunConfig (as a dict) for this study
    dataset: str
    encoder: str
    objective: str


@dataclass
class SweepSpec:
    """A validated sweep: the file's sections, its studies and space; ``raw`` is the composed
    file (what the sweep folder records for ``resume``)."""
    file: SweepFile
    studies: list[Study]
    space: dict[str, dict[str, Any]]
    source: str
    raw: dict[str, Any]

    name = property(lambda self: self.file.name)
    num_samples = property(lambda self: self.file.search.num_samples)
    seed = property(lambda self: self.file.search.seed)
    max_concurrent_trials = property(lambda self: self.file.search.max_concurrent_trials)
    scheduler = property(lambda self: self.file.scheduler)
    num_workers = property(lambda self: self.file.resources.num_workers)
    use_gpu = property(lambda self: self.file.resources.use_gpu)
    retrain_seeds = property(lambda self: list(self.file.retrain.seeds))

    @property
    def resources_per_worker(self) -> dict[str, float]:
        r = self.file.resources
        return {"CPU": r.cpus_per_worker, **({"GPU": r.gpus_per_worker} if r.use_gpu else {})}

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SweepSpec":
        return cls.from_dict(compose(path), source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "<sweep>") -> "SweepSpec":
        if "defaults" in raw:
            raise ConfigError(f"{source}: defaults: only a sweep file read with from_yaml can have defaults")
        try:
            file = SweepFile.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, SweepFile, source) from None
        studies = _studies(file, source)
        space = _validate_space(file.space, studies, lambda name, message: ConfigError(f"{source}: {name}: {message}"))
        return cls(file=file, studies=studies, space=space, source=source, raw=copy.deepcopy(raw))

    def with_overrides(self, overrides: dict[str, Any]) -> "SweepSpec":
        """A new validated spec with ``{"section.field": value}`` (or a top-level key such as
        ``objectives``) replaced in the composed file."""
        raw = copy.deepcopy(self.raw)
        for key, value in overrides.items():
            *parents, last = key.split(".")
            node = raw
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return SweepSpec.from_dict(raw, source=f"{self.source} (overrides {', '.join(overrides)})")

    # ------------------------------------------------------------------ Tune objects
    def param_space(self) -> dict[str, Any]:
        from ray import tune

        out = {}
        for key, spec in self.space.items():
            kind, args = next(iter(spec.items()))
            out[key] = {"uniform": lambda a: tune.uniform(*a), "loguniform": lambda a: tune.loguniform(*a),
                        "int": lambda a: tune.randint(a[0], a[1] + 1), "choice": lambda a: tune.choice(a)}[kind](args)
        return out


def optuna_distributions(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A sweep file's ``space`` as Optuna distributions (the ones Ray's OptunaSearch builds from
    :meth:`SweepSpec.param_space`)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, spec in space.items():
        kind, args = next(iter(spec.items()))
        out[key] = {"uniform": lambda a: FloatDistribution(a[0], a[1]),
                    "loguniform": lambda a: FloatDistribution(a[0], a[1], log=True),
                    "int": lambda a: IntDistribution(a[0], a[1]),
                    "choice": lambda a: CategoricalDistribution(a)}[kind](args)
    return out


def _studies(file: SweepFile, source: str) -> list[Study]:
    from n2r.data import DATASETS

    for i, entry in enumerate(file.datasets):
        if file.metric.select == "f1" and DATASETS.get(entry.name).has_rationales is False:
            raise ConfigError(f"{source}: datasets[{i}].name: {entry.name!r} has no rationales, so metric.select "
                              "'f1' is not produced; use 'accuracy'")
    labels = _dataset_labels(file.datasets, source)
    studies = []
    for label, entry in zip(labels, file.datasets):
        for encoder in file.encoders:
            for objective in file.objectives:
                run = _study_run(file, entry, encoder, objective)
                RunConfig.from_dict(run, source=f"{source} (study {label}-{encoder.name}-{objective})")
                studies.append(Study(f"{label}-{encoder.name}-{objective}", run, dataset=label,
                                     encoder=encoder.name, objective=objective))
    return studies


def _dataset_labels(datasets: list[DatasetEntry], source: str) -> list[str]:
    """Study-name prefix per dataset entry: its ``label``, else its name — plus its options
    (``beer-heldout-split-aspect1``) where the same name appears more than once."""
    names = [d.name for d in datasets]
    labels = []
    for entry in datasets:
        label = entry.label or entry.name
        if entry.label is None and names.count(entry.name) > 1 and entry.options:
            label += "-" + "-".join(f"{k}{v}" for k, v in sorted(entry.options.items()))
        labels.append(label)
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise ConfigError(f"{source}: datasets[{i}]: two entries would share the study name prefix {label!r}; "
                              "give them different options or a 'label'")
    return labels


def _study_run(file: SweepFile, dataset: DatasetEntry, encoder: BaseModel, objective: str) -> dict[str, Any]:
    run = copy.deepcopy(file.base)
    run.setdefault("data", {})
    run["data"].update(dataset.model_dump(include={"name", "path", "options"}, exclude_none=True))
    for section in ("model", "objective", "train"):
        run.setdefault(section, {})
        run[section].update(copy.deepcopy(getattr(dataset, section)))
    given = encoder.model_dump(exclude_unset=True)
    run["model"].update({k: v for k, v in given.items() if k not in ("name", "train", "objective")})
    for section in ("train", "objective"):   # per-encoder budgets, e.g. fewer epochs for BERT
        run[section].update(given.get(section, {}))
    run["model"]["encoder"] = encoder.name
    run["objective"]["name"] = objective
    run["train"]["selection_metric"] = file.metric.select
    if file.metric.sparsity_tolerance is not None:
        run["train"]["sparsity_tolerance"] = file.metric.sparsity_tolerance
    return run


def _validate_space(space: dict[str, Any], studies: list[Study], fail) -> dict[str, dict[str, Any]]:
    out = {}
    for key, spec in space.items():
        name = f"space.{key}"
        section, _, attr = str(key).partition(".")
        if section not in ("model", "objective", "train") or not attr:
            raise fail(name, "keys are 'model.X', 'objective.X' or 'train.X'")
        if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
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
                try:
                    RunConfig.from_dict(apply_params(study.run, {key: value}))
                except ConfigError as exc:
                    raise fail(name, str(exc)) from None
        out[key] = {kind: args}
    _validate_pairs(out, studies, fail)
    return out


def _validate_pairs(space: dict[str, dict[str, Any]], studies: list[Study], fail) -> None:
    """Every pair of keys at every pair of their probe values (both ends of a range, every
    choice) must make a valid run config too: a combination the configuration refuses (e.g.
    ``objective.continuity_window`` with ``objective.padding_in_penalties: true``) would fail
    inside a trial, after Ray started."""
    keys = list(space)
    for i, first in enumerate(keys):
        for second in keys[i + 1:]:
            for a in next(iter(space[first].values())):
                for b in next(iter(space[second].values())):
                    for study in studies:
                        try:
                            RunConfig.from_dict(apply_params(study.run, {first: a, second: b}))
                        except ConfigError as exc:
                            raise fail(f"space.{first} × space.{second}",
                                       f"{first}={a!r} with {second}={b!r} (study {study.name}): {exc}") from None


def apply_params(run: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    run = copy.deepcopy(run)
    for key, value in params.items():
        section, _, attr = key.partition(".")
        run.setdefault(section, {})[attr] = value
    return run


def with_data_dir(spec: SweepSpec, data_dir: str | None) -> SweepSpec:
    """A spec whose every file-read data set names its folder: ``datasets[i].path`` filled from
    ``--data-dir`` where the file gives none (recorded in ``raw``, so ``resume`` finds it)."""
    from n2r.data import DATASETS, default_data_path

    datasets = []
    for entry in spec.file.datasets:
        raw = entry.model_dump(exclude_unset=True)
        source = DATASETS.get(entry.name)
        if entry.path is None and not source.generated and source.default_path is None:
            if not data_dir:
                raise ConfigError(f"{spec.source}: datasets: {entry.name!r} is read from files; pass --data-dir "
                                  "(the folder holding beer/, movies/, …) or set its path in the sweep file")
            raw["path"] = default_data_path(entry.name, data_dir)
        datasets.append(raw)
    if datasets == [e.model_dump(exclude_unset=True) for e in spec.file.datasets]:
        return spec
    raw = copy.deepcopy(spec.raw)
    raw["datasets"] = datasets
    return SweepSpec.from_dict(raw, source=spec.source)
