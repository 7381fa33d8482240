"""The sweep file's schema (:class:`SweepFile`, strict pydantic models, ``extra="forbid"`` at every
level, each default and constraint written once on its field) and its composition from shared
parts (``defaults:``, :func:`compose`). :mod:`pipelines.spec` turns a validated file into studies.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      create_model, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from n2r.config import ConfigError, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig, config_error, read_yaml


# --------------------------------------------------------------------------- the schema
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _registered(registry: str):
    def check(name: str) -> str:
        import importlib

        module, attribute = {"dataset": ("n2r.data", "DATASETS"), "encoder": ("n2r.models", "FAMILIES"),
                             "objective": ("n2r.objectives", "OBJECTIVES")}[registry]
        from n2r.registry import UnknownNameError

        try:
            getattr(importlib.import_module(module), attribute).get(name)
        except UnknownNameError as exc:                                   # its message names the choices
            raise ValueError(str(exc)) from None
        return name
    return AfterValidator(check)


def _section(schema: type[BaseModel]):
    """A run-config part kept as written (entries and studies merge it) but checked against its
    schema here, so a typo is named where it stands (``encoders[0].train: epochz: …``)."""
    def check(value: dict[str, Any]) -> dict[str, Any]:
        try:
            schema.model_validate(value)
        except ValidationError as exc:
            raise ValueError(str(config_error(exc, schema))) from None
        return value
    return AfterValidator(check)


def _named(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class DatasetEntry(Strict):
    """One data set: its registered name and, optionally, where it lives, its reader options, a
    study-name ``label`` and run-config sections that apply to its studies only."""
    name: Annotated[str, _registered("dataset")]
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    model: Annotated[dict[str, Any], _section(ModelConfig)] = Field(default_factory=dict)
    objective: Annotated[dict[str, Any], _section(ObjectiveConfig)] = Field(default_factory=dict)
    train: Annotated[dict[str, Any], _section(TrainConfig)] = Field(default_factory=dict)


# An encoder entry: its name, any ModelConfig field, and train/objective sections for its studies
# (e.g. fewer epochs for BERT). Built from ModelConfig so the field list is written once.
EncoderEntry = create_model(
    "EncoderEntry", __base__=Strict, name=(Annotated[str, _registered("encoder")], ...),
    train=(Annotated[dict[str, Any], _section(TrainConfig)], Field(default_factory=dict)),
    objective=(Annotated[dict[str, Any], _section(ObjectiveConfig)], Field(default_factory=dict)),
    **{k: (f.annotation | None, None) for k, f in ModelConfig.model_fields.items() if k != "encoder"})


class MetricSection(Strict):
    select: Literal["accuracy", "f1"] = "accuracy"
    sparsity_tolerance: float | None = Field(None, ge=0.0)


class SearchSection(Strict):
    num_samples: int = Field(8, ge=1)
    seed: int = 0
    max_concurrent_trials: int | None = Field(None, ge=1)


class SchedulerSection(Strict):
    type: Literal["asha", "none"] = "asha"
    grace_period: int = Field(2, ge=1)
    reduction_factor: int = Field(2, ge=2)


class ResourcesSection(Strict):
    num_workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0.0)
    use_gpu: bool = False
    gpus_per_worker: float = Field(1.0, gt=0.0)

    @field_validator("gpus_per_worker")
    @classmethod
    def _fraction_or_whole(cls, value: float) -> float:
        if value > 1 and value != int(value):
            raise ValueError(f"{value!r}: a fraction in (0, 1] (several small trials share a GPU) or a whole number")
        return value

    @model_validator(mode="after")
    def _nccl_ranks_need_their_own_gpu(self) -> "ResourcesSection":
        if self.use_gpu and self.num_workers > 1 and self.gpus_per_worker < 1:
            raise PydanticCustomError(
                "nccl_shared_gpu", "gpus_per_worker {gpus} with num_workers {workers}: NCCL refuses two ranks of "
                "one trial on the same GPU ('Duplicate GPU detected', ray-project/ray#48012); give each worker a "
                "whole GPU, or share GPUs between single-worker trials (num_workers: 1)",
                {"gpus": self.gpus_per_worker, "workers": self.num_workers})
        return self


class RetrainSection(Strict):
    seeds: list[int] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("must be a list of distinct integers")
        return value


class SweepFile(Strict):
    """A sweep file after composition, validated field by field."""
    name: str = Field(min_length=1)
    base: Annotated[dict[str, Any], _section(RunConfig)] = Field(default_factory=dict)
    datasets: list[Annotated[DatasetEntry, BeforeValidator(_named)]] = Field(min_length=1)
    encoders: list[Annotated[EncoderEntry, BeforeValidator(_named)]] = Field(min_length=1)  # type: ignore[valid-type]
    objectives: list[Annotated[str, _registered("objective")]] = Field(min_length=1)
    space: dict[str, dict[str, Any]] = Field(min_length=1)
    metric: MetricSection = Field(default_factory=MetricSection)
    search: SearchSection = Field(default_factory=SearchSection)
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    retrain: RetrainSection = Field(default_factory=RetrainSection)


# --------------------------------------------------------------------------- composition
def compose(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The sweep file at ``path`` with its ``defaults:`` merged underneath (recursively)."""
    path = Path(path)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: <root>: expected a mapping, got {type(raw).__name__}")
    defaults = raw.pop("defaults", [])
    if not isinstance(defaults, list) or not all(isinstance(d, str) for d in defaults):
        raise ConfigError(f"{path}: defaults: expected a list of file names (relative to this file)")
    merged: dict[str, Any] = {}
    for i, name in enumerate(defaults):
        part = (path.parent / name).resolve()
        if part in _seen or part == path.resolve():
            raise ConfigError(f"{path}: defaults[{i}]: {name} includes itself")
        if not part.is_file():
            raise ConfigError(f"{path}: defaults[{i}]: no such file {part}")
        merged = merge(merged, compose(part, _seen + (path.resolve(),)))
    return merge(merged, raw)


def merge(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``under``: mappings merge key by key, other values are replaced."""
    out = copy.deepcopy(under)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out
