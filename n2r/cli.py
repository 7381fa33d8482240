"""The ``n2r`` command line."""
from __future__ import annotations

import argparse
import json
import sys


def _train(args: argparse.Namespace) -> int:
    from n2r.config import RunConfig
    from n2r.runner import train_run

    cfg = RunConfig.from_yaml(args.config)
    summary = train_run(cfg, args.out, resume=args.resume)
    printable = {k: v for k, v in summary.items() if k != "history"}
    print(json.dumps(printable, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="n2r", description="Train and run rationalizers (N2R, RNP).")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one rationalizer from a run config (single process)")
    train.add_argument("config", help="run config YAML (sections data, model, objective, train)")
    train.add_argument("--out", default=None, help="directory for config, checkpoint and metrics")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    train.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    from n2r.config import ConfigError
    from n2r.engine import CheckpointError, NonFiniteLossError
    from n2r.registry import UnknownNameError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, CheckpointError, NonFiniteLossError, UnknownNameError, FileNotFoundError) as exc:
        print(f"n2r: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
