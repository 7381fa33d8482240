"""The quality protocol of ``benchmarks/quality.py`` on one GPU machine without Ray.

    python benchmarks/quality_gpu.py tune_spaces/quality/beer-bert.yaml --data-dir DATA --out OUT \
        [--seeds 1 2 3] [--parallel 12] [--bf16] [--checkpoint DIR] [--time-limit-s S]

For a lent GPU box where Ray is not installed (and cannot be). Same sweep file, same space, same
selection rule, same table as ``quality.py``; what differs is stated in the table's footer:

1. Tuning: per method, ``search.num_samples`` samples from the file's space drawn by Optuna's TPE
   sampler with the file's seed, asked in one batch (as Ray Tune's OptunaSearch does when that many
   trials run at once; below TPE's 10 start-up trials the draws are independent of results anyway).
   Every sample trains the full epoch budget (no ASHA). Score: the best per-epoch dev
   :func:`n2r.engine.selection_score`, as :func:`pipelines.summary.summarize_study` picks.
2. Each method's best sample is retrained with every ``--seeds`` seed.
3. Each retrained seed's dev-selected state is evaluated once on test (:func:`n2r.runner.train_run`).

Every training is its own process on the GPU, ``--parallel`` at a time (a MiniLM run leaves most
of an H100/H200 idle). ``OUT/results.json`` and ``OUT/tables.md`` are rewritten after every run.
With ``--time-limit-s`` a training starts only when it is expected to end inside the limit (the
longest finished training so far is the estimate), so a run on a leased machine keeps what finished.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.protocol import dataset_tables   # noqa: E402
from pipelines.spec import optuna_distributions   # noqa: E402


def train_job(job: dict) -> dict:
    """One training in a fresh process: history (dev per epoch), best epoch and test figures."""
    import torch

    torch.set_num_threads(job.get("threads", 1))
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    from n2r.config import RunConfig
    from n2r.runner import train_run

    started = time.perf_counter()
    summary = train_run(RunConfig.from_dict(job["run"]))
    history = [{"epoch": r["epoch"], "score": r["score"], "examples_per_s": r["examples_per_s"],
                "dev": {k: v for k, v in r["dev"].items() if isinstance(v, (int, float))}} for r in summary["history"]]
    return {**{k: job[k] for k in ("study", "kind", "index", "params", "seed")}, "history": history,
            "best_epoch": summary["best_epoch"], "best_score": max(h["score"] for h in history),
            "test": summary.get("test"), "variant": summary.get("data_variant"), "wall_s": time.perf_counter() - started}


class Protocol:
    def __init__(self, spec, args):
        self.spec, self.args = spec, args
        self.started = time.perf_counter()
        self.gold_cache: dict = {}     # per data set: the test counts behind the random and human rows
        self.longest = 0.0            # wall time of the longest finished training (the estimate for the next)
        self.results: dict = {"sweep_file": spec.source, "seeds": args.seeds, "overrides": overrides(args),
                              "studies": {s.name: {"samples": [], "best": None, "seeds": []} for s in spec.studies}}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def fits(self) -> bool:
        """Whether a training started now is expected to end inside ``--time-limit-s``."""
        return self.elapsed() + 1.05 * self.longest < self.args.time_limit_s

    def run_all(self, jobs: list[dict], pool) -> list[dict]:
        """Run ``jobs`` (``--parallel`` at a time) while they fit the time limit; saves after each."""
        pending, done, queue = set(), [], list(jobs)
        while queue or pending:
            while queue and len(pending) < self.args.parallel and self.fits():
                pending.add(pool.submit(train_job, queue.pop(0)))
            if not pending:
                print(f"time limit {self.args.time_limit_s:.0f} s: {len(queue)} trainings not started "
                      f"(each expected to take {self.longest:.0f} s)", flush=True)
                self.results["not_started"] = self.results.get("not_started", 0) + len(queue)
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                except Exception as exc:   # one failed training is reported, not fatal to the protocol
                    print(f"training failed: {exc!r}", flush=True)
                    continue
                done.append(result)
                self.longest = max(self.longest, result["wall_s"])
                study = self.results["studies"][result["study"]]
                study["samples" if result["kind"] == "sample" else "seeds"].append(result)
                print(f"[{self.elapsed():6.0f} s] {result['study']} {result['kind']} {result['index']}: "
                      f"best dev score {result['best_score']:.3f} at epoch {result['best_epoch']}, "
                      f"{result['history'][-1]['examples_per_s']:.0f} ex/s, {result['wall_s']:.0f} s", flush=True)
                self.save()
        return done

    def tune_jobs(self) -> list[dict]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        jobs = []
        for study in self.spec.studies:
            sampler = optuna.samplers.TPESampler(seed=self.spec.seed)
            tuner = optuna.create_study(direction="maximize", sampler=sampler)
            for index in range(self.spec.num_samples):
                params = tuner.ask(optuna_distributions(self.spec.space)).params
                jobs.append({"study": study.name, "kind": "sample", "index": index, "params": params, "seed": None,
                             "run": self.run_of(study, params, seed=None)})
        return jobs

    def seed_jobs(self) -> list[dict]:
        jobs = []
        for study in self.spec.studies:
            samples = self.results["studies"][study.name]["samples"]
            if not samples:
                continue
            best = max(samples, key=lambda r: (r["best_score"], -r["index"]))   # ties: the earlier sample
            self.results["studies"][study.name]["best"] = {"index": best["index"], "params": best["params"],
                                                           "best_score": best["best_score"]}
            for seed in self.args.seeds:
                jobs.append({"study": study.name, "kind": "seed", "index": seed, "params": best["params"],
                             "seed": seed, "run": self.run_of(study, best["params"], seed=seed)})
        return jobs

    def run_of(self, study, params: dict, seed: int | None) -> dict:
        from pipelines.spec import apply_params

        run = apply_params(study.run, params)
        run["train"].update({"device": self.args.device, "bf16": self.args.bf16})
        if seed is not None:
            run["train"]["seed"] = seed
        if self.args.checkpoint:
            run["model"]["checkpoint"] = self.args.checkpoint
        return run

    def save(self) -> None:
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        self.results["wall_time_s"] = self.elapsed()
        (out / "results.json").write_text(json.dumps(self.results, indent=2))
        (out / "tables.md").write_text("\n".join(self.tables()))

    def tables(self) -> list[str]:
        sections, by_dataset = [], {}
        for study in self.spec.studies:
            info = self.results["studies"][study.name]
            runs = [{"seed": r["seed"], "best_epoch": r["best_epoch"], "test": r["test"], "variant": r.get("variant"),
                     "dev": r["history"][-1]["dev"]}
                    for r in sorted(info["seeds"], key=lambda r: r["seed"]) if r.get("test")]
            by_dataset.setdefault(study.dataset, {})[study.name] = {
                "objective": study.objective, "params": (info["best"] or {}).get("params", {}), "runs": runs}
        sections += dataset_tables(self.spec, by_dataset, None, lambda study: self.run_of(study, {}, seed=None),
                                   self.gold_cache)
        speeds = [r["history"][-1]["examples_per_s"] for s in self.results["studies"].values()
                  for r in s["samples"] + s["seeds"]]
        sections.append(
            f"Sweep file `{self.spec.source}` on one GPU without Ray (`benchmarks/quality_gpu.py`, "
            f"{' '.join(overrides(self.args))}): {self.spec.num_samples} Optuna (TPE) samples per method, each "
            f"trained the full budget (no ASHA), seeds {self.args.seeds}; {self.args.parallel} trainings at a "
            f"time; training {min(speeds, default=0):.0f}–{max(speeds, default=0):.0f} examples/s per run; "
            f"wall time {self.elapsed():.0f} s.\n")
        return sections


def overrides(args) -> list[str]:
    return [f"train.device={args.device}", f"train.bf16={str(args.bf16).lower()}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_file")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", required=True, help="folder for results.json and tables.md")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--num-samples", type=int, default=None, help="override the file's search.num_samples")
    parser.add_argument("--parallel", type=int, default=4, help="trainings at a time (processes sharing the GPU)")
    parser.add_argument("--device", default="auto", help="train.device for every training (auto: CUDA if present)")
    parser.add_argument("--bf16", action="store_true", help="train.bf16: bf16 autocast on CUDA")
    parser.add_argument("--checkpoint", default=None, help="model.checkpoint (BERT): a local checkpoint folder")
    parser.add_argument("--time-limit-s", type=float, default=float("inf"),
                        help="start a training only when it is expected to end within this many seconds")
    args = parser.parse_args()

    from pipelines.spec import SweepSpec, with_data_dir

    spec = with_data_dir(SweepSpec.from_yaml(args.sweep_file), args.data_dir)
    if args.num_samples:
        spec = spec.with_overrides({"search.num_samples": args.num_samples})
    protocol = Protocol(spec, args)
    with ProcessPoolExecutor(args.parallel, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        protocol.run_all(protocol.tune_jobs(), pool)
        protocol.run_all(protocol.seed_jobs(), pool)
    protocol.save()
    print("\n".join(protocol.tables()))


if __name__ == "__main__":
    main()
