"""Ray Train: two-worker data parallelism on CPU, per-epoch checkpoints and resume."""
import torch
from ray.train import Checkpoint

from n2r.config import RunConfig
from n2r.engine import load_checkpoint
from pipelines.train import build_trainer

RUN = {"data": {"name": "synthetic-text", "options": {"n_train": 128, "n_dev": 32, "n_test": 32,
                                                      "min_len": 5, "max_len": 10}},
       "model": {"encoder": "gru", "hidden_size": 8},
       "objective": {"name": "n2r", "sparsity_target": 0.2},
       "train": {"epochs": 2, "batch_size": 16, "lr": 0.003, "num_threads": 1}}


def final_state(result):
    with result.checkpoint.as_directory() as folder:
        return load_checkpoint(f"{folder}/checkpoint.pt")


def test_two_workers_keep_identical_replicas_after_every_step(ray_local, tmp_path):
    trainer = build_trainer(RunConfig.from_dict(RUN), num_workers=2, storage_path=str(tmp_path), name="ddp",
                            cache_dir=str(tmp_path / "cache"))
    trainer.train_loop_config["check_replicas"] = True   # raises inside the workers on any divergence
    result = trainer.fit()
    assert result.error is None
    assert result.metrics["epoch"] == 2
    state = final_state(result)
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    # each rank saw half the data: 128 rows over 2 workers → 64 examples per epoch on rank 0
    assert state["history"][0]["train"]["examples"] == 64


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
    straight = build_trainer(longer, num_workers=1, storage_path=str(tmp_path), name="straight",
                             cache_dir=str(tmp_path / "cache")).fit()
    expected = final_state(straight)
    for key, value in expected["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert resumed["history"][2]["dev"] == expected["history"][2]["dev"]
