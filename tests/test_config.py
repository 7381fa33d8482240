"""Run configs: YAML loading and errors that name the field and the file."""
import pytest

from n2r.config import ConfigError, RunConfig


def test_defaults_and_round_trip(tmp_path):
    cfg = RunConfig.from_dict({"objective": {"name": "rnp+n2r", "lambda_norm": 2}, "train": {"epochs": 3}})
    assert cfg.objective.lambda_norm == 2.0 and isinstance(cfg.objective.lambda_norm, float)
    cfg.to_yaml(tmp_path / "c.yaml")
    assert RunConfig.from_yaml(tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("raw, field, message", [
    ({"model": {"encoder": "lstm"}}, "model.encoder", "'lstm' is not one of"),
    ({"objective": {"name": "mmi"}}, "objective.name", "'mmi' is not one of"),
    ({"objective": {"lamda_norm": 1}}, "objective.lamda_norm", "unknown field"),
    ({"train": {"epochs": "ten"}}, "train.epochs", "expected an integer"),
    ({"train": {"epochs": 0}}, "train.epochs", "must be >= 1"),
    ({"objective": {"sparsity_target": 1.5}}, "objective.sparsity_target", "must lie in"),
    ({"objective": {"lambda_norm": -1}}, "objective.lambda_norm", "must be >= 0"),
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
