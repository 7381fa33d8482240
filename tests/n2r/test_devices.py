"""Device paths: bf16 autocast, pinned-memory batches, NCCL/gloo trainers.

The CUDA tests run where a GPU is present (``benchmarks/gpu_check.sh`` runs them) and are
reported as skipped otherwise; the CPU fallbacks of the same code run everywhere.
"""
import pytest
import torch

from tests.helpers import cuda, objective_config
from n2r.config import ConfigError, ModelConfig, RunConfig, TrainConfig
from n2r.engine import autocast_for, evaluate, fit, move, resolve_device
from n2r.models import build_rationalizer
from n2r.objectives import build_objective



def _model(data):
    torch.manual_seed(0)
    return build_rationalizer(ModelConfig(hidden_size=8), **data.model_inputs())


# ---------------------------------------------------------------------- CPU fallbacks (always)
def test_cpu_runs_full_precision_even_with_bf16_requested(small_data):
    model = _model(small_data)
    batch = next(iter(small_data.loader("dev", 8)))
    with autocast_for(torch.device("cpu"), bf16=True):
        out = model(batch)
    assert out.logits.dtype == torch.float32
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="train.device: 'cuda' requested but CUDA is not available"):
            resolve_device("cuda")


def test_loader_batches_are_unpinned_on_cpu_and_move_is_a_plain_copy(small_data):
    batch = next(iter(small_data.loader("train", 8, shuffle=True)))
    assert not batch.input_ids.is_pinned()
    moved = move(batch, torch.device("cpu"))
    assert torch.equal(moved.input_ids, batch.input_ids)


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


# ---------------------------------------------------------------------- CUDA (when present)
@cuda
def test_cuda_loader_pins_batches_and_bf16_autocast_runs_the_model_in_bf16(small_data):
    device = torch.device("cuda")
    batch = next(iter(small_data.loader("train", 8, shuffle=True, pin_memory=True)))
    assert batch.input_ids.is_pinned() and batch.labels.is_pinned()
    model = _model(small_data).to(device)
    batch = move(batch, device)
    assert batch.input_ids.device.type == "cuda"
    with autocast_for(device, bf16=True):
        out = model(batch)
    assert out.logits.dtype == torch.bfloat16


@cuda
def test_cuda_bf16_fit_learns_and_matches_cpu_evaluation(small_data):
    device = torch.device("cuda")
    model = _model(small_data)
    cfg = TrainConfig(epochs=6, batch_size=16, lr=1e-2, seed=0, bf16=True)
    result = fit(model, build_objective(objective_config("rnp")),
                 small_data.loader("train", 16, shuffle=True, pin_memory=True),
                 small_data.loader("dev", 64, pin_memory=True), cfg, device=device)
    assert all(torch.isfinite(torch.tensor(r["train"]["step1/loss"])) for r in result.history)
    assert result.history[-1]["train"]["step1/loss"] < result.history[0]["train"]["step1/loss"]
    model.load_state_dict(result.best_state)
    on_gpu = evaluate(model, small_data.loader("dev", 64), device=device, bf16=False)
    on_cpu = evaluate(model.cpu(), small_data.loader("dev", 64), device=torch.device("cpu"), bf16=False)
    assert on_gpu["accuracy"] == pytest.approx(on_cpu["accuracy"], abs=1 / 32 + 1e-6)


@cuda
def test_cuda_single_gpu_nccl_trainer_runs(ray_local, tmp_path):
    from pipelines.train import build_trainer

    cfg = RunConfig.from_dict({"data": {"name": "synthetic-text", "options": {"n_train": 64, "n_dev": 32,
                                                                              "n_test": 16}},
                               "model": {"hidden_size": 8}, "train": {"epochs": 2, "batch_size": 16}})
    result = build_trainer(cfg, num_workers=1, storage_path=str(tmp_path), name="nccl", use_gpu=True,
                           resources_per_worker={"CPU": 1, "GPU": 1}, cache_dir=str(tmp_path / "c")).fit()
    assert result.error is None and result.metrics["epoch"] == 2
