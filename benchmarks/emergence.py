"""Emergence protocol: does a rationale emerge on real text within a CPU budget, arm by arm?

    python benchmarks/emergence.py --data-dir ../shared/data/beer --reference .reference --out runs/emergence \
        --arm reference --arm compatible --arm default --seeds 1,2,3 [--objective n2r] [--epochs 30] [--lr 1e-3]
    python benchmarks/emergence.py --out runs/emergence --table            # the table of what has finished
    python benchmarks/emergence.py ... --aspect 1        # Beer Aroma: rows in OUT/OBJECTIVE.aspect1/

The published Beer-Appearance set-up (batch 128, s 0.125, λs 11, λc 12, λn 1, CE × 0.9, sampled
evaluation masks, GloVe 50d, hidden 100; the heldout file split in file order) at a learning rate
where the authors' code climbs within 30 epochs on one CPU thread (1e-3 instead of 1e-4). Arms:

- ``reference``: the authors' training and evaluation functions, imported from ``--reference``
  (their N2R repository, git-ignored), on the same data; for ``--objective rnp`` (MMI alone, which
  that repository has no loop for) from the FR paper's repository (``--reference-fr``: RNP, and FR
  with ``@fr``) or the DR paper's (``--reference-dr``, ``@dr``);
- ``compatible``: the engine with every :data:`n2r.reference.REFERENCE_SETTINGS` switch at the
  reference's value; ``clean``: the engine's earlier default mode (penalties over real tokens,
  length-bucketed batches, no padding read or added); ``default``: whatever the library does
  when a run sets none of those fields (for ``n2r`` now ``clean+padded_penalties+bucket``)
  (``ce_weight`` is 0.9 in every arm, every objective's default since 2026-12-03 and the
  reference's; ``eval_selection`` is ``sample`` in every arm, the reference's rule, so that both
  programs are scored alike — ``--probe`` gives a checkpoint's test metrics under both rules);
- ``BASE+S`` / ``BASE-S``: a base with switch ``S`` set to the reference's value / to the clean
  value (``S`` one of ``padded_penalties``, ``reads_padding``, ``pad_to``, ``bucket``; chainable:
  ``clean+padded_penalties+bucket``); ``BASE@FIELD=VALUE;FIELD=VALUE`` sets any other field;
- ``ARM@fr`` / ``ARM@dr``: FR (``model.shared_encoder``) / DR (``train.predictor_lr_scale`` 0.1)
  on any arm, ``reference@fr`` / ``reference@dr`` included (their script's ``--fr 1`` / ``--dr 1``);
- ``FIRST:K:SECOND``: a hand-over — engine arm FIRST trains epochs 1..K, then SECOND's
  configuration continues from that state (parameters, Adam moments, random streams) to the end
  (e.g. ``default:5:clean``: does what the default does in its first five epochs decide the run?).

``--aspect 1`` runs the same set-up on Beer Aroma (the authors' README publishes coefficients for
Appearance only; the protocol keeps them) with rows in ``OUT/OBJECTIVE.aspect1/``.
Another learning rate (``--lr 2e-3``) has its rows in ``OUT/OBJECTIVE.lr0.002/`` (and
``OUT/OBJECTIVE.aspect1.lr0.002/``), never mixed with the protocol's.

Each arm-seed runs in its own process with one thread (``--jobs`` at once), appends one JSON row
per epoch to ``OUT/OBJECTIVE/ARM/seedS.jsonl`` (dev accuracy; test accuracy, sparsity, P/R/F1 over
real tokens with :mod:`n2r.metrics` — the reference arm also with its own metric, which counts
sampled padding as selected) and checkpoints per epoch: a run that was stopped resumes, one that
finished is not rerun. The test columns are diagnostics; the dev-selected column takes the epoch
of best dev accuracy (first maximum), as the authors' script does. The random row: a selection of
the arm's sparsity S drawn uniformly over real tokens has precision = the annotated share P₀ and
recall S, so F1 = 2·P₀·S / (P₀ + S).

``--probe ARM --seed S`` reads the arm-seed's last checkpoint, an engine arm's or the authors'
(``reference``, with its ``--reference*`` flag), and prints where its test selections land
(:class:`SelectionStatistics`: the most selected words, the selection rate by fifth of a review).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.protocol import mean_std  # noqa: E402

SWITCHES = {   # short name → (field, reference value, clean value: the engine's earlier default)
    "padded_penalties": ("objective.padding_in_penalties", True, False),
    "reads_padding": ("model.gru_reads_padding", True, False),
    "pad_to": ("train.pad_to", 256, None),
    "bucket": ("train.bucket_window", 0, 32),
}
METHODS = {"fr": {"model.shared_encoder": True},            # ``ARM@fr``: FR, their --fr 1
           "dr": {"train.predictor_lr_scale": 0.1}}         # ``ARM@dr``: DR, their --dr 1
TABLE_EPOCHS = (10, 20, 30)


# --------------------------------------------------------------------------- arms
def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def phases(arm: str) -> list[tuple[str, int | None]]:
    """The (arm, last epoch) an arm-seed trains in turn: ``[(arm, None)]`` (to the run's end), or
    for a hand-over ``FIRST:K:SECOND`` ``[(FIRST, K), (SECOND, None)]``."""
    parts = arm.split(":")
    if len(parts) == 1:
        return [(arm, None)]
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) < 1:
        raise SystemExit(f"--arm {arm}: a hand-over is FIRST:K:SECOND with K ≥ 1 epochs")
    if "reference" in (parts[0].partition("@")[0], parts[2].partition("@")[0]):
        raise SystemExit(f"--arm {arm}: the reference arm cannot hand over (its state is not the engine's)")
    return [(parts[0], int(parts[1])), (parts[2], None)]


def arm_overrides(arm: str) -> dict[str, Any]:
    """The configuration fields an arm sets on the published set-up (for ``reference``: only the
    method flags its script has, ``@fr`` and ``@dr``)."""
    name, _, extra = arm.partition("@")
    parts = name.replace("-", "\x00-").replace("+", "\x00+").split("\x00")
    base, changes = parts[0], parts[1:]
    if base not in ("reference", "compatible", "clean", "default"):
        raise SystemExit(f"--arm {arm}: base must be 'reference', 'compatible', 'clean' or 'default'")
    fields = {} if base in ("default", "reference") else {f: ref if base == "compatible" else clean
                                                          for f, ref, clean in SWITCHES.values()}
    for change in changes:
        sign, switch = change[0], change[1:]
        if switch not in SWITCHES or base == "reference":
            raise SystemExit(f"--arm {arm}: unknown switch {switch!r} (known: {', '.join(SWITCHES)}; "
                             "none for the reference)")
        field, ref, clean = SWITCHES[switch]
        fields[field] = ref if sign == "+" else clean
    for assignment in filter(None, extra.split(";")):
        if assignment in METHODS:
            fields.update(METHODS[assignment])
            continue
        field, _, value = assignment.partition("=")
        if "." not in field or not value or base == "reference":
            raise SystemExit(f"--arm {arm}: {assignment!r} is not FIELD=VALUE or one of {', '.join(METHODS)}"
                             + (" (the reference arm takes only those)" if base == "reference" else ""))
        fields[field] = parse_value(value)
    return fields


def published(objective: str, lr: float, epochs: int, seed: int, aspect: int = 0):
    from benchmarks.parity import BEER
    from n2r.config import RunConfig

    raw = copy.deepcopy(BEER)
    raw["data"]["options"]["aspect"] = aspect
    raw["objective"].update(name=objective, ce_weight=0.9)
    raw["model"].update(eval_selection="sample")
    raw["train"].update(lr=lr, epochs=epochs, seed=seed, num_threads=1, selection_metric="accuracy")
    return RunConfig.from_dict(raw)


def arm_config(arm: str, objective: str, lr: float, epochs: int, seed: int, data_dir: str | None = None,
               aspect: int = 0):
    from n2r.config import RunConfig

    raw = published(objective, lr, epochs, seed, aspect).to_dict()
    for field, value in arm_overrides(arm).items():
        section, name = field.split(".")
        raw[section][name] = value
    cfg = RunConfig.from_dict(raw)
    cfg.data.path = data_dir
    return cfg


# --------------------------------------------------------------------------- one arm-seed
def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_row(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def run_folder(rows_path: Path) -> Path:
    """An engine arm-seed's run folder (``train_run``'s ``out_dir``: checkpoint, config, bundle);
    a checkpoint an earlier version kept beside the rows (``seedS.ckpt``) is moved in."""
    folder = rows_path.with_suffix("")
    legacy = rows_path.with_suffix(".ckpt")
    if legacy.is_file() and not (folder / "checkpoint.pt").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        legacy.rename(folder / "checkpoint.pt")
    return folder


def run_engine(arm: str, args, rows_path: Path) -> None:
    import torch

    from n2r.runner import train_run

    torch.set_num_threads(1)
    done = {row["epoch"] for row in read_rows(rows_path)}

    def on_epoch_end(record, _result):
        if record["epoch"] not in done:
            append_row(rows_path, {"epoch": record["epoch"], "dev_accuracy": record["dev"]["accuracy"],
                                   "dev_sparsity": record["dev"]["sparsity"], "test": record["test"],
                                   "train": record["train"], "seconds": record["epoch_time_s"]})

    folder = run_folder(rows_path)
    for phase_arm, last in phases(arm):
        if last is not None and checkpoint_epoch(folder) >= last:
            continue                             # a phase the checkpoint is past: not even its data reloaded
        cfg = arm_config(phase_arm, args.objective, args.lr, last or args.epochs, args.seed, args.data_dir,
                         args.aspect)
        train_run(cfg, folder, resume=True, on_epoch_end=on_epoch_end, diagnostic_test=True)


def checkpoint_epoch(folder: Path) -> int:
    """The last epoch a run folder's checkpoint holds (0 without one) — the checkpoint, not the rows,
    which are written at the epoch's end and can be one epoch ahead of it after a kill."""
    from n2r.checkpoint import load_checkpoint

    path = folder / "checkpoint.pt"
    return load_checkpoint(path)["epoch"] if path.is_file() else 0


REFERENCE_FLAGS = {"n2r": "--reference", "fr": "--reference-fr", "dr": "--reference-dr"}   # repository → flag


def flag_value(args, flag: str) -> str | None:
    return getattr(args, flag.lstrip("-").replace("-", "_"))


def reference_folder(args, arm: str) -> str:
    """The checkout ``arm`` (a ``reference`` arm) runs from: the N2R repository for N2R and
    MMI+N2R, the FR or DR paper's repository for MMI alone (:func:`benchmarks.parity.reference_program`)."""
    from benchmarks.parity import reference_program

    key = reference_program(arm_config(arm, args.objective, args.lr, args.epochs, 1)).repository
    folder = flag_value(args, REFERENCE_FLAGS[key])
    if not folder:
        raise SystemExit(f"--arm {arm} with --objective {args.objective} runs the authors' code from "
                         f"{REFERENCE_FLAGS[key]} DIR (a checkout of its repository), which is not given")
    return folder


def run_reference(args, rows_path: Path) -> None:
    import torch

    from benchmarks.parity import reference_epochs

    cfg = arm_config(args.worker, args.objective, args.lr, args.epochs, args.seed, aspect=args.aspect)
    torch.set_num_threads(1)
    done = {row["epoch"] for row in read_rows(rows_path)}
    for row in reference_epochs(reference_folder(args, args.worker), cfg, args.data_dir, args.epochs, args.seed,
                                checkpoint=rows_path.with_suffix(".ckpt")):
        if row["epoch"] not in done:
            append_row(rows_path, row)


PROTOCOL_LR = 1e-3


def study_folder(objective: str, aspect: int = 0, lr: float = PROTOCOL_LR) -> str:
    """``OBJECTIVE`` for Beer Appearance (aspect 0) at the protocol's learning rate;
    ``.aspectN`` is added for another aspect, ``.lrX`` for another learning rate
    (``n2r.aspect1``, ``n2r.lr0.002``)."""
    name = objective if aspect == 0 else f"{objective}.aspect{aspect}"
    return name if lr == PROTOCOL_LR else f"{name}.lr{lr:g}"


def aspect_of(folder_name: str) -> int:
    found = re.search(r"\.aspect(\d+)", folder_name)
    return int(found.group(1)) if found else 0


def rows_file(out: Path, objective: str, arm: str, seed: int, aspect: int = 0, lr: float = PROTOCOL_LR) -> Path:
    folder = out / study_folder(objective, aspect, lr) / arm.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"seed{seed}.jsonl"


def finished(path: Path, epochs: int) -> bool:
    return len({row["epoch"] for row in read_rows(path)}) >= epochs


# --------------------------------------------------------------------------- the table
def random_f1(gold_share: float, sparsity: float) -> float:
    """F1 of a uniform random selection of share ``sparsity``: precision ``gold_share``, recall ``sparsity``."""
    return 2 * gold_share * sparsity / (gold_share + sparsity) if gold_share + sparsity > 0 else 0.0


def fmt(values: list[float], scale: float = 100.0) -> str:
    """``mean ± std`` (the quality protocol's :func:`pipelines.protocol.mean_std`), the mean alone
    for one seed, ``–`` for none."""
    m, s = mean_std(values)
    if math.isnan(m):
        return "–"
    return f"{scale * m:.1f} ± {scale * s:.1f}" if len(values) > 1 else f"{scale * m:.1f}"


def table_epochs(epochs: int | None) -> tuple[int, ...]:
    """The epochs the table reads test F1 at: 10, 20 and 30 within the budget, and the budget's
    last epoch (``--table --epochs 50``: 10, 20, 30, 50)."""
    within = tuple(e for e in TABLE_EPOCHS if epochs is None or e <= epochs)
    return within if epochs is None or epochs in within else within + (epochs,)


def summarize(rows: list[dict[str, Any]], metric: str = "f1", epochs: int | None = None) -> dict[str, Any]:
    """One arm-seed: test ``metric`` at :func:`table_epochs` and at the epoch of best dev accuracy
    (the first maximum; among the first ``epochs`` epochs when given)."""
    by_epoch = {row["epoch"]: row for row in rows if epochs is None or row["epoch"] <= epochs}
    best = max(sorted(by_epoch), key=lambda e: (by_epoch[e]["dev_accuracy"], -e))
    out = {"epochs": max(by_epoch), "best_epoch": best, "selected": by_epoch[best]["test"][metric],
           "selected_sparsity": by_epoch[best]["test"]["sparsity"],
           "selected_precision": by_epoch[best]["test"]["precision"]}
    for e in table_epochs(epochs):
        if e in by_epoch:
            out[e] = by_epoch[e]["test"][metric]
            out[f"p{e}"] = by_epoch[e]["test"]["precision"]
    return out


def table(out: Path, gold_shares: dict[int, float] | None, epochs: int,
          labels: dict[str, str] | None = None) -> str:
    """One markdown table per objective folder of ``out`` (``OBJECTIVE`` or ``OBJECTIVE.aspectN``):
    every arm-seed with at least 10 epochs, read up to ``epochs`` (``--table --epochs 20``: every arm
    at a 20-epoch budget, dev selection among those epochs; test F1 at :func:`table_epochs`, the
    last with its precision); an arm whose seeds stopped before
    ``epochs`` says how far they got (``epochs run``), and its dev-selected column then selects
    among the epochs run.
    ``gold_shares``: the annotated share of test tokens per aspect (the random row's precision).
    Three comparisons of the dev-selected F1 with the random row: mean − 2σ (σ the spread between
    seeds: does nearly every seed beat random, read off a normal model of the seeds — a seed far
    *above* the others widens σ and can fail it), mean − 2·SE (SE = σ/√n: is the mean above random,
    at about 95 % confidence), and the seeds themselves: how many beat the random F1 at their own
    selected sparsity, and the worst seed's F1."""
    lines, at = [], table_epochs(epochs)
    for objective_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        share = (gold_shares or {}).get(aspect_of(objective_dir.name))
        lines += [f"\n### {objective_dir.name}\n",
                  "| arm | seeds | epochs run | " + " | ".join(f"F1 @{e}" for e in at) + " (P) | dev-selected F1 | "
                  "S | random F1 at S | mean − 2σ > random | mean − 2·SE > random | seeds > random (worst) |",
                  "|---|---|---" + "|---" * len(at) + "|---|---|---|---|---|---|"]
        for arm_dir in sorted(p for p in objective_dir.iterdir() if p.is_dir()):
            runs = [summarize(rows, epochs=epochs) for path in sorted(arm_dir.glob("seed*.jsonl"))
                    if len(rows := read_rows(path)) >= min(10, epochs)]
            if not runs:
                continue
            reached = sorted({min(r["epochs"], epochs) for r in runs})
            sparsity = statistics.fmean(r["selected_sparsity"] for r in runs)
            chance = random_f1(share, sparsity) if share is not None else math.nan
            selected = [r["selected"] for r in runs]
            m, s = mean_std(selected)
            if len(runs) > 1:
                above = "yes" if m - 2 * s > chance else "no"
                mean_above = "yes" if m - 2 * s / math.sqrt(len(runs)) > chance else "no"
            else:
                above, mean_above = "– (one seed)", "–"
            if share is not None:
                beaten = sum(r["selected"] > random_f1(share, r["selected_sparsity"]) for r in runs)
                seeds = f"{beaten}/{len(runs)} ({100 * min(selected):.1f})"
            else:
                seeds = "–"
            f1_at = " | ".join(fmt([r[e] for r in runs if e in r]) for e in at)
            last_precision = fmt([r[f"p{at[-1]}"] for r in runs if f"p{at[-1]}" in r])
            name = (labels or {}).get(arm_dir.name, arm_dir.name)
            lines.append(f"| {name} | {len(runs)} | {'/'.join(map(str, reached))} | {f1_at} ({last_precision}) | "
                         f"{fmt(selected)} | {100 * sparsity:.1f} | {100 * chance:.1f} | {above} | {mean_above} | "
                         f"{seeds} |")
    return "\n".join(lines)


def gold_share_of(data_dir: str | None, aspect: int = 0) -> float | None:
    """The annotated share of real tokens in the aspect's test split (the random row's precision)."""
    if not data_dir:
        return None
    from n2r.data import prepare_data

    cfg = published("n2r", 1e-3, 1, 1, aspect)
    cfg.data.path = data_dir
    data = prepare_data(cfg.data, cfg.model)
    column = data.splits["test"].column("rationale").combine_chunks()
    bits = column.flatten().to_numpy(zero_copy_only=False)
    return float(bits.mean())


# --------------------------------------------------------------------------- why: where selections land
class SelectionStatistics:
    """Where a generator's test selections land, summed batch by batch: selection rate in each
    fifth of a review (position / length) against the annotated share there, selected spans per
    review, precision, the most selected words and, where the program gives it, the mean
    selection probability of annotated and of other tokens."""

    def __init__(self, words: list[str]):
        import torch

        self.words = words
        self.fifths, self.gold_fifths, self.positions = torch.zeros(5), torch.zeros(5), torch.zeros(5)
        self.word_selected, self.word_seen, self.word_gold = (torch.zeros(len(words)) for _ in range(3))
        self.spans = self.reviews = 0
        self.tp = self.selected = 0.0
        self.p_gold = self.p_other = 0.0
        self.n_gold = self.n_other = 0

    def add(self, ids, real, rationale, z, prob=None) -> None:
        """One batch: token ``ids``, ``real`` (bool, not padding), the annotation bits, the 0/1
        selection ``z`` (zero at padding) and, optionally, the selection probability."""
        import torch

        rationale = rationale.float()
        lengths = real.sum(1, keepdim=True)
        fifth = (torch.arange(z.shape[1]).unsqueeze(0) * 5 // lengths).clamp(max=4)
        for k in range(5):
            at = real & (fifth == k)
            self.fifths[k] += z[at].sum()
            self.gold_fifths[k] += rationale[at].sum()
            self.positions[k] += at.sum()
        self.spans += int(torch.diff(torch.nn.functional.pad(z, (1, 1)), dim=1).clamp(min=0).sum())
        self.reviews += len(z)
        gold = rationale.bool() & real
        self.word_selected.index_add_(0, ids[real], z[real].float())
        self.word_seen.index_add_(0, ids[real], torch.ones(int(real.sum())))
        self.word_gold.index_add_(0, ids[real], rationale[real])
        self.tp += float((z.bool() & gold).sum())
        self.selected += float(z.sum())
        if prob is not None:
            self.p_gold += float(prob[gold].sum())
            self.n_gold += int(gold.sum())
            self.p_other += float(prob[real & ~gold].sum())
            self.n_other += int((real & ~gold).sum())

    def summary(self, top_words: int) -> dict[str, Any]:
        top = self.word_selected.argsort(descending=True)[:top_words].tolist()
        out = {"selection_rate_by_fifth": [round(float(v), 3) for v in self.fifths / self.positions],
               "annotated_share_by_fifth": [round(float(v), 3) for v in self.gold_fifths / self.positions],
               "spans_per_review": self.spans / self.reviews, "precision": self.tp / max(self.selected, 1.0),
               "most_selected_words": [
                   {"word": self.words[i], "selected": int(self.word_selected[i]),
                    "selection_rate": round(float(self.word_selected[i] / self.word_seen[i]), 3),
                    "annotated_share": round(float(self.word_gold[i] / self.word_seen[i]), 3)} for i in top]}
        if self.n_gold:
            out["selection_probability_annotated"] = self.p_gold / self.n_gold
            out["selection_probability_other"] = self.p_other / self.n_other
        return out


def probe(arm: str, args) -> dict[str, Any]:
    """Load an arm's latest checkpoint and measure its selections on the test split
    (:class:`SelectionStatistics`; training-mode Gumbel samples, as the protocol evaluates). An
    engine arm adds the transitions-per-review price ``λc × ΔΩ_c × B`` that its Ω_c puts on one
    more transition in one review, averaged over the training batches as the arm pads and groups
    them, and the test metrics under both evaluation rules (``test_by_eval_selection``:
    ``sample``, the protocol's and the reference's Gumbel-sampled masks, and ``argmax``, the
    library's default ``model.eval_selection``). A ``reference`` arm is the authors' model from
    its per-epoch checkpoint, run by their evaluation forward (no selection probabilities)."""
    if arm.partition("@")[0] == "reference":
        return probe_reference(arm, args)
    import torch

    from n2r.checkpoint import load_checkpoint
    from n2r.models.base import RationaleOutput
    from n2r.models.selection import gumbel_straight_through
    from n2r.objectives import build_objective
    from n2r.runner import build_run
    from n2r.training import run_loaders, test_metrics

    last_arm = phases(arm)[-1][0]              # a hand-over arm's state is read with its last phase's model
    cfg = arm_config(last_arm, args.objective, args.lr, args.epochs, args.seed, args.data_dir, args.aspect)
    torch.set_num_threads(1)
    data, model = build_run(cfg)
    path = run_folder(rows_file(Path(args.out), args.objective, arm, args.seed, args.aspect, args.lr)) / "checkpoint.pt"
    epoch = load_checkpoint(path, model)["epoch"]
    model.eval()
    stats = SelectionStatistics(data.tokenizer.vocab.words)
    torch.manual_seed(0)
    with torch.no_grad():
        for batch in data.loader("test", 256, by_length=True, pad_to=cfg.train.pad_to):
            gen = model.generator(batch)
            z = gumbel_straight_through(gen.logits) * batch.unit_mask
            stats.add(batch.input_ids, batch.unit_mask.bool(), batch.rationale, z,
                      gen.logits.float().softmax(-1)[..., 1])
    loader, _ = run_loaders(data, cfg)
    prices = []
    objective = build_objective(cfg.objective)
    for batch in loader:
        one = torch.zeros_like(batch.input_ids, dtype=torch.float32)
        one[0, 0] = 1.0                               # one selected first token: one transition in review 0
        out = RationaleOutput(z=one * batch.unit_mask, unit_mask=batch.unit_mask, logits=None, h=None,
                              generator_logits=None, z_all=one)
        prices.append(float(objective.regularizer(model, out)["continuity"]) * cfg.objective.lambda_continuity
                      * len(batch))
    by_rule = {}
    for rule in ("sample", "argmax"):                # the protocol's (the reference's) rule, the library's default
        model.eval_selection = rule
        torch.manual_seed(0)
        metrics = test_metrics(model, data, cfg, torch.device("cpu"), faithfulness=False)
        by_rule[rule] = {k: round(metrics[k], 4) for k in ("accuracy", "sparsity", "precision", "recall", "f1")}
    model.eval_selection = cfg.model.eval_selection
    return {"arm": arm, "seed": args.seed, "epoch": epoch, "test_by_eval_selection": by_rule,
            **stats.summary(args.top_words), "continuity_price_per_transition": statistics.fmean(prices)}


def probe_reference(arm: str, args) -> dict[str, Any]:
    """:func:`probe` for the authors' code: its model for the arm's objective, loaded from the
    arm-seed's checkpoint (``seedS.ckpt``), on the test split as its loaders give it (padded to
    256; words it does not know are id 0, its padding id, and are counted here as the project's
    unknown word)."""
    import torch

    from benchmarks.parity import reference_model, reference_program, reference_tensors
    from n2r.data import prepare_data

    cfg = arm_config(arm, args.objective, args.lr, args.epochs, args.seed, args.data_dir, args.aspect)
    torch.set_num_threads(1)
    path = rows_file(Path(args.out), args.objective, arm, args.seed, args.aspect, args.lr).with_suffix(".ckpt")
    if not path.is_file():
        raise SystemExit(f"{path}: no checkpoint of the authors' code for this arm-seed")
    data = prepare_data(cfg.data, cfg.model)
    _, _, model = reference_model(reference_folder(args, arm), cfg, data)
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    model.eval()
    forward_eval = getattr(model, reference_program(cfg).evaluate)
    inputs, masks, _, gold = reference_tensors(data, "test", cfg.train.pad_to or 256)
    real = masks.bool()
    ids = torch.where(real & (inputs == 0), data.tokenizer.vocab.unk_id, inputs)
    stats = SelectionStatistics(data.tokenizer.vocab.words)
    torch.manual_seed(0)
    with torch.no_grad():
        for at in torch.arange(len(inputs)).split(cfg.train.batch_size):
            z = (forward_eval(inputs[at], masks[at])[0][:, :, 1] > 0.5).float() * masks[at]
            stats.add(ids[at], real[at], gold[at], z)
    return {"arm": arm, "seed": args.seed, "epoch": state["epoch"], **stats.summary(args.top_words)}


# --------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder of rows and checkpoints (resumable)")
    parser.add_argument("--data-dir", help="the Beer folder (reviews.aspect0.heldout.txt.gz, annotations.json)")
    parser.add_argument("--reference", help="a checkout of the authors' N2R repository (the 'reference' arm)")
    parser.add_argument("--reference-fr", help="a checkout of the FR repository's code/ folder (the 'reference' "
                                               "arms of --objective rnp: RNP and FR)")
    parser.add_argument("--reference-dr", help="a checkout of the DR repository (--objective rnp, 'reference@dr')")
    parser.add_argument("--arm", action="append", default=[], help="an arm (repeatable); see the module doc")
    parser.add_argument("--objective", choices=("n2r", "rnp+n2r", "rnp"), default="n2r")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=PROTOCOL_LR,
                        help="rows of another learning rate go to OBJECTIVE.lrX/")
    parser.add_argument("--aspect", type=int, choices=(0, 1), default=0, help="Beer aspect: 0 Appearance, 1 Aroma")
    parser.add_argument("--jobs", type=int, default=2, help="arm-seeds run at once, one thread each")
    parser.add_argument("--table", action="store_true", help="print the table of finished arm-seeds and stop")
    parser.add_argument("--probe", metavar="ARM", help="measure where ARM's latest checkpoint selects (with --seed)")
    parser.add_argument("--top-words", type=int, default=15, help="--probe: how many most-selected words to list")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)

    if args.worker:
        path = rows_file(out, args.objective, args.worker, args.seed, args.aspect, args.lr)
        if args.worker.partition("@")[0] == "reference":
            run_reference(args, path)
        else:
            run_engine(args.worker, args, path)
        return
    if args.probe:
        print(json.dumps(probe(args.probe, args), indent=1))
        return
    if args.table:
        print(table(out, gold_shares(out, args.data_dir), args.epochs))
        return
    if not args.data_dir or not args.arm:
        raise SystemExit("--data-dir and at least one --arm are required (or --table)")
    for arm in args.arm:                         # refuse a bad arm before anything starts
        for phase_arm, _ in phases(arm):
            arm_overrides(phase_arm)
        if arm.partition("@")[0] == "reference":
            reference_folder(args, arm)
    seeds = [int(s) for s in args.seeds.split(",")]
    todo = [(arm, seed) for seed in seeds for arm in args.arm
            if not finished(rows_file(out, args.objective, arm, seed, args.aspect, args.lr), args.epochs)]
    running: list[tuple[subprocess.Popen, str, int]] = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    while todo or running:
        while todo and len(running) < args.jobs:
            arm, seed = todo.pop(0)
            log = rows_file(out, args.objective, arm, seed, args.aspect, args.lr).with_suffix(".log").open("a")
            cmd = [sys.executable, __file__, "--out", str(out), "--data-dir", args.data_dir, "--objective",
                   args.objective, "--epochs", str(args.epochs), "--lr", str(args.lr), "--worker", arm,
                   "--seed", str(seed), "--aspect", str(args.aspect)]
            cmd += [x for flag in REFERENCE_FLAGS.values() if flag_value(args, flag) for x in (flag, flag_value(args, flag))]
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), arm, seed))
            print(f"started {arm} seed {seed}", flush=True)
        time.sleep(5)
        for proc, arm, seed in list(running):
            if proc.poll() is not None:
                running.remove((proc, arm, seed))
                print(f"{'finished' if proc.returncode == 0 else f'FAILED ({proc.returncode})'} {arm} seed {seed}",
                      flush=True)
    print(table(out, gold_shares(out, args.data_dir), args.epochs))


def gold_shares(out: Path, data_dir: str | None) -> dict[int, float] | None:
    """The annotated share of each aspect that ``out`` holds rows of."""
    if not data_dir:
        return None
    return {a: gold_share_of(data_dir, a) for a in sorted({aspect_of(p.name) for p in out.iterdir() if p.is_dir()})}


if __name__ == "__main__":
    main()
