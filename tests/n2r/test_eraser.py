"""ERASER interoperability: hand-scored prediction files, malformed files, and the round trip
bundle → predictions → score on the movies validation split."""
import json

import pytest

from n2r.cli import main
from n2r.data.base import DataError
from n2r.eraser import read_gold, read_predictions, score
from tests.helpers import ROOT

SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture
def eraser_dir(tmp_path):
    """Two validation documents in ERASER's layout: d1 (POS, 10 tokens, gold [2, 5)) and
    d2 (NEG, 5 tokens, gold [0, 1) and [3, 5))."""
    root = tmp_path / "movies"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "d1").write_text("a b c d e f g h i j")
    (root / "docs" / "d2").write_text("k l\nm n o")
    lines = [{"annotation_id": "d1", "classification": "POS", "docids": ["d1"],
              "evidences": [[{"docid": "d1", "start_token": 2, "end_token": 5, "text": "c d e"}]]},
             {"annotation_id": "d2", "classification": "NEG", "docids": ["d2"],
              "evidences": [[{"docid": "d2", "start_token": 0, "end_token": 1, "text": "k"}],
                            [{"docid": "d2", "start_token": 3, "end_token": 5, "text": "n o"}]]}]
    (root / "val.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def prediction(annotation_id, spans, soft, classification, scores, comp, suff):
    names = ("NEG", "POS")
    return {"annotation_id": annotation_id,
            "rationales": [{"docid": annotation_id,
                            "hard_rationale_predictions": [{"start_token": a, "end_token": b} for a, b in spans],
                            "soft_rationale_predictions": soft}],
            "classification": classification,
            "classification_scores": dict(zip(names, scores)),
            "comprehensiveness_classification_scores": dict(zip(names, comp)),
            "sufficiency_classification_scores": dict(zip(names, suff))}


HAND = [prediction("d1", [(4, 7)], [0, 0, .9, .1, .8, .7, 0, 0, 0, 0], "POS", (.2, .8), (.7, .3), (.3, .7)),
        prediction("d2", [(0, 1), (4, 5)], [.6, .6, 0, .2, .9], "POS", (.4, .6), (.5, .5), (.4, .6))]


def write(path, items):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def test_every_score_of_a_hand_built_pair(eraser_dir, tmp_path):
    gold = read_gold(eraser_dir, "val")
    assert [(d.annotation_id, d.label, sum(d.rationale)) for d in gold] == [("d1", 1, 3), ("d2", 0, 3)]
    s = score(read_predictions(write(tmp_path / "p.jsonl", HAND), gold), gold)
    # d1: pred {4,5,6} vs gold {2,3,4}: TP 1, P 1/3, R 1/3; d2: pred {0,4} vs gold {0,3,4}: TP 2, P 1, R 2/3
    assert s["token_micro"] == pytest.approx({"precision": 3 / 5, "recall": 3 / 6, "f1": 2 * .6 * .5 / 1.1})
    assert s["token_macro"] == pytest.approx({"precision": (1 / 3 + 1) / 2, "recall": (1 / 3 + 2 / 3) / 2,
                                              "f1": (1 / 3 + 0.8) / 2})
    # IOU: d1 [4,7) vs [2,5) = 1/5 (no match); d2 [0,1) vs [0,1) = 1, [4,5) vs [3,5) = 1/2 (match at 0.5)
    assert s["iou_0.5"]["micro"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    assert s["iou_0.5"]["macro"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    # random with the same counts: E[TP] = 3·3/10 + 2·3/5 = 2.1
    assert s["random_same_sparsity"] == pytest.approx({"precision": 2.1 / 5, "recall": 2.1 / 6,
                                                       "f1": 2 * .42 * .35 / .77, "sparsity": 5 / 15})
    assert s["sparsity"] == pytest.approx(5 / 15) and s["gold_sparsity"] == pytest.approx(6 / 15)
    assert s["accuracy"] == 0.5                                   # d2 is NEG, predicted POS
    assert s["comprehensiveness"] == pytest.approx(((.8 - .3) + (.6 - .5)) / 2)
    assert s["sufficiency"] == pytest.approx(((.8 - .7) + (.6 - .6)) / 2)
    # AP d1: thresholds .9 .8 .7 .1 → 1/3·1 + 1/3·1 + 0 + 1/3·3/4; d2: .9 .6 .2 → 1/3 + 1/3·2/3 + 1/3·3/4
    assert s["auprc"] == pytest.approx(((1 / 3 + 1 / 3 + .25) + (1 / 3 + 2 / 9 + .25)) / 2)
    assert s["documents"] == 2


def test_files_with_the_old_comprehensiveness_key_score_the_same(eraser_dir, tmp_path):
    """n2r wrote ``comprehensive_classification_scores`` before it used ERASER's name; both read."""
    gold = read_gold(eraser_dir, "val")
    new = score(read_predictions(write(tmp_path / "new.jsonl", HAND), gold), gold)
    old_items = json.loads(json.dumps(HAND))
    for item in old_items:
        item["comprehensive_classification_scores"] = item.pop("comprehensiveness_classification_scores")
    old = score(read_predictions(write(tmp_path / "old.jsonl", old_items), gold), gold)
    assert old["comprehensiveness"] == new["comprehensiveness"] == pytest.approx(0.3)
    old_items[0]["comprehensiveness_classification_scores"] = old_items[0]["comprehensive_classification_scores"]
    with pytest.raises(DataError, match="old.jsonl:1: both comprehensiveness_classification_scores"):
        read_predictions(write(tmp_path / "old.jsonl", old_items), gold)


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p[0].pop("classification"), "p.jsonl:1: missing field 'classification'"),
    (lambda p: p[1]["rationales"][0]["hard_rationale_predictions"].append({"start_token": 3, "end_token": 6}),
     "p.jsonl:2: span \\[3, 6\\) lies outside document 'd2' \\(5 tokens\\)"),
    (lambda p: p.append(json.loads(json.dumps(p[0]))), "p.jsonl:3: duplicate annotation_id 'd1'"),
    (lambda p: p[1]["rationales"][0].update(soft_rationale_predictions=[0.1]),
     "p.jsonl:2: soft_rationale_predictions has 1 scores for 5 tokens"),
    (lambda p: p[0].update(annotation_id="d9"), "p.jsonl:1: annotation_id 'd9' is not in the gold split"),
    (lambda p: p.insert(1, "{not json"), "p.jsonl:2: not valid JSON"),
])
def test_malformed_prediction_files_are_refused_with_the_line(eraser_dir, tmp_path, mutate, message):
    items = json.loads(json.dumps(HAND))
    mutate(items)
    gold = read_gold(eraser_dir, "val")
    with pytest.raises(DataError, match=message):
        read_predictions(write(tmp_path / "p.jsonl", items), gold)


def test_score_command_prints_the_table_and_refuses_bad_files(eraser_dir, tmp_path, capsys):
    path = write(tmp_path / "p.jsonl", HAND)
    assert main(["score", str(path), "--gold", str(eraser_dir), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "token micro          P 0.6000  R 0.5000  F1 0.5455" in out and "comprehensiveness    0.3000" in out
    write(path, HAND + [HAND[0]])
    assert main(["score", str(path), "--gold", str(eraser_dir), "--split", "val"]) == 2
    assert "p.jsonl:3: duplicate annotation_id 'd1'" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED / "movies").is_dir(), reason=f"real data not present at {SHARED}")
def test_round_trip_bundle_predictions_score_matches_the_training_runs_dev_f1(tmp_path, capsys):
    from n2r.config import RunConfig
    from n2r.runner import train_run
    from pipelines.export import export_checkpoint

    cfg = RunConfig.from_dict({
        "data": {"name": "movies", "path": str(SHARED / "movies"), "options": {"max_tokens": 60}},
        "model": {"encoder": "gru", "hidden_size": 16},
        "objective": {"name": "n2r", "sparsity_target": 0.2, "lambda_sparsity": 2.0, "lambda_continuity": 0.5},
        "train": {"epochs": 1, "batch_size": 32, "lr": 0.003, "num_threads": 2}})
    summary = train_run(cfg, tmp_path / "run")
    bundle = export_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "bundle",
                               cache_dir=str(tmp_path / "cache"))
    predictions = tmp_path / "val.jsonl"
    assert main(["explain", str(bundle), "--eraser", str(SHARED / "movies"), "--split", "val",
                 "--out", str(predictions)]) == 0
    lines = [json.loads(x) for x in predictions.read_text().splitlines()]
    assert len(lines) == summary["best_dev"]["n"] == 200
    assert {x["annotation_id"] for x in lines} >= {"negR_800.txt", "posR_899.txt"}
    capsys.readouterr()
    assert main(["score", str(predictions), "--gold", str(SHARED / "movies"), "--split", "val",
                 "--max-tokens", "60", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    dev = summary["best_dev"]
    assert scores["token_micro"]["f1"] == pytest.approx(dev["f1"], abs=1e-6)
    assert scores["sparsity"] == pytest.approx(dev["sparsity"], abs=1e-6)      # evaluate counts in float32
    assert scores["accuracy"] == pytest.approx(dev["accuracy"], abs=1e-6)
    assert scores["sufficiency"] == pytest.approx(0.0, abs=1e-6)   # the predictor reads the rationale alone
    # ERASER's own field names (rationale_benchmark/metrics.py reads exactly these)
    assert {"classification_scores", "comprehensiveness_classification_scores",
            "sufficiency_classification_scores"} <= set(lines[0])
    assert "comprehensive_classification_scores" not in lines[0]


@pytest.mark.skipif(not (SHARED / "beer").is_dir(), reason=f"real data not present at {SHARED}")
def test_beer_annotations_are_gold_with_line_numbers_as_annotation_ids():
    lines = (SHARED / "beer" / "annotations.json").read_text().splitlines()
    gold = read_gold(SHARED / "beer", "test", aspect=0)
    assert len(gold) == 936                                   # the literature's Appearance count
    for doc in gold[:50]:
        item = json.loads(lines[int(doc.annotation_id) - 1])
        assert doc.tokens == item["x"][:256] and doc.docid == doc.annotation_id
        spans = [(a, min(b, 256)) for a, b in item["0"] if a < 256]
        assert [i for i, bit in enumerate(doc.rationale) if bit] == sorted({i for a, b in spans for i in range(a, b)})
    with pytest.raises(DataError, match="Beer's annotations are the test split"):
        read_gold(SHARED / "beer", "val")
