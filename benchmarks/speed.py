"""Training throughput of the engine against the reference way of training, plus orchestration
and memory figures.

    python benchmarks/speed.py --data-dir ../shared/data [--epochs 3] [--threads 2] [--sweep]

Throughput: the same GRU rationalizer (same initial weights, same data: beer-heldout-split
aspect 0, same thread count) trained by

- ``engine``: :func:`n2r.engine.fit` — length-bucketed batches padded to their own longest
  example (``train.bucket_window``), loss values checked on the host once per ``check_every``
  batches, each BiGRU's two directions in two threads (``train.parallel_directions``);
- ``engine, sequential directions``: the same with ``parallel_directions: false``, to show how
  much of the gain is padding and how much the threads;
- ``engine, length-bucketed``: for the objectives whose default is plain shuffled batches (``n2r``,
  ``rnp+n2r``: ``RunConfig.training_bucket_window`` 0, the emergence fix), the engine on
  length-bucketed batches (window 32, their default before the fix) — what the fix costs;
- ``reference``: a plain loop that pads every batch to 256 tokens and reads every loss back to
  the host after every batch (``.item()``), as the official implementation does;

each in its own process (so peak RSS is per loop), for ``rnp`` and ``n2r``. Reported:
examples/s (median over epochs), the ratio to the reference, dev accuracy and sparsity and test
token F1 after the last epoch (equal quality check: both loops see the same examples per epoch),
and peak RSS. ``--sweep`` also runs the demo sweep (``n2r sweep`` on the two demo files) and
reports its useful-work share, each trial's start overhead (time inside the trial before its
first epoch starts) and the peak RSS of the whole process tree (sampled every 0.2 s).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REFERENCE_WIDTH = 256
BUCKETED_WINDOW = 32          # the length-bucketing window of the defaults before the emergence fix


def run_config(objective: str, epochs: int, threads: int, data_dir: str):
    from n2r.config import RunConfig

    return RunConfig.from_dict({
        "data": {"name": "beer-heldout-split", "path": str(Path(data_dir) / "beer"), "options": {"aspect": 0}},
        "model": {"encoder": "gru"},
        "objective": {"name": objective, "sparsity_target": 0.15, "lambda_sparsity": 5.0, "lambda_continuity": 2.0},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 1e-3, "seed": 1, "num_threads": threads}})


def train_once(loop: str, objective: str, epochs: int, threads: int, data_dir: str) -> dict:
    """One training in this process; returns per-epoch throughput, final quality and peak RSS."""
    import torch

    from n2r.batch import TableCollate
    from n2r.data import prepare_data
    from n2r.engine import build_optimizer, evaluate, fit, make_update, seed_everything
    from n2r.models import build_rationalizer
    from n2r.objectives import build_objective

    torch.set_num_threads(threads)
    cfg = run_config(objective, epochs, threads, data_dir)
    data = prepare_data(cfg.data, cfg.model)
    seed_everything(cfg.train.seed)
    model = build_rationalizer(cfg.model, **data.model_inputs())
    objective_ = build_objective(cfg.objective)
    device = torch.device("cpu")
    dev_loader = data.loader("dev", cfg.train.eval_batch_size, by_length=True)
    rates, dev = [], {}
    if loop.startswith("engine"):
        cfg.train.parallel_directions = loop != "engine, sequential directions"
        window = BUCKETED_WINDOW if loop == "engine, length-bucketed" else cfg.training_bucket_window()
        train_loader = data.loader("train", cfg.train.batch_size, shuffle=True, seed=cfg.train.seed,
                                   bucket_window=window)
        result = fit(model, objective_, train_loader, dev_loader, cfg.train, device=device)
        rates = [r["examples_per_s"] for r in result.history]
        dev = result.history[-1]["dev"]
    else:
        rows = data.splits["train"]
        generator = torch.Generator().manual_seed(cfg.train.seed)
        loader = torch.utils.data.DataLoader(range(rows.num_rows), batch_size=cfg.train.batch_size, shuffle=True,
                                             generator=generator, collate_fn=TableCollate(rows, data.pad_id, REFERENCE_WIDTH))
        optimizer = build_optimizer(model, cfg.train)
        update = make_update(model, optimizer)
        for _ in range(epochs):
            model.train()
            started, seen = time.perf_counter(), 0
            for batch in loader:
                logs = objective_.train_step(model, batch, update)
                _ = {k: float(v.item()) for k, v in logs.items()}        # host sync every batch
                seen += len(batch.labels)
            rates.append(seen / (time.perf_counter() - started))
            dev = evaluate(model, dev_loader, device=device, bf16=False)
    test = evaluate(model, data.loader("test", cfg.train.eval_batch_size, by_length=True), device=device, bf16=False)
    return {"loop": loop, "objective": objective, "examples_per_s": statistics.median(rates), "rates": rates,
            "dev_accuracy": dev["accuracy"], "dev_sparsity": dev["sparsity"], "test_f1": test.get("f1"),
            "test_sparsity": test["sparsity"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def evaluation_times(threads: int, data_dir: str, repeats: int = 3) -> list[dict]:
    """Seconds for one dev evaluation (the per-epoch selection pass) of the same model, three ways:
    file order with the faithfulness passes (the engine before 2026-11-28), length-sorted batches
    with them, and length-sorted without them (the default now: ``train.dev_faithfulness``)."""
    import torch

    from n2r.data import prepare_data
    from n2r.engine import evaluate, seed_everything
    from n2r.models import build_rationalizer

    torch.set_num_threads(threads)
    cfg = run_config("n2r", 1, threads, data_dir)
    data = prepare_data(cfg.data, cfg.model)
    seed_everything(cfg.train.seed)
    model = build_rationalizer(cfg.model, **data.model_inputs())
    rows = []
    for name, by_length, faithfulness in (("file order, faithfulness passes", False, True),
                                          ("length-sorted, faithfulness passes", True, True),
                                          ("length-sorted, no faithfulness passes (default)", True, False)):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            evaluate(model, data.loader("dev", cfg.train.eval_batch_size, by_length=by_length),
                     device=torch.device("cpu"), bf16=False, faithfulness=faithfulness)
            times.append(time.perf_counter() - started)
        rows.append({"evaluation": name, "seconds": min(times), "examples": data.splits["dev"].num_rows})
    return rows


def _child(queue, *args):
    queue.put(train_once(*args))


def in_child(*args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, *args))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def demo_sweep() -> dict:
    """``n2r sweep`` on the demo files in a fresh process; peak RSS of its whole process tree."""
    out = Path(tempfile.mkdtemp(prefix="n2r-speed-sweep-"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1", "N2R_CACHE": str(out / "cache")}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sweep", "--storage", str(out / "sweep")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"demo sweep failed:\n{output[-3000:]}")
    overheads, shares = [], {}
    for summary_path in sorted((out / "sweep").glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        shares[summary["name"]] = summary["useful_work_share"]
        for result in summary_path.parent.glob("*/*/result.json"):
            first = json.loads(result.read_text().splitlines()[0])
            overheads.append(first["time_total_s"] - first["epoch_time_s"])
    return {"wall_s": time.perf_counter() - started, "peak_tree_rss_mb": peak[0], "useful_work_share": shares,
            "trial_start_overhead_s": overheads}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()}, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--objectives", nargs="+", default=["rnp", "n2r"])
    parser.add_argument("--sweep", action="store_true", help="also run and measure the demo sweep")
    parser.add_argument("--json", default=None, help="also write the raw figures here")
    parser.add_argument("--evaluation-only", action="store_true",
                        help="only time the per-epoch dev evaluation (three ways, same model)")
    args = parser.parse_args()
    if args.evaluation_only:
        rows = evaluation_times(args.threads, args.data_dir)
        print(f"machine: {machine()}\nbeer-heldout-split aspect 0 dev ({rows[0]['examples']} reviews), untrained "
              f"GRU n2r rationalizer, batch 256, {args.threads} threads, best of 3\n")
        print("| dev evaluation | seconds | × first row |\n|---|---|---|")
        for r in rows:
            print(f"| {r['evaluation']} | {r['seconds']:.2f} | {rows[0]['seconds'] / r['seconds']:.2f} |")
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine(), "evaluation": rows}, indent=2))
        return
    print(f"machine: {machine()}")
    print(f"beer-heldout-split aspect 0, GRU (GloVe 50d, hidden 100), batch 64, lr 1e-3, {args.epochs} epochs, "
          f"{args.threads} threads\n")
    rows = []
    for objective in args.objectives:
        loops = ["reference", "engine, sequential directions", "engine"]
        if run_config(objective, 1, 1, args.data_dir).training_bucket_window() == 0:
            loops.append("engine, length-bucketed")
        for loop in loops:
            rows.append(in_child(loop, objective, args.epochs, args.threads, args.data_dir))
            print(f"  done: {objective} {loop} {rows[-1]['examples_per_s']:.0f} ex/s", flush=True)
    print("\n| objective | loop | examples/s (median) | × reference | dev acc | dev S | test F1 | test S | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(x for x in rows if x["objective"] == r["objective"] and x["loop"] == "reference")
        ratio = r["examples_per_s"] / base["examples_per_s"]
        print(f"| {r['objective']} | {r['loop']} | {r['examples_per_s']:.1f} | {ratio:.2f} | {r['dev_accuracy']:.3f} "
              f"| {r['dev_sparsity']:.3f} | {r['test_f1']:.3f} | {r['test_sparsity']:.3f} | {r['peak_rss_mb']:.0f} |")
    report = {"machine": machine(), "training": rows}
    if args.sweep:
        sweep = demo_sweep()
        report["sweep"] = sweep
        o = sweep["trial_start_overhead_s"]
        print(f"\ndemo sweep: wall {sweep['wall_s']:.0f} s, peak RSS of the process tree {sweep['peak_tree_rss_mb']:.0f} MB")
        print("useful-work share: " + ", ".join(f"{k} {v:.2f}" for k, v in sweep["useful_work_share"].items()))
        print(f"trial start overhead (inside the trial, before epoch 1): median {statistics.median(o):.2f} s, "
              f"max {max(o):.2f} s over {len(o)} trials")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
