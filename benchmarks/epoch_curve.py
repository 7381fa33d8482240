"""How a rationale develops with training time: dev accuracy and test rationale P/R/F1 per epoch.

    python benchmarks/epoch_curve.py RUN_CONFIG.yaml --epochs 24 [--data-dir DIR] [--json FILE] [--out DIR]

Trains the run config (e.g. a quality bundle's ``config.yaml``: the tuned coefficients and seed)
for ``--epochs`` and, after every epoch, evaluates the current state on dev *and* on the
annotated test split (:func:`n2r.runner.train_run` with ``diagnostic_test``). The test column is a
diagnostic of whether a method's rationale is still forming when the protocol's epoch budget
ends — it is printed, never used to pick an epoch (the runner still selects on dev). Used in
``docs/results.md`` for N2R on Beer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--data-dir", default=None, help="folder holding the data set's folder (overrides data.path)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--device", default=None, help="cpu, cuda, … (default: the config's train.device)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="keep the run: DIR/checkpoint.pt (the last epoch's state, e.g. to probe it later "
                             "without retraining) and DIR/bundle (the dev-selected model)")
    args = parser.parse_args()

    import torch

    from n2r.config import RunConfig
    from n2r.runner import train_run

    cfg = RunConfig.from_yaml(args.config)
    cfg.train.epochs = args.epochs
    if args.device:
        cfg.train.device = args.device
    if args.data_dir:
        from n2r.data import default_data_path

        cfg.data.path = default_data_path(cfg.data.name, args.data_dir)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    rows = []
    print("| epoch | dev accuracy | test P | test R | test F1 | test accuracy |\n|---|---|---|---|---|---|", flush=True)

    def on_epoch_end(record, _result):
        test = record["test"]
        rows.append({"epoch": record["epoch"], "dev": record["dev"], "test": test})
        print(f"| {record['epoch']} | {record['dev']['accuracy']:.3f} | {test['precision']:.3f} | {test['recall']:.3f} "
              f"| {test['f1']:.3f} | {test['accuracy']:.3f} |", flush=True)

    summary = train_run(cfg, args.out, on_epoch_end=on_epoch_end, diagnostic_test=True)
    chosen = rows[summary["best_epoch"] - 1]["test"]
    print(f"\ndev-selected epoch {summary['best_epoch']}: test F1 {chosen['f1']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": cfg.to_dict(), "epochs": rows,
                                               "best_epoch": summary["best_epoch"]}, indent=2))


if __name__ == "__main__":
    main()
