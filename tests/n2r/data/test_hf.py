"""The Hugging Face door: save_to_disk folders built here (no network) → canonical rows, a
training run, and every malformed column refused by name; hub names fail at once offline."""
import datasets
import pytest

from n2r.config import RunConfig
from n2r.data import prepare_data, read_dataset
from n2r.data.base import DataError
from n2r.runner import train_run


def save(tmp_path, splits, name="hfdata"):
    folder = tmp_path / name
    datasets.DatasetDict({k: datasets.Dataset.from_dict(v) for k, v in splits.items()}).save_to_disk(str(folder))
    return folder


TEXTS = {"text": ["a great  pour", "flat and dull", "nice head"], "label": [1, 0, 1],
         "mask": [[0, 1, 1], [0, 0, 1], [1, 1]], "spans": [[[1, 3]], [[2, 3]], [[0, 2]]]}


def test_rows_labels_and_rationales_from_a_saved_dataset_dict(tmp_path):
    folder = save(tmp_path, {"train": TEXTS, "validation": TEXTS, "test": TEXTS})
    masks = read_dataset("hf", folder, rationale="mask")
    spans = read_dataset("hf", folder, rationale="spans", rationale_format="spans")
    assert [r["tokens"] for r in masks.splits["dev"]] == [["a", "great", "pour"], ["flat", "and", "dull"],
                                                           ["nice", "head"]]
    assert [r["label"] for r in masks.splits["test"]] == [1, 0, 1]
    assert [r["rationale"] for r in masks.splits["train"]] == [[0, 1, 1], [0, 0, 1], [1, 1]]
    assert [r["rationale"] for r in spans.splits["train"]] == [[0, 1, 1], [0, 0, 1], [1, 1]]
    assert {r["split"] for r in masks.splits["dev"]} == {"dev"}


def test_class_labels_token_columns_and_dev_from_train(tmp_path):
    features = datasets.Features({"words": datasets.Sequence(datasets.Value("string")),
                                  "y": datasets.ClassLabel(names=["neg", "pos"])})
    rows = {"words": [["good"], ["bad", "beer"], ["fine"], ["sour"]] * 2, "y": [1, 0, 1, 0] * 2}
    folder = tmp_path / "tok"
    datasets.DatasetDict({s: datasets.Dataset.from_dict(rows, features=features) for s in ("train", "test")}
                         ).save_to_disk(str(folder))
    result = read_dataset("hf", folder, text=None, tokens="words", label="y", dev_from_train=0.25)
    assert (len(result.splits["train"]), len(result.splits["dev"])) == (6, 2)       # a quarter of each class
    assert sorted(r["label"] for r in result.splits["dev"]) == [0, 1]
    assert {r["id"] for r in result.splits["train"]}.isdisjoint(r["id"] for r in result.splits["dev"])
    assert result.splits["test"][1]["tokens"] == ["bad", "beer"] and result.splits["test"][1]["label"] == 0


@pytest.mark.parametrize("options, message", [
    ({"text": "review"}, "no column 'review' \\(columns: text, label, mask, spans\\)"),
    ({"label": "text"}, "column 'text' must hold integer class ids"),
    ({"text": "label"}, "column 'label' must hold strings"),
    ({"rationale": "spans"}, "row 0: column 'spans' must be a 0/1 mask of the row's 3 tokens"),
    ({"rationale": "mask", "rationale_format": "spans"}, "row 0, column 'mask'.*is not \\[start, end\\)"),
])
def test_malformed_columns_are_refused_by_name(tmp_path, options, message):
    folder = save(tmp_path, {"train": TEXTS, "validation": TEXTS, "test": TEXTS})
    with pytest.raises(DataError, match=message):
        read_dataset("hf", folder, **options)


def test_missing_splits_and_foreign_folders_are_named(tmp_path):
    folder = save(tmp_path, {"train": TEXTS, "test": TEXTS})
    with pytest.raises(DataError, match="no dev rows .*use data.options.dev_from_train"):
        read_dataset("hf", folder)
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="not a folder written by datasets' save_to_disk"):
        read_dataset("hf", tmp_path / "plain")


def test_hub_names_fail_at_once_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="hf:imdb: the Hugging Face hub is offline here .*--from FOLDER"):
        read_dataset("hf", "hf:imdb")


def test_a_saved_dataset_trains_through_the_cache(tmp_path):
    texts = {"text": [f"w{i % 7} good beer" if i % 2 else f"w{i % 5} bad beer" for i in range(48)],
             "label": [i % 2 for i in range(48)]}
    folder = save(tmp_path, {"train": texts, "validation": texts, "test": texts})
    cfg = RunConfig.from_dict({"data": {"name": "hf", "path": str(folder)},
                               "model": {"hidden_size": 8}, "train": {"epochs": 2, "batch_size": 16}})
    data = prepare_data(cfg.data, cfg.model, tmp_path / "cache")
    assert data.splits["train"].num_rows == 48 and "rationale" in data.splits["train"].column_names
    summary = train_run(cfg, tmp_path / "run", data=data)
    assert summary["best_dev"]["accuracy"] >= 0.5 and "f1" not in summary["test"]     # no rationales given


def test_presets_map_their_hub_layouts(tmp_path):
    # the hub layouts, built here: GLUE SST-2 (test labels hidden as -1), IMDB (an unlabelled split)
    sst2 = save(tmp_path, {"train": {"sentence": ["good", "bad", "fine", "awful"] * 5, "label": [1, 0, 1, 0] * 5,
                                     "idx": list(range(20))},
                           "validation": {"sentence": ["nice", "meh"], "label": [1, 0], "idx": [0, 1]},
                           "test": {"sentence": ["?"], "label": [-1], "idx": [0]}}, "sst2")
    result = read_dataset("hf-sst2", sst2)
    assert [r["tokens"] for r in result.splits["test"]] == [["nice"], ["meh"]]          # GLUE's validation set
    assert len(result.splits["dev"]) == 2 and len(result.splits["train"]) == 18          # a stratified 10 %
    assert sorted(r["label"] for r in result.splits["dev"]) == [0, 1]
    imdb = save(tmp_path, {"train": {"text": ["a b"] * 10, "label": [0] * 5 + [1] * 5},
                           "test": {"text": ["c"], "label": [1]}, "unsupervised": {"text": ["d"], "label": [-1]}},
                "imdb")
    result = read_dataset("hf-imdb", imdb)
    assert (len(result.splits["train"]), len(result.splits["dev"]), len(result.splits["test"])) == (8, 2, 1)
    with pytest.raises(DataError, match="hf:imdb: the Hugging Face hub is offline"):   # no folder: the hub
        read_dataset("hf-imdb")


def test_movie_rationales_evidence_becomes_token_masks(tmp_path):
    rows = {"review": ["the plot is thin but the acting is superb", "dull and slow"], "label": [1, 0],
            "evidences": [["acting is superb", "plot is thin"], ["dull"]]}
    folder = save(tmp_path, {"train": rows, "validation": rows, "test": rows}, "movie_rationales")
    result = read_dataset("hf-movie-rationales", folder)
    assert [r["rationale"] for r in result.splits["test"]] == [[0, 1, 1, 1, 0, 0, 1, 1, 1], [1, 0, 0]]
    repeated = {"review": ["bad start , fine middle , bad end", "bad , bad"], "label": [0, 0],
                "evidences": [["fine middle", "bad end"], ["bad"]]}     # the later "bad end", after "fine middle"
    folder = save(tmp_path, {"train": repeated, "validation": repeated, "test": repeated}, "repeated")
    assert [r["rationale"] for r in read_dataset("hf-movie-rationales", folder).splits["test"]] == [
        [0, 0, 0, 1, 1, 0, 1, 1], [1, 0, 0]]
    bad = {**rows, "evidences": [["not in it"], ["dull"]]}
    with pytest.raises(DataError, match="row 0, column 'evidences': evidence 'not in it' does not occur"):
        read_dataset("hf-movie-rationales", save(tmp_path, {"train": bad, "validation": bad, "test": bad}, "bad"))
