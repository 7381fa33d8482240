"""Training throughput of the same run on CUDA (bf16 autocast, pinned batches) and on CPU.

    python benchmarks/device_throughput.py --data-dir ../shared/data [--epochs 2] [--objective n2r]

Prints one table row per device: examples/s (median over epochs), dev accuracy and sparsity after
the last epoch, and the wall time. Used by ``benchmarks/gpu_check.sh``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from n2r.config import RunConfig  # noqa: E402
from n2r.runner import train_run  # noqa: E402
from n2r.data import default_data_path  # noqa: E402


def run_on(device: str, args) -> dict:
    cfg = RunConfig.from_dict({
        "data": {"name": args.dataset, "options": {"aspect": 0} if args.dataset.startswith("beer") else {}},
        "model": {"encoder": "gru"},
        "objective": {"name": args.objective, "sparsity_target": 0.15, "lambda_sparsity": 5.0,
                      "lambda_continuity": 2.0},
        "train": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 1e-3, "device": device,
                  "bf16": device == "cuda", "num_threads": args.threads}})
    if args.data_dir:
        cfg.data.path = default_data_path(cfg.data.name, args.data_dir)
    started = time.perf_counter()
    summary = train_run(cfg)
    if device == "cuda":
        torch.cuda.synchronize()
    last = summary["history"][-1]
    return {"device": device, "examples_per_s": statistics.median(r["examples_per_s"] for r in summary["history"]),
            "dev_accuracy": last["dev"]["accuracy"], "dev_sparsity": last["dev"]["sparsity"],
            "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="beer-heldout-split")
    parser.add_argument("--objective", default="n2r")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    devices = (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"{args.dataset}, GRU, {args.objective}, {args.epochs} epochs, batch {args.batch_size}; GPU: {name}; "
          f"CPU threads: {args.threads or torch.get_num_threads()}")
    rows = [run_on(d, args) for d in devices]
    base = rows[-1]["examples_per_s"]
    print(f"{'device':<8}{'examples/s':>12}{'× CPU':>8}{'dev acc':>9}{'dev S':>8}{'wall s':>9}")
    for r in rows:
        print(f"{r['device']:<8}{r['examples_per_s']:>12.0f}{r['examples_per_s'] / base:>8.1f}"
              f"{r['dev_accuracy']:>9.3f}{r['dev_sparsity']:>8.3f}{r['wall_s']:>9.0f}")


if __name__ == "__main__":
    main()
