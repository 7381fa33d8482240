"""Sweeps on a real local Ray with real Optuna: validation, selection, resume after SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from n2r.config import ConfigError, RunConfig
from pipelines.spec import SweepSpec
from pipelines.sweep import run_sweep
from tests.helpers import ROOT, cuda

TINY = {
    "name": "tiny",
    "base": {"model": {"encoder": "gru", "hidden_size": 8}, "objective": {"sparsity_target": 0.2},
             "train": {"epochs": 2, "batch_size": 16, "num_threads": 1}},
    "datasets": [{"name": "synthetic-text", "options": {"n_train": 96, "n_dev": 32, "n_test": 32,
                                                        "min_len": 5, "max_len": 9}}],
    "encoders": ["gru"],
    "objectives": ["n2r"],
    "space": {"objective.lambda_sparsity": {"loguniform": [0.5, 10.0]}, "train.lr": {"loguniform": [1e-3, 1e-2]}},
    "metric": {"select": "accuracy", "sparsity_tolerance": 0.1},
    "search": {"num_samples": 3, "seed": 0, "max_concurrent_trials": 2},
    "scheduler": {"type": "none"},
}


def with_changes(**changes):
    spec = json.loads(json.dumps(TINY))
    for dotted, value in changes.items():
        node = spec
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return spec


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


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_sweep_on_a_local_instance_without_gpus_is_refused_before_any_trial(tmp_path):
    spec = {**TINY, "resources": {"use_gpu": True, "gpus_per_worker": 0.25}}
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(spec))
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "sweep", str(tmp_path / "gpu.yaml"),
                           "--storage", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "gpu.yaml: resources.use_gpu: each trial needs 1 × 0.25 GPU, this local Ray instance has 0" in done.stderr
    assert not (tmp_path / "runs" / "tiny").exists()                   # nothing was started or written
    assert "started a local Ray" not in done.stderr                     # refused before Ray starts


def test_a_gpu_training_on_a_local_instance_without_gpus_is_refused_before_it_starts(tmp_path):
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(TINY["base"] | {"data": TINY["datasets"][0]}))
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "train", str(tmp_path / "run.yaml"), "--workers", "2",
                           "--gpu", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"--workers 2 --gpu: needs 2 GPU, this local Ray instance has {torch.cuda.device_count()}" in done.stderr
    assert "started a local Ray" not in done.stderr


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


def test_three_trial_optuna_sweep_selects_by_the_declared_metric(ray_local, tmp_path):
    spec = SweepSpec.from_dict(TINY)
    summary = run_sweep(spec, tmp_path / "sweep", cache_dir=str(tmp_path / "cache"))
    study = summary["studies"]["synthetic-text-gru-n2r"]
    trials = [t for t in study["trials"] if t.get("best_score") is not None]
    assert len(trials) == 3
    assert all(t["curves"]["epoch"] == [1, 2] for t in trials)
    assert study["best"]["best_score"] == max(t["best_score"] for t in trials)
    # the score is the declared metric: dev accuracy, minus 1 when sparsity misses 0.2 by > 0.1
    for t in trials:
        dev = t["best_dev"]
        expected = dev["accuracy"] - (1.0 if abs(dev["sparsity"] - 0.2) > 0.1 else 0.0)
        assert t["best_score"] == pytest.approx(expected, abs=1e-6)
    params = [tuple(sorted(t["params"].items())) for t in trials]
    assert len(set(params)) == 3
    assert json.loads((tmp_path / "sweep" / "summary.json").read_text())["studies"]


def _epochs_per_trial(study_dir: Path) -> dict[str, list[int]]:
    out = {}
    for result in study_dir.glob("*/result.json"):
        epochs = [int(json.loads(line)["epoch"]) for line in result.read_text().splitlines() if line.strip()]
        out[result.parent.name] = epochs
    return out


def test_driver_sigkill_mid_sweep_then_resume_completes(tmp_path):
    spec = with_changes(search__num_samples=4, base__train__epochs=4, search__max_concurrent_trials=2)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    storage = f"file://{out}"                              # the sweep reads and writes through a URI
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "N2R_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "pipelines.cli"]
    driver = subprocess.Popen(cmd + ["sweep", str(path), "--storage", storage, "--no-export"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    study_dir = out / "tiny" / "synthetic-text-gru-n2r"
    deadline = time.time() + 240
    while time.time() < deadline:
        epochs = _epochs_per_trial(study_dir) if study_dir.is_dir() else {}
        if sum(len(e) for e in epochs.values()) >= 3:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the sweep reported no epochs in time")
    os.killpg(driver.pid, signal.SIGKILL)       # the driver and the local Ray it started
    driver.wait(timeout=30)
    assert not (out / "tiny" / "summary.json").exists()
    resumed = subprocess.run(cmd + ["resume", f"{storage}/tiny", "--no-export"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((out / "tiny" / "summary.json").read_text())
    trials = summary["studies"]["synthetic-text-gru-n2r"]["trials"]
    assert len(trials) == 4                                  # the budget is respected
    params = [tuple(sorted(t["params"].items())) for t in trials]
    assert len(set(params)) == 4                             # no configuration ran twice
    study = summary["studies"]["synthetic-text-gru-n2r"]
    on_disk = _epochs_per_trial(study_dir)
    recorded = {Path(t["path"]).name: t for t in trials}
    # trials the killed driver started after Tune's last experiment snapshot: reported, not mixed in
    assert study["unrecorded_trials"] == sorted(f"synthetic-text-gru-n2r/{n}" for n in set(on_disk) - set(recorded))
    for name, trial in recorded.items():
        assert trial["curves"]["epoch"] == [1, 2, 3, 4], name       # every epoch once, in order
        raw = on_disk[name]     # an epoch reported after the last snapshot is trained again on resume
        assert trial["redone_epochs"] == len(raw) - 4 and sorted(set(raw)) == [1, 2, 3, 4], (name, raw)
    exported = subprocess.run(cmd + ["export", f"{storage}/tiny", "--out", str(tmp_path / "bundles")], env=env,
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr[-3000:]
    best = summary["studies"]["synthetic-text-gru-n2r"]["best"]
    card = json.loads((tmp_path / "bundles" / "synthetic-text-gru-n2r" / "metrics.json").read_text())
    assert card["trial_id"] == best["trial_id"] and card["checkpoint"].startswith(f"{storage}/tiny/")
    assert card["dev"]["accuracy"] == pytest.approx(best["best_dev"]["accuracy"])


def test_multi_worker_trials_run_a_torch_trainer_and_export(ray_local, tmp_path):
    from n2r.bundle import load_bundle
    from pipelines.export import export_sweep

    spec = SweepSpec.from_dict(with_changes(search__num_samples=1, search__max_concurrent_trials=1,
                                            resources={"num_workers": 2, "cpus_per_worker": 1}))
    storage = f"file://{tmp_path}/sweep"           # Train workers write their checkpoints through the URI
    summary = run_sweep(spec, storage, cache_dir=str(tmp_path / "cache"))
    best = summary["studies"]["synthetic-text-gru-n2r"]["best"]
    assert best["curves"]["epoch"] == [1, 2]       # forwarded from the Train workers by TuneReportCallback
    assert list((tmp_path / "sweep" / "synthetic-text-gru-n2r" / "_train").glob("train-*/checkpoint_*"))
    bundles = export_sweep(storage, tmp_path / "export", cache_dir=str(tmp_path / "cache"))
    bundle = load_bundle(bundles["synthetic-text-gru-n2r"])
    assert bundle.metrics["epochs_trained"] == 2


@cuda
def test_cuda_sweep_packs_single_worker_trials_on_one_gpu(ray_local, tmp_path):
    """A Tune sweep with GPU trials: four trials with a quarter GPU each share one GPU."""
    spec = SweepSpec.from_dict(with_changes(search__num_samples=4, search__max_concurrent_trials=4,
                                            resources={"num_workers": 1, "cpus_per_worker": 0.5, "use_gpu": True,
                                                       "gpus_per_worker": 0.25}))
    summary = run_sweep(spec, str(tmp_path / "sweep"), cache_dir=str(tmp_path / "cache"))
    study = summary["studies"]["synthetic-text-gru-n2r"]
    assert len(study["trials"]) == 4 and not any(t["error"] for t in study["trials"]), study["trials"]
    assert study["best"] is not None and study["best"]["best_dev"]["accuracy"] > 0


def test_sweep_on_a_pyarrow_filesystem_retrains_seeds_resumes_and_exports(ray_local, tmp_path):
    """A path on a caller's pyarrow filesystem (a sub-tree standing in for a bucket): everything the
    sweep writes lands there, a resume restores from there, and export reads from there alone."""
    import pyarrow.fs as pafs

    from n2r.bundle import load_bundle
    from pipelines.export import export_sweep

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    fs = pafs.SubTreeFileSystem(str(bucket), pafs.LocalFileSystem())
    spec = SweepSpec.from_dict(with_changes(search__num_samples=2, retrain={"seeds": [5, 6]}))
    summary = run_sweep(spec, "sweeps/tiny", cache_dir=str(tmp_path / "cache"), filesystem=fs)
    study = summary["studies"]["synthetic-text-gru-n2r"]
    assert [t["seed"] for t in study["seeds"]] == [5, 6]
    best_params = {k: v for k, v in study["best"]["params"].items()}
    seeds_dir = bucket / "sweeps" / "tiny" / "synthetic-text-gru-n2r-seeds"
    retrained = [json.loads(p.read_text()) for p in seeds_dir.glob("*/params.json")]
    assert sorted(p["train.seed"] for p in retrained) == [5, 6]
    for params in retrained:                               # the retrained runs use the tuned coefficients
        for key, value in best_params.items():
            section, attr = key.split(".")
            assert params["run"][section][attr] == pytest.approx(value)
    assert (bucket / "sweeps" / "tiny" / "summary.json").is_file() and (bucket / "sweeps" / "tiny" / "sweep.yaml").is_file()
    assert not study["best"]["path"].startswith("/")      # trial folders are relative to the sweep folder

    (bucket / "sweeps" / "tiny" / "summary.json").unlink()
    resumed = run_sweep(spec, "sweeps/tiny", cache_dir=str(tmp_path / "cache"), filesystem=fs, resume=True)
    again = resumed["studies"]["synthetic-text-gru-n2r"]
    assert again["best"]["trial_id"] == study["best"]["trial_id"]       # restored, not rerun
    assert {t["trial_id"] for t in again["trials"]} == {t["trial_id"] for t in study["trials"]}
    assert [t["trial_id"] for t in again["seeds"]] == [t["trial_id"] for t in study["seeds"]]
    # the restored study's wall time includes the first run's, so its useful-work share stays a share
    assert again["wall_time_s"] >= study["wall_time_s"] and 0 < again["useful_work_share"] <= 1
    assert resumed["wall_time_s"] >= again["wall_time_s"] and 0 < resumed["useful_work_share"] <= 1   # sweep-wide too

    bundles = export_sweep("sweeps/tiny", tmp_path / "export", cache_dir=str(tmp_path / "cache"), filesystem=fs)
    bundle = load_bundle(bundles["synthetic-text-gru-n2r"])
    assert bundle.metrics["trial_id"] == study["best"]["trial_id"]
    assert bundle.metrics["dev"]["accuracy"] == pytest.approx(study["best"]["best_dev"]["accuracy"])


def test_epochs_trained_again_after_a_resume_count_once_with_the_later_record():
    import pandas as pd

    from pipelines.summary import epoch_records

    # reported epochs 1–3, the driver died before Tune recorded epoch 3's checkpoint, so the resumed
    # trial continued from epoch 2: the first epoch-3 record (score 0.9) is from the abandoned run
    df = pd.DataFrame({"epoch": [1, 2, 3, 3, 4], "score": [0.5, 0.6, 0.9, 0.7, 0.8]})
    kept, redone = epoch_records(df)
    assert redone == 1
    assert kept["epoch"].tolist() == [1, 2, 3, 4] and kept["score"].tolist() == [0.5, 0.6, 0.7, 0.8]


def test_trial_folders_missing_from_the_experiment_state_are_reported(tmp_path):
    from types import SimpleNamespace

    from pipelines.summary import unrecorded_trials
    from pipelines.storage import Storage

    study = tmp_path / "sweep" / "study"
    for name in ("run_trial_a_1", "run_trial_b_2", "run_trial_c_3"):
        (study / name).mkdir(parents=True)
        (study / name / "result.json").write_text('{"epoch": 1}\n')
    (study / "_train" / "train-a").mkdir(parents=True)              # Train's folders are not trials
    (study / "_train" / "train-a" / "result.json").write_text("")
    storage = Storage.resolve(tmp_path / "sweep")
    grid = [SimpleNamespace(path=str(study / "run_trial_a_1")), SimpleNamespace(path=str(study / "run_trial_c_3"))]
    assert unrecorded_trials(storage.child("study"), grid, storage) == ["study/run_trial_b_2"]
