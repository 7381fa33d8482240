"""Every reader on small fixtures written in its source format, and every bad-input case."""
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from n2r.data import DATASETS, read_dataset
from n2r.data.base import DataError
from tests.helpers import GOOD, write_beer


def test_registry_lists_every_source():
    assert set(DATASETS.names()) >= {"beer", "beer-heldout-split", "hotel", "movies", "sst2", "agnews",
                                     "mutagenicity", "ba2motifs", "synthetic-text", "files"}


def test_beer_official_layout_labels_balance_and_counted_skips(tmp_path):
    root = write_beer(tmp_path / "beer", GOOD, train_lines=GOOD)
    result = read_dataset("beer", root)
    assert {r["label"] for r in result.splits["train"]} == {0, 1}
    assert len(result.splits["train"]) == 8            # 5 positive, 4 negative → 4 + 4
    assert len(result.splits["dev"]) == 9              # not balanced; the 0.5 line dropped
    assert result.skipped["train: neutral aspect score"] == 1
    assert result.skipped["train: class balancing"] == 1
    test = result.splits["test"]
    assert [r["rationale"] for r in test] == [[1, 1, 0, 0]]
    assert result.skipped["test: neutral aspect score"] == 1
    assert result.skipped["test: no annotation for the aspect"] == 1


def test_beer_annotation_tokens_lose_surrounding_whitespace_and_keep_span_positions(tmp_path):
    # annotations.json has tokens such as "\xa0just" (two in the Appearance test set)
    annotations = [{"x": ["dry", "\xa0just", "pale "], "y": [0.9] * 5, "0": [[1, 3]], "1": [], "2": [], "3": [],
                    "4": []}]
    root = write_beer(tmp_path / "beer", GOOD, annotations=annotations, train_lines=GOOD)
    (row,) = read_dataset("beer", root).splits["test"]
    assert row["tokens"] == ["dry", "just", "pale"] and row["rationale"] == [0, 1, 1]


def test_beer_heldout_split_is_deterministic_and_labelled(tmp_path):
    root = write_beer(tmp_path / "beer", GOOD * 5)
    a = read_dataset("beer-heldout-split", root)
    b = read_dataset("beer-heldout-split", root)
    assert a.splits == b.splits and a.variant == "beer-heldout-split-aspect0"
    ids = {r["id"] for r in a.splits["train"]} & {r["id"] for r in a.splits["dev"]}
    assert not ids


@pytest.mark.parametrize("line, message", [
    ("0.9 0.5 0.5 0.5\tshort scores", "expected 5 scores before the TAB, found 4"),
    ("0.9 0.5 0.5 0.5 0.5 no tab here", "no TAB between the scores and the text"),
    ("0.9 x 0.5 0.5 0.5\ttext", "non-numeric score"),
    ("0.9 0.5 0.5 0.5 0.5\t   ", "empty review text"),
])
def test_beer_malformed_lines_name_file_and_line(tmp_path, line, message):
    root = write_beer(tmp_path / "beer", GOOD[:2] + [line])
    with pytest.raises(DataError, match=rf"reviews.aspect0.heldout.txt.gz:3: {message}"):
        read_dataset("beer-heldout-split", root)


def test_beer_span_outside_document(tmp_path):
    bad = [{"x": ["a", "b"], "y": [0.9] * 5, "0": [[1, 5]], "1": [], "2": [], "3": [], "4": []}]
    root = write_beer(tmp_path / "beer", GOOD, annotations=bad)
    with pytest.raises(DataError, match=r"annotations.json:1: span \[1, 5\) lies outside the document of 2 tokens"):
        read_dataset("beer-heldout-split", root)


def test_missing_path_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="data.path: the data set 'beer' is read from files"):
        read_dataset("beer")
    with pytest.raises(DataError, match="no such file or folder"):
        read_dataset("sst2", tmp_path / "nowhere")
    with pytest.raises(DataError, match="reviews.aspect0.heldout.txt.gz: missing file"):
        read_dataset("beer-heldout-split", tmp_path)


def write_hotel(root, rationale_line="1\tclean room\t0 1"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "hotel_Cleanliness.train").write_text("label\ttext\n1\tvery clean\n0\tdirty floor\n")
    (root / "hotel_Cleanliness.dev").write_text("label\ttext\n0\tsmelly\n")
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / "hotel_Cleanliness.train").write_text(f"label\ttext\trationale\n{rationale_line}\n")
    return root


def test_hotel_layout(tmp_path):
    result = read_dataset("hotel", write_hotel(tmp_path / "hotel"), aspect="Cleanliness")
    assert [r["label"] for r in result.splits["train"]] == [1, 0]
    assert result.splits["test"][0]["rationale"] == [0, 1]
    assert result.splits["test"][0]["tokens"] == ["clean", "room"]


@pytest.mark.parametrize("line, message", [
    ("1\tclean room\t0 1 1", "3 rationale bits for 2 tokens"),
    ("x\tclean room\t0 1", "non-numeric label 'x'"),
    ("1\tclean room", "expected 3 TAB-separated fields, found 2"),
    ("1\tclean room\t0 2", "rationale bits must be 0 or 1"),
])
def test_hotel_bad_annotation_lines(tmp_path, line, message):
    root = write_hotel(tmp_path / "hotel", line)
    with pytest.raises(DataError, match=rf"hotel_Cleanliness.train:2: {message}"):
        read_dataset("hotel", root, aspect="Cleanliness")


def write_zaidan(root, files):
    for name, text in files.items():
        folder = root / ("withRats_pos" if name.startswith("pos") else "withRats_neg")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return root


def test_movies_zaidan_fixture_split_by_file_number(tmp_path):
    root = write_zaidan(tmp_path / "m", {
        "posR_001.txt": "a <POS> great film </POS> indeed", "negR_850.txt": "<NEG> dull </NEG> plot",
        "negR_950.txt": "no tags at all"})
    result = read_dataset("movies", root)
    train, dev, test = (result.splits[s] for s in ("train", "dev", "test"))
    assert train[0]["tokens"] == ["a", "great", "film", "indeed"] and train[0]["rationale"] == [0, 1, 1, 0]
    assert dev[0]["label"] == 0 and dev[0]["rationale"] == [1, 0]
    assert test[0]["rationale"] == [0, 0, 0, 0] and result.skipped["test: kept without rationale tags"] == 1


def test_movies_dev_from_train_holds_out_the_last_training_files_and_reports_validation(tmp_path):
    files = {f"{c}R_{i:03d}.txt": f"<{c.upper()}> w{i} </{c.upper()}> x" for c in ("pos", "neg")
             for i in (1, 2, 3, 4, 800, 801)}
    root = write_zaidan(tmp_path / "m", files)
    result = read_dataset("movies", root, dev_from_train=0.25)
    ids = {s: sorted(r["id"] for r in rows) for s, rows in result.splits.items()}
    # ceil(0.25 * 4) = 1 training file per class held out: the last one in file order
    assert ids["dev"] == ["negR_004.txt", "posR_004.txt"]
    assert ids["train"] == sorted(f"{c}R_{i:03d}.txt" for c in ("pos", "neg") for i in (1, 2, 3))
    assert ids["test"] == ["negR_800.txt", "negR_801.txt", "posR_800.txt", "posR_801.txt"]
    assert all(r["split"] == s for s, rows in result.splits.items() for r in rows)
    assert result.variant == "movies-zaidan-dev0.25oftrain"
    (root / "withRats_pos" / "posR_950.txt").write_text("<POS> t </POS>")   # a copy with test files
    result = read_dataset("movies", root, dev_from_train=0.25)
    assert [r["id"] for r in result.splits["test"]] == ["posR_950.txt"]
    assert result.skipped["validation files left out (dev_from_train; the copy has test files)"] == 4
    with pytest.raises(ValueError, match="data.options.dev_from_train: must lie in"):
        read_dataset("movies", root, dev_from_train=1.5)


@pytest.mark.parametrize("text, message", [
    ("a <POS> b", "<POS> is never closed"),
    ("a </POS> b", "</POS> closes nothing"),
    ("<POS> a <POS> b </POS> </POS>", "<POS> opened inside <POS>"),
    ("<POS> a </NEG>", "</NEG> closes <POS>"),
    ("<POS> </POS>", "empty review"),
])
def test_movies_bad_tags_name_the_file(tmp_path, text, message):
    root = write_zaidan(tmp_path / "m", {"posR_001.txt": text, "negR_001.txt": "<NEG> bad </NEG>"})
    with pytest.raises(DataError, match=rf"posR_001.txt: {message}"):
        read_dataset("movies", root)


def test_movies_eraser_layout(tmp_path):
    root = tmp_path / "eraser"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "negR_000.txt").write_text("the plot\nis dull and slow .\n")
    line = {"annotation_id": "negR_000.txt", "classification": "NEG", "query": "?",
            "evidences": [[{"docid": "negR_000.txt", "start_token": 3, "end_token": 4, "text": "dull"}],
                          [{"docid": "negR_000.txt", "start_token": 5, "end_token": 6, "text": "slow"}]]}
    (root / "val.jsonl").write_text(json.dumps(line) + "\n")
    result = read_dataset("movies", root)
    assert result.variant == "movies-eraser"
    row = result.splits["dev"][0]
    assert row["tokens"] == ["the", "plot", "is", "dull", "and", "slow", "."]
    assert row["rationale"] == [0, 0, 0, 1, 0, 1, 0] and row["label"] == 0
    (root / "val.jsonl").write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(DataError, match=r"val.jsonl:2: duplicate annotation_id"):
        read_dataset("movies", root)
    line["evidences"][0][0]["end_token"] = 99
    (root / "val.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(DataError, match=r"val.jsonl:1: span \[3, 99\) lies outside"):
        read_dataset("movies", root)


def test_tsv_readers_and_their_errors(tmp_path):
    sst = tmp_path / "sst2"
    sst.mkdir()
    for split in ("train", "dev", "test"):
        (sst / f"{split}.tsv").write_text("sentence\tlabel\na fine film \t1\ndull \t0\n")
    assert [r["tokens"] for r in read_dataset("sst2", sst).splits["dev"]] == [["a", "fine", "film"], ["dull"]]
    (sst / "dev.tsv").write_text("sentence\tlabel\na film\tpositive\n")
    with pytest.raises(DataError, match=r"dev.tsv:2: unknown label 'positive'"):
        read_dataset("sst2", sst)
    (sst / "dev.tsv").write_text("sentence\tlabel\n \t1\n")
    with pytest.raises(DataError, match=r"dev.tsv:2: empty text"):
        read_dataset("sst2", sst)
    ag = tmp_path / "ag"
    ag.mkdir()
    rows = "".join(f"Story {i} about Stocks!\t{lab}\n" for i, lab in enumerate(["World", "Sports", "Business", "Sci/Tech"] * 5))
    (ag / "dev.tsv").write_text(rows)
    (ag / "test.tsv").write_text(rows)
    result = read_dataset("agnews", ag)
    assert result.splits["test"][0]["tokens"] == ["story", "0", "about", "stocks", "!"]
    assert len(result.splits["train"]) == 16 and len(result.splits["dev"]) == 4


def write_tu(root, edges, indicator, graph_labels, node_labels, edge_labels=None, gt=None, as_zip=True):
    members = {
        "A": "".join(f"{a}, {b}\n" for a, b in edges),
        "graph_indicator": "".join(f"{g}\n" for g in indicator),
        "graph_labels": "".join(f"{g}\n" for g in graph_labels),
        "node_labels": "".join(f"{n}\n" for n in node_labels),
        "edge_labels": "".join(f"{e}\n" for e in (edge_labels or [0] * len(edges))),
        "edge_gt": "".join(f"{e}\n" for e in (gt or [0] * len(edges))),
    }
    root.mkdir(parents=True, exist_ok=True)
    if as_zip:
        with zipfile.ZipFile(root / "Mutagenicity.zip", "w") as z:
            for name, text in members.items():
                z.writestr(f"Mutagenicity_{name}.txt", text)
    else:
        for name, text in members.items():
            (root / f"Mutagenicity_{name}.txt").write_text(text)
    return root


TU = dict(edges=[(1, 2), (2, 1), (3, 4), (4, 3)] * 5, indicator=[1, 1, 2, 2] * 5, graph_labels=[0, 1] * 5,
          node_labels=[4, 1, 0, 3] * 5)


def _tu(n):
    edges, indicator = [], []
    for g in range(n):
        a, b = 2 * g + 1, 2 * g + 2
        edges += [(a, b), (b, a)]
        indicator += [g + 1, g + 1]
    return dict(edges=edges, indicator=indicator, graph_labels=[g % 2 for g in range(n)], node_labels=[4, 1] * n,
                gt=[1, 1] + [0, 0] * (n - 1))


@pytest.mark.parametrize("as_zip", [True, False])
def test_mutagenicity_zip_or_folder(tmp_path, as_zip):
    root = write_tu(tmp_path / "mut", **_tu(20), as_zip=as_zip)
    result = read_dataset("mutagenicity", root)
    graphs = [g for rows in result.splits.values() for g in rows]
    assert len(graphs) == 20 and {len(r) for r in result.splits.values()} == {16, 2}
    first = next(g for g in graphs if g.id == "mutagenicity-0")
    assert first.edge_index.tolist() == [[0, 1], [1, 0]] and first.edge_gt.tolist() == [1.0, 1.0]
    assert result.info["gt_edges"] == 2


def test_mutagenicity_bad_inputs(tmp_path):
    bad = _tu(4)
    bad["edges"][1] = (2, 99)
    with pytest.raises(DataError, match=r"Mutagenicity_A.txt:2: edge points past the 8 nodes"):
        read_dataset("mutagenicity", write_tu(tmp_path / "a", **bad))
    cross = _tu(4)
    cross["edges"][0] = (1, 3)
    with pytest.raises(DataError, match=r"Mutagenicity_A.txt:1: edge joins nodes of two different graphs"):
        read_dataset("mutagenicity", write_tu(tmp_path / "b", **cross))
    short = _tu(4)
    short["gt"] = short["gt"][:-1]
    with pytest.raises(DataError, match=r"edge_gt.txt: 7 lines for 8 edges"):
        read_dataset("mutagenicity", write_tu(tmp_path / "c", **short))
    root = tmp_path / "d"
    root.mkdir()
    with zipfile.ZipFile(root / "Mutagenicity.zip", "w") as z:
        z.writestr("Mutagenicity_A.txt", "1, 2\n")
    with pytest.raises(DataError, match=r"Mutagenicity.zip: missing member Mutagenicity_graph_indicator.txt"):
        read_dataset("mutagenicity", root)


def test_generic_files_reader_parquet_and_jsonl(tmp_path):
    rows = [{"id": "a", "label": 1, "tokens": ["x", "y"], "rationale": [0, 1]},
            {"id": "b", "label": 0, "tokens": ["z"], "rationale": None}]
    folder = tmp_path / "own"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "train.parquet")
    (folder / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = read_dataset("files", folder)
    assert result.splits["train"][0]["rationale"] == [0, 1] and result.splits["dev"][1]["rationale"] is None
    assert result.splits["test"] == []
    (folder / "dev.jsonl").write_text(json.dumps({"id": "c", "label": 1, "tokens": ["a", "b"], "rationale": [1]}) + "\n")
    with pytest.raises(DataError, match=r"dev.jsonl:1: 1 rationale bits for 2 tokens"):
        read_dataset("files", folder)
    (folder / "dev.jsonl").write_text('{"id": "c", "label": 1, "tokens": ["a"]}\n{broken\n')
    with pytest.raises(DataError, match=r"dev.jsonl:2: not valid JSON"):
        read_dataset("files", folder)


def test_generic_files_reader_graphs_with_bad_edges(tmp_path):
    from n2r.data.schema import graph_table
    from n2r.data.synthetic import ba2motifs

    graphs = ba2motifs(n_graphs=10, base_nodes=6)
    table = pa.concat_tables([graph_table(graphs[s], s) for s in ("train", "dev", "test")])
    pq.write_table(table, tmp_path / "graphs.parquet")
    result = read_dataset("files", tmp_path / "graphs.parquet")
    assert len(result.splits["train"]) == 8
    assert result.splits["train"][0].edge_index.tolist() == graphs["train"][0].edge_index.tolist()
    rows = table.to_pylist()
    rows[3]["edge_index"][1][0] = 500
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"bad.parquet:\d+: an edge points past the graph's \d+ nodes"):
        read_dataset("files", tmp_path / "bad.parquet")
