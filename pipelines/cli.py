"""The installed ``n2r`` command: the library's commands (:mod:`n2r.cli`) plus the Ray ones.

Ray commands: ``sweep`` (Optuna on Ray Tune), ``resume``, ``export``, and ``train --workers N``
(data-parallel Ray Train). ``python -m pipelines.cli …`` is the same command.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from n2r import cli as library
from n2r.config import ConfigError
from pipelines.layout import SUMMARY_FILE, SWEEP_FILE
from pipelines.spec import SweepSpec, with_data_dir
from pipelines.storage import Staging, Storage
from pipelines.summary import print_summary
from pipelines.sweep import check_fits, ensure_ray, ray_resources, refuse_if_short, run_sweep


def _train(args: argparse.Namespace) -> int:
    """``n2r train``: one process (the library's), or ``--workers`` Ray Train workers."""
    if args.workers <= 1:
        return library._train(args)
    from pipelines.train import build_trainer

    cfg = library.load_run_config(args)
    refuse_if_short({"CPU": 1.0, **({"GPU": 1.0} if args.gpu else {})}, args.workers, args.address,
                    f"--workers {args.workers}{' --gpu' if args.gpu else ''}")
    ensure_ray(args.address)
    result = build_trainer(cfg, num_workers=args.workers, storage_path=str(Path(args.out or "runs/train").resolve()),
                           name="train", use_gpu=args.gpu, cache_dir=args.cache).fit()
    print(json.dumps(result.metrics, indent=2, default=str))
    return 0


DEMO_SWEEPS = ("synthetic-text.yaml", "ba2motifs.yaml")
SPACES_DIR = Path(__file__).resolve().parents[1] / "tune_spaces"


def _finish(sweep_dirs: list[Storage], args) -> None:
    """Export the best configuration of each study, explain a few examples, write the report —
    into the sweep's storage (through a local staging folder when the storage is remote)."""
    from pipelines.export import export_sweep
    from pipelines.report import write_report

    for storage in sweep_dirs:
        stage = Staging(storage)
        try:
            stage.pull(SUMMARY_FILE)
            bundles = export_sweep(storage, stage.path / "export", cache_dir=args.cache)
            explained = explain_examples(bundles, args.cache)
            (stage.path / "explanations.json").write_text(json.dumps(explained, indent=2))
            write_report(stage.path, explained)
            for name in ("export", "explanations.json", "report.html"):
                stage.push(name)
            print(f"report: {storage.uri}/report.html")
        finally:
            stage.close()


def explain_examples(bundles: dict[str, Path], cache_dir: str | None, n: int = 3) -> dict[str, list]:
    """A few test inputs of each study, explained by its exported bundle."""
    from n2r.bundle import load_bundle
    from n2r.data.cache import prepare

    out = {}
    for study, path in bundles.items():
        bundle = load_bundle(path)
        data = bundle.config.data
        entry = prepare(data.name, data.path, data.options, cache_dir=cache_dir)
        rows = entry.table("test").slice(0, n).to_pylist()
        if bundle.kind == "graph":
            items = [{"x": r["x"], "edge_index": r["edge_index"]} for r in rows]
        else:
            items = [{"tokens": r["tokens"]} for r in rows]
        gold = "edge_gt" if bundle.kind == "graph" else "rationale"
        out[study] = [{**bundle.explain(item).to_json(), "gold_label": r["label"], "gold_rationale": r.get(gold)}
                      for item, r in zip(items, rows)]
    return out


def _sweep(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.sweep_files] or [SPACES_DIR / name for name in DEMO_SWEEPS]
    specs = [with_data_dir(SweepSpec.from_yaml(f), args.data_dir) for f in files]  # all validated before any trial
    if args.num_samples:
        specs = [spec.with_overrides({"search.num_samples": args.num_samples}) for spec in specs]
    resources = ray_resources(args.address)
    for spec in specs:                                      # refused before a local Ray is started for them
        check_fits(spec, resources)
    root = Storage.resolve(args.storage).check_reachable()
    ensure_ray(args.address)
    dirs, useful, capacity = [], 0.0, 0.0
    for spec in specs:
        sweep_dir = root.child(spec.name)
        summary = run_sweep(spec, sweep_dir.uri, cache_dir=args.cache)
        print_summary(summary)
        dirs.append(sweep_dir)
        useful += sum(s["train_time_s"] for s in summary["studies"].values())
        capacity += summary["wall_time_s"] * summary["concurrency"]
    if len(specs) > 1:
        print(f"all sweeps: useful-work share {useful / max(capacity, 1e-9):.2f}")
    if not args.no_export:
        _finish(dirs, args)
    return 0


def _resume(args: argparse.Namespace) -> int:
    storage = Storage.resolve(args.sweep_dir).check_reachable()
    if not storage.is_file(SWEEP_FILE):
        raise FileNotFoundError(f"{storage.uri}/{SWEEP_FILE}: not a sweep folder")
    source = f"{storage.uri}/{SWEEP_FILE}"
    spec = SweepSpec.from_dict(yaml.safe_load(storage.read_text(SWEEP_FILE)), source=source)
    ensure_ray(args.address)
    summary = run_sweep(spec, storage.uri, cache_dir=args.cache, resume=True)
    print_summary(summary)
    if not args.no_export:
        _finish([storage], args)
    return 0


def _export(args: argparse.Namespace) -> int:
    from pipelines.export import export_sweep

    bundles = export_sweep(Storage.resolve(args.sweep_dir).check_reachable(), args.out, cache_dir=args.cache)
    for study, path in bundles.items():
        print(f"{study}: {path}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """``n2r serve``: verify the bundles, start Ray (or join ``--address``) and Serve, answer
    requests until interrupted (Ctrl-C or SIGTERM), then shut Serve down."""
    import signal
    import threading

    from n2r.inputs import InputLimits
    from pipelines.serve import ServeOptions, bundle_names, start, stop

    try:
        limits = InputLimits(max_items=args.max_items, max_tokens=args.max_tokens)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    options = ServeOptions(host=args.host, port=args.port, replicas=args.replicas, max_batch_size=args.max_batch_size,
                           batch_wait_ms=args.batch_wait_ms, device=args.device, cpus_per_replica=args.cpus_per_replica,
                           gpus_per_replica=args.gpus_per_replica, max_body_bytes=args.max_body_bytes, limits=limits)
    bundles = bundle_names(args.bundles)           # a tampered bundle is refused here, before Ray starts
    refuse_if_short(options.resources_per_replica, options.replicas * len(bundles), args.address,
                    f"--replicas {options.replicas} × {len(bundles)} bundle(s)",
                    " (see --cpus-per-replica, --gpus-per-replica)")
    ensure_ray(args.address)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        url = start(bundles, options)
    except RuntimeError as exc:          # a replica failed to start: Serve's message, then clean up
        stop()
        print(f"n2r: error: {exc} (the replicas' own logs: Ray's session folder, logs/serve/)", file=sys.stderr)
        return 1
    for name in bundles:
        print(f"{name}: POST {url}/v1/{name}/explain   GET {url}/v1/{name}", flush=True)
    print(f"health: GET {url}/healthz  (Ctrl-C stops)", flush=True)
    stopping.wait()
    stop()
    print("stopped", flush=True)
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
    serve = sub.add_parser("serve", help="serve exported bundles over HTTP (Ray Serve), batched")
    serve.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folder, or NAME=FOLDER (the route name; "
                       "default the folder's name)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--replicas", type=int, default=1, help="model replicas per bundle")
    serve.add_argument("--max-batch-size", type=int, default=16, help="inputs per model call (1: no batching)")
    serve.add_argument("--batch-wait-ms", type=float, default=5.0, help="longest wait for a batch to fill")
    serve.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    serve.add_argument("--cpus-per-replica", type=float, default=1.0)
    serve.add_argument("--gpus-per-replica", type=float, default=1.0, help="with --device cuda (fractions share a GPU)")
    serve.add_argument("--max-tokens", type=int, default=512, help="longest text accepted, in words (413 above)")
    serve.add_argument("--max-items", type=int, default=64, help="most inputs in one request")
    serve.add_argument("--max-body-bytes", type=int, default=4 << 20, help="largest request body")
    serve.add_argument("--address", default=None, help="serve on a running Ray cluster instead of a local one")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    return library.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
