"""The same sweep file on Ray clusters of different shapes, all on this machine
(``ray.cluster_utils.Cluster``: a head without CPUs plus worker nodes, each its own raylet and
object store), with the driver connected by address as on a real cluster:

- ``1 node``: one worker node with ``--cpus`` CPUs;
- ``3 nodes``: three worker nodes sharing the same CPUs (``--cpus`` / 3 each, at least 1);
- ``late node``: one worker node with half the CPUs; a second joins ``--join-after`` seconds into
  the sweep — pending trials are placed on it as soon as it registers.

Prints a markdown table: wall time of the ``n2r sweep --address`` command (connect, sweep, summary), the trials' summed epoch time, the useful-work
share (summed epoch time / (wall × the sweep's concurrency)), the most trials seen running at once
(from the trials' own per-epoch time stamps) and the node count at the end.

    .venv/bin/python benchmarks/cluster_nodes.py [--sweep FILE] [--cpus 3] [--join-after 10] [--storage URI]

Without ``--sweep`` it runs the tests' tiny sweep, grown to 6 trials of 6 epochs on 400 generated
reviews. ``--storage`` (default: a temporary folder) may be an ``s3://`` URI; every node reads the
AWS variables of this environment.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

TINY = {
    "name": "nodes",
    "base": {"model": {"encoder": "gru", "hidden_size": 8}, "objective": {"sparsity_target": 0.2},
             "train": {"epochs": 6, "batch_size": 16, "num_threads": 1}},
    "datasets": [{"name": "synthetic-text", "options": {"n_train": 400, "n_dev": 32, "n_test": 32,
                                                        "min_len": 5, "max_len": 9}}],
    "encoders": ["gru"], "objectives": ["n2r"],
    "space": {"objective.lambda_sparsity": {"loguniform": [0.5, 10.0]}, "train.lr": {"loguniform": [1e-3, 1e-2]}},
    "metric": {"select": "accuracy", "sparsity_tolerance": 0.1},
    "search": {"num_samples": 6, "seed": 0},
    "scheduler": {"type": "none"},
}


def peak_concurrency(summary: dict) -> int:
    """The most trials training at once: each trial spans from its first epoch's start (first
    report's ``reported_at`` − its ``epoch_time_s``) to its last report."""
    spans = []
    for study in summary["studies"].values():
        for trial in study["trials"]:
            times = trial.get("curves", {}).get("reported_at")
            if times:
                spans.append((times[0] - trial["curves"]["epoch_time_s"][0], times[-1]))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def run_shape(name: str, spec_dict: dict, storage: str, cpus: list[int], late: int, join_after: float) -> dict:
    """One cluster shape: the sweep runs as a user runs it (``n2r sweep --address``, its own
    process); the late node is added from here, ``join_after`` seconds after the driver started."""
    import subprocess

    import ray
    import yaml
    from ray.cluster_utils import Cluster

    from pipelines.storage import Storage

    spec = {**spec_dict, "name": spec_dict["name"] + "-" + name.replace(" ", "-"),
            "search": {**spec_dict["search"], "max_concurrent_trials": sum(cpus) + late}}
    folder = Path(tempfile.mkdtemp(prefix="n2r-nodes-sweep-"))
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "resources": {"TRAIN_DRIVER": 100}})
    try:
        for n in cpus:
            nodes.add_node(num_cpus=n)
        nodes.wait_for_nodes()
        t0 = time.perf_counter()
        with (folder / "driver.log").open("w") as log:
            driver = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sweep", str(folder / "sweep.yaml"),
                                       "--storage", storage, "--address", nodes.address, "--no-export"],
                                      stdout=log, stderr=log, cwd=Path(__file__).resolve().parents[1])
            if late:
                while driver.poll() is None and time.perf_counter() - t0 < join_after:
                    time.sleep(0.2)
                nodes.add_node(num_cpus=late)
            if driver.wait() != 0:
                raise RuntimeError(f"{name}: the sweep failed, see {folder / 'driver.log'}")
        wall = time.perf_counter() - t0
        ray.init(address=nodes.address, log_to_driver=False)
        alive = sum(1 for n in ray.nodes() if n["Alive"]) - 1          # without the head
    finally:
        ray.shutdown()
        nodes.shutdown()
    summary = json.loads(Storage.resolve(storage).child(spec["name"]).read_text("summary.json"))
    return {"shape": name, "wall_s": wall, "train_s": sum(s["train_time_s"] for s in summary["studies"].values()),
            "share": summary["useful_work_share"], "concurrency": summary["concurrency"],
            "peak": peak_concurrency(summary), "nodes": alive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", help="a sweep file (default: the tests' tiny sweep, grown)")
    parser.add_argument("--cpus", type=int, default=3, help="logical CPUs over all worker nodes")
    parser.add_argument("--join-after", type=float, default=10.0)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.sweep:
        import yaml

        spec_dict = yaml.safe_load(Path(args.sweep).read_text())
    else:
        spec_dict = TINY
    storage = args.storage or tempfile.mkdtemp(prefix="n2r-nodes-")
    per = max(args.cpus // 3, 1)
    half = max(args.cpus // 2, 1)
    shapes = [("1 node", [args.cpus], 0), ("3 nodes", [per] * 3, 0), ("late node", [half], args.cpus - half)]
    rows = [run_shape(name, spec_dict, storage, cpus, late, args.join_after) for name, cpus, late in shapes]
    base = rows[0]["wall_s"]
    print(f"\n{args.sweep or 'tiny sweep (6 trials × 6 epochs)'}; {args.cpus} logical CPUs over the worker nodes; "
          f"{os.cpu_count()} cores on this machine\n")
    print("| cluster | worker nodes at the end | sweep concurrency | most trials at once | wall (s) | × 1 node | "
          "trials' epoch time (s) | useful-work share |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r['nodes']} | {r['concurrency']} | {r['peak']} | {r['wall_s']:.1f} | "
              f"{r['wall_s'] / base:.2f} | {r['train_s']:.1f} | {r['share']:.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
