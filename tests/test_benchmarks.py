"""The quality protocol's table (pipelines/protocol.py) and the benchmark scripts' own logic: mean ± std, the random reference row, the 'working' rule."""
import argparse
from pathlib import Path

import pytest

from n2r.config import RunConfig
from tests.helpers import load_benchmark
from pipelines import protocol

ROOT = Path(__file__).resolve().parents[1]


def runs(*figures):
    return [{"seed": i + 1, "best_epoch": e, "variant": "toy-v1",
             "test": {"sparsity": s, "precision": p, "recall": r, "f1": f, "accuracy": a}}
            for i, (s, p, r, f, a, e) in enumerate(figures)]


def test_quality_table_rows_random_reference_and_working_rule():
    cfg = RunConfig.from_dict({"model": {"eval_selection": "topk"}, "objective": {"sparsity_target": 0.2},
                               "train": {"epochs": 4}})
    studies = {
        # F1 0.50 ± 0.10: 0.50 - 0.20 = 0.30 > random 0.171 -> working
        "toy-gru-rnp": {"objective": "rnp", "params": {"objective.lambda_sparsity": 2.0},
                        "runs": runs((0.2, .5, .5, .4, .9, 2), (0.2, .5, .5, .5, .8, 3), (0.2, .5, .5, .6, .7, 4))},
        # F1 0.30 ± 0.10: 0.30 - 0.20 = 0.10 < 0.171 -> not working, although its mean is above random
        "toy-gru-n2r": {"objective": "n2r", "params": {"objective.lambda_sparsity": 3.0},
                        "runs": runs((0.2, .3, .3, .2, .9, 1), (0.2, .3, .3, .3, .9, 1), (0.2, .3, .3, .4, .9, 1))},
    }
    gold, lengths = [2, 0, 1], [10, 5, 5]
    lines = protocol.table("toy", studies, gold, lengths, cfg, ["objective.lambda_sparsity"])
    text = "\n".join(lines)
    assert "Data variant `toy-v1`" in text and "evaluation rule `topk 0.2`" in text and "4 epochs" in text
    rnp = next(line for line in lines if line.startswith("| rnp |"))
    assert rnp.split(" | ")[1:5] == ["20.0 ± 0.0", "50.0 ± 0.0", "50.0 ± 0.0", "50.0 ± 10.0"]
    assert rnp.endswith("| 3.0 | 3 | yes |")
    assert next(line for line in lines if line.startswith("| n2r |")).endswith("| no |")
    # random at S = 0.2: k = 2, 1, 1; E[TP] = 2·2/10 + 0 + 1·1/5 = 0.6; P = 0.6/4, R = 0.6/3, F1 = 0.1714
    assert "| random at S of rnp | 20.0 | 15.0 | 20.0 | 17.1 |" in text
    assert "| human rationales | 15.0 | 100 | 100 | 100 |" in text      # 3 gold of 20 units
    assert "rnp: lambda_sparsity 2; n2r: lambda_sparsity 3" in text


def test_rationale_words_counts_selected_words_and_positions():
    from n2r.eraser import GoldDocument

    words = load_benchmark("rationale_words")
    gold = [GoldDocument("a", "a", "the head is white and the taste sweet ok".split(), 1, [0, 1, 1, 1, 0, 0, 0, 0, 0, 0]),
            GoldDocument("b", "b", "white head , sweet malt".split(), 0, [1, 1, 0, 0, 0]),
            GoldDocument("c", "c", "not predicted".split(), 0, [1, 0])]
    predictions = {"a": {"bits": [0, 1, 0, 0, 0, 0, 0, 1, 0, 0]}, "b": {"bits": [0, 0, 0, 1, 1]}}
    result = words.analyse(predictions, gold, top=3)
    # selected: head (in), sweet (out), sweet (out), malt (out) -> TP 1 of 4; gold of a and b: 5 tokens
    assert (result["precision"], result["recall"]) == (0.25, 0.2)
    assert result["words"][0] == ("sweet", 2, 0.0) and ("head", 1, 1.0) in result["words"]
    # fifth of token i in an n-token document: 5i // n. Selected: a's tokens 1, 7 -> fifths 0, 3;
    # b's 3, 4 -> 3, 4. Gold: a's 1, 2, 3 -> 0, 1, 1; b's 0, 1 -> 0, 1.
    assert result["fifths_selected"] == [0.25, 0.0, 0.0, 0.5, 0.25]
    assert result["fifths_gold"] == [0.4, 0.6, 0.0, 0.0, 0.0]


def test_norm_check_encodes_the_four_masks_with_the_bundles_predictor(tiny_gru):
    import math

    import torch

    from n2r.bundle import Bundle
    from n2r.eraser import GoldDocument
    from n2r.explain import encode_text

    norm_check = load_benchmark("norm_check")
    from n2r.embeddings import Vocabulary

    vocab = Vocabulary(["<pad>", "<unk>"] + [f"w{i}" for i in range(28)])
    tiny_gru.eval_selection, tiny_gru.eval_share = "topk", 0.4
    bundle = Bundle(Path("."), RunConfig.from_dict({"model": {"hidden_size": 6}}), tiny_gru.eval(), {}, vocab)
    docs = [GoldDocument("a", "a", "w1 w2 w3 w4 w5".split(), 1, [0, 1, 1, 0, 0]),
            GoldDocument("b", "b", "w6 w7 w8".split(), 0, [1, 0, 0])]
    result = norm_check.norms(bundle, docs)
    expected = {m: [] for m in ("method", "human", "full")}
    correct_full = []
    with torch.no_grad():
        for doc in docs:
            batch, _ = encode_text(bundle, doc.tokens)
            out = tiny_gru(batch)
            for name, z in (("method", out.z), ("human", torch.tensor([doc.rationale], dtype=torch.float32)),
                            ("full", torch.ones(1, len(doc.tokens)))):
                logits, h = tiny_gru.predict(batch, z)
                expected[name].append(math.log(float(h.norm()) + 1e-6))
                if name == "full":
                    correct_full.append(float(logits.argmax(-1).item() == doc.label))
            assert out.z.sum() == max(1, math.floor(0.4 * len(doc.tokens) + 0.5))   # the method's own top-k
    for name, values in expected.items():
        assert result[name]["log_norm"] == pytest.approx(sum(values) / len(values), abs=1e-5)
    assert result["full"]["accuracy"] == sum(correct_full) / 2
    assert set(result) == {"method", "human", "random", "full"} and 0 <= result["random"]["accuracy"] <= 1


def test_objectives_option_keeps_only_the_named_methods():
    from pipelines.spec import SweepSpec

    spec = SweepSpec.from_yaml(ROOT / "tune_spaces" / "quality" / "movies.yaml")
    narrowed = spec.with_overrides({"objectives": protocol.only_objectives(spec, ["rnp+n2r", "rnp"], "movies.yaml")})
    assert [s.name for s in narrowed.studies] == ["movies-gru-rnp", "movies-gru-rnp+n2r"]
    assert narrowed.raw["objectives"] == ["rnp", "rnp+n2r"] and len(spec.studies) == 3   # a new spec
    with pytest.raises(SystemExit, match="'mmi' is not an objective of movies.yaml"):
        protocol.only_objectives(spec, ["mmi"], "movies.yaml")


def test_serve_load_sends_exactly_the_requests_and_reports_percentiles():
    bench = load_benchmark("serve")
    assert bench.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.5
    assert bench.percentile([5.0], 99) == 5.0 and bench.percentile(list(range(101)), 95) == 95.0
    seen, connections = [], []

    def send(connection, item):
        seen.append((connection, item["i"]))

    def connect():
        connections.append(object())
        return None

    result = bench.run_load(send, [{"i": i} for i in range(7)], requests=40, concurrency=4, connect=connect)
    assert len(seen) == 40 and len(connections) == 4
    assert sorted(i for _, i in seen) == sorted(k % 7 for k in range(40))            # round-robin over inputs
    assert result["rps"] > 0 and result["p50"] <= result["p95"] <= result["p99"]

    def failing(connection, item):
        raise ConnectionError("refused")

    with pytest.raises(RuntimeError, match="a request failed: ConnectionError"):
        bench.run_load(failing, [{"i": 0}], requests=5, concurrency=2)


def test_emergence_arms_set_exactly_the_named_switches(tmp_path):
    emergence = load_benchmark("emergence")
    compatible = emergence.arm_overrides("compatible")
    clean = emergence.arm_overrides("clean")
    assert compatible == {"objective.padding_in_penalties": True, "model.gru_reads_padding": True,
                          "train.pad_to": 256, "train.bucket_window": 0}
    assert clean == {"objective.padding_in_penalties": False, "model.gru_reads_padding": False,
                     "train.pad_to": None, "train.bucket_window": 32}
    # 'default' leaves the fields to the library: for n2r and rnp+n2r the reference's penalties
    # over plain shuffled batches and nothing else of it; rnp keeps the clean form
    assert emergence.arm_overrides("default") == {}
    for objective, padded, window in (("n2r", True, 0), ("rnp+n2r", True, 0), ("rnp", False, 32)):
        cfg = emergence.arm_config("default", objective, 1e-3, 30, 1, "/data/beer")
        assert (cfg.objective.pads_penalties(), cfg.training_bucket_window()) == (padded, window)
        assert (cfg.model.gru_reads_padding, cfg.train.pad_to) == (False, None)
    assert emergence.arm_overrides("clean+bucket") == {**clean, "train.bucket_window": 0}
    assert emergence.arm_overrides("compatible-reads_padding") == {**compatible, "model.gru_reads_padding": False}
    assert emergence.arm_overrides("default+reads_padding") == {"model.gru_reads_padding": True}
    assert emergence.arm_overrides("clean+padded_penalties+pad_to@objective.lambda_continuity=6.5;train.seed=4") == {
        **clean, "objective.padding_in_penalties": True, "train.pad_to": 256,
        "objective.lambda_continuity": 6.5, "train.seed": 4}
    # FR and DR on any arm; the reference arm takes only those (its script's --fr 1 / --dr 1)
    assert emergence.arm_overrides("default@fr") == {"model.shared_encoder": True}
    assert emergence.arm_overrides("reference@dr") == {"train.predictor_lr_scale": 0.1}
    assert emergence.arm_overrides("reference") == {}
    cfg = emergence.arm_config("reference@fr", "n2r", 1e-3, 30, 1)
    assert cfg.model.shared_encoder and (cfg.model.gru_reads_padding, cfg.train.pad_to) == (False, None)
    for bad in ("fancy", "clean+colour", "default@lambda=1", "reference+bucket", "reference@train.seed=2"):
        with pytest.raises(SystemExit):
            emergence.arm_overrides(bad)
    cfg = emergence.arm_config("clean+bucket", "rnp+n2r", 1e-3, 30, 2, "/data/beer")
    assert (cfg.objective.name, cfg.objective.ce_weight, cfg.model.eval_selection) == ("rnp+n2r", 0.9, "sample")
    assert (cfg.train.lr, cfg.train.seed, cfg.train.bucket_window, cfg.data.path) == (1e-3, 2, 0, "/data/beer")
    # a hand-over: FIRST's epochs 1..K, then SECOND's configuration to the end
    assert emergence.phases("clean") == [("clean", None)]
    assert emergence.phases("default:5:clean+bucket@objective.continuity_window=256") == [
        ("default", 5), ("clean+bucket@objective.continuity_window=256", None)]
    for bad in ("default:0:clean", "default:five:clean", "default:5", "reference:5:default", "default:5:reference@fr"):
        with pytest.raises(SystemExit):
            emergence.phases(bad)
    # a resumed hand-over skips the phases its checkpoint is past by the checkpoint's epoch
    import torch

    from n2r.checkpoint import save_checkpoint

    folder = tmp_path / "n2r" / "handover" / "seed1"
    assert emergence.checkpoint_epoch(folder) == 0
    save_checkpoint(folder / "checkpoint.pt", torch.nn.Linear(2, 1), None, {"epoch": 5})
    assert emergence.checkpoint_epoch(folder) == 5


def test_the_probe_counts_where_selections_land_on_a_fixed_batch():
    """Both programs' checkpoints are probed through one :class:`SelectionStatistics`: fifths of
    each review by its own length (padding outside every fifth), spans, precision, per-word rates,
    and selection probabilities only when the program gives them."""
    import torch

    emergence = load_benchmark("emergence")
    stats = emergence.SelectionStatistics(["<pad>", "<unk>", "a", "b", "c", "d"])
    ids = torch.tensor([[2, 3, 4, 5, 2], [3, 3, 4, 0, 0]])
    real = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    rationale = torch.tensor([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0]])
    z = torch.tensor([[1., 1, 0, 0, 1], [1, 1, 1, 0, 0]])
    stats.add(ids, real, rationale, z)
    out = stats.summary(top_words=3)
    # review 2 (3 tokens) has its positions in fifths 0, 1 and 3
    assert out["selection_rate_by_fifth"] == [1.0, 1.0, 0.0, 0.5, 1.0]
    assert out["annotated_share_by_fifth"] == [0.5, 1.0, 0.0, 0.5, 0.0]
    assert (out["spans_per_review"], out["precision"]) == (1.5, pytest.approx(4 / 6))
    assert [(w["word"], w["selected"], w["selection_rate"], w["annotated_share"])
            for w in out["most_selected_words"]] == [("b", 3, 1.0, 0.667), ("a", 2, 1.0, 0.5), ("c", 1, 0.5, 0.5)]
    assert "selection_probability_annotated" not in out          # the authors' evaluation forward gives none
    with_prob = emergence.SelectionStatistics(["<pad>", "<unk>", "a", "b", "c", "d"])
    with_prob.add(ids, real, rationale, z, prob=torch.where(rationale.bool(), 0.9, 0.4))
    out = with_prob.summary(top_words=1)
    assert (out["selection_probability_annotated"], out["selection_probability_other"]) == pytest.approx((0.9, 0.4))


def test_the_reference_arm_runs_the_authors_program_for_its_objective_and_method(tmp_path):
    """N2R and MMI+N2R come from the N2R repository (``--fr 1`` / ``--dr 1`` as flags there); MMI
    alone is not in it, so RNP and FR come from the FR repository and DR from the DR one; FR with
    DR is in none of them. A folder that is not the needed checkout is refused naming it."""
    emergence, parity = load_benchmark("emergence"), load_benchmark("parity")

    def program(arm, objective):
        return parity.reference_program(emergence.arm_config(arm, objective, 1e-3, 30, 1))

    for objective, function in (("n2r", "train_pred_mochang_withoutacc"), ("rnp+n2r", "train_pred_mochang")):
        for arm in ("reference", "reference@fr", "reference@dr"):
            chosen = program(arm, objective)
            assert (chosen.repository, chosen.model_class, chosen.train_function) == ("n2r", "Mochangmodel", function)
    assert program("reference", "rnp") == parity.ReferenceProgram(
        "fr", "GenEncNoShareModel", "train_share", "forward", "one_group", False)
    assert program("reference@fr", "rnp").model_class == "GenEncShareModel"
    assert program("reference@dr", "rnp") == parity.ReferenceProgram(
        "dr", "Sp_norm_model", "train_sp_norm", "forward", "two_groups", True)
    with pytest.raises(SystemExit, match="FR and DR together"):
        program("reference@fr;dr", "rnp")
    # the folder: the flag that names the repository, and a checkout with the program's model class
    args = argparse.Namespace(objective="rnp", lr=1e-3, epochs=30, reference="/n2r", reference_fr=None,
                              reference_dr="/dr")
    assert emergence.reference_folder(args, "reference@dr") == "/dr"
    with pytest.raises(SystemExit, match="--reference-fr DIR"):
        emergence.reference_folder(args, "reference@fr")
    (tmp_path / "model.py").write_text("class Mochangmodel(object):\n    pass\n")
    (tmp_path / "train_util.py").write_text("")
    with pytest.raises(SystemExit, match="not a checkout of jugechengzi/FR"):
        parity.import_reference(tmp_path, program("reference@fr", "rnp"))


def test_emergence_table_selects_on_dev_and_compares_with_random(tmp_path, tmp_path_factory):
    import json

    emergence = load_benchmark("emergence")
    assert emergence.random_f1(0.2, 0.2) == pytest.approx(0.2)
    assert emergence.random_f1(0.185, 0.125) == pytest.approx(2 * 0.185 * 0.125 / 0.31)
    folder = tmp_path / "n2r" / "default"
    folder.mkdir(parents=True)
    for seed, f1s in ((1, [0.10, 0.30, 0.20]), (2, [0.12, 0.34, 0.50])):
        dev = [0.6, 0.8, 0.8]                       # ties: the first best epoch is selected
        rows = [{"epoch": e + 1, "dev_accuracy": dev[e],
                 "test": {"f1": f, "sparsity": 0.1, "precision": f}} for e, f in enumerate(f1s)]
        (folder / f"seed{seed}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = emergence.summarize(emergence.read_rows(folder / "seed2.jsonl"))
    assert (summary["best_epoch"], summary["selected"]) == (2, 0.34)
    text = emergence.table(tmp_path, gold_shares={0: 0.2}, epochs=3)
    row = next(line for line in text.splitlines() if line.startswith("| default"))
    assert "| 2 | 3 |" in row and "32.0 ± 2.8" in row              # dev-selected F1: 0.30 and 0.34
    assert "| F1 @3 (P) |" in text and "| 35.0 ± 21.2 (35.0 ± 21.2) |" in row   # the budget's last epoch
    assert [emergence.table_epochs(e) for e in (3, 25, 30, 50)] == [(3,), (10, 20, 25), (10, 20, 30), (10, 20, 30, 50)]
    assert f"{100 * emergence.random_f1(0.2, 0.1):.1f}" in row and row.endswith("| yes | yes | 2/2 (30.0) |")
    assert not emergence.finished(folder / "seed1.jsonl", 4)       # a fourth epoch would still run
    # Beer Aroma (--aspect 1): its own folder, configuration and random row
    aroma = emergence.rows_file(tmp_path, "n2r", "default", 1, aspect=1)
    assert aroma == tmp_path / "n2r.aspect1" / "default" / "seed1.jsonl"
    assert emergence.rows_file(tmp_path, "n2r", "default", 1) == folder / "seed1.jsonl"
    # another learning rate: its own folder, whose aspect is still read back
    elsewhere = tmp_path_factory.mktemp("lr")
    assert emergence.rows_file(elsewhere, "n2r", "default", 1, aspect=1, lr=2e-3).parent.parent.name == "n2r.aspect1.lr0.002"
    assert (emergence.aspect_of("n2r.aspect1.lr0.002"), emergence.aspect_of("rnp+n2r.lr0.002")) == (1, 0)
    assert emergence.arm_config("default", "n2r", 1e-3, 30, 1, aspect=1).data.options["aspect"] == 1
    aroma.write_text((folder / "seed1.jsonl").read_text())
    text = emergence.table(tmp_path, {0: 0.2, 1: 0.1}, 3)
    assert [line for line in text.splitlines() if line.startswith("###")] == ["### n2r", "### n2r.aspect1"]
    assert f"| {100 * emergence.random_f1(0.1, 0.1):.1f} |" in text.split("### n2r.aspect1")[1]
    wide_out = tmp_path_factory.mktemp("wide")                      # 0.20 and 0.30 selected: σ 7.1, SE 5
    wide = wide_out / "n2r" / "default"
    wide.mkdir(parents=True)
    for seed, f1 in ((1, 0.20), (2, 0.30)):
        record = {"epoch": 1, "dev_accuracy": 0.7, "test": {"f1": f1, "sparsity": 0.1, "precision": f1}}
        (wide / f"seed{seed}.jsonl").write_text(json.dumps(record) + "\n")
    row = next(line for line in emergence.table(wide_out, {0: 0.185}, 1).splitlines()
               if line.startswith("| default"))
    assert row.endswith("| 13.0 | no | yes | 2/2 (20.0) |")          # 25 − 14.1 < 13.0 < 25 − 10 < 20
    for seed, f1 in ((1, 0.10), (2, 0.40)):                         # one seed below random
        record = {"epoch": 1, "dev_accuracy": 0.7, "test": {"f1": f1, "sparsity": 0.1, "precision": f1}}
        (wide / f"seed{seed}.jsonl").write_text(json.dumps(record) + "\n")
    row = next(line for line in emergence.table(wide_out, {0: 0.185}, 1).splitlines()
               if line.startswith("| default"))
    assert row.endswith("| 13.0 | no | no | 1/2 (10.0) |"), row


def test_epoch_curve_prints_a_test_row_per_epoch_and_keeps_the_run(tmp_path):
    import json
    import subprocess
    import sys

    from n2r.config import RunConfig

    config = tmp_path / "run.yaml"
    RunConfig.from_dict({
        "data": {"name": "synthetic-text", "options": {"n_train": 64, "n_dev": 16, "n_test": 16, "min_len": 5, "max_len": 8}},
        "model": {"encoder": "gru", "hidden_size": 8}, "objective": {"name": "n2r", "sparsity_target": 0.2},
        "train": {"epochs": 9, "batch_size": 16, "num_threads": 1}}).to_yaml(config)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "epoch_curve.py"), str(config), "--epochs", "2",
                           "--json", str(tmp_path / "curve.json"), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    curve = json.loads((tmp_path / "curve.json").read_text())
    assert len(rows) == 2 and [r["epoch"] for r in curve["epochs"]] == [1, 2]
    assert f"dev-selected epoch {curve['best_epoch']}: test F1" in done.stdout
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "bundle" / "manifest.json").is_file()
