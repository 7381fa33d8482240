"""Sweep files (pipelines/sweep_file.py, pipelines/spec.py): composed, validated field by field before Ray starts, expanded into studies."""
import pytest
import yaml

from n2r.config import ConfigError, RunConfig
from pipelines.spec import SweepSpec
from tests.helpers import ROOT, with_changes
from tests.helpers import TINY_SWEEP as TINY


def test_studies_carry_their_data_set_encoder_and_objective():
    spec = SweepSpec.from_dict({**TINY, "datasets": [{"name": "synthetic-text", "options": {"seed": 4}}],
                                "objectives": ["rnp", "rnp+n2r"]})
    assert [(s.dataset, s.encoder, s.objective) for s in spec.studies] == [
        ("synthetic-text", "gru", "rnp"), ("synthetic-text", "gru", "rnp+n2r")]
    assert all(s.name == f"{s.dataset}-{s.encoder}-{s.objective}" for s in spec.studies)


@pytest.mark.parametrize("changes, field", [
    ({"datasets": [{"name": "imdb"}]}, "datasets\\[0\\].name: unknown dataset 'imdb'"),
    ({"encoders": ["lstm"]}, "encoders\\[0\\].name: unknown encoder 'lstm'"),
    ({"objectives": ["mmi"]}, "objectives\\[0\\]: unknown objective 'mmi'"),
    ({"space": {"objective.lambda_sparsity": {"uniform": [3.0, 3.0]}}}, "space.objective.lambda_sparsity: empty or inverted"),
    ({"space": {"objective.lambda_sparsity": {"uniform": [5.0, 1.0]}}}, "space.objective.lambda_sparsity: empty or inverted"),
    ({"space": {"objective.lambda_sparsity": {"loguniform": [0.0, 1.0]}}},
     "space.objective.lambda_sparsity: loguniform needs low > 0"),
    ({"space": {"objective.lamda": {"uniform": [0.0, 1.0]}}}, "space.objective.lamda: .*objective.lamda: unknown field"),
    ({"space": {"objective.sparsity_target": {"uniform": [0.0, 0.5]}}}, "space.objective.sparsity_target: .*must lie in"),
    ({"space": {"objective.sparsity_target": {"uniform": [0.1, 1.5]}}}, "space.objective.sparsity_target: .*must lie in"),
    ({"space": {"model.eval_selection": {"choice": ["topk", "best"]}}}, "space.model.eval_selection: .*'best' is not one"),
    ({"space": {}}, "space: required and must not be empty"),
    ({"metric": {"select": "dev_loss"}}, "metric.select: 'dev_loss' is not one of 'accuracy' or 'f1'"),
    ({"datasets": [{"name": "sst2", "path": "x"}], "metric": {"select": "f1"}}, "datasets\\[0\\].name: 'sst2' has no rationales"),
    ({"search": {"num_samples": 0}}, "search.num_samples: must be >= 1"),
    ({"scheduler": {"type": "pbt"}}, "scheduler.type: 'pbt' is not one of 'asha' or 'none'"),
    ({"trials": 3}, "trials: unknown field"),
    ({"retrain": {"seeds": [1, 1]}}, "retrain.seeds: must be a list of distinct integers"),
    ({"retrain": {"seed": [1]}}, "retrain.seed: unknown field"),
    ({"resources": {"use_gpu": True, "gpus_per_worker": 1.5}}, "resources.gpus_per_worker: 1.5: a fraction"),
    ({"resources": {"gpu": 1}}, "resources.gpu: unknown field"),
    ({"metric": {"select": "accuracy", "sparsity_tolerence": 0.05}}, "metric.sparsity_tolerence: unknown field"),
    ({"search": {"num_samples": 1, "sed": 3}}, "search.sed: unknown field"),
    ({"scheduler": {"type": "asha", "grace": 3}}, "scheduler.grace: unknown field"),
    ({"metric": "accuracy"}, "metric: expected a mapping"),
    ({"datasets": [{"name": "synthetic-text", "option": {}}]}, "datasets\\[0\\].option: unknown field"),
    ({"encoders": [{"name": "gru", "hiden_size": 4}]}, "encoders\\[0\\].hiden_size: unknown field"),
    ({"encoders": [{"name": "gru", "hidden_size": "big"}]}, "encoders\\[0\\].hidden_size: expected an integer"),
    ({"encoders": [{"name": "gru", "train": {"epochz": 1}}]}, "encoders\\[0\\].train: epochz: unknown field"),
    ({"base": {"trian": {}}}, "base: trian: unknown field"),
    ({"resources": {"num_workers": 0}}, "resources.num_workers: must be >= 1"),
    ({"resources": {"use_gpu": True, "num_workers": 2, "gpus_per_worker": 0.5}},
     "resources: gpus_per_worker 0.5 with num_workers 2: NCCL refuses two ranks of one trial on the same GPU"),
    ({"datasets": [{"name": "synthetic-text", "train": {"epochz": 1}}]}, "datasets\\[0\\].train: epochz: unknown field"),
    ({"scheduler": {"type": "asha", "reduction_factor": 1}}, "scheduler.reduction_factor: must be >= 2"),
    ({"name": ""}, "name: "),
    ({"datasets": [{"name": "synthetic-text"}, {"name": "synthetic-text"}]},
     "datasets\\[1\\]: two entries would share the study name prefix 'synthetic-text'"),
    # each value alone is valid; one pair of them is a run the configuration refuses
    ({"objectives": ["rnp"], "space": {"objective.continuity_window": {"int": [8, 64]},
                                       "objective.padding_in_penalties": {"choice": [False, True]}}},
     "space.objective.continuity_window × space.objective.padding_in_penalties: objective.continuity_window=8 with "
     "objective.padding_in_penalties=True \\(study synthetic-text-gru-rnp\\): objective: continuity_window prices"),
])
def test_invalid_sweep_files_fail_before_any_trial_naming_the_field(tmp_path, changes, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    with pytest.raises(ConfigError, match=f"bad.yaml: {field}"):
        SweepSpec.from_yaml(path)


def test_defaults_compose_shared_parts_under_the_file(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "budget.yaml").write_text(yaml.safe_dump(
        {"base": {"train": {"epochs": 5, "batch_size": 8}}, "search": {"num_samples": 2, "seed": 3}}))
    (tmp_path / "parts" / "space.yaml").write_text(yaml.safe_dump(
        {"defaults": ["budget.yaml"], "space": {"train.lr": {"loguniform": [1e-3, 1e-2]}}}))
    own = {k: v for k, v in TINY.items() if k not in ("space", "search")}
    own["base"] = {"train": {"epochs": 2}, "model": {"hidden_size": 8}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"defaults": ["parts/space.yaml"], **own}))
    spec = SweepSpec.from_yaml(tmp_path / "sweep.yaml")
    run = spec.studies[0].run
    assert run["train"]["epochs"] == 2 and run["train"]["batch_size"] == 8    # the file's own key wins; merged
    assert (spec.num_samples, spec.seed, list(spec.space)) == (2, 3, ["train.lr"])
    assert "defaults" not in spec.raw and spec.raw["search"] == {"num_samples": 2, "seed": 3}  # recorded composed
    assert SweepSpec.from_dict(spec.raw).studies == spec.studies             # so resume needs no parts


@pytest.mark.parametrize("defaults, message", [
    (["nosuch.yaml"], "sweep.yaml: defaults\\[0\\]: no such file"),
    (["sweep.yaml"], "sweep.yaml: defaults\\[0\\]: sweep.yaml includes itself"),
    ("budget.yaml", "sweep.yaml: defaults: expected a list of file names"),
])
def test_bad_defaults_name_the_file_and_entry(tmp_path, defaults, message):
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"defaults": defaults, **TINY}))
    with pytest.raises(ConfigError, match=message):
        SweepSpec.from_yaml(tmp_path / "sweep.yaml")


def test_an_error_inside_a_part_names_the_composed_file_and_field(tmp_path):
    (tmp_path / "part.yaml").write_text(yaml.safe_dump({"search": {"num_sample": 2}}))
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"defaults": ["part.yaml"], **TINY}))
    with pytest.raises(ConfigError, match="sweep.yaml: search.num_sample: unknown field"):
        SweepSpec.from_yaml(tmp_path / "sweep.yaml")


def test_overrides_make_a_new_validated_spec():
    spec = SweepSpec.from_dict(TINY, source="tiny.yaml")
    more = spec.with_overrides({"search.num_samples": 5, "retrain.seeds": [1, 2]})
    assert (more.num_samples, more.retrain_seeds, spec.num_samples) == (5, [1, 2], 3)
    assert more.raw["search"]["num_samples"] == 5
    with pytest.raises(ConfigError, match=r"tiny.yaml \(overrides search.num_samples\): search.num_samples: must be >= 1"):
        spec.with_overrides({"search.num_samples": 0})


def test_shipped_spaces_are_valid():
    root = ROOT / "tune_spaces"
    spaces = sorted(p for p in root.rglob("*.yaml") if "parts" not in p.relative_to(root).parts)
    assert {p.stem for p in spaces} >= {"synthetic-text", "ba2motifs", "beer", "movies", "mutagenicity", "beer-bert"}
    used = {(path.parent / name).resolve() for path in root.rglob("*.yaml")
            for name in (yaml.safe_load(path.read_text()).get("defaults") or [])}
    assert set((root / "parts").glob("*.yaml")) <= used, "every shared part is used by a sweep file"
    for path in spaces:
        spec = SweepSpec.from_yaml(path)
        assert spec.studies and spec.space
        text = path.read_text()
        assert "Metric:" in text, f"{path.name} documents its metric and why"
        names = [study.name for study in spec.studies]
        assert len(set(names)) == len(names), f"{path.name}: study names collide"
        if path.parent.name == "quality":               # methods compared at one, fixed sparsity
            assert all(RunConfig.from_dict(s.run).model.eval_selection == "topk" for s in spec.studies)
        if path.parent.name != "quality" and any(s.encoder in ("gru", "bert") for s in spec.studies):
            assert {"model.shared_encoder", "train.predictor_lr_scale"} <= set(spec.space), \
                f"{path.name}: the search chooses FR / DR too (parts/methods.yaml)"
        if path.stem.endswith("-gpu"):                  # sized for a GPU cluster
            assert spec.use_gpu and spec.resources_per_worker["GPU"] <= 1 and len(spec.retrain_seeds) >= 3


def test_same_dataset_with_different_options_gets_distinct_study_names():
    spec = SweepSpec.from_dict(with_changes(datasets=[{"name": "beer-heldout-split", "path": "x", "options": {"aspect": a}}
                                                      for a in (0, 1)],
                                            encoders=["gru", {"name": "bert", "train": {"epochs": 1}}]))
    assert [s.name for s in spec.studies] == [
        "beer-heldout-split-aspect0-gru-n2r", "beer-heldout-split-aspect0-bert-n2r",
        "beer-heldout-split-aspect1-gru-n2r", "beer-heldout-split-aspect1-bert-n2r"]
    assert [s.run["train"]["epochs"] for s in spec.studies] == [2, 1, 2, 1]   # per-encoder budgets
    assert [s.run["data"]["options"]["aspect"] for s in spec.studies] == [0, 0, 1, 1]
