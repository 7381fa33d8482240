"""Device paths of the engine: bf16 autocast, pinned-memory batches (the Ray trainers' backends:
tests/pipelines/test_train.py).

The CUDA tests run where a GPU is present (``benchmarks/gpu_check.sh`` runs them) and are
reported as skipped otherwise; the CPU fallbacks of the same code run everywhere.
"""
import pytest
import torch

from n2r.config import ModelConfig, TrainConfig
from n2r.engine import autocast_for, evaluate, fit, move, resolve_device
from n2r.models import build_rationalizer
from n2r.objectives import build_objective
from tests.helpers import cuda, objective_config


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


