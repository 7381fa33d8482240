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
    for name in ("trial_a", "trial_b", "trial_c"):
        (study / name).mkdir(parents=True)
        (study / name / "result.json").write_text('{"epoch": 1}\n')
    # on object storage a trial's rows may never have been uploaded; its checkpoints were
    (study / "trial_d" / "checkpoint_000000").mkdir(parents=True)
    (study / "trial_d" / "checkpoint_000000" / "checkpoint.pt").write_bytes(b"")
    for train_file in ("result.json", "checkpoint_000000/checkpoint.pt"):    # Train's folders are not trials
        (study / "_train" / "train-a" / train_file).parent.mkdir(parents=True, exist_ok=True)
        (study / "_train" / "train-a" / train_file).write_text("")
    storage = Storage.resolve(tmp_path / "sweep")
    grid = [SimpleNamespace(path=str(study / "trial_a")), SimpleNamespace(path=str(study / "trial_c"))]
    assert unrecorded_trials(storage.child("study"), grid, storage) == ["study/trial_b", "study/trial_d"]


def test_a_restart_counts_the_epochs_between_its_checkpoint_and_the_furthest_one_persisted(tmp_path):
    """A killed run had persisted checkpoints up to epoch 3; Tune's snapshot recorded the one of
    epoch 1, so the trial restarts there: epochs 2 and 3 are trained twice."""
    import pyarrow.fs as pafs

    from pipelines import history

    fs, trial = pafs.LocalFileSystem(), tmp_path / "trial"
    assert history.restarted(history.empty(), fs, str(trial)) is None             # a first start
    for index in range(3):
        folder = trial / f"checkpoint_{index:06d}"
        folder.mkdir(parents=True)
        history.write(folder, [{"epoch": e, "score": 0.5} for e in range(1, index + 2)], [])
    (trial / "checkpoint_000003").mkdir()                  # being written when the driver died: no history yet
    again = history.restarted(history.read(trial / "checkpoint_000000"), fs, str(trial))
    assert again["restarts"] == [{"from_epoch": 1, "furthest_epoch": 3}]
    assert history.redone_epochs(again) == 2
    # had the snapshot recorded no checkpoint at all, the trial starts over: all 3 epochs again
    assert history.redone_epochs(history.restarted(history.empty(), fs, str(trial))) == 3
    # the continued run writes epochs 2 and 3 again, with its restart; a second restart from its
    # latest checkpoint redoes nothing more
    for index in (1, 2):
        history.write(trial / f"checkpoint_{index:06d}", [{"epoch": e, "score": 0.6} for e in range(1, index + 2)],
                      again["restarts"])
    twice = history.restarted(history.read(trial / "checkpoint_000002"), fs, str(trial))
    assert twice["restarts"][-1] == {"from_epoch": 3, "furthest_epoch": 3} and history.redone_epochs(twice) == 2


def test_the_best_trial_is_the_highest_score_then_the_earlier_epoch_then_the_smaller_id():
    from pipelines.summary import rank

    def trial(trial_id, score, epoch):
        return {"trial_id": trial_id, "best_score": score, "best_epoch": epoch}

    trials = [trial("b_00002", 0.9, 3), trial("b_00001", 0.8, 1), trial("b_00003", 0.9, 2), trial("b_00000", 0.9, 2)]
    assert [t["trial_id"] for t in sorted(trials, key=rank)] == ["b_00000", "b_00003", "b_00002", "b_00001"]
    # whatever order the trials are listed in
    assert min(reversed(trials), key=rank)["trial_id"] == min(trials, key=rank)["trial_id"] == "b_00000"
