"""Serving load test: ``n2r serve``'s HTTP path (Ray Serve on a local Ray) with dynamic batching on
and off, at several client concurrencies, against the same inputs explained in-process one at a
time (what ``n2r explain`` does per input) — all in one run, so the ratios compare like with like.

    .venv/bin/python benchmarks/serve.py --bundle DIR [--inputs N] [--requests N]
    .venv/bin/python benchmarks/serve.py --data-dir ../shared/data     # trains a 1-epoch Beer GRU bundle first

Localhost only and bounded: each cell sends a fixed number of requests (one input each) from a
fixed number of client threads with keep-alive connections, then stops. The inputs are the test
documents of the bundle's own data set (``--data-dir`` when the bundle's path is not on this
machine). Columns: requests/s, latency percentiles (client side, one request = one input), and
the replica's mean batch size (from ``GET /v1/{bundle}``). The client threads share the machine's
cores with the server: on a 2-core machine the numbers are a floor, and the ratios are the point.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

BEER_RUN = {"data": {"name": "beer-heldout-split", "options": {"aspect": 0}},
            "model": {"encoder": "gru", "embeddings": "glove-6b-50d", "hidden_size": 100},
            "objective": {"name": "n2r", "sparsity_target": 0.125, "lambda_sparsity": 11.0,
                          "lambda_continuity": 12.0, "lambda_norm": 1.0},
            "train": {"epochs": 1, "batch_size": 128, "lr": 1e-4}}


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100), linear between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q))


def run_load(send: Callable[[Any, dict], None], inputs: list[dict], requests: int, concurrency: int,
             connect: Callable[[], Any] = lambda: None) -> dict[str, float]:
    """``requests`` calls of ``send(connection, input)`` from ``concurrency`` threads (each with
    its own ``connect()``), inputs taken round-robin; returns requests/s and latency
    percentiles in ms. Stops after exactly ``requests`` calls; any failed call is raised."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker():
        connection = connect()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None or errors:
                    return
                start = time.perf_counter()
                send(connection, inputs[i % len(inputs)])
                with lock:
                    latencies.append(time.perf_counter() - start)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            errors.append(exc)
        finally:
            if connection is not None:
                connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"a request failed: {errors[0]!r}") from errors[0]
    if len(latencies) != requests:
        raise RuntimeError(f"{len(latencies)} of {requests} requests finished in time")
    ms = [1000 * v for v in latencies]
    return {"rps": requests / wall, "p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99)}


def http_sender(port: int, route: str) -> tuple[Callable[[], Any], Callable[[Any, dict], None]]:
    """``(connect, send)`` for :func:`run_load`: one keep-alive connection per client thread."""
    def connect():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(connection, item):
        connection.request("POST", route, body=json.dumps(item), headers={"content-type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    return connect, send


def serving_stats(port: int, name: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/v1/{name}")
    stats = json.loads(connection.getresponse().read())["serving"]
    connection.close()
    return stats


def test_documents(bundle_dir: Path, data_dir: str | None, n: int) -> list[dict]:
    from n2r.config import RunConfig
    from n2r.data import default_data_path
    from n2r.data.cache import prepare

    cfg = RunConfig.from_yaml(bundle_dir / "config.yaml")
    path = cfg.data.path
    if data_dir and (path is None or not Path(path).exists()):
        path = default_data_path(cfg.data.name, data_dir)
    table = prepare(cfg.data.name, path, cfg.data.options).table("test")
    return [{"tokens": tokens} for tokens in table.column("tokens").to_pylist()[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="a text bundle (default: train a 1-epoch Beer GRU one)")
    parser.add_argument("--data-dir", default=None, help="folder holding beer/ (to train, or to read inputs)")
    parser.add_argument("--inputs", type=int, default=200, help="distinct test documents sent")
    parser.add_argument("--requests", type=int, default=400, help="requests per served cell")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if not args.bundle and not args.data_dir:
        parser.error("give --bundle DIR, or --data-dir to train a Beer GRU bundle first")

    import ray
    import torch

    from n2r.bundle import load_bundle
    from n2r.config import RunConfig
    from n2r.data import default_data_path
    from n2r.runner import train_run
    from pipelines.serve import ServeOptions, bundle_names, start, stop

    work = tempfile.mkdtemp(prefix="n2r-serve-bench-")
    if args.bundle:
        bundle_dir = Path(args.bundle)
    else:
        cfg = RunConfig.from_dict(BEER_RUN)
        cfg.data.path = default_data_path(cfg.data.name, args.data_dir)
        bundle_dir = Path(train_run(cfg, Path(work) / "train")["bundle"])
    inputs = test_documents(bundle_dir, args.data_dir, args.inputs)
    lengths = [len(i["tokens"]) for i in inputs]
    levels = [int(c) for c in args.concurrency.split(",")]

    torch.set_num_threads(1)                         # as a replica with one CPU runs
    bundle = load_bundle(bundle_dir, device=args.device)
    bundle.explain(inputs[0])
    rows = [("in-process, one at a time (n2r explain)", 1, run_load(lambda _, item: bundle.explain(item), inputs,
                                                                     len(inputs), 1), None)]
    ray.init(num_cpus=max(4, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
    name = "beer"
    with socket.socket() as probe:                   # a free port on this machine
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for label, batch in (("served, batching on", args.max_batch_size), ("served, batching off", 1)):
        options = ServeOptions(port=port, max_batch_size=batch, batch_wait_ms=args.batch_wait_ms,
                               device=args.device)
        start(bundle_names([f"{name}={bundle_dir}"]), options)
        connect, send = http_sender(port, f"/v1/{name}/explain")
        run_load(send, inputs, 20, 2, connect)                                     # warm-up
        for concurrency in levels:
            before = serving_stats(port, name)
            result = run_load(send, inputs, args.requests, concurrency, connect)
            after = serving_stats(port, name)
            mean_batch = (after["inputs"] - before["inputs"]) / max(after["batches"] - before["batches"], 1)
            rows.append((f"{label} (max {batch})", concurrency, result, mean_batch))
        stop()
    ray.shutdown()

    base = rows[0][2]["rps"]
    print(f"\nbundle {bundle_dir} ({bundle.config.model.encoder}, {bundle.config.data.name}); {len(inputs)} test "
          f"documents, {statistics.mean(lengths):.0f} tokens on average (max {max(lengths)}); "
          f"{args.requests} requests per served row; {os.cpu_count()} CPU cores, device {args.device}\n")
    print("| path | concurrency | requests/s | × in-process | p50 ms | p95 ms | p99 ms | mean batch |")
    print("|---|---|---|---|---|---|---|---|")
    for label, concurrency, r, mean_batch in rows:
        batch = "–" if mean_batch is None else f"{mean_batch:.1f}"
        print(f"| {label} | {concurrency} | {r['rps']:.1f} | {r['rps'] / base:.2f} | {r['p50']:.1f} | {r['p95']:.1f} "
              f"| {r['p99']:.1f} | {batch} |")


if __name__ == "__main__":
    main()
