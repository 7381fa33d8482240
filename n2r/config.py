"""Run configuration: one dataclass per concern, loaded from YAML with field-named errors.

A run file has four sections, each a dataclass below::

    data:      {name: synthetic-text, ...}     # DataConfig
    model:     {encoder: gru, ...}              # ModelConfig
    objective: {name: n2r, ...}                 # ObjectiveConfig
    train:     {epochs: 10, ...}                # TrainConfig

Unknown keys, wrong types and values outside their allowed set raise :class:`ConfigError`
naming the dotted field (``objective.lambda_norm``) and, when loaded from a file, the file.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field (and file)."""


@dataclass
class DataConfig:
    """Which data set to train on. ``options`` go to the data set's builder."""

    name: str = "synthetic-text"
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
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

    encoder: Literal["gru", "bert", "gcn"] = "gru"
    num_classes: int = 2
    hidden_size: int = 100
    dropout: float = 0.2
    embeddings: str = "glove-6b-50d"
    checkpoint: str | None = None
    pooling: Literal["max", "mean", "cls", "sum"] = "max"
    num_layers: int = 3
    in_channels: int | None = None
    select_nodes: bool = False
    degree_bins: int = 0
    gcn_normalize: bool = False
    shared_encoder: bool = False
    tau: float = 1.0
    init_selection: float | None = None
    gru_reads_padding: bool = False
    eval_selection: Literal["argmax", "sample", "topk"] = "argmax"
    eval_share: float | None = None


@dataclass
class ObjectiveConfig:
    """Training objective (see :mod:`n2r.objectives`) and its coefficients.

    ``sparsity_target`` is *s*, ``lambda_sparsity`` λs, ``lambda_continuity`` λc,
    ``lambda_norm`` λn. ``ce_weight`` scales the predictor's cross-entropy in step 1;
    ``None`` takes the objective's default (0.9 for ``n2r``, as in the reference code; 1.0 else).
    ``padding_in_penalties`` computes Ω_s and Ω_c as the reference code does, over every
    position of the padded batch (reference-compatible mode; see :mod:`n2r.objectives`).
    """

    name: Literal["rnp", "n2r", "rnp+n2r"] = "n2r"
    sparsity_target: float = 0.125
    lambda_sparsity: float = 11.0
    lambda_continuity: float = 12.0
    lambda_norm: float = 1.0
    norm_form: Literal["log", "plain"] = "log"
    norm_eps: float = 1e-6
    ce_weight: float | None = None
    padding_in_penalties: bool = False


@dataclass
class TrainConfig:
    """Optimisation and model selection for :func:`n2r.engine.fit`.

    ``lr_encoder`` applies to pretrained encoders (BERT); ``None`` uses ``lr``.
    ``selection_metric`` is a key of the dev metrics (``accuracy`` or ``f1``); with
    ``sparsity_tolerance`` an epoch whose dev sparsity misses the objective's target by more
    than that is ranked below every feasible one. Test metrics are never used for selection.
    ``bucket_window`` groups text training batches by length within windows of that many
    batches (0 or 1: off), so dynamic padding pads little. ``pad_to`` pads every text batch
    (training and evaluation) to that fixed length instead of its own longest input (the
    reference code pads to 256); inputs are never longer (readers cut them).
    ``dev_faithfulness`` adds comprehensiveness/sufficiency to every epoch's dev metrics (two
    more predictor passes, doubling the cost of evaluation; selection does not use them, and
    the test evaluation always has them).
    ``parallel_directions`` runs each BiGRU's two directions in two threads of one intra-op
    thread each (forward and backward pass) when training on CPU with at least two threads;
    the arithmetic is unchanged (see :func:`n2r.models.gru.set_parallel_directions`).
    """

    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 1e-3
    lr_encoder: float | None = None
    weight_decay: float = 0.0
    grad_clip: float | None = None
    seed: int = 1
    device: str = "auto"
    bf16: bool = True
    selection_metric: Literal["accuracy", "f1"] = "accuracy"
    sparsity_tolerance: float | None = None
    check_every: int = 20
    num_threads: int | None = None
    bucket_window: int = 32
    pad_to: int | None = None
    dev_faithfulness: bool = False
    parallel_directions: bool = True


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.model.eval_selection == "topk" and self.model.eval_share is None:
            self.model.eval_share = self.objective.sparsity_target

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str | None = None) -> "RunConfig":
        cfg = _build(cls, raw, prefix="", source=source)
        for name, ok, message in _range_checks(cfg):
            if not ok:
                raise _fail(source, name, message)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
        return cls.from_dict(raw or {}, source=str(path))

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _fail(source: str | None, name: str, message: str) -> ConfigError:
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{name}: {message}")


def _build(cls: type, raw: Any, prefix: str, source: str | None):
    if not isinstance(raw, dict):
        raise _fail(source, prefix.rstrip(".") or "<root>", f"expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(source, prefix + unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, prefix + name, source)
    return cls(**values)


def _coerce(hint: Any, value: Any, name: str, source: str | None):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name + ".", source)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, name, source)
    if origin is Literal:
        if value not in args:
            raise _fail(source, name, f"{value!r} is not one of {list(args)}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, name, f"expected a mapping, got {type(value).__name__}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(source, name, f"expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, name, f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, name, f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _fail(source, name, f"expected a string, got {value!r}")
        return value
    return value


def _range_checks(cfg: RunConfig):
    o, t, m = cfg.objective, cfg.train, cfg.model
    yield "objective.sparsity_target", 0.0 < o.sparsity_target < 1.0, "must lie in (0, 1)"
    for key in ("lambda_sparsity", "lambda_continuity", "lambda_norm"):
        yield f"objective.{key}", getattr(o, key) >= 0.0, "must be >= 0"
    yield "objective.norm_eps", o.norm_eps > 0.0, "must be > 0"
    yield "model.num_classes", m.num_classes >= 2, "must be >= 2"
    yield "model.tau", m.tau > 0.0, "must be > 0"
    yield "model.init_selection", m.init_selection is None or 0.0 < m.init_selection < 1.0, "must lie in (0, 1)"
    yield "model.dropout", 0.0 <= m.dropout < 1.0, "must lie in [0, 1)"
    yield "model.eval_share", m.eval_share is None or 0.0 < m.eval_share <= 1.0, "must lie in (0, 1]"
    yield "train.bucket_window", cfg.train.bucket_window >= 0, "must be >= 0 (0: no length bucketing)"
    yield "train.pad_to", t.pad_to is None or t.pad_to >= 1, "must be >= 1 (or null: pad to the batch's longest)"
    yield "model.hidden_size", m.hidden_size > 0, "must be > 0"
    yield "model.degree_bins", m.degree_bins >= 0, "must be >= 0"
    yield "train.epochs", t.epochs >= 1, "must be >= 1"
    yield "train.batch_size", t.batch_size >= 1, "must be >= 1"
    yield "train.lr", t.lr > 0.0, "must be > 0"
    yield "train.check_every", t.check_every >= 1, "must be >= 1"
