"""The installed ``n2r`` command: the library's commands (:mod:`n2r.cli`) plus the Ray ones.

Ray commands: ``sweep`` (Optuna on Ray Tune), ``resume``, ``export``, and ``train --workers N``
(data-parallel Ray Train). ``python -m pipelines.cli …`` is the same command.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from n2r import cli as library


def _train(args: argparse.Namespace) -> int:
    """``n2r train``: one process (the library's), or ``--workers`` Ray Train workers."""
    if args.workers <= 1:
        return library._train(args)
    from n2r.config import RunConfig
    from n2r.data import default_data_path
    from pipelines.sweep import ensure_ray
    from pipelines.train import build_trainer

    cfg = RunConfig.from_yaml(args.config)
    if args.data_dir and cfg.data.path is None:
        cfg.data.path = default_data_path(cfg.data.name, args.data_dir)
    ensure_ray(args.address)
    result = build_trainer(cfg, num_workers=args.workers, storage_path=str(Path(args.out or "runs/train").resolve()),
                           name="train", use_gpu=args.gpu).fit()
    print(json.dumps(result.metrics, indent=2, default=str))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from pipelines.sweep import main_sweep

    return main_sweep(args)


def _resume(args: argparse.Namespace) -> int:
    from pipelines.sweep import main_resume

    return main_resume(args)


def _export(args: argparse.Namespace) -> int:
    from pipelines.export import export_sweep

    bundles = export_sweep(args.sweep_dir, args.out, cache_dir=args.cache)
    for study, path in bundles.items():
        print(f"{study}: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = library.build_parser()
    train = parser.commands["train"]
    train.add_argument("--workers", type=int, default=1, help="data-parallel Ray Train workers (default 1: no Ray)")
    train.add_argument("--gpu", action="store_true", help="with --workers: one GPU per worker, NCCL")
    train.add_argument("--address", default=None, help="with --workers: a running Ray cluster")
    train.set_defaults(func=_train)

    sub = parser.subcommands
    sweep = sub.add_parser("sweep", help="Optuna sweep(s) on Ray Tune; no file: the demo on generated data")
    sweep.add_argument("sweep_files", nargs="*", help="tune_spaces/*.yaml (default: the demo sweeps)")
    sweep.add_argument("--storage", "--out", dest="storage", default="runs/sweep",
                       help="where sweeps, trials and checkpoints go: a local folder or a file://, s3:// or gs:// "
                            "URI (each sweep file gets its own sub-folder; default runs/sweep)")
    sweep.add_argument("--data-dir", default=None, help="folder holding the real data sets (beer/, movies/, …)")
    sweep.add_argument("--address", default=None, help="connect to a running Ray cluster instead of a local one")
    sweep.add_argument("--cache", default=None, help="data cache directory")
    sweep.add_argument("--num-samples", type=int, default=None, help="override search.num_samples")
    sweep.add_argument("--no-export", action="store_true", help="skip export, explanations and the report")
    sweep.set_defaults(func=_sweep)
    resume = sub.add_parser("resume", help="restore an interrupted sweep and finish it")
    resume.add_argument("sweep_dir", help="the sweep's folder or URI (STORAGE/NAME)")
    resume.add_argument("--address", default=None)
    resume.add_argument("--cache", default=None)
    resume.add_argument("--no-export", action="store_true")
    resume.set_defaults(func=_resume)
    export = sub.add_parser("export", help="best configuration and model of each study → bundles")
    export.add_argument("sweep_dir", help="the sweep's folder or URI (STORAGE/NAME)")
    export.add_argument("--out", required=True, help="local folder for the bundles")
    export.add_argument("--cache", default=None)
    export.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    return library.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
