"""Ray Train (pipelines/train.py): the backend each device gets, two-worker data parallelism on CPU,
per-epoch checkpoints, restarts and resume; the NCCL trainer where a GPU is (benchmarks/gpu_check.sh)."""
import pytest
import torch

from n2r.checkpoint import load_checkpoint
from n2r.config import ConfigError, RunConfig
from n2r.runner import train_run
from pipelines.train import build_trainer
from tests.helpers import cuda

RUN = {"data": {"name": "synthetic-text", "options": {"n_train": 128, "n_dev": 32, "n_test": 32,
                                                      "min_len": 5, "max_len": 10}},
       "model": {"encoder": "gru", "hidden_size": 8},
       "objective": {"name": "n2r", "sparsity_target": 0.2},
       "train": {"epochs": 2, "batch_size": 16, "lr": 0.003, "num_threads": 1}}


# Best dev accuracy (128 dev examples) of a 2-worker run against the same config in one process,
# whose steps take one batch of 16 where the 2 workers take two. Measured in one process, batch 16
# vs 32 (the 2-worker step), 6 epochs, seeds 1/2/3: 0.805/0.930, 0.984/0.984, 1.000/0.992 — seed 1
# stalls at batch 16, so the test runs seed 3.
DATA_PARALLEL_TOLERANCE = 0.05


def final_state(result):
    with result.checkpoint.as_directory() as folder:
        return load_checkpoint(f"{folder}/checkpoint.pt")


def test_a_restarted_run_continues_from_its_latest_checkpoint(ray_local, tmp_path):
    cfg = RunConfig.from_dict(RUN)
    first = build_trainer(cfg, num_workers=1, storage_path=str(tmp_path), name="resume",
                          cache_dir=str(tmp_path / "cache")).fit()
    assert final_state(first)["epoch"] == 2
    longer = RunConfig.from_dict({**RUN, "train": {**RUN["train"], "epochs": 3}})
    second = build_trainer(longer, num_workers=1, storage_path=str(tmp_path), name="resume",
                           cache_dir=str(tmp_path / "cache")).fit()
    resumed = final_state(second)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    kept = sorted(p for p in (tmp_path / "resume").glob("checkpoint_*") if p.is_dir())   # the latest two kept
    assert len(kept) == 2 and load_checkpoint(kept[-1] / "checkpoint.pt")["epoch"] == 3
    # the same 3 epochs straight through, in one process: the one data path gives the Ray worker the
    # batches train_run has, so the resumed run must end on exactly its weights and dev figures
    train_run(longer, tmp_path / "straight", cache_dir=tmp_path / "cache")
    expected = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    for key, value in expected["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert resumed["history"][2]["dev"] == expected["history"][2]["dev"]


def test_two_workers_stay_identical_and_learn_what_one_process_learns(ray_local, tmp_path):
    """Two-worker DDP on CPU: replicas are checked identical after every step (the check raises
    inside the workers otherwise), each rank takes half of every epoch, and the run reaches the dev
    accuracy the same config reaches in one process. (Losing a worker — its whole node — and
    restarting the group from the last checkpoint: ``tests/pipelines/test_cluster.py``.)"""
    run = {**RUN, "data": {**RUN["data"], "options": {**RUN["data"]["options"], "n_train": 768, "n_dev": 128}},
           "objective": {"name": "rnp", "sparsity_target": 0.2, "lambda_sparsity": 2.0, "lambda_continuity": 0.5},
           "train": {**RUN["train"], "epochs": 6, "lr": 0.01, "seed": 3}}
    trainer = build_trainer(RunConfig.from_dict(run), num_workers=2, storage_path=str(tmp_path), name="two",
                            cache_dir=str(tmp_path / "cache"))
    trainer.train_loop_config["check_replicas"] = True
    result = trainer.fit()
    assert result.error is None
    state = final_state(result)
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3, 4, 5, 6]
    assert all(h["train"]["examples"] == 384 for h in state["history"])   # each rank: half of 768 rows
    # the same config in one process: the same batches, taken one at a time instead of two per step
    one = train_run(RunConfig.from_dict(run), cache_dir=tmp_path / "cache")
    two = max(h["dev"]["accuracy"] for h in state["history"])
    print(f"best dev accuracy: 1 worker {one['best_dev']['accuracy']:.3f}, 2 workers {two:.3f}")
    assert min(one["best_dev"]["accuracy"], two) >= 0.9                  # both learned the task
    assert abs(one["best_dev"]["accuracy"] - two) <= DATA_PARALLEL_TOLERANCE


def test_trainer_backend_follows_use_gpu(ray_local, tmp_path):
    from pipelines.train import build_trainer

    cfg = RunConfig.from_dict({"data": {"name": "synthetic-text", "options": {"n_train": 32, "n_dev": 16,
                                                                              "n_test": 16}},
                               "model": {"hidden_size": 8}})
    common = dict(storage_path=str(tmp_path), cache_dir=str(tmp_path / "c"), materialize=False)
    cpu = build_trainer(cfg, num_workers=1, name="cpu", **common)
    gpu = build_trainer(cfg, num_workers=1, name="gpu", use_gpu=True, resources_per_worker={"CPU": 1, "GPU": 0.5},
                        **common)
    assert cpu.backend_config.backend == "gloo" and not cpu.scaling_config.use_gpu
    assert gpu.backend_config.backend == "nccl" and gpu.scaling_config.use_gpu
    assert gpu.scaling_config.resources_per_worker == {"CPU": 1, "GPU": 0.5}   # one rank may share a GPU
    with pytest.raises(ConfigError, match="GPU 0.5 with 2 workers: NCCL refuses two ranks on one GPU"):
        build_trainer(cfg, num_workers=2, name="nccl", use_gpu=True, resources_per_worker={"CPU": 1, "GPU": 0.5},
                      **common)


@cuda
def test_cuda_single_gpu_nccl_trainer_runs(ray_local, tmp_path):
    from pipelines.train import build_trainer

    cfg = RunConfig.from_dict({"data": {"name": "synthetic-text", "options": {"n_train": 64, "n_dev": 32,
                                                                              "n_test": 16}},
                               "model": {"hidden_size": 8}, "train": {"epochs": 2, "batch_size": 16}})
    result = build_trainer(cfg, num_workers=1, storage_path=str(tmp_path), name="nccl", use_gpu=True,
                           resources_per_worker={"CPU": 1, "GPU": 1}, cache_dir=str(tmp_path / "c")).fit()
    assert result.error is None and result.metrics["epoch"] == 2
