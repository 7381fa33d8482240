"""Checkpoints: model, optimizer, training state and every RNG, written atomically, read back
with ``weights_only=True``; errors name the file (:class:`CheckpointError`)."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from n2r.errors import CheckpointError  # noqa: F401  (raised here; defined there)

CHECKPOINT_FORMAT = "n2r-checkpoint/1"


def rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuplify(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    state: dict[str, Any]) -> Path:
    """Write model + optimizer + ``state`` (epoch, best, history, config) + RNG states atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
               "optimizer": None if optimizer is None else optimizer.state_dict(),
               "rng": rng_state(), **state}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, restore_rng: bool = False) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain types only: ``weights_only=True``) into the given
    model/optimizer; returns the payload. Errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an n2r checkpoint (format {CHECKPOINT_FORMAT!r} expected)")
    if model is not None:
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: weights do not match the model: {exc}") from exc
    if optimizer is not None and payload.get("optimizer") is not None:
        try:
            optimizer.load_state_dict(payload["optimizer"])
        except (ValueError, KeyError) as exc:   # e.g. written by a version that grouped parameters otherwise
            raise CheckpointError(f"{path}: its optimizer state does not match this run's optimizer ({exc}); "
                                  "it was written by another configuration or version — start the run afresh") from exc
    if restore_rng:
        set_rng_state(payload["rng"])
    return payload
