"""Parquet cache: keyed by sources + reader + tokenizer; a hit reads nothing else; CLI commands."""
import os
import time

import pyarrow.parquet as pq
import pytest

from n2r.data.cache import prepare
from n2r.data.schema import TEXT_SCHEMA, GRAPH_SCHEMA, graphs_from_table
from tests.helpers import GOOD, invoke, write_beer


def test_second_prepare_is_a_hit_that_does_not_read_the_sources(tmp_path):
    root = write_beer(tmp_path / "beer", GOOD * 3)
    first = prepare("beer-heldout-split", root, cache_dir=tmp_path / "cache")
    assert not first.hit and first.meta["variant"] == "beer-heldout-split-aspect0"
    assert pq.read_schema(first.directory / "train.parquet").equals(TEXT_SCHEMA, check_metadata=False)
    # garble the source but keep size and mtime: a hit must not notice, since it never opens it
    source = root / "reviews.aspect0.heldout.txt.gz"
    stat = source.stat()
    source.write_bytes(b"\0" * stat.st_size)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = prepare("beer-heldout-split", root, cache_dir=tmp_path / "cache")
    assert second.hit and second.directory == first.directory
    assert second.table("train").equals(first.table("train"))


def test_changed_source_options_or_tokenizer_miss_the_cache(tmp_path):
    root = write_beer(tmp_path / "beer", GOOD * 3)
    cache = tmp_path / "cache"
    base = prepare("beer-heldout-split", root, cache_dir=cache)
    other_tok = prepare("beer-heldout-split", root, encoder="gru", cache_dir=cache)
    assert not other_tok.hit and other_tok.directory != base.directory
    assert "input_ids" in other_tok.table("train").column_names
    assert other_tok.vocab().words[:2] == ["<pad>", "<unk>"]
    time.sleep(0.01)
    write_beer(root, GOOD * 4)
    assert not prepare("beer-heldout-split", root, cache_dir=cache).hit
    assert not prepare("beer-heldout-split", root, {"balance_train": False}, cache_dir=cache).hit


def test_in_process_data_opens_the_entry_data_prepare_wrote(tmp_path):
    """``n2r data prepare --encoder gru`` and training use one tokenized entry: training writes
    no second one, and reads what the entry holds (the source is garbled with size and mtime
    kept, so reading it again would fail)."""
    from n2r.config import DataConfig, ModelConfig
    from n2r.data import prepare_data

    root = write_beer(tmp_path / "beer", GOOD * 3)
    cache = tmp_path / "cache"
    done = invoke("data", "prepare", "beer-heldout-split", "--from", str(root), "--encoder", "gru", "--cache", str(cache))
    assert done.returncode == 0, done.stderr
    (entry,) = (cache / "beer-heldout-split").iterdir()
    source = root / "reviews.aspect0.heldout.txt.gz"
    stat = source.stat()
    source.write_bytes(b"\0" * stat.st_size)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    data = prepare_data(DataConfig(name="beer-heldout-split", path=str(root)), ModelConfig(encoder="gru"), cache)
    assert list((cache / "beer-heldout-split").iterdir()) == [entry]
    assert data.splits["train"].equals(pq.read_table(entry / "train.parquet"))
    assert data.tokenizer.vocab.words == (entry / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert data.embedding_matrix.shape[0] == len(data.tokenizer.vocab)
    # another tokenization is another entry, and a text data set refuses a graph encoder by name
    other = DataConfig(name="beer-heldout-split", path=str(write_beer(tmp_path / "other", GOOD * 3)))
    prepare_data(other, ModelConfig(encoder="gru"), cache)
    prepare_data(other, ModelConfig(encoder="bert"), cache)
    assert len(list((cache / "beer-heldout-split").iterdir())) == 3
    with pytest.raises(ValueError, match="'beer-heldout-split' is a text data set; model.encoder must be"):
        prepare_data(other, ModelConfig(encoder="gcn"), cache)


def test_graph_cache_round_trip(tmp_path):
    entry = prepare("ba2motifs", options={"n_graphs": 10, "base_nodes": 6}, cache_dir=tmp_path)
    table = entry.table("train")
    assert table.schema.equals(GRAPH_SCHEMA, check_metadata=False)
    graphs = graphs_from_table(table)
    assert len(graphs) == 8 and graphs[0].edge_gt.sum() > 0


def test_cli_prepare_stats_and_fetch_offline(tmp_path):
    root = write_beer(tmp_path / "beer", GOOD * 3)
    env = {"N2R_CACHE": str(tmp_path / "cache")}
    done = invoke("data", "prepare", "beer-heldout-split", "--from", str(root), "-o", "aspect=0", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("prepared:")
    again = invoke("data", "prepare", "beer-heldout-split", "--from", str(root), "-o", "aspect=0", env=env)
    assert again.stdout.startswith("cache hit:")
    stats = invoke("data", "stats", "beer-heldout-split", "--from", str(root), env=env)
    assert "human rationale sparsity 0.500" in stats.stdout
    assert "skipped: heldout: neutral aspect score: 3" in stats.stdout
    bad = invoke("data", "stats", "beer", env=env)
    assert bad.returncode == 2 and "data.path: the data set 'beer' is read from files" in bad.stderr
    started = time.monotonic()
    fetch = invoke("data", "fetch", "sst2", "--timeout", "3", env=env)
    assert fetch.returncode == 2 and "n2r data prepare sst2 --from PATH" in fetch.stderr
    assert time.monotonic() - started < 30


def test_cli_list_names_every_registered_data_set():
    from n2r.data import DATASETS

    done = invoke("data", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "kind", "source", "rationales", "description"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(DATASETS.names())
    assert rows["beer"].split()[1:4] == ["text", "beer", "yes"] and "BeerAdvocate" in rows["beer"]
    assert rows["sst2"].split()[3] == "no" and rows["ba2motifs"].split()[2] == "generated"
    assert "if given" in rows["files"]
