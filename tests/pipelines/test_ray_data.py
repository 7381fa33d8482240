"""Ray Data round trips on a real local Ray: Parquet → tokenized splits → the loaders every run uses
→ model forward; two Ray Train workers dealing out one epoch order."""
import pytest
import torch
from ray.data.dataset import MaterializedDataset

from n2r.config import RunConfig
from n2r.data import prepare_data
from n2r.models import build_rationalizer
from n2r.engine import reseed_shuffle
from pipelines.data import build_ray_data, worker_data

TEXT = {"data": {"name": "synthetic-text", "options": {"n_train": 200, "n_dev": 50, "n_test": 50}},
        "model": {"encoder": "gru", "hidden_size": 8}}


def ids_of(batches):
    return [tuple(row[m].tolist()) for b in batches for row, m in zip(b.input_ids, b.attention_mask)]


@pytest.mark.parametrize("materialize", [True, False])
def test_text_glove_round_trip_matches_the_in_process_path(ray_local, tmp_path, materialize):
    cfg = RunConfig.from_dict(TEXT)
    data = build_ray_data(cfg, cache_dir=tmp_path, materialize=materialize, splits=("dev",))
    assert isinstance(data.datasets["dev"], MaterializedDataset) is materialize and set(data.datasets) == {"dev"}
    batches = list(worker_data(data.kind, data.datasets, data.pad_id).loader("dev", 16))
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    local = prepare_data(cfg.data, cfg.model)
    expected = ids_of(local.loader("dev", 16))
    assert ids_of(batches) == expected                       # same vocabulary ids, same order
    assert batches[0].rationale is not None
    assert all(b.input_ids.shape[1] == int(b.attention_mask.sum(1).max()) for b in batches)  # dynamic padding
    model = build_rationalizer(cfg.model, **data.model_inputs).eval()
    out = model(batches[0])
    assert out.logits.shape == (16, 2)


def test_text_bert_tokenization_in_map_batches(ray_local, tmp_path):
    cfg = RunConfig.from_dict({**TEXT, "model": {"encoder": "bert"}})
    data = build_ray_data(cfg, cache_dir=tmp_path, materialize=False, splits=("test",))   # streamed through the actors
    batch = next(iter(worker_data(data.kind, data.datasets, data.pad_id).loader("test", 4)))
    assert batch.input_ids[:, 0].tolist() == [101] * 4        # [CLS]
    assert not batch.unit_mask[:, 0].any()
    assert batch.rationale.sum() > 0
    model = build_rationalizer(cfg.model).eval()
    with torch.no_grad():
        assert model(batch).h.shape == (4, 384)


def test_graph_round_trip_builds_pyg_batches(ray_local, tmp_path):
    cfg = RunConfig.from_dict({"data": {"name": "ba2motifs", "options": {"n_graphs": 40}},
                               "model": {"encoder": "gcn", "hidden_size": 8, "degree_bins": 4}})
    data = build_ray_data(cfg, cache_dir=tmp_path, splits=("train",))
    batch = next(iter(worker_data(data.kind, data.datasets).loader("train", 8, shuffle=True)))
    assert batch.num_graphs == 8 and batch.edge_gt.shape[0] == batch.edge_index.shape[1]
    model = build_rationalizer(cfg.model, **data.model_inputs)
    assert model(batch).logits.shape == (8, 2)


def test_small_entries_are_materialized_once_large_ones_stream(ray_local, tmp_path, monkeypatch):
    import pipelines.data

    data = build_ray_data(RunConfig.from_dict(TEXT), cache_dir=tmp_path, splits=("train", "dev"))
    assert all(isinstance(ds, MaterializedDataset) for ds in data.datasets.values())
    monkeypatch.setattr(pipelines.data, "MATERIALIZE_LIMIT_BYTES", 100)      # the entry's files exceed it
    data = build_ray_data(RunConfig.from_dict(TEXT), cache_dir=tmp_path, splits=("train",))
    assert not isinstance(data.datasets["train"], MaterializedDataset)


def _record_batches(config):
    """A Ray Train loop that records the training batches of one epoch as this rank gets them."""
    import json

    import ray.train

    from pipelines.train import TrainSession

    session = TrainSession(config)
    cfg = RunConfig.from_dict(config["run"])
    train, _, _ = session.batches(cfg)
    reseed_shuffle(train, cfg.train.seed, 1)
    batches = [ids_of([b]) for b in train]
    world = session.context.get_world_size()
    with open(f"{config['out']}/rank{session.rank}-of-{world}.json", "w") as handle:
        json.dump(batches, handle)
    ray.train.report({"batches": len(batches)})


def test_two_workers_deal_out_the_batches_of_one_worker(ray_local, tmp_path):
    """Each of 2 gloo workers of the trainer ``build_trainer`` configures gets whole batches of
    the one-worker epoch — the same examples, bucket shapes and padding — dealt out alternately;
    together every training example exactly once (13 batches: the odd last one is split)."""
    import json

    from pipelines.train import build_trainer

    cfg = RunConfig.from_dict({**TEXT, "train": {"batch_size": 16, "bucket_window": 4, "seed": 5}})
    trainer = build_trainer(cfg, num_workers=2, storage_path=str(tmp_path / "runs"), name="deal",
                            cache_dir=str(tmp_path / "cache"))
    trainer.train_loop_per_worker = _record_batches         # the same trainer, recording instead of training
    trainer.train_loop_config["out"] = str(tmp_path)
    assert trainer.fit().error is None
    ranks = [[list(map(tuple, b)) for b in json.loads((tmp_path / f"rank{r}-of-2.json").read_text())] for r in (0, 1)]
    local = prepare_data(cfg.data, cfg.model, tmp_path / "cache")
    one = local.loader("train", 16, shuffle=True, seed=5, bucket_window=4)
    reseed_shuffle(one, 5, 1)
    whole = [ids_of([b]) for b in one]
    assert len(whole) == 13 and [len(r) for r in ranks] == [7, 7]
    assert ranks[0][:6] == whole[0:12:2] and ranks[1][:6] == whole[1:12:2]
    assert sorted(ranks[0][6] + ranks[1][6]) == sorted(whole[12])
    seen = [row for rank in ranks for batch in rank for row in batch]
    assert sorted(seen) == sorted(row for batch in whole for row in batch) and len(seen) == 200
