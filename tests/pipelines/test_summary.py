"""What the sweep summary records (pipelines/summary.py) after interrupted runs."""


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

    from pipelines.storage import Storage
    from pipelines.summary import unrecorded_trials

    study = tmp_path / "sweep" / "study"
    for name in ("run_trial_a_1", "run_trial_b_2", "run_trial_c_3"):
        (study / name).mkdir(parents=True)
        (study / name / "result.json").write_text('{"epoch": 1}\n')
    (study / "_train" / "train-a").mkdir(parents=True)              # Train's folders are not trials
    (study / "_train" / "train-a" / "result.json").write_text("")
    storage = Storage.resolve(tmp_path / "sweep")
    grid = [SimpleNamespace(path=str(study / "run_trial_a_1")), SimpleNamespace(path=str(study / "run_trial_c_3"))]
    assert unrecorded_trials(storage.child("study"), grid, storage) == ["study/run_trial_b_2"]
