"""Engine: fit/evaluate, checkpoint save/load, resume, corrupt checkpoints, selection on dev."""
import pyarrow as pa
import pytest
import torch

from tests.helpers import objective_config
from n2r.config import ModelConfig, TrainConfig
from n2r.data import PreparedData
from n2r.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from n2r.engine import evaluate, fit
from n2r.models import build_rationalizer
from n2r.objectives import build_objective


def make(data, seed=0):
    torch.manual_seed(seed)
    return build_rationalizer(ModelConfig(hidden_size=8), **data.model_inputs())


def run_fit(data, epochs, path=None, resume=False, seed=0, **train):
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=3e-3, seed=seed, check_every=2, **train)
    model = make(data)
    result = fit(model, build_objective(objective_config("n2r")), data.loader("train", 16, shuffle=True, seed=seed),
                 data.loader("dev", 64), cfg, checkpoint_path=path, resume=resume)
    return model, result


def test_fit_records_history_and_selects_on_dev(small_data):
    _, result = run_fit(small_data, 3)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    accs = [r["dev"]["accuracy"] for r in result.history]
    assert result.best_metric == max(accs)
    assert result.best_epoch == accs.index(max(accs)) + 1
    record = result.history[0]
    assert {"step1/ce", "step2/norm", "step2/h_norm"} <= set(record["train"])
    assert {"accuracy", "sparsity", "precision", "recall", "f1"} <= set(record["dev"])
    assert "comprehensiveness" not in record["dev"]               # dev_faithfulness is off by default
    assert record["train"]["examples"] == 96
    _, result = run_fit(small_data, 1, dev_faithfulness=True)
    assert {"comprehensiveness", "sufficiency"} <= set(result.history[0]["dev"])


def test_parallel_directions_follow_the_thread_count_and_train_identically(small_data):
    """Two threads: the BiGRUs run their directions in parallel; one thread, or the option off:
    sequentially. The training is the same run either way (same losses, dev figures, weights)."""
    threads = torch.get_num_threads()
    try:
        model_par, par = run_fit(small_data, 2, num_threads=2)
        encoders = [m for m in model_par.modules() if type(m).__name__ == "BiGRUEncoder"]
        assert len(encoders) == 2 and all(e.parallel for e in encoders)
        model_seq, seq = run_fit(small_data, 2, num_threads=2, parallel_directions=False)
        assert not any(m.parallel for m in model_seq.modules() if type(m).__name__ == "BiGRUEncoder")
        model_one, _ = run_fit(small_data, 1, num_threads=1)
        assert not any(m.parallel for m in model_one.modules() if type(m).__name__ == "BiGRUEncoder")
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(par.history, seq.history):
        assert a["train"]["step1/loss"] == pytest.approx(b["train"]["step1/loss"], rel=1e-5)
        assert a["dev"]["accuracy"] == b["dev"]["accuracy"] and a["dev"]["sparsity"] == pytest.approx(b["dev"]["sparsity"])
    for (name, p), q in zip(model_par.state_dict().items(), model_seq.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-5), name


def test_checkpoint_round_trip_restores_identical_outputs(small_data, tmp_path):
    model, _ = run_fit(small_data, 1)
    save_checkpoint(tmp_path / "c.pt", model, None, {"epoch": 1})
    clone = make(small_data, seed=123)
    load_checkpoint(tmp_path / "c.pt", clone)
    batch = next(iter(small_data.loader("test", 32)))
    model.eval(), clone.eval()
    a, b = model(batch), clone(batch)
    assert torch.equal(a.z, b.z) and torch.equal(a.logits, b.logits) and torch.equal(a.h, b.h)


def test_resume_continues_at_the_next_epoch_with_identical_state(small_data, tmp_path):
    straight, full = run_fit(small_data, 3)
    path = tmp_path / "run.pt"
    run_fit(small_data, 2, path=path)                     # "interrupted" after epoch 2
    assert load_checkpoint(path)["epoch"] == 2
    resumed, result = run_fit(small_data, 3, path=path, resume=True)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert result.history[2]["dev"] == full.history[2]["dev"]
    assert result.best_epoch == full.best_epoch


def test_corrupt_or_foreign_checkpoints_are_refused_with_the_path(small_data, tmp_path):
    model = make(small_data)
    bad = tmp_path / "truncated.pt"
    save_checkpoint(bad, model, None, {"epoch": 1})
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated.pt: not a readable checkpoint"):
        load_checkpoint(bad, model)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not an n2r checkpoint"):
        load_checkpoint(foreign, model)
    with pytest.raises(CheckpointError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt", model)
    other = build_rationalizer(ModelConfig(hidden_size=5), **small_data.model_inputs())
    save_checkpoint(tmp_path / "other.pt", other, None, {"epoch": 1})
    with pytest.raises(CheckpointError, match="other.pt: weights do not match"):
        load_checkpoint(tmp_path / "other.pt", model)
    params = list(model.parameters())
    one_group = torch.optim.Adam(params)                                  # the same weights, grouped otherwise
    two_groups = torch.optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    save_checkpoint(tmp_path / "grouped.pt", model, one_group, {"epoch": 1})
    with pytest.raises(CheckpointError, match="grouped.pt: its optimizer state does not match this run's optimizer"):
        load_checkpoint(tmp_path / "grouped.pt", model, two_groups)


def test_selection_on_f1_requires_annotated_dev(small_data):
    dev = small_data.splits["dev"]
    dev = dev.set_column(dev.column_names.index("rationale"), "rationale",
                         pa.nulls(dev.num_rows, dev.schema.field("rationale").type))
    data = PreparedData("text", {**small_data.splits, "dev": dev}, inputs=small_data.inputs)
    assert not data.has_rationales("dev") and data.has_rationales("train")
    model = make(data)
    assert "f1" not in evaluate(model, data.loader("dev", 64), device=torch.device("cpu"))
    with pytest.raises(ValueError, match="train.selection_metric: 'f1' is not produced on dev"):
        fit(model, build_objective(objective_config("rnp")), data.loader("train", 16), data.loader("dev", 64),
            TrainConfig(epochs=1, selection_metric="f1"))


def test_evaluate_graphs_reports_edge_and_node_rationale_metrics():
    from n2r.data.synthetic import ba2motifs

    splits = ba2motifs(n_graphs=20, base_nodes=8, seed=4)
    data = PreparedData("graph", splits, inputs={"in_channels": 10})
    model = build_rationalizer(ModelConfig(encoder="gcn", hidden_size=8, select_nodes=True, degree_bins=4),
                               **data.model_inputs())
    metrics = evaluate(model, data.loader("train", 8), device=torch.device("cpu"))
    assert {"f1", "auroc", "node_sparsity", "node_f1", "comprehensiveness"} <= set(metrics)
    assert metrics["n"] == 16 and 0.0 <= metrics["auroc"] <= 1.0


def test_bucketed_batches_cover_every_example_once_group_lengths_and_repeat_per_seed():
    from n2r.batch import BucketBatchSampler

    lengths = [(i * 37) % 50 + 1 for i in range(200)]

    def epoch(seed):
        return list(BucketBatchSampler(lengths, 10, 4, torch.Generator().manual_seed(seed)))

    batches = epoch(0)
    assert sorted(i for b in batches for i in b) == list(range(200)) and len(batches) == 20
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    plain = list(torch.utils.data.BatchSampler(torch.randperm(200, generator=torch.Generator().manual_seed(0)).tolist(),
                                               10, False))
    plain_spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plain) / len(plain)
    assert spread < plain_spread / 2                      # similar lengths share a batch
    assert epoch(0) == batches and epoch(1) != batches    # a function of the seed


def test_bucketed_loader_resumes_with_the_same_batches(small_data, tmp_path):
    from n2r.engine import reseed_shuffle

    loader = small_data.loader("train", 16, shuffle=True, seed=4, bucket_window=3)
    reseed_shuffle(loader, 4, 2)
    first = [b.input_ids.tolist() for b in loader]
    reseed_shuffle(loader, 4, 2)
    assert [b.input_ids.tolist() for b in loader] == first
    reseed_shuffle(loader, 4, 3)
    assert [b.input_ids.tolist() for b in loader] != first


def test_length_sorted_evaluation_batches_pad_less_and_give_the_same_metrics(small_data):
    torch.manual_seed(0)
    model = build_rationalizer(ModelConfig(hidden_size=8), **small_data.model_inputs()).eval()
    plain, sorted_ = small_data.loader("dev", 16), small_data.loader("dev", 16, by_length=True)
    real = lambda loader: [int(b.attention_mask.sum()) for b in loader]  # noqa: E731
    padded = lambda loader: sum(b.attention_mask.numel() for b in loader)  # noqa: E731
    total = sum(len(ids) for ids in small_data.splits["dev"].column("input_ids").to_pylist())
    assert sum(real(sorted_)) == sum(real(plain)) == total              # every example exactly once
    assert padded(sorted_) < padded(plain)
    lengths = [b.attention_mask.sum(-1) for b in sorted_]
    assert all(a.max() <= b.min() for a, b in zip(lengths, lengths[1:]))   # batches in length order
    a = evaluate(model, plain, device=torch.device("cpu"))
    b = evaluate(model, sorted_, device=torch.device("cpu"))
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-5 for k in a)


def test_evaluation_padding_moves_the_random_stream_only_under_sampled_masks(small_data):
    """With the default rule (argmax) an evaluation-only setting — how far dev batches are padded —
    leaves training's random stream where it was (the loader's one seed draw per pass aside); with
    ``eval_selection: sample`` the dev evaluation draws Gumbel noise from the stream training uses,
    and wider batches draw more, so training continues on another stream (docs/results.md,
    "What is left between the default and the compatible mode")."""
    def stream_after(rule, pad_to):
        torch.manual_seed(0)
        model = build_rationalizer(ModelConfig(hidden_size=8, eval_selection=rule), **small_data.model_inputs())
        evaluate(model, small_data.loader("dev", 16, by_length=True, pad_to=pad_to), device=torch.device("cpu"))
        return torch.get_rng_state()

    assert torch.equal(stream_after("argmax", None), stream_after("argmax", 64))
    assert not torch.equal(stream_after("sample", None), stream_after("sample", 64))
    assert not torch.equal(stream_after("sample", None), stream_after("argmax", None))


@pytest.mark.parametrize("objective, method", [("rnp", "fr"), ("rnp", "dr"), ("n2r", "fr"), ("n2r", "dr")])
def test_fr_and_dr_train_end_to_end_with_each_objective(objective, method):
    """FR, DR, FR+N2R and DR+N2R through the runner every sweep trial uses: two epochs, the
    predictor really trained, the shared encoder or the slower predictor in the run's model
    and optimizer (their gradient routing and step sizes: tests/n2r/test_objectives.py)."""
    from n2r.config import RunConfig
    from n2r.runner import build_run, train_run

    cfg = RunConfig.from_dict({
        "data": {"name": "synthetic-text", "options": {"n_train": 96, "n_dev": 32, "n_test": 32, "min_len": 5, "max_len": 9}},
        "model": {"encoder": "gru", "hidden_size": 8, "shared_encoder": method == "fr"},
        "objective": {"name": objective, "sparsity_target": 0.2},
        "train": {"epochs": 2, "batch_size": 16, "predictor_lr_scale": 0.1 if method == "dr" else 1.0}})
    data, model = build_run(cfg)
    assert (model.generator.encoder is model.predictor.encoder) == (method == "fr")
    result = train_run(cfg, data=data)                     # the prepared data once, not twice
    assert [r["epoch"] for r in result["history"]] == [1, 2]
    for record in result["history"]:
        assert all(torch.isfinite(torch.tensor(v)) for k, v in record["train"].items() if "/" in k), record["train"]
    assert 0.0 < result["test"]["sparsity"] < 1.0 and 0.0 <= result["test"]["accuracy"] <= 1.0


def test_the_sparsity_tolerance_measures_against_the_objectives_target(small_data):
    """Selection needs no second copy of the target: ``fit`` takes it from the objective, so a
    tolerance is never silently ignored (it was, when a caller did not pass the target)."""
    from n2r.engine import selection_score

    _, loose = run_fit(small_data, 2)
    _, strict = run_fit(small_data, 2, sparsity_tolerance=1e-9)        # no epoch hits 0.3 exactly
    accuracies = [r["dev"]["accuracy"] for r in strict.history]
    assert accuracies == [r["dev"]["accuracy"] for r in loose.history]
    assert strict.best_metric == pytest.approx(max(accuracies) - 1.0) and loose.best_metric == max(accuracies)
    dev = {"accuracy": 0.8, "sparsity": 0.32}
    assert selection_score(dev, "accuracy", 0.3, 0.05) == 0.8
    assert selection_score(dev, "accuracy", 0.3, 0.01) == pytest.approx(-0.2)
    assert selection_score(dev, "accuracy", 0.3) == 0.8


def test_the_diagnostic_test_curve_leaves_training_and_history_untouched():
    """``train_run(diagnostic_test=True)`` shows the current state's test figures after every epoch
    (benchmarks/epoch_curve.py, benchmarks/emergence.py) without changing what is trained or
    recorded — with sampled evaluation masks, which draw random numbers."""
    from n2r.config import RunConfig
    from n2r.runner import build_run, train_run

    cfg = RunConfig.from_dict({
        "data": {"name": "synthetic-text", "options": {"n_train": 96, "n_dev": 32, "n_test": 32, "min_len": 5, "max_len": 9}},
        "model": {"encoder": "gru", "hidden_size": 8, "eval_selection": "sample"},
        "objective": {"name": "n2r", "sparsity_target": 0.2},
        "train": {"epochs": 3, "batch_size": 16}})
    data, _ = build_run(cfg)
    plain = train_run(cfg, data=data)
    seen = []
    watched = train_run(cfg, data=data, diagnostic_test=True, on_epoch_end=lambda record, _: seen.append(record))
    assert [r["epoch"] for r in seen] == [1, 2, 3] and all(0 <= r["test"]["f1"] <= 1 for r in seen)
    assert seen[-1]["test"]["n"] == 32 and "comprehensiveness" not in seen[-1]["test"]
    assert all("test" not in r for r in watched["history"])                 # a diagnostic, never recorded
    assert [r["dev"] for r in watched["history"]] == [r["dev"] for r in plain["history"]]
    assert watched["test"] == plain["test"]
