"""The library's part of the ``n2r`` command line: train (one process), explain, score, data.

The Ray commands (``sweep``, ``resume``, ``export`` and ``train --workers``) are added by
:mod:`pipelines.cli`, which the installed ``n2r`` command runs; this package never imports the
pipelines.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from n2r.data.base import DataError


def load_run_config(args: argparse.Namespace):
    """``n2r train``'s run config: the file, then ``--set`` overrides (a new validated
    configuration), then ``--data-dir`` for a data set that names no path."""
    from n2r.config import RunConfig, parse_overrides

    cfg = RunConfig.from_yaml(args.config)
    if args.set:
        cfg = cfg.with_overrides(parse_overrides(args.set), source=f"{args.config} --set")
    if args.data_dir and cfg.data.path is None:
        from n2r.data import default_data_path

        cfg.data.path = default_data_path(cfg.data.name, args.data_dir)
    return cfg


def _train(args: argparse.Namespace) -> int:
    from n2r.runner import train_run

    cfg = load_run_config(args)
    summary = train_run(cfg, args.out, resume=args.resume, cache_dir=args.cache)
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


def _data_list(args: argparse.Namespace) -> int:
    from n2r.data import DATASETS

    specs = [(name, DATASETS.get(name)) for name in DATASETS.names()]
    rows = [(name, spec.kind, "generated" if spec.generated else (spec.folder or spec.default_path or "--from PATH"),
             {True: "yes", False: "no", None: "if given"}[spec.has_rationales], spec.description) for name, spec in specs]
    head = ("name", "kind", "source", "rationales", "description")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
    for row in [head] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + row[4])
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


def _explain(args: argparse.Namespace) -> int:
    from n2r.bundle import load_bundle, render_html

    bundle = load_bundle(args.bundle, device=args.device)
    if args.eraser:
        from n2r.eraser import gold_for_bundle, write_predictions

        if not args.out:
            raise SystemExit("n2r: error: --eraser needs --out predictions.jsonl")
        count = write_predictions(bundle, gold_for_bundle(bundle, args.eraser, args.split), args.out)
        print(f"{count} predictions ({args.split}) written to {args.out}")
        return 0
    from n2r.explain import NO_LIMITS, explain_checked
    from n2r.inputs import parse_item

    limits = NO_LIMITS.for_bundle(bundle.config)          # the serving limits are n2r serve's, not this

    def checked(value, where: str) -> dict:
        return parse_item(value, bundle.kind, limits, where, bundle.config.model.in_channels, bundle.text_rule)

    items: list = []
    if args.text is not None:
        items.append(checked({"text": args.text}, "--text"))
    if args.file:
        for lineno, line in enumerate(Path(args.file).read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(args.file, f"not valid JSON ({exc.msg})", lineno) from None
                items.append(checked(value, f"{args.file}:{lineno}"))
    if args.graph:
        try:
            value = json.loads(Path(args.graph).read_text())
        except json.JSONDecodeError as exc:
            raise DataError(args.graph, f"not valid JSON ({exc.msg})") from None
        items.append(checked(value, args.graph))
    if not items:
        raise SystemExit("n2r: error: give --text, --file or --graph")
    results = explain_checked(bundle, items)
    for r in results:
        print(json.dumps(r.to_json()))          # the shape n2r serve answers (n2r/explanation.py)
    if args.html:
        if bundle.kind != "text":
            raise SystemExit("n2r: error: --html renders text rationales")
        Path(args.html).write_text(render_html(results), encoding="utf-8")
    return 0


def _score(args: argparse.Namespace) -> int:
    from n2r.eraser import format_scores, read_gold, read_predictions, score

    gold = read_gold(args.gold, args.split, aspect=args.aspect, max_tokens=args.max_tokens)
    scores = score(read_predictions(args.predictions, gold), gold)
    print(json.dumps(scores, indent=2) if args.json else format_scores(scores))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The library's commands. ``parser.subcommands`` (the sub-parser action) and
    ``parser.commands`` (name → sub-parser) let :mod:`pipelines.cli` add the Ray commands."""
    parser = argparse.ArgumentParser(prog="n2r", description="Train and run rationalizers (N2R, RNP).")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log detail on stderr (debug records with time and module)")
    parser.add_argument("-q", "--quiet", action="count", default=0,
                        help="warnings and errors only, no progress bars (the command's output stays on stdout)")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one rationalizer from a run config (single process)")
    train.add_argument("config", help="run config YAML (sections data, model, objective, train)")
    train.add_argument("--out", default=None, help="directory for config, checkpoint and metrics")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    train.add_argument("--data-dir", default=None, help="folder holding the data set's folder (beer/, movies/, …)")
    train.add_argument("--cache", default=None, help="data cache folder (default $N2R_CACHE or ~/.cache/n2r; "
                                                      "the one `n2r data prepare --encoder` fills)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override one field of the run config (repeatable; the value is read as YAML), "
                            "e.g. --set train.epochs=3 --set data.options.aspect=1")
    train.set_defaults(func=_train)

    explain = sub.add_parser("explain", help="rationales for new inputs from an exported bundle")
    explain.add_argument("bundle")
    explain.add_argument("--text", default=None)
    explain.add_argument("--file", default=None, help="JSON lines with 'text' or 'tokens' (or graphs)")
    explain.add_argument("--graph", default=None, help="a JSON graph with 'x' and 'edge_index'")
    explain.add_argument("--html", default=None, help="also render the text rationales to this HTML file")
    explain.add_argument("--device", default="cpu")
    explain.add_argument("--eraser", default=None, metavar="DATA_DIR",
                         help="predict every annotated document of DATA_DIR (movies: Zaidan or ERASER layout; beer: "
                              "annotations.json) in ERASER's prediction format")
    explain.add_argument("--split", default="val", choices=["train", "val", "test"], help="with --eraser")
    explain.add_argument("--out", default=None, help="with --eraser: the predictions.jsonl to write")
    explain.set_defaults(func=_explain)
    score = sub.add_parser("score", help="ERASER scores of a prediction file against human rationales")
    score.add_argument("predictions", help="predictions.jsonl (ERASER format)")
    score.add_argument("--gold", required=True, metavar="DATA_DIR", help="the annotated data set's folder")
    score.add_argument("--split", default="val", choices=["train", "val", "test"])
    score.add_argument("--aspect", type=int, default=0, help="Beer aspect (annotations.json)")
    score.add_argument("--max-tokens", type=int, default=None,
                       help="cut documents like the model's data options did (Beer default 256)")
    score.add_argument("--json", action="store_true", help="print the scores as JSON")
    score.set_defaults(func=_score)

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
    data.add_parser("list", help="the registered data sets: kind, folder, rationales, what they are"
                    ).set_defaults(func=_data_list)
    fetch = data.add_parser("fetch", help="download from the original public URL (needs network)")
    fetch.add_argument("name")
    fetch.add_argument("--cache", default=None)
    fetch.add_argument("--timeout", type=float, default=5.0)
    fetch.set_defaults(func=_data_fetch)
    parser.subcommands = sub
    parser.commands = {"train": train, "explain": explain, "score": score}
    return parser


# Commands the pipelines add (pipelines/cli.py); named here only to point a user at them.
RAY_COMMANDS = ("sweep", "resume", "export", "serve")


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse and run one command; the library's error types become ``n2r: error: …`` and exit 2."""
    from n2r.config import ConfigError
    from n2r.errors import BundleError, CheckpointError, NonFiniteLossError
    from n2r.inputs import InputError
    from n2r.registry import UnknownNameError

    args = parser.parse_args(argv)
    from n2r.logs import configure

    configure(args.verbose - args.quiet)
    try:
        return args.func(args)
    except (ConfigError, DataError, CheckpointError, NonFiniteLossError, UnknownNameError, BundleError,
            InputError, FileNotFoundError) as exc:
        print(f"n2r: error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """The library's commands only (``python -m n2r.cli``); the installed ``n2r`` command is
    :func:`pipelines.cli.main`, which adds the Ray commands."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in RAY_COMMANDS:
        print(f"n2r: error: '{argv[0]}' runs on Ray and comes with the pipelines: use the installed `n2r` "
              f"command or `python -m pipelines.cli {argv[0]} …`", file=sys.stderr)
        return 2
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
