"""The quality protocol: per-method tables over retrained seeds, their random and human rows,
and the *working* rule — used by ``benchmarks/quality.py``.

Each table reports, per method, mean ± std over seeds of test sparsity S, token (edge) precision,
recall, F1 and accuracy, and the best dev epoch; and two reference rows on the same test set:
random selection with each method's achieved sparsity (:func:`n2r.metrics.expected_random_prf`,
exact expectation, per-example counts k = S·n) and the human rationales' own sparsity. A method
counts as *working* only where its F1 minus two standard deviations is above its random row.
Test figures come from each retrained model's dev-selected state, evaluated once; nothing here
selects a model.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path


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
    metrics count: words, the word pieces of a family whose units are not words (BERT: each
    inherits its word's bit, texts cut at the tokenizer's length), or edges for graphs."""
    import pyarrow.compute as pc

    from n2r.data.cache import prepare

    from n2r.models import family_of

    if model_cfg is not None and not family_of(model_cfg).units_are_words:
        from n2r.data import prepare_data

        test = prepare_data(data_cfg, model_cfg, cache_dir).splits["test"]
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


def evaluate_study(storage, study, info: dict, cache_dir: str | None, work: Path) -> dict:
    """Export every retrained seed of a :class:`~pipelines.spec.Study` (test evaluated once each)
    and collect the figures: ``{"objective", "params", "runs"}``."""
    study_name = study.name
    from pipelines.export import checkpoint_file, export_checkpoint, local_copy

    runs = []
    for seed_run in info.get("seeds", []):
        relative = checkpoint_file(storage, seed_run)
        checkpoint = local_copy(storage, relative, work / f"{study_name}-{seed_run['seed']}.pt")
        name = f"{study_name}-seed{seed_run['seed']}"
        bundle = export_checkpoint(checkpoint, work / name, cache_dir=cache_dir)
        storage.upload(bundle, f"{BUNDLES}/{name}")      # the models behind the table, for `n2r explain`
        card = json.loads((bundle / "metrics.json").read_text())
        runs.append({"seed": seed_run["seed"], "best_epoch": card["best_epoch"], "test": card["test"],
                     "dev": card["dev"], "variant": card.get("data_variant")})
    return {"objective": study.objective, "params": info["best"]["params"] if info.get("best") else {}, "runs": runs}


def rule_of(model_cfg) -> str:
    """The evaluation rule in words: ``topk`` names its share."""
    if model_cfg.eval_selection == "topk":
        return f"topk {model_cfg.eval_share:g}"
    return model_cfg.eval_selection


def table(name: str, studies: dict, gold: list[int], lengths: list[int], cfg, tuned: list[str]) -> list[str]:
    """The markdown table of one data set: per method (``studies``: study name →
    ``{"objective", "params", "runs"}``) mean ± std over seeds, the random rows, the human row."""
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
        method = result["objective"]
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
        f"{r['objective']}: " + ", ".join(f"{k.split('.')[-1]} {v:.3g}" for k, v in sorted(r["params"].items()))
        for r in studies.values()), ""]
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


def only_objectives(spec, objectives: list[str], path) -> list[str]:
    """The objectives of ``spec`` (in the file's order) that are among ``objectives`` — the
    ``objectives`` override of a narrowed run; one the file does not have is an error naming it."""
    unknown = sorted(set(objectives) - set(spec.file.objectives))
    if unknown:
        raise SystemExit(f"--objectives: {unknown[0]!r} is not an objective of {path} ({spec.file.objectives})")
    return [o for o in spec.file.objectives if o in objectives]
