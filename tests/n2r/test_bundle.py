"""Export → load → explain round trips; altered bundles are refused; CLI explain with HTML."""
import json

import pytest
import torch

from n2r.bundle import BundleError, load_bundle
from n2r.config import RunConfig
from n2r.inputs import InputError
from tests.helpers import TEXT_RUN, invoke


def test_bundle_files_manifest_and_metrics_card(text_bundle):
    path, summary = text_bundle
    names = {p.name for p in path.iterdir()}
    assert names == {"config.yaml", "model.safetensors", "vocab.txt", "metrics.json", "manifest.json"}
    card = json.loads((path / "metrics.json").read_text())
    assert card["data_variant"] == "synthetic-text" and card["seed"] == 1
    assert card["dev"] == summary["best_dev"] and card["best_epoch"] == summary["best_epoch"]
    assert card["test"]["f1"] == pytest.approx(summary["test"]["f1"])
    assert {"dev", "test"} <= set(card["achieved_sparsity"]) and card["code_version"].startswith("n2r ")
    assert RunConfig.from_yaml(path / "config.yaml").objective.name == "n2r"   # n2r train reproduces the run


def test_the_package_exports_what_the_readme_documents(text_bundle):
    import n2r

    bundle = n2r.load_bundle(text_bundle[0])                 # README: n2r.load_bundle(DIR)
    assert isinstance(bundle, n2r.Bundle) and n2r.load_bundle is load_bundle


def test_load_and_explain_is_deterministic_and_matches_the_training_model(text_bundle):
    """The bundle's answers are the training run's dev-selected model in eval mode, input by input."""
    import itertools

    from n2r.batch import collate_text
    from n2r.checkpoint import load_checkpoint
    from n2r.data.synthetic import synthetic_text
    from n2r.models import build_rationalizer

    path, _ = text_bundle
    bundle = load_bundle(path)
    assert not bundle.model.training
    payload = load_checkpoint(path.parent / "run" / "checkpoint.pt")       # what training wrote
    weights = payload["best_state"]
    trained = build_rationalizer(RunConfig.from_dict(payload["config"]).model,
                                 embedding_matrix=torch.zeros_like(weights["generator.embedding.weight"]))
    trained.load_state_dict(weights)
    trained.eval()
    options = TEXT_RUN["data"]["options"]
    documents = [row["tokens"] for row in synthetic_text(**options)["test"]]  # the run's own test split
    answers = bundle.explain_many([{"tokens": doc} for doc in documents])
    assert answers == bundle.explain_many([{"tokens": doc} for doc in documents])    # deterministic
    selected_somewhere = False
    for doc, answer in zip(documents, answers):
        with torch.no_grad():
            out = trained(collate_text([{"input_ids": bundle.text_encoder.encode(doc), "label": 0}]))
        probabilities = out.logits.softmax(-1)[0].tolist()
        assert list(answer.tokens) == doc
        assert answer.probabilities == pytest.approx(probabilities, abs=1e-6)
        assert answer.label == max(range(len(probabilities)), key=probabilities.__getitem__)
        assert list(answer.mask) == [int(v > 0.5) for v in out.z[0].tolist()]
        assert answer.scores == pytest.approx(out.generator_logits.softmax(-1)[0, :, 1].tolist(), abs=1e-6)
        runs, position = [], 0
        for bit, group in itertools.groupby(answer.mask):
            size = len(list(group))
            if bit:
                runs.append((position, position + size))
            position += size
        assert answer.spans == runs
        selected_somewhere |= any(answer.mask)
    assert selected_somewhere, "no document has a selected token: the rationale comparison tested nothing"
    assert bundle.explain("The beer wasn't EXCELLENT!").tokens == ("the", "beer", "was", "n't", "excellent", "!")


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:-10]),
     "model.safetensors: SHA-256 differs"),
    (lambda p: (p / "vocab.txt").write_text("<pad>\n<unk>\nevil"), "vocab.txt: SHA-256 differs"),
    (lambda p: (p / "config.yaml").unlink(), "config.yaml: listed in the manifest but missing"),
    (lambda p: (p / "extra.pkl").write_bytes(b"\x80\x04"), "extra.pkl: not listed in the manifest"),
    (lambda p: (p / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
])
def test_altered_bundles_are_refused_naming_the_file(text_bundle, tmp_path, damage, message):
    import shutil

    path, _ = text_bundle
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    damage(copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)


def test_cli_explain_text_file_and_html(text_bundle, tmp_path):
    path, _ = text_bundle
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"text": "a wonderful pour"}) + "\n" + json.dumps({"tokens": ["awful", "head"]}) + "\n"
                      + json.dumps({"tokens": ["long"] * 600}) + "\n")   # past n2r serve's default limit: no limit here
    done = invoke("explain", str(path), "--text", "great beer", "--file", str(inputs),
                  "--html", str(tmp_path / "out.html"))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["tokens"] for r in lines] == [["great", "beer"], ["a", "wonderful", "pour"], ["awful", "head"],
                                            ["long"] * 600]
    page = (tmp_path / "out.html").read_text()
    assert page.count("class='item'") == 4
    tampered = tmp_path / "bad"
    import shutil

    shutil.copytree(path, tampered)
    (tampered / "metrics.json").write_text("{}")
    done = invoke("explain", str(tampered), "--text", "x")
    assert done.returncode == 2 and "metrics.json: SHA-256 differs" in done.stderr


def test_graph_bundle_explains_edges(graph_bundle):
    bundle = load_bundle(graph_bundle)
    graph = {"x": [[0.1] * 10] * 4, "edge_index": [[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]}
    result = bundle.explain(graph)
    assert result.edge_index == ((0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2))
    assert len(result.mask) == len(result.scores) == 6 and result.node_mask is None   # this GCN selects edges only
    assert result.selected == [list(e) for e, bit in zip(result.edge_index, result.mask) if bit]
    with pytest.raises(InputError, match=r"input.edge_index: edge 0 \(0 → 9\) points outside the graph's 4 nodes"):
        bundle.explain({"x": graph["x"], "edge_index": [[0], [9]]})
    assert torch.equal(load_bundle(bundle.path).model.state_dict()["predictor.classifier.weight"],
                       bundle.model.state_dict()["predictor.classifier.weight"])
