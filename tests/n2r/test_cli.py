"""The ``n2r train`` command: a real (tiny) run end to end, resume, and errors naming the field."""
import json

import yaml

from tests.helpers import invoke

TINY = {
    "data": {"name": "synthetic-text", "options": {"n_train": 64, "n_dev": 32, "n_test": 32, "min_len": 5, "max_len": 8}},
    "model": {"encoder": "gru", "hidden_size": 8},
    "objective": {"name": "rnp+n2r", "sparsity_target": 0.2},
    "train": {"epochs": 2, "batch_size": 16},
}


def test_train_writes_config_checkpoint_and_metrics_then_resumes(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "out"
    done = invoke("train", str(config), "--out", str(out))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert {"accuracy", "f1", "sparsity"} <= set(metrics["test"])
    assert (out / "checkpoint.pt").is_file() and (out / "config.yaml").is_file()
    # the run leaves a bundle: the dev-selected model, explainable from the command line
    card = json.loads((out / "bundle" / "metrics.json").read_text())
    assert card["best_epoch"] == metrics["best_epoch"] and card["test"] == metrics["test"]
    assert card["epochs_trained"] == 2 and card["code_version"].startswith("n2r ")
    done = invoke("explain", str(out / "bundle"), "--text", "a b c")
    assert done.returncode == 0, done.stderr
    assert {"label", "tokens", "rationale"} <= set(json.loads(done.stdout.splitlines()[0]))
    # a longer budget (given on the command line) resumes after epoch 2 instead of starting again
    done = invoke("train", str(config), "--out", str(out), "--resume", "--set", "train.epochs=3")
    assert done.returncode == 0, done.stderr
    assert "epoch   3" in done.stderr and "epoch   1" not in done.stderr      # progress on stderr
    assert json.loads(done.stdout)["best_epoch"] in (1, 2, 3)                 # the summary alone on stdout
    assert [h["epoch"] for h in json.loads((out / "metrics.json").read_text())["history"]] == [1, 2, 3]
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["epochs"] == 3


def test_bad_config_exits_2_naming_file_and_field(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({**TINY, "model": {"encoder": "transformer"}}))
    done = invoke("train", str(config))
    assert done.returncode == 2
    assert "bad.yaml: model.encoder: unknown encoder 'transformer'; known: bert, gcn, gru" in done.stderr
    config.write_text(yaml.safe_dump(TINY))
    done = invoke("train", str(config), "--set", "train.epohcs=3")
    assert done.returncode == 2 and "bad.yaml --set: train.epohcs: unknown field" in done.stderr
    config.write_text(yaml.safe_dump({**TINY, "data": {"name": "imdb"}}))
    done = invoke("train", str(config))
    assert done.returncode == 2 and "unknown dataset 'imdb'; known:" in done.stderr
