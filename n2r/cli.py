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


def _options(pairs: list[str]) -> dict:
    import yaml

    options = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise SystemExit(f"n2r: error: option {pair!r} is not KEY=VALUE")
        options[key] = yaml.safe_load(value)
    return options


def _data_prepare(args: argparse.Namespace) -> int:
    from n2r.data.cache import prepare

    entry = prepare(args.name, args.source, _options(args.option), encoder=args.encoder, cache_dir=args.cache)
    meta = entry.meta
    print(f"{'cache hit' if entry.hit else 'prepared'}: {entry.directory}")
    print(f"  variant {meta['variant']}, rows " + ", ".join(f"{k} {v}" for k, v in meta["counts"].items()))
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from n2r.data.cache import prepare
    from n2r.data.stats import format_stats, table_stats

    entry = prepare(args.name, args.source, _options(args.option), cache_dir=args.cache)
    meta = entry.meta
    per_split = {s: table_stats(entry.table(s), meta["kind"]) for s in ("train", "dev", "test")}
    print(format_stats(meta, per_split))
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from n2r.data.cache import default_cache_dir
    from n2r.data.fetch import FetchError, fetch

    try:
        target = fetch(args.name, Path(args.cache or default_cache_dir()), timeout=args.timeout)
    except FetchError as exc:
        print(f"n2r: error: {exc}", file=sys.stderr)
        return 2
    print(f"downloaded into {target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="n2r", description="Train and run rationalizers (N2R, RNP).")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one rationalizer from a run config (single process)")
    train.add_argument("config", help="run config YAML (sections data, model, objective, train)")
    train.add_argument("--out", default=None, help="directory for config, checkpoint and metrics")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    train.set_defaults(func=_train)

    data = sub.add_parser("data", help="prepare, inspect or fetch data sets").add_subparsers(dest="data_command",
                                                                                           required=True)
    for name, func, help_text in (("prepare", _data_prepare, "read (and tokenize) into the Parquet cache"),
                                  ("stats", _data_stats, "counts, lengths, rationale sparsity, skips")):
        cmd = data.add_parser(name, help=help_text)
        cmd.add_argument("name", help="registered data set name (e.g. beer-heldout-split, movies, ba2motifs)")
        cmd.add_argument("--from", dest="source", default=None, help="folder or file holding the data set")
        cmd.add_argument("-o", "--option", action="append", help="reader option KEY=VALUE (e.g. aspect=1)")
        cmd.add_argument("--cache", default=None, help="cache directory (default: $N2R_CACHE or ~/.cache/n2r)")
        if name == "prepare":
            cmd.add_argument("--encoder", choices=["gru", "bert"], default=None,
                             help="also tokenize for this encoder (GloVe ids or MiniLM sub-words)")
        cmd.set_defaults(func=func)
    fetch = data.add_parser("fetch", help="download from the original public URL (needs network)")
    fetch.add_argument("name")
    fetch.add_argument("--cache", default=None)
    fetch.add_argument("--timeout", type=float, default=5.0)
    fetch.set_defaults(func=_data_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    from n2r.config import ConfigError
    from n2r.data.base import DataError
    from n2r.engine import CheckpointError, NonFiniteLossError
    from n2r.registry import UnknownNameError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, CheckpointError, NonFiniteLossError, UnknownNameError,
            FileNotFoundError) as exc:
        print(f"n2r: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
