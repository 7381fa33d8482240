"""Training under Ray: one loop, two ways to run it.

:func:`run_training` is the whole per-process training: build the model, restore the latest
checkpoint if the orchestrator has one, run :func:`n2r.engine.fit` (the core engine, not a
copy) and report metrics plus a checkpoint after every epoch. It runs

- in each Ray Train worker of a ``TorchTrainer`` (:func:`train_loop_per_worker`): data-parallel
  with gradients averaged across ranks (gloo on CPU, NCCL on CUDA), each worker reading the
  splits from Ray Data and keeping its share of every epoch's batches, ``ray.train.report`` /
  ``get_checkpoint``; or
- directly inside a Tune function trial (:class:`TuneSession`) for single-process trials, which
  then pay for no worker group (measured: 25–37 s of start-up per ``TorchTrainer`` here) and
  read the same Parquet cache in process.

``n2r train CONFIG`` without ``--workers`` stays single-process (``n2r.runner``); with
``--workers N`` it runs :func:`fit_with_trainer`.
"""
from __future__ import annotations

import math
import posixpath
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import torch

from n2r.config import ConfigError, RunConfig
from n2r.data import GRAPH, prepare_data
from n2r.distributed import (allreduce_gradients, assert_replicas_equal, assert_same_on_every_rank,
                             broadcast_parameters)
from n2r.engine import FitResult, fit, resolve_device
from n2r.objectives import build_objective
from n2r.training import build_model, run_loaders
from pipelines import history
from pipelines.layout import CHECKPOINT_FILE, KEEP_CHECKPOINTS


def flat_metrics(record: dict[str, Any]) -> dict[str, float]:
    """One epoch's record → flat scalar metrics (``dev_accuracy``, ``train_step2/norm``, …)."""
    out = {"epoch": record["epoch"], "score": record["score"], "train_time_s": record["train_time_s"],
           "epoch_time_s": record["epoch_time_s"],
           "examples_per_s": record["examples_per_s"]}
    out.update({f"dev_{k}": v for k, v in record["dev"].items()})
    out.update({f"train_{k}": v for k, v in record["train"].items()})
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _restore(checkpoint, into: Path, fs, folder: str | None) -> dict[str, Any] | None:
    """Copy the orchestrator's latest checkpoint (if any) to ``into``. Returns the trial's history
    with this restart appended (:mod:`pipelines.history`; ``folder`` on ``fs`` holds the trial's
    checkpoints, by default the restored checkpoint's folder), or None for a first start."""
    saved = history.empty()
    if checkpoint is not None:
        with checkpoint.as_directory() as local:
            shutil.copy(Path(local) / CHECKPOINT_FILE, into / CHECKPOINT_FILE)
            saved = history.read(Path(local))
        fs, folder = checkpoint.filesystem, posixpath.dirname(checkpoint.path.rstrip("/"))
    if folder is None:
        return None
    import ray

    return history.restarted(saved, fs, folder, node=ray.get_runtime_context().get_node_id())


def storage_folder(where: dict[str, Any] | None, *parts: str):
    """The :class:`~pipelines.storage.Storage` folder ``parts`` under ``where`` (a Ray
    ``storage_path``/``storage_filesystem`` pair), or None without one."""
    if where is None:
        return None
    from pipelines.storage import Storage

    return Storage.resolve(where["storage_path"], where["storage_filesystem"]).child(*parts)


def check_same_data(data) -> None:
    """Every rank must deal out the same epoch order, so they must hold the same rows in the same
    order: compare the training examples' sizes across ranks (a shard would otherwise repeat or
    miss rows)."""
    rows = data.splits["train"]
    sizes = (torch.tensor([g.num_edges for g in rows]) if data.kind == GRAPH else
             torch.from_numpy(pc.list_value_length(rows.column("input_ids")).to_numpy().copy()))   # writable
    assert_same_on_every_rank(sizes, "data-parallel ranks read different training data")


class TrainSession:
    """Ray Train worker side: shards, rank, report with checkpoint (a barrier on every rank)."""

    def __init__(self, config: dict[str, Any]):
        import ray.train

        self.ray_train = ray.train
        self.context = ray.train.get_context()
        self.rank = self.context.get_world_rank()
        self.config = config

    def batches(self, cfg: RunConfig, pin_memory: bool = False):
        """The run's loaders over the whole splits (read once from Ray Data), this rank keeping its
        share of every training epoch: the batches of a one-worker run, dealt out."""
        from pipelines.data import worker_data

        data = worker_data(self.config["kind"], {s: self.ray_train.get_dataset_shard(s) for s in ("train", "dev")},
                           self.config.get("pad_id", 0))
        world = self.context.get_world_size()
        check_same_data(data)
        return (*run_loaders(data, cfg, pin_memory, rank=self.rank, world_size=world), self.config["model_inputs"])

    def restored_checkpoint(self, into: Path) -> dict[str, Any] | None:
        # the run's folder: a worker group lost right after a report may restart from an earlier
        # checkpoint than the last one persisted (seen: from scratch, with epoch 1's on the storage)
        run = storage_folder(self.config.get("run_storage"))
        return _restore(self.ray_train.get_checkpoint(), into, run and run.fs, run and run.path)

    def report(self, metrics: dict[str, float], folder: Path) -> None:
        from ray.train import Checkpoint

        checkpoint = Checkpoint.from_directory(str(folder)) if self.rank == 0 else None
        self.ray_train.report(metrics, checkpoint=checkpoint)


class TuneSession:
    """Single-process Tune trial side: in-process data from the Parquet cache, ``tune.report``."""

    rank = 0

    def __init__(self, config: dict[str, Any]):
        from ray import tune

        self.tune = tune
        self.config = config

    def batches(self, cfg: RunConfig, pin_memory: bool = False):
        data = prepare_data(cfg.data, cfg.model, self.config.get("cache_dir"))
        return (*run_loaders(data, cfg, pin_memory), data.model_inputs())

    def restored_checkpoint(self, into: Path) -> dict[str, Any] | None:
        # the trial's folder in the storage, where a killed run may have left checkpoints Tune's
        # snapshot of the experiment never recorded (then the trial restarts from an earlier one)
        trial = storage_folder(self.config.get("experiment_storage"),
                               posixpath.basename(self.tune.get_context().get_trial_dir().rstrip("/")))
        return _restore(self.tune.get_checkpoint(), into, trial and trial.fs, trial and trial.path)

    def report(self, metrics: dict[str, float], folder: Path) -> None:
        from ray.tune import Checkpoint

        self.tune.report(metrics, checkpoint=Checkpoint.from_directory(str(folder)))




def run_training(config: dict[str, Any], session) -> FitResult:
    """The training loop shared by Ray Train workers and single-process Tune trials."""
    cfg = RunConfig.from_dict(config["run"])
    device = resolve_device(cfg.train.device)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    train_batches, dev_batches, model_inputs = session.batches(cfg, pin_memory=device.type == "cuda")
    model = build_model(cfg, model_inputs, device)
    broadcast_parameters(model)
    with tempfile.TemporaryDirectory(prefix="n2r-ckpt-") as work:
        folder = Path(work)
        restored = session.restored_checkpoint(folder) or history.empty()
        epochs, restarts = list(restored["epochs"]), restored["restarts"]

        def report(record: dict[str, Any], result: FitResult) -> None:
            if len(epochs) < len(result.history) - 1:     # restored from a checkpoint written without a history
                epochs[:] = [flat_metrics(r) for r in result.history[:-1]]
            epochs.append({**flat_metrics(record), "reported_at": time.time()})
            history.write(folder, epochs, restarts)
            session.report(flat_metrics(record), folder)

        return fit(model, build_objective(cfg.objective), train_batches, dev_batches, cfg.train, device=device,
                   checkpoint_path=folder / CHECKPOINT_FILE, resume=True, grad_sync=allreduce_gradients,
                   after_step=assert_replicas_equal if config.get("check_replicas") else None,
                   on_epoch_end=report, extra_state={"config": cfg.to_dict()})


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """``TorchTrainer`` entry point."""
    run_training(config, TrainSession(config))


def build_trainer(cfg: RunConfig, *, num_workers: int, storage_path: str, name: str, use_gpu: bool = False,
                  resources_per_worker: dict[str, float] | None = None, max_failures: int = 0,
                  cache_dir: str | None = None, callbacks: list | None = None,
                  storage_filesystem=None, materialize: bool | None = None,
                  data_storage: dict[str, Any] | None = None):
    """A ``TorchTrainer`` running :func:`train_loop_per_worker` on ``num_workers`` DDP workers.
    ``materialize``: see :func:`pipelines.data.build_ray_data` (``None``: small data tokenized once
    into the object store, large data read by each worker). ``data_storage``: a Ray
    ``storage_path``/``storage_filesystem`` pair every node reaches, where the prepared data is
    shared (``build_ray_data``'s ``shared``); None reads the local cache."""
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig as TrainRunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from pipelines.data import build_ray_data

    if use_gpu and num_workers > 1 and (resources_per_worker or {}).get("GPU", 1.0) < 1:
        raise ConfigError(f"resources_per_worker GPU {resources_per_worker['GPU']:g} with {num_workers} workers: NCCL "
                          "refuses two ranks on one GPU (ray-project/ray#48012); give each worker a whole GPU")
    data = build_ray_data(cfg, cache_dir=cache_dir, splits=("train", "dev"), materialize=materialize,
                          shared=storage_folder(data_storage))
    loop_config = {"run": cfg.to_dict(), "kind": data.kind, "pad_id": data.pad_id, "model_inputs": data.model_inputs,
                   "run_storage": {"storage_path": posixpath.join(storage_path, name),
                                   "storage_filesystem": storage_filesystem}}
    return TorchTrainer(
        train_loop_per_worker, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker=resources_per_worker),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        datasets={"train": data.datasets["train"], "dev": data.datasets["dev"]},
        dataset_config=DataConfig(datasets_to_split=[]),   # every worker reads whole splits, keeps its share
        run_config=TrainRunConfig(
            name=name, storage_path=storage_path, storage_filesystem=storage_filesystem, callbacks=callbacks,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS)))
