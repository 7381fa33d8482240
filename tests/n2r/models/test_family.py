"""Encoder families (n2r/models/family.py): every family-specific step goes through the family
object — a fourth family added in one test file trains, exports, loads and explains."""
import re

import pytest

from n2r.bundle import load_bundle
from n2r.config import ConfigError, RunConfig
from n2r.models import FAMILIES, family_of
from n2r.models.family import register
from n2r.runner import train_run
from tests.test_architecture import ROOT, modules


@pytest.fixture
def toy_bow():
    """``model.encoder: toy-bow`` (tests/n2r/models/toy_family.py) for one test."""
    from tests.n2r.models.toy_family import BowFamily

    register("toy-bow")(BowFamily)
    yield
    FAMILIES.unregister("toy-bow")


def test_a_family_added_in_one_file_trains_exports_and_explains(tmp_path, toy_bow):
    cfg = RunConfig.from_dict({"data": {"name": "synthetic-text", "options": {"n_train": 96, "n_dev": 32,
                                                                              "n_test": 32}},
                               "model": {"encoder": "toy-bow"},
                               "train": {"epochs": 2, "batch_size": 16, "num_threads": 1}})
    summary = train_run(cfg, tmp_path / "run", cache_dir=tmp_path / "cache")
    assert summary["best_epoch"] in (1, 2) and {"accuracy", "f1", "sparsity"} <= set(summary["test"])
    bundle = load_bundle(tmp_path / "run" / "bundle")
    assert type(bundle.model.generator).__name__ == "BowGenerator" and bundle.kind == "text"
    words = bundle.text_encoder.words[2:12]
    explanation = bundle.explain({"tokens": words})
    assert list(explanation.tokens) == words and len(explanation.mask) == len(words)
    assert not bundle.model.sequential                            # the family's own setting reached the model


def test_a_field_of_another_family_is_refused_naming_it(toy_bow):
    with pytest.raises(ConfigError, match="model.gru_reads_padding: True is read by the gru encoder only; "
                                          "this run's encoder is toy-bow"):
        RunConfig.from_dict({"model": {"encoder": "toy-bow", "gru_reads_padding": True}})
    with pytest.raises(ConfigError, match="model.degree_bins: 4 is read by the gcn encoder only"):
        RunConfig.from_dict({"model": {"encoder": "gru", "degree_bins": 4}})
    assert family_of("toy-bow").fields == ("embeddings",) and "toy-bow" in FAMILIES


def test_no_code_outside_the_family_files_tests_an_encoder_name():
    """The engine, bundles, explanations, data, serving and pipelines ask the family; only the
    family files (n2r/models/) know names and tokenizer types."""
    pattern = re.compile(r"encoder\s*(==|!=|in\s*\()|hasattr\(\w*tokenizer")
    offenders = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                 for package in ("n2r", "pipelines") for name, path in modules(package).items()
                 if not name.startswith("n2r.models.")
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, "\n".join(offenders)
