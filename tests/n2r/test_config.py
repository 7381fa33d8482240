"""Run configs: YAML loading and errors that name the field and the file."""
import re

import pytest

from n2r.config import ConfigError, RunConfig, parse_overrides


def test_defaults_and_round_trip(tmp_path):
    cfg = RunConfig.from_dict({"objective": {"name": "rnp+n2r", "lambda_norm": 2}, "train": {"epochs": 3}})
    assert cfg.objective.lambda_norm == 2.0 and isinstance(cfg.objective.lambda_norm, float)
    cfg.to_yaml(tmp_path / "c.yaml")
    assert RunConfig.from_yaml(tmp_path / "c.yaml") == cfg
    # every objective scales step 1's cross-entropy by the reference's cls_lambda unless told otherwise
    assert {RunConfig.from_dict({"objective": {"name": n}}).objective.ce_weight
            for n in ("rnp", "n2r", "rnp+n2r")} == {0.9}


@pytest.mark.parametrize("raw, field, message", [
    ({"model": {"encoder": "lstm"}}, "model.encoder", "unknown encoder 'lstm'; known: bert, gcn, gru"),
    ({"objective": {"name": "mmi"}}, "objective.name", "'mmi' is not one of"),
    ({"objective": {"lamda_norm": 1}}, "objective.lamda_norm", "unknown field"),
    ({"train": {"epochs": "ten"}}, "train.epochs", "expected an integer"),
    ({"train": {"epochs": 0}}, "train.epochs", "must be >= 1"),
    ({"objective": {"sparsity_target": 1.5}}, "objective.sparsity_target", "must lie in"),
    ({"objective": {"lambda_norm": -1}}, "objective.lambda_norm", "must be >= 0"),
    ({"objective": {"ce_weight": None}}, "objective.ce_weight", "expected a number, got None"),
    ({"model": {"shared_encoder": "yes"}}, "model.shared_encoder", "expected true/false"),
    ({"data": []}, "data", "expected a mapping"),
    ({"model": {"eval_selection": "top"}}, "model.eval_selection", "'top' is not one of"),
    ({"model": {"eval_share": 0}}, "model.eval_share", "must lie in"),
])
def test_invalid_values_name_the_field(raw, field, message):
    with pytest.raises(ConfigError, match=f"^{field}: {message}"):
        RunConfig.from_dict(raw)


def test_topk_evaluation_share_defaults_to_the_sparsity_target(tmp_path):
    cfg = RunConfig.from_dict({"model": {"eval_selection": "topk"}, "objective": {"sparsity_target": 0.2}})
    assert cfg.model.eval_share == 0.2
    cfg = RunConfig.from_dict({"model": {"eval_selection": "topk", "eval_share": 0.1}})
    assert cfg.model.eval_share == 0.1
    assert RunConfig.from_dict({}).model.eval_share is None  # argmax needs no share


def test_errors_from_files_name_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  encoder: lstm\n")
    with pytest.raises(ConfigError, match=r"run.yaml: model.encoder"):
        RunConfig.from_yaml(path)
    path.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"run.yaml: not valid YAML"):
        RunConfig.from_yaml(path)


def test_overrides_give_a_new_validated_config_and_name_bad_fields():
    cfg = RunConfig.from_dict({"data": {"name": "beer", "options": {"aspect": 0}}})
    changed = cfg.with_overrides(parse_overrides(["train.epochs=3", "data.options.aspect=1", "model.checkpoint=null"]))
    assert (changed.train.epochs, changed.data.options, changed.model.checkpoint) == (3, {"aspect": 1}, None)
    assert cfg.train.epochs == 10 and cfg.data.options == {"aspect": 0}      # the original is untouched
    with pytest.raises(ConfigError, match=r"^run.yaml --set: train.epoch: unknown field"):
        cfg.with_overrides({"train.epoch": 3}, source="run.yaml --set")
    with pytest.raises(ConfigError, match=r"^--set: train.epochs: expected an integer, got 'three'"):
        cfg.with_overrides(parse_overrides(["train.epochs=three"]))
    with pytest.raises(ConfigError, match=r"^--set: trian: unknown field"):
        cfg.with_overrides({"trian.epochs": 3})
    with pytest.raises(ConfigError, match=r"expected SECTION.FIELD=VALUE"):
        parse_overrides(["train.epochs"])


def test_assignments_are_validated():
    cfg = RunConfig.from_dict({})
    with pytest.raises(ConfigError, match=r"^epochs: must be >= 1"):
        cfg.train.epochs = 0
    with pytest.raises(ConfigError, match=r"^bf16: expected true/false"):
        cfg.train.bf16 = "no"
    cfg.train.epochs = 4
    assert cfg.train.epochs == 4


def test_every_range_is_stated_on_its_field():
    # one constraint per field, written once in the schema: a sample of them, with their messages
    cases = {("model", "dropout", 1.0): "must lie in [0, 1)", ("model", "tau", 0.0): "must be > 0",
             ("train", "lr", 0.0): "must be > 0", ("train", "pad_to", 0): "must be >= 1",
             ("train", "bucket_window", -1): "must be >= 0", ("model", "init_selection", 1.0): "must lie in (0, 1)"}
    for (section, name, value), message in cases.items():
        with pytest.raises(ConfigError, match=rf"^{section}.{name}: {re.escape(message)}"):
            RunConfig.from_dict({section: {name: value}})


@pytest.mark.parametrize("model, message", [
    ({"encoder": "gcn", "embeddings": "my-vectors.txt"}, "model.embeddings: 'my-vectors.txt' is read by the gru encoder only; this run's encoder is gcn"),
    ({"encoder": "gcn", "gru_reads_padding": True}, "model.gru_reads_padding: True is read by the gru encoder only"),
    ({"encoder": "gru", "degree_bins": 4}, "model.degree_bins: 4 is read by the gcn encoder only; this run's encoder is gru"),
    ({"encoder": "bert", "select_nodes": True}, "model.select_nodes: True is read by the gcn encoder only"),
    ({"encoder": "gru", "pooling": "mean"}, "model.pooling: 'mean' is read by the bert and gcn encoders only"),
    ({"encoder": "gcn", "checkpoint": "bert-base-uncased"}, "model.checkpoint: 'bert-base-uncased' is read by the bert"),
])
def test_a_field_another_encoder_family_reads_is_refused_naming_it(model, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig.from_dict({"model": model})
    defaults = RunConfig.from_dict({"model": {"encoder": model["encoder"]}}).to_dict()
    assert RunConfig.from_dict(defaults).model.encoder == model["encoder"]     # written defaults load back
