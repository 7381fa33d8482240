"""Ingest benchmark: rows/s of read + tokenize through Ray Data against a plain single-process
loop over the same files, and the share of padded positions for fixed-256 / dynamic / bucketed
batching. Prints a markdown table.

    .venv/bin/python benchmarks/ingest.py --data-dir ../shared/data

Both paths start from the same source files and end with GloVe ids for every row:
- plain loop: read the source with the n2r reader, then look every token up in a Python dict,
  one row at a time (the way the reference code builds its id lists);
- n2r in-process: the same reader, the canonical Arrow table and the vectorized tokenizer;
- Ray Data: ``n2r.data.cache.prepare`` (read → canonical Parquet) then ``read_parquet`` →
  ``map_batches`` vectorized Arrow tokenization, materialized. The cache is cleared first, so
  both pay for reading the sources; the set of GloVe words is loaded once for both.
Ray Data pays a fixed start-up (planning, a tokenizer actor, Parquet writes) that small sets
do not amortize; the table shows where it does.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np  # noqa: E402
import ray  # noqa: E402

from n2r.config import RunConfig  # noqa: E402
from n2r.data import read_dataset  # noqa: E402
from n2r.embeddings import Vocabulary, glove_words  # noqa: E402
from pipelines.data import build_ray_data  # noqa: E402

SETS = {
    "beer-heldout-split (aspect 0)": ("beer-heldout-split", "beer", {"aspect": 0}),
    "movies (Zaidan)": ("movies", "movies", {}),
    "sst2": ("sst2", "sst2", {}),
}


def plain_loop(name: str, path: Path, options: dict, known: set[str]) -> tuple[int, float]:
    start = time.perf_counter()
    result = read_dataset(name, path, **options)
    vocab = Vocabulary.build((r["tokens"] for rows in result.splits.values() for r in rows), known=known)
    index = vocab.index
    rows = 0
    for split_rows in result.splits.values():
        for row in split_rows:
            ids = [index.get(t, 1) for t in row["tokens"]]
            rows += 1 if ids else 0
    return rows, time.perf_counter() - start


def vectorized_in_process(name: str, path: Path, options: dict, known: set[str]) -> tuple[int, float]:
    from n2r.data.schema import text_table
    from n2r.data.tokenize import GloveTokenizer

    start = time.perf_counter()
    result = read_dataset(name, path, **options)
    vocab = Vocabulary.build((r["tokens"] for rows in result.splits.values() for r in rows), known=known)
    tokenize = GloveTokenizer(vocab)
    rows = sum(tokenize(text_table(split_rows)).num_rows for split_rows in result.splits.values())
    return rows, time.perf_counter() - start


def ray_path(name: str, path: Path, options: dict, cache: Path) -> tuple[int, float, list[np.ndarray]]:
    shutil.rmtree(cache, ignore_errors=True)
    cfg = RunConfig.from_dict({"data": {"name": name, "path": str(path), "options": options},
                               "model": {"encoder": "gru"}})
    start = time.perf_counter()
    data = build_ray_data(cfg, cache_dir=cache)
    rows, lengths = 0, []
    for split, ds in data.datasets.items():
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=4096):
            rows += batch.num_rows
            if split == "train":
                lengths.append(np.diff(batch.column("input_ids").combine_chunks().offsets.to_numpy()))
    return rows, time.perf_counter() - start, lengths


def pad_lengths(lengths: np.ndarray, batch_size: int, mode: str, window: int = 50) -> float:
    """Share of padded positions when batching sequences of ``lengths`` in order.

    ``fixed``: every sequence padded to 256 (the reference code); ``dynamic``: to each batch's
    longest; ``bucketed``: sorted by length within windows of ``window`` batches, then dynamic.
    """
    lengths = np.asarray(lengths)
    if mode == "fixed":
        width = np.maximum(256, lengths)
        return float(1 - lengths.sum() / width.sum())
    if mode == "bucketed":
        span = batch_size * window
        lengths = np.concatenate([np.sort(lengths[i:i + span]) for i in range(0, len(lengths), span)])
    padded = sum(int(lengths[i:i + batch_size].max()) * len(lengths[i:i + batch_size])
                 for i in range(0, len(lengths), batch_size))
    return float(1 - lengths.sum() / padded)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bucket-window", type=int, default=50)
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    known = glove_words()
    print(f"| data set | rows | plain loop rows/s | n2r in-process rows/s | Ray Data rows/s (cold) | Ray / plain | "
          f"padding fixed 256 | dynamic | bucketed (window {args.bucket_window}) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (name, folder, options) in SETS.items():
            path = Path(args.data_dir) / folder
            plain_rows, plain_s = plain_loop(name, path, options, known)
            local_rows, local_s = vectorized_in_process(name, path, options, known)
            ray_rows, ray_s, lengths = ray_path(name, path, options, Path(tmp) / name)
            assert plain_rows == ray_rows, (plain_rows, ray_rows)
            lens = np.concatenate(lengths)
            pads = [pad_lengths(lens, args.batch_size, mode, args.bucket_window) for mode in ("fixed", "dynamic", "bucketed")]
            print(f"| {label} | {ray_rows} | {plain_rows / plain_s:,.0f} | {local_rows / local_s:,.0f} | "
                  f"{ray_rows / ray_s:,.0f} | {plain_s / ray_s:.2f}× | {pads[0]:.1%} | {pads[1]:.1%} | {pads[2]:.1%} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
