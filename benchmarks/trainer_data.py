"""Ray Train data path: a ``TorchTrainer`` fit with the tokenized splits kept in the object store
(``materialize``) against each worker reading them from Parquet through tokenization itself (once
per run: a worker holds its splits whole and batches them as a one-process run does). Prints a
markdown table; both modes run in the same process on the same local Ray instance.

    .venv/bin/python benchmarks/trainer_data.py [--epochs 4] [--rows 512] [--workers 1]

Columns: the trainer's set-up (cache, tokenizer, materialization — ``build_trainer``), the whole
``fit`` (worker group start, per-epoch data, training, checkpoints), and the epochs' own times as
the engine records them (training pass; training pass plus dev evaluation), median over epochs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rows", type=int, default=512, help="training examples (synthetic text)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    import ray

    from n2r.checkpoint import load_checkpoint
    from n2r.config import RunConfig
    from pipelines.train import build_trainer

    cfg = RunConfig.from_dict({
        "data": {"name": "synthetic-text", "options": {"n_train": args.rows, "n_dev": args.rows // 4,
                                                       "n_test": args.rows // 4}},
        "model": {"encoder": "gru", "hidden_size": 16},
        "objective": {"name": "n2r", "sparsity_target": 0.2},
        "train": {"epochs": args.epochs, "batch_size": 32, "num_threads": 1}})
    ray.init(num_cpus=max(4, args.workers + 2), include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="n2r-trainer-data-") as work:
        for name, materialize in (("read by each worker", False), ("materialized once", True)):
            t0 = time.perf_counter()
            trainer = build_trainer(cfg, num_workers=args.workers, storage_path=work, name=name.replace(" ", "-"),
                                    cache_dir=f"{work}/cache", materialize=materialize)
            built = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = trainer.fit()
            fitted = time.perf_counter() - t0
            with result.checkpoint.as_directory() as folder:
                history = load_checkpoint(f"{folder}/checkpoint.pt")["history"]
            rows.append((name, built, fitted, statistics.median(h["train_time_s"] for h in history),
                         statistics.median(h["epoch_time_s"] for h in history)))
    ray.shutdown()
    base = rows[0][2]
    print(f"{args.epochs} epochs, {args.rows} training rows, {args.workers} worker(s), {os.cpu_count()} cores\n")
    print("| data | set-up (s) | fit (s) | fit vs read by each worker | training pass (s, median) | epoch with dev (s, median) |")
    print("|---|---|---|---|---|---|")
    for name, built, fitted, train, epoch in rows:
        print(f"| {name} | {built:.1f} | {fitted:.1f} | {fitted / base:.2f}× | {train:.2f} | {epoch:.2f} |")


if __name__ == "__main__":
    main()
