"""n2r: rationalizers trained with N2R ("Breaking Free from MMI", ICLR 2025) and RNP/MMI.

Public API (importable without Ray)::

    from n2r import RunConfig, build_rationalizer, build_objective, fit, evaluate, train_run, load_bundle

The names are imported on first use (PEP 562), so that a submodule that needs no PyTorch — the
config schema, the ``n2r`` command's argument parsing, ``n2r data list`` — loads without it.
"""
from importlib import import_module

__version__ = "0.1.0"

_HOMES = {
    "ConfigError": "n2r.config", "DataConfig": "n2r.config", "ModelConfig": "n2r.config",
    "ObjectiveConfig": "n2r.config", "RunConfig": "n2r.config", "TrainConfig": "n2r.config",
    "Bundle": "n2r.bundle", "load_bundle": "n2r.bundle",
    "load_checkpoint": "n2r.checkpoint", "save_checkpoint": "n2r.checkpoint",
    "evaluate": "n2r.engine", "fit": "n2r.engine",
    "Rationalizer": "n2r.models", "build_rationalizer": "n2r.models",
    "OBJECTIVES": "n2r.objectives", "build_objective": "n2r.objectives",
    "train_run": "n2r.runner",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'n2r' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
