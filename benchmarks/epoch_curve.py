"""How a rationale develops with training time: dev accuracy and test rationale P/R/F1 per epoch.

    python benchmarks/epoch_curve.py RUN_CONFIG.yaml --epochs 24 [--data-dir DIR] [--json FILE]

Trains the run config (e.g. a quality bundle's ``config.yaml``: the tuned coefficients and seed)
for ``--epochs`` and, after every epoch, evaluates the current state on dev *and* on the
annotated test split. The test column is a diagnostic of whether a method's rationale is still
forming when the protocol's epoch budget ends — it is printed, never used to pick an epoch (the
runner still selects on dev). Used in ``docs/results.md`` for N2R on Beer.
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
    parser.add_argument("--save-state", default=None, metavar="FILE",
                        help="write the last epoch's weights here (frozen embeddings left out), e.g. to probe a "
                             "trained state later (benchmarks/parity.py) without retraining")
    args = parser.parse_args()

    import torch

    from n2r.config import RunConfig
    from n2r.engine import evaluate, fit, resolve_device
    from n2r.objectives import build_objective
    from n2r.runner import build_run
    from n2r.training import run_loaders

    cfg = RunConfig.from_yaml(args.config)
    cfg.train.epochs = args.epochs
    if args.data_dir:
        from n2r.data import default_data_path

        cfg.data.path = default_data_path(cfg.data.name, args.data_dir)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    data, model = build_run(cfg)
    t = cfg.train
    device = resolve_device(args.device or t.device)
    test_loader = data.loader("test", t.eval_batch_size, by_length=True, pad_to=t.pad_to)
    rows = []
    print("| epoch | dev accuracy | test P | test R | test F1 | test accuracy |\n|---|---|---|---|---|---|", flush=True)

    def on_epoch_end(record, _result):
        with torch.random.fork_rng(devices=[]):   # iterating a DataLoader draws from the global RNG:
            test = evaluate(model, test_loader, device=device, bf16=t.bf16, faithfulness=False)   # keep training's
        rows.append({"epoch": record["epoch"], "dev": record["dev"], "test": test})
        print(f"| {record['epoch']} | {record['dev']['accuracy']:.3f} | {test['precision']:.3f} | {test['recall']:.3f} "
              f"| {test['f1']:.3f} | {test['accuracy']:.3f} |", flush=True)

    result = fit(model, build_objective(cfg.objective), *run_loaders(data, cfg), t, device=device,
                 on_epoch_end=on_epoch_end)
    if args.save_state:
        frozen = {p.data_ptr() for p in model.parameters() if not p.requires_grad}     # shared tables once
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items() if v.data_ptr() not in frozen},
                   args.save_state)
    chosen = rows[result.best_epoch - 1]["test"]
    print(f"\ndev-selected epoch {result.best_epoch}: test F1 {chosen['f1']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": cfg.to_dict(), "epochs": rows,
                                               "best_epoch": result.best_epoch}, indent=2))


if __name__ == "__main__":
    main()
