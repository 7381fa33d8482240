"""Run configuration: one declarative schema per concern, loaded from YAML with field-named errors.

A run file has four sections, each a pydantic model below::

    data:      {name: synthetic-text, ...}     # DataConfig
    model:     {encoder: gru, ...}              # ModelConfig
    objective: {name: n2r, ...}                 # ObjectiveConfig
    train:     {epochs: 10, ...}                # TrainConfig

Every default and every constraint is written once, on its field. Unknown keys (at every level),
wrong types (strictly: ``"3"`` is not an integer, ``1`` is not ``true``) and values outside their
range raise :class:`ConfigError` naming the dotted field (``objective.lambda_norm``) and, when
loaded from a file, the file. :meth:`RunConfig.with_overrides` returns a new validated
configuration (``n2r train RUN.yaml --set train.epochs=3``); assignments are validated too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field (and file)."""


class Schema(BaseModel):
    """Base of every configuration section: strict types, no unknown keys, validated assignment."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise config_error(exc, type(self)) from None


class DataConfig(Schema):
    """Which data set to train on. ``options`` go to the data set's builder. ``text_rule`` is how
    raw text is split into tokens when a bundle trained on this data is given raw text (a name
    in :mod:`n2r.data.text_rules`); ``None``: the data set's own rule. A bundle records the rule
    it applies."""

    name: str = "synthetic-text"
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    text_rule: str | None = None

    @field_validator("text_rule")
    @classmethod
    def _known_rule(cls, value: str | None) -> str | None:
        from n2r.data.text_rules import TEXT_RULES

        if value is not None and value not in TEXT_RULES:
            raise ValueError(f"unknown text rule {value!r}; known: {', '.join(TEXT_RULES.names())}")
        return value


class ModelConfig(Schema):
    """The rationalizer: encoder family, sizes and how masks are selected.

    ``embeddings`` (GRU) is ``"glove-6b-50d"`` (the packaged vectors) or a path to a
    GloVe-format text file. ``checkpoint`` (BERT) is a local folder or a hub name; ``None``
    means the packaged all-MiniLM-L6-v2. ``degree_bins`` (GCN) appends a differentiable
    encoding of each node's weighted degree to its features (see :mod:`n2r.models.gcn`).
    ``gru_reads_padding`` (GRU) runs each BiGRU's backward direction in from the end of the
    padded batch, as ``nn.GRU`` over a padded tensor does (the reference code); by default it
    starts at each sequence's last real token.
    ``init_selection`` sets the generator head's initial bias so each unit starts selected with
    that probability ("start dense, then prune"); ``None`` keeps PyTorch's default init (≈ 0.5).
    ``eval_selection`` is the deterministic rule used outside training (see
    :mod:`n2r.models.selection`); ``topk`` keeps each example's top ``eval_share`` of units,
    and a :class:`RunConfig` fills a missing ``eval_share`` with ``objective.sparsity_target``.
    """

    encoder: str = "gru"
    num_classes: int = Field(2, ge=2)
    hidden_size: int = Field(100, gt=0)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    embeddings: str = "glove-6b-50d"
    checkpoint: str | None = None
    pooling: Literal["max", "mean", "cls", "sum"] = "max"
    num_layers: int = Field(3, ge=1)
    in_channels: int | None = Field(None, ge=1)
    select_nodes: bool = False
    degree_bins: int = Field(0, ge=0)
    gcn_normalize: bool = False
    shared_encoder: bool = False
    tau: float = Field(1.0, gt=0.0)
    init_selection: float | None = Field(None, gt=0.0, lt=1.0)
    gru_reads_padding: bool = False
    eval_selection: Literal["argmax", "sample", "topk"] = "argmax"
    eval_share: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("encoder")
    @classmethod
    def _registered_family(cls, value: str) -> str:
        from n2r.models.family import family_of
        from n2r.registry import UnknownNameError

        try:
            family_of(value)
        except UnknownNameError as exc:                  # the message lists the registered families
            raise ValueError(str(exc)) from None
        return value

    @field_validator("*")
    @classmethod
    def _read_by_the_encoder(cls, value: Any, info) -> Any:
        """A field only some families read (each family file lists its own), set away from its
        default for another family, is refused (a GCN run with ``embeddings``, a GRU run with
        ``degree_bins``): it would be ignored."""
        from n2r.models.family import FAMILIES

        encoder = info.data.get("encoder")
        if info.field_name == "encoder" or encoder is None or value == cls.model_fields[info.field_name].default:
            return value
        readers = [name for name in FAMILIES.names() if info.field_name in FAMILIES.get(name).fields]
        if readers and encoder not in readers:
            raise ValueError(f"{value!r} is read by the {' and '.join(readers)} encoder{'s' * (len(readers) > 1)} "
                             f"only; this run's encoder is {encoder}")
        return value


class ObjectiveConfig(Schema):
    """Training objective (see :mod:`n2r.objectives`) and its coefficients.

    ``sparsity_target`` is *s*, ``lambda_sparsity`` λs, ``lambda_continuity`` λc,
    ``lambda_norm`` λn. ``ce_weight`` scales the predictor's cross-entropy in step 1: 0.9 in
    every objective, the reference code's ``cls_lambda`` (``rnp`` and ``rnp+n2r`` took 1.0
    before 2026-12-03).
    ``padding_in_penalties``: Ω_s and Ω_c over every position of the padded batch (as the
    reference), ``false``: over real units (``continuity_window`` W then prices a transition
    against W − 1 pairs); unset, the objective decides (:meth:`pads_penalties`).
    """

    name: Literal["rnp", "n2r", "rnp+n2r"] = "n2r"
    sparsity_target: float = Field(0.125, gt=0.0, lt=1.0)
    lambda_sparsity: float = Field(11.0, ge=0.0)
    lambda_continuity: float = Field(12.0, ge=0.0)
    lambda_norm: float = Field(1.0, ge=0.0)
    norm_form: Literal["log", "plain"] = "log"
    norm_eps: float = Field(1e-6, gt=0.0)
    ce_weight: float = Field(0.9, ge=0.0)
    padding_in_penalties: bool | None = None
    continuity_window: int | None = Field(None, ge=2)

    def pads_penalties(self) -> bool:
        """``padding_in_penalties``, or where unset: ``n2r`` and ``rnp+n2r`` yes (with the
        real-unit forms their rationales drift from the annotations on Beer); ``rnp`` no (with
        the padded forms it collapses to an empty selection on the planted-rationale test)."""
        if self.padding_in_penalties is None:
            return self.name in ("n2r", "rnp+n2r")
        return self.padding_in_penalties

    @model_validator(mode="after")
    def _window_needs_real_unit_penalties(self) -> "ObjectiveConfig":
        if self.continuity_window is not None and self.pads_penalties():
            raise ValueError(f"continuity_window prices Ω_c over real tokens only; with padded penalties (objective "
                             f"{self.name!r}) it would be ignored: set objective.padding_in_penalties: false")
        return self


class TrainConfig(Schema):
    """Optimisation and model selection for :func:`n2r.engine.fit`.

    ``lr_encoder`` applies to pretrained encoders (BERT); ``None`` uses ``lr``.
    ``selection_metric`` is a key of the dev metrics (``accuracy`` or ``f1``); with
    ``sparsity_tolerance`` an epoch whose dev sparsity misses the objective's target by more
    than that is ranked below every feasible one. Test metrics are never used for selection.
    ``bucket_window`` groups text training batches by length within windows of that many
    batches (0 or 1: plain shuffled); unset, :meth:`RunConfig.training_bucket_window` decides.
    ``pad_to`` pads every text batch (training and evaluation) to that fixed length instead of
    its own longest input (the reference pads to 256); inputs are never longer (readers cut them).
    ``dev_faithfulness`` adds comprehensiveness/sufficiency to every epoch's dev metrics (two
    more predictor passes, doubling the cost of evaluation; selection does not use them, and
    the test evaluation always has them).
    ``predictor_lr_scale`` multiplies the learning rate of the predictor's own parameters
    (DR, Liu et al. KDD 2023: 0.1); a parameter shared with the generator (``model.shared_encoder``,
    FR) keeps the generator's rate, so with both only the predictor's head is slowed.
    ``parallel_directions`` lets an encoder with two independent parts run them in two threads
    of one intra-op thread each (forward and backward pass) when training on CPU with at least
    two threads — the BiGRU's two directions; the arithmetic is unchanged (see
    :func:`n2r.models.base.set_cpu_parallelism`).
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    lr_encoder: float | None = Field(None, gt=0.0)
    predictor_lr_scale: float = Field(1.0, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: float | None = Field(None, gt=0.0)
    seed: int = 1
    device: str = "auto"
    bf16: bool = True
    selection_metric: Literal["accuracy", "f1"] = "accuracy"
    sparsity_tolerance: float | None = Field(None, ge=0.0)
    check_every: int = Field(20, ge=1)
    num_threads: int | None = Field(None, ge=1)
    bucket_window: int | None = Field(None, ge=0)
    pad_to: int | None = Field(None, ge=1)
    dev_faithfulness: bool = False
    parallel_directions: bool = True


class RunConfig(Schema):
    """A whole run: the four sections. ``from_dict``/``from_yaml`` validate, ``to_dict`` and
    ``to_yaml`` write back what ``from_dict`` reads."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _topk_share_defaults_to_the_target(self) -> "RunConfig":
        if self.model.eval_selection == "topk" and self.model.eval_share is None:
            self.model.eval_share = self.objective.sparsity_target
        return self

    def training_bucket_window(self) -> int:
        """``train.bucket_window``, or where it is unset: 0 (plain shuffled batches) when the
        objective's penalties count padding (:meth:`ObjectiveConfig.pads_penalties`: grouping
        would leave them little to count, and N2R's rationale then drifts), else 32."""
        if self.train.bucket_window is not None:
            return self.train.bucket_window
        return 0 if self.objective.pads_penalties() else 32

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_dict(cls, raw: Any, source: str | None = None) -> "RunConfig":
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, cls, source) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(read_yaml(path) or {}, source=str(path))

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "--set") -> "RunConfig":
        """A new validated configuration with ``{"section.field": value}`` replaced (nested
        keys such as ``data.options.aspect`` reach into ``options``); errors name ``source``."""
        raw = self.to_dict()
        for key, value in overrides.items():
            parts = str(key).split(".")
            if len(parts) < 2:
                raise ConfigError(f"{source}: {key}: expected SECTION.FIELD (e.g. train.epochs)")
            target = raw
            for i, part in enumerate(parts[:-1]):
                if not isinstance(target.get(part), dict):
                    if part not in target:
                        raise ConfigError(f"{source}: {'.'.join(parts[:i + 1])}: unknown field")
                    raise ConfigError(f"{source}: {'.'.join(parts[:i + 1])}: not a mapping")
                target = target[part]
            target[parts[-1]] = value
        return type(self).from_dict(raw, source=source)


def parse_overrides(items: list[str] | None, source: str = "--set") -> dict[str, Any]:
    """``["train.epochs=3", "objective.name=rnp"]`` → ``{"train.epochs": 3, ...}``; each value
    is read as YAML (``3`` an integer, ``true`` a boolean, ``null`` None, else a string)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{source} {item!r}: expected SECTION.FIELD=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source} {item!r}: value is not valid YAML: {exc}") from None
    return out


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content; unreadable or invalid files raise :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


# --------------------------------------------------------------------------- error messages
def config_error(exc: ValidationError, root: type[BaseModel], source: str | None = None) -> ConfigError:
    """The first validation error as ``[source: ]dotted.field: message``."""
    error = exc.errors()[0]
    loc = error["loc"]
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{dotted(loc) or '<root>'}: {describe(error, root)}")


def dotted(loc: tuple) -> str:
    """``("datasets", 0, "options")`` → ``datasets[0].options``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error: dict[str, Any], root: type[BaseModel]) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "extra_forbidden":
        owner = _model_at(root, error["loc"][:-1])
        known = f" (known: {', '.join(owner.model_fields)})" if owner is not None else ""
        return f"unknown field{known}"
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx.get('expected', '')}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {type(value).__name__}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        field = _field_at(root, error["loc"])
        return _bounds(field) if field is not None else error["msg"]
    if kind == "value_error":                      # a validator's own message
        return str(ctx.get("error", error["msg"]))
    if kind in ("too_short",) and ctx.get("min_length") == 1:
        return "required and must not be empty"
    messages = {"int_type": "expected an integer", "float_type": "expected a number", "bool_type": "expected true/false",
                "string_type": "expected a string", "list_type": "expected a list", "missing": "required"}
    if kind in messages:
        return messages[kind] + ("" if kind == "missing" else f", got {value!r}")
    return error["msg"]


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    model: Any = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field is not None else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _field_at(root: type[BaseModel], loc: tuple):
    owner = _model_at(root, loc[:-1])
    return owner.model_fields.get(loc[-1]) if owner is not None else None


def _bounds(field) -> str:
    low = high = None
    for meta in field.metadata:
        for name, bracket in (("gt", "("), ("ge", "[")):
            if getattr(meta, name, None) is not None:
                low = (getattr(meta, name), bracket)
        for name, bracket in (("lt", ")"), ("le", "]")):
            if getattr(meta, name, None) is not None:
                high = (getattr(meta, name), bracket)
    if low and high:
        return f"must lie in {low[1]}{low[0]:g}, {high[0]:g}{high[1]}"
    if low:
        return f"must be {'>' if low[1] == '(' else '>='} {low[0]:g}"
    if high:
        return f"must be {'<' if high[1] == ')' else '<='} {high[0]:g}"
    return "out of range"
