"""Rationale quality of RNP, N2R and RNP+N2R on human-annotated data, protocol end to end.

    python benchmarks/quality.py tune_spaces/quality/ba2motifs.yaml [...] --data-dir ../shared/data \
        --storage runs/quality [--seeds 1 2 3] [--num-samples N] [--markdown docs/results.md]

For each sweep file: (1) the project's own sweep (Ray Tune + Optuna + ASHA) tunes each method's
coefficients on dev only (the sweep file's metric: dev accuracy in the shipped files); (2) each
study's best configuration is retrained with every ``--seeds`` seed (``retrain.seeds``); (3) each
retrained model's dev-selected state is evaluated once on test
(:func:`pipelines.export.export_checkpoint`; the bundles are kept in ``STORAGE/NAME/bundles/``).
Re-running the command resumes an interrupted sweep from ``--storage`` and re-uses finished studies.

Each table reports, per method, mean ± std over seeds of test sparsity S, token (edge) precision,
recall, F1 and accuracy, and the best dev epoch; and two reference rows on the same test set:
random selection with each method's achieved sparsity (:func:`n2r.metrics.expected_random_prf`,
exact expectation, per-example counts k = S·n) and the human rationales' own sparsity. A method
counts as *working* only where its F1 minus two standard deviations is above its random row.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BUNDLES = "bundles"          # STORAGE/NAME/bundles/STUDY-seedN: each retrained seed's exported bundle


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values: list[float], scale: float = 100.0) -> str:
    m, s = mean_std(values)
    return f"{m * scale:.1f} ± {s * scale:.1f}"


def gold_counts(data_cfg, cache_dir: str | None, model_cfg=None) -> tuple[list[int], list[int]]:
    """Per test example: gold rationale units and real units — the units the model selects and the
    metrics count: words, BERT word pieces (``model_cfg.encoder == "bert"``; each inherits its
    word's bit, texts cut at the tokenizer's length), or edges for graphs."""
    import pyarrow.compute as pc

    from n2r.data.cache import prepare

    if model_cfg is not None and model_cfg.encoder == "bert":
        from n2r.data import prepare_data

        test = prepare_data(data_cfg, model_cfg).splits["test"]
        units = test.column("unit_mask").to_pylist()
        bits = test.column("rationale").to_pylist()
        return ([sum(b * u for b, u in zip(r or [], m)) for r, m in zip(bits, units)], [sum(m) for m in units])

    entry = prepare(data_cfg.name, data_cfg.path, data_cfg.options, cache_dir=cache_dir)
    table = entry.table("test")
    if entry.meta["kind"] == "graph":
        gold = table.column("edge_gt").to_pylist()
        return [sum(g or []) for g in gold], [len(g or []) for g in gold]
    rationale = table.column("rationale").to_pylist()
    lengths = pc.list_value_length(table.column("tokens")).to_pylist()
    return [sum(r or []) for r in rationale], lengths


def evaluate_study(storage, study_name: str, info: dict, cache_dir: str | None, work: Path) -> dict:
    """Export every retrained seed of a study (test evaluated once each) and collect the figures."""
    from pipelines.export import export_checkpoint, latest_checkpoint, local_copy
    from pipelines.sweep import SEEDS_SUFFIX

    runs = []
    for seed_run in info.get("seeds", []):
        relative = latest_checkpoint(storage, seed_run["path"], study_name + SEEDS_SUFFIX, seed_run["trial_id"])
        checkpoint = local_copy(storage, relative, work / f"{study_name}-{seed_run['seed']}.pt")
        name = f"{study_name}-seed{seed_run['seed']}"
        bundle = export_checkpoint(checkpoint, work / name, cache_dir=cache_dir)
        storage.upload(bundle, f"{BUNDLES}/{name}")      # the models behind the table, for `n2r explain`
        card = json.loads((bundle / "metrics.json").read_text())
        runs.append({"seed": seed_run["seed"], "best_epoch": card["best_epoch"], "test": card["test"],
                     "dev": card["dev"], "variant": card.get("data_variant")})
    return {"params": info["best"]["params"] if info.get("best") else {}, "runs": runs}


def rule_of(model_cfg) -> str:
    """The evaluation rule in words: ``topk`` names its share."""
    if model_cfg.eval_selection == "topk":
        return f"topk {model_cfg.eval_share:g}"
    return model_cfg.eval_selection


def table(name: str, studies: dict, gold: list[int], lengths: list[int], cfg, tuned: list[str]) -> list[str]:
    from n2r.metrics import expected_random_prf

    variant = next((r["variant"] for s in studies.values() for r in s["runs"] if r.get("variant")), cfg.data.name)
    lines = [f"### {name}", "",
             f"Data variant `{variant}`; encoder `{cfg.model.encoder}`; {len(lengths)} test examples; sparsity target "
             f"{cfg.objective.sparsity_target}; evaluation rule `{rule_of(cfg.model)}`; "
             f"budget: {cfg.train.epochs} epochs, batch {cfg.train.batch_size}, "
             f"learning rate {'tuned per method' if 'train.lr' in tuned else cfg.train.lr}; tuned on dev: "
             f"{', '.join(k.split('.')[-1] for k in tuned)}.", "",
             "| method | S | P | R | F1 | accuracy | best dev epoch | seeds | working (F1 − 2σ > random) |",
             "|---|---|---|---|---|---|---|---|---|"]
    randoms = []
    for study, result in studies.items():
        runs = result["runs"]
        if not runs:
            continue
        method = study.rsplit("-", 1)[-1]
        test = [r["test"] for r in runs]
        s_mean, _ = mean_std([t["sparsity"] for t in test])
        random = expected_random_prf([s_mean * n for n in lengths], gold, lengths)
        randoms.append((method, random))
        f1_mean, f1_std = mean_std([t.get("f1") for t in test])
        working = "yes" if f1_mean - 2 * f1_std > random["f1"] else "no"
        lines.append(f"| {method} | {fmt([t['sparsity'] for t in test])} | {fmt([t.get('precision') for t in test])} | "
                     f"{fmt([t.get('recall') for t in test])} | {fmt([t.get('f1') for t in test])} | "
                     f"{fmt([t['accuracy'] for t in test])} | {mean_std([r['best_epoch'] for r in runs])[0]:.1f} | "
                     f"{len(runs)} | {working} |")
    for method, random in randoms:
        lines.append(f"| random at S of {method} | {random['sparsity'] * 100:.1f} | {random['precision'] * 100:.1f} | "
                     f"{random['recall'] * 100:.1f} | {random['f1'] * 100:.1f} | – | – | exact expectation | – |")
    human = sum(gold) / max(sum(lengths), 1)
    lines.append(f"| human rationales | {human * 100:.1f} | 100 | 100 | 100 | – | – | – | – |")
    lines += ["", "Tuned coefficients (dev only): " + "; ".join(
        f"{study.rsplit('-', 1)[-1]}: "
        + ", ".join(f"{k.split('.')[-1]} {v:.3g}" for k, v in sorted(r["params"].items()))
        for study, r in studies.items()), ""]
    return lines


def dataset_tables(spec, by_dataset: dict[str, dict], cache_dir: str | None, run_of=lambda study: study.run,
                   gold_cache: dict | None = None) -> list[str]:
    """One :func:`table` per data set of ``spec``; ``by_dataset`` maps each study-name prefix to
    its studies' ``{"params", "runs"}``. ``gold_cache`` keeps the test counts between calls."""
    from n2r.config import RunConfig

    gold_cache = {} if gold_cache is None else gold_cache
    sections = []
    for prefix, studies in by_dataset.items():
        first = next(s for s in spec.studies if s.name in studies)
        cfg = RunConfig.from_dict(run_of(first))
        if prefix not in gold_cache:
            gold_cache[prefix] = gold_counts(cfg.data, cache_dir, cfg.model)
        sections += table(prefix, studies, *gold_cache[prefix], cfg, list(spec.space))
    return sections


def only_objectives(spec, objectives: list[str], path) -> None:
    """Keep only the studies (and the recorded ``objectives``) of ``spec`` that use one of
    ``objectives``; an objective the file does not have is an error naming the file."""
    unknown = sorted(set(objectives) - set(spec.raw["objectives"]))
    if unknown:
        raise SystemExit(f"--objectives: {unknown[0]!r} is not an objective of {path} ({spec.raw['objectives']})")
    spec.raw["objectives"] = [o for o in spec.raw["objectives"] if o in objectives]
    spec.studies = [s for s in spec.studies if s.run["objective"]["name"] in objectives]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_files", nargs="+")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--storage", default="runs/quality")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--num-samples", type=int, default=None, help="override each file's search.num_samples")
    parser.add_argument("--objectives", nargs="+", default=None,
                        help="only these of each file's objectives (e.g. to tabulate finished studies of a stopped run)")
    parser.add_argument("--markdown", default=None, help="write the tables (and the command) to this file")
    parser.add_argument("--json", default=None, help="write every seed's dev and test figures to this file")
    args = parser.parse_args()

    from pipelines.storage import Storage
    from pipelines.sweep import SweepSpec, ensure_ray, print_summary, run_sweep, with_data_dir

    specs = []
    for path in args.sweep_files:
        spec = with_data_dir(SweepSpec.from_yaml(path), args.data_dir)
        spec.retrain_seeds = list(args.seeds)
        spec.raw["retrain"] = {"seeds": list(args.seeds)}
        if args.num_samples:
            spec.num_samples = args.num_samples
            spec.raw.setdefault("search", {})["num_samples"] = args.num_samples
        if args.objectives:
            only_objectives(spec, args.objectives, path)
        specs.append((path, spec))
    ensure_ray()
    root = Storage.resolve(args.storage)
    sections, raw = [], {}
    for path, spec in specs:
        storage = root.child(spec.name)
        started = time.perf_counter()
        summary = run_sweep(spec, storage.uri, cache_dir=args.cache, resume=storage.exists("sweep.yaml"))
        print_summary(summary)
        with tempfile.TemporaryDirectory(prefix="n2r-quality-") as work:
            by_dataset: dict[str, dict] = {}
            for study in spec.studies:
                info = summary["studies"][study.name]
                prefix = study.name.rsplit("-", 2)[0]          # dataset label (study = label-encoder-method)
                by_dataset.setdefault(prefix, {})[study.name] = evaluate_study(storage, study.name, info, args.cache,
                                                                               Path(work))
        raw.update(by_dataset)
        sections += dataset_tables(spec, by_dataset, args.cache)
        sections.append(f"Sweep file `{path}`: {spec.num_samples} Optuna samples per method, seeds {args.seeds}; "
                        f"wall time {time.perf_counter() - started:.0f} s on this machine.\n")
        print("\n".join(sections[-40:]))
        write_outputs(args, sections, raw)   # after every file, so a long run's finished tables are kept


def write_outputs(args, sections: list[str], raw: dict) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))
    if args.markdown:
        command = "python benchmarks/quality.py " + " ".join(sys.argv[1:])
        Path(args.markdown).write_text("\n".join(["<!-- generated by benchmarks/quality.py -->", "", f"`{command}`", "",
                                                  *sections]))


if __name__ == "__main__":
    main()
