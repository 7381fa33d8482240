"""n2r: rationalizers trained with N2R ("Breaking Free from MMI", ICLR 2025) and RNP/MMI.

Public API (importable without Ray)::

    from n2r import RunConfig, build_rationalizer, build_objective, fit, evaluate, train_run, load_bundle
"""
from n2r.config import ConfigError, DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig
from n2r.bundle import Bundle, load_bundle
from n2r.checkpoint import load_checkpoint, save_checkpoint
from n2r.engine import evaluate, fit
from n2r.models import Rationalizer, build_rationalizer
from n2r.objectives import OBJECTIVES, build_objective
from n2r.runner import train_run

__version__ = "0.1.0"

__all__ = [
    "Bundle", "ConfigError", "DataConfig", "ModelConfig", "OBJECTIVES", "ObjectiveConfig", "Rationalizer", "RunConfig",
    "TrainConfig", "build_objective", "build_rationalizer", "evaluate", "fit", "load_bundle", "load_checkpoint", "save_checkpoint",
    "train_run",
]
