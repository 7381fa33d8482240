"""ERASER interoperability (DeYoung et al. 2020): prediction files from bundles, and their scores.

A prediction line is one JSON object per (annotation_id, document)::

    {"annotation_id": "negR_800.txt",
     "rationales": [{"docid": "negR_800.txt",
                     "hard_rationale_predictions": [{"start_token": 12, "end_token": 15}, ...],
                     "soft_rationale_predictions": [0.01, 0.93, ...]}],      # one per token
     "classification": "NEG",
     "classification_scores": {"NEG": 0.91, "POS": 0.09},
     "comprehensiveness_classification_scores": {...},  # the predictor on the input without the rationale
     "sufficiency_classification_scores": {...}}        # the predictor on the rationale alone

The key names are ERASER's (``rationale_benchmark/metrics.py``). Files that spell the first one
``comprehensive_classification_scores`` (written by n2r before 2026-11-28) are read as well.

Token indices are the documents' own whitespace tokens. ``classification_scores`` are the
rationalizer's output — its predictor reads the rationale alone, so for these select-then-predict
models sufficiency is 0 by construction and comprehensiveness is the informative score. (The
``comprehensiveness``/``sufficiency`` columns of :func:`n2r.engine.evaluate` instead take the
predictor on the full input as the reference.)

Gold comes from the data sets' own readers: movies in the Zaidan layout (annotation_id = file
name) or ERASER's (``docs/`` + ``val.jsonl``/``test.jsonl``), and Beer's ``annotations.json``
(annotation_id = line number; split ``test``; tokens cut at ``max_tokens`` = 256 as in the
literature).
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from n2r.data.base import DataError
from n2r.explanation import Explanation
from n2r.logs import progress
from n2r.metrics import (accuracy, average_precision, comprehensiveness, expected_random_prf, iou_prf,
                         macro_token_prf, rationale_prf, spans_of, sufficiency)

logger = logging.getLogger(__name__)
CLASS_NAMES = ("NEG", "POS")
COMPREHENSIVENESS_KEY = "comprehensiveness_classification_scores"      # ERASER's key names
SUFFICIENCY_KEY = "sufficiency_classification_scores"
LEGACY_COMPREHENSIVENESS_KEY = "comprehensive_classification_scores"   # read, never written
SPLITS = {"train": "train", "val": "dev", "test": "test"}


@dataclass
class GoldDocument:
    annotation_id: str
    docid: str
    tokens: list[str]
    label: int
    rationale: list[int]


def read_gold(data_dir: str | Path, split: str, *, aspect: int = 0, max_tokens: int | None = None) -> list[GoldDocument]:
    """Annotated documents of ``split`` (``val`` or ``test``; ``train`` too where it exists)."""
    root = Path(data_dir)
    if split not in SPLITS:
        raise ValueError(f"--split: {split!r} is not one of {', '.join(SPLITS)}")
    if (root / "annotations.json").is_file():
        from collections import Counter

        from n2r.data.beer import read_annotations

        if split != "test":
            raise DataError(root / "annotations.json", f"Beer's annotations are the test split, not {split!r}")
        rows = read_annotations(root / "annotations.json", aspect, max_tokens or 256, Counter())
        line_numbers = [r["id"].split(":")[-1] for r in rows]          # ids are "annotations:LINE"
        return [GoldDocument(n, n, r["tokens"], r["label"], r["rationale"]) for n, r in zip(line_numbers, rows)]
    from n2r.data.movies import read_movies

    result = read_movies(root, max_tokens=max_tokens)
    rows = result.splits[SPLITS[split]]
    if not rows:
        raise DataError(root, f"no documents in split {split!r}")
    return [GoldDocument(r["id"], r.get("docid", r["id"]), r["tokens"], r["label"], r["rationale"]) for r in rows]


def gold_for_bundle(bundle, data_dir: str | Path, split: str) -> list[GoldDocument]:
    """Gold documents read with the bundle's own data options (aspect, truncation)."""
    options = bundle.config.data.options
    return read_gold(data_dir, split, aspect=int(options.get("aspect", 0)), max_tokens=options.get("max_tokens"))


# ---------------------------------------------------------------------- predictions from a bundle
def prediction_line(doc: GoldDocument, explanation: Explanation) -> dict[str, Any]:
    """One ERASER prediction line from a document's :class:`~n2r.explanation.Explanation` (asked
    with ``faithfulness``): the rationale as spans, its per-token selection probabilities, and the
    predictor's class scores on the rationale alone, on the input without it, and (the same
    figures as the first, since the predictor only ever sees the rationale) on it alone."""
    if explanation.probabilities_without is None:
        raise ValueError("an ERASER prediction needs the explanation's faithfulness scores")
    names = class_names(len(explanation.probabilities))

    def scores(p) -> dict[str, float]:
        return {name: float(v) for name, v in zip(names, p)}

    return {"annotation_id": doc.annotation_id,
            "rationales": [{"docid": doc.docid,
                            "hard_rationale_predictions": [{"start_token": a, "end_token": b}
                                                           for a, b in explanation.spans],
                            "soft_rationale_predictions": list(explanation.scores)}],
            "classification": names[explanation.label],
            "classification_scores": scores(explanation.probabilities),
            COMPREHENSIVENESS_KEY: scores(explanation.probabilities_without),
            SUFFICIENCY_KEY: scores(explanation.probabilities)}


def class_names(num_classes: int) -> tuple[str, ...]:
    return CLASS_NAMES if num_classes == 2 else tuple(str(i) for i in range(num_classes))


def write_predictions(bundle, docs: Iterable[GoldDocument], out: str | Path, chunk: int = 256) -> int:
    """ERASER prediction lines for ``docs``, explained ``chunk`` at a time (:func:`n2r.explain.explain_many`)."""
    from n2r.explain import explain_many

    if bundle.kind != "text":
        raise ValueError("ERASER predictions need a text bundle")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    docs = list(docs)
    with out.open("w", encoding="utf-8") as handle:
        for start in progress(range(0, len(docs), chunk), total=-(-len(docs) // chunk), desc="explaining",
                              unit="chunk"):
            part = docs[start:start + chunk]
            for doc, explanation in zip(part, explain_many(bundle, [{"tokens": d.tokens} for d in part],
                                                          faithfulness=True)):
                handle.write(json.dumps(prediction_line(doc, explanation)) + "\n")
    logger.info("%d predictions written to %s", len(docs), out)
    return len(docs)


def read_predictions(path: str | Path, gold: list[GoldDocument]) -> dict[str, dict[str, Any]]:
    """Parse and check a prediction file against the gold documents; refuses missing fields,
    spans outside a document, unknown documents and duplicate annotation ids, naming the line."""
    path = Path(path)
    by_id = {doc.annotation_id: doc for doc in gold}
    predictions: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue

        def fail(message: str) -> DataError:
            return DataError(path, message, lineno)

        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(f"not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise fail("expected a JSON object")
        for key in ("annotation_id", "rationales", "classification", "classification_scores"):
            if key not in item:
                raise fail(f"missing field {key!r}")
        annotation_id = str(item["annotation_id"])
        if annotation_id in predictions:
            raise fail(f"duplicate annotation_id {annotation_id!r}")
        doc = by_id.get(annotation_id)
        if doc is None:
            raise fail(f"annotation_id {annotation_id!r} is not in the gold split")
        bits = [0] * len(doc.tokens)
        soft = None
        for rationale in item["rationales"]:
            if rationale.get("docid") != doc.docid:
                raise fail(f"docid {rationale.get('docid')!r} does not belong to {annotation_id!r} "
                           f"(expected {doc.docid!r})")
            if "hard_rationale_predictions" not in rationale:
                raise fail("missing field 'hard_rationale_predictions'")
            for span in rationale["hard_rationale_predictions"]:
                try:
                    start, end = int(span["start_token"]), int(span["end_token"])
                except (KeyError, TypeError, ValueError):
                    raise fail("a hard rationale span needs integer 'start_token' and 'end_token'") from None
                if not 0 <= start < end <= len(doc.tokens):
                    raise fail(f"span [{start}, {end}) lies outside document {doc.docid!r} "
                               f"({len(doc.tokens)} tokens)")
                bits[start:end] = [1] * (end - start)
            if "soft_rationale_predictions" in rationale:
                soft = rationale["soft_rationale_predictions"]
                if not isinstance(soft, list) or len(soft) != len(doc.tokens):
                    raise fail(f"soft_rationale_predictions has {len(soft) if isinstance(soft, list) else 'no'} "
                               f"scores for {len(doc.tokens)} tokens")
        scores = item["classification_scores"]
        if not isinstance(scores, dict) or item["classification"] not in scores:
            raise fail("classification_scores must map every class, including the predicted one, to a score")
        if LEGACY_COMPREHENSIVENESS_KEY in item:
            if COMPREHENSIVENESS_KEY in item:
                raise fail(f"both {COMPREHENSIVENESS_KEY} and {LEGACY_COMPREHENSIVENESS_KEY}: give one")
            item = {**item, COMPREHENSIVENESS_KEY: item.pop(LEGACY_COMPREHENSIVENESS_KEY)}
        for key in (COMPREHENSIVENESS_KEY, SUFFICIENCY_KEY):
            if key in item and set(item[key]) != set(scores):
                raise fail(f"{key} names other classes than classification_scores")
        predictions[annotation_id] = {**item, "bits": bits, "soft": soft}
    return predictions


def score(predictions: dict[str, dict[str, Any]], gold: list[GoldDocument]) -> dict[str, Any]:
    """Every score over the gold documents that have a prediction (their count is reported).

    Token micro P/R/F1 (:func:`n2r.metrics.rationale_prf`), token macro F1
    (:func:`~n2r.metrics.macro_token_prf`), IOU F1 at 0.5 (:func:`~n2r.metrics.iou_prf`), AUPRC
    (mean per-document :func:`~n2r.metrics.average_precision` over documents with gold tokens,
    when every line has soft scores), comprehensiveness and sufficiency
    (:func:`~n2r.metrics.comprehensiveness`, :func:`~n2r.metrics.sufficiency`, with ŷ the
    predicted class), accuracy, and :func:`~n2r.metrics.expected_random_prf` at the same
    per-document selection counts.
    """
    docs = [doc for doc in gold if doc.annotation_id in predictions]
    if not docs:
        raise ValueError("no prediction matches a gold document")
    preds = [predictions[doc.annotation_id] for doc in docs]
    pred_bits = [p["bits"] for p in preds]
    golds = [doc.rationale for doc in docs]
    flat_pred = torch.tensor([b for bits in pred_bits for b in bits])
    flat_gold = torch.tensor([b for bits in golds for b in bits])
    precision, recall, f1 = rationale_prf(flat_pred, flat_gold, torch.ones_like(flat_gold))
    macro_p, macro_r, macro_f1 = macro_token_prf(pred_bits, golds)
    out: dict[str, Any] = {
        "documents": len(docs), "gold_documents": len(gold),
        "sparsity": float(flat_pred.float().mean()), "gold_sparsity": float(flat_gold.float().mean()),
        "token_micro": {"precision": precision, "recall": recall, "f1": f1},
        "token_macro": {"precision": macro_p, "recall": macro_r, "f1": macro_f1},
        "iou_0.5": iou_prf([spans_of(b) for b in pred_bits], [spans_of(g) for g in golds], 0.5),
        "random_same_sparsity": expected_random_prf([sum(b) for b in pred_bits], [sum(g) for g in golds],
                                                    [len(g) for g in golds]),
    }
    names = sorted(preds[0]["classification_scores"])
    labels = torch.tensor([doc.label for doc in docs])
    name_to_index = {name: i for i, name in enumerate(class_names(len(names)))}
    predicted = torch.tensor([name_to_index.get(p["classification"], -1) for p in preds])
    out["accuracy"] = accuracy(predicted, labels)
    if all(p["soft"] is not None for p in preds):
        aps = [average_precision(p["soft"], g) for p, g in zip(preds, golds)]
        aps = [a for a in aps if not math.isnan(a)]
        out["auprc"] = sum(aps) / len(aps) if aps else float("nan")
    if all(COMPREHENSIVENESS_KEY in p and SUFFICIENCY_KEY in p for p in preds):
        order = list(class_names(len(names)))

        def matrix(key: str) -> torch.Tensor:
            return torch.tensor([[float(p[key][c]) for c in order] for p in preds])

        full = matrix("classification_scores")
        out["comprehensiveness"] = comprehensiveness(full, matrix(COMPREHENSIVENESS_KEY), predicted)
        out["sufficiency"] = sufficiency(full, matrix(SUFFICIENCY_KEY), predicted)
    return out


def format_scores(scores: dict[str, Any]) -> str:
    def prf(d: dict[str, float]) -> str:
        return f"P {d['precision']:.4f}  R {d['recall']:.4f}  F1 {d['f1']:.4f}"

    lines = [f"documents scored     {scores['documents']} of {scores['gold_documents']}",
             f"sparsity             {scores['sparsity']:.4f}   (gold rationales {scores['gold_sparsity']:.4f})",
             f"token micro          {prf(scores['token_micro'])}",
             f"token macro          {prf(scores['token_macro'])}",
             f"IOU F1 @0.5 micro    {prf(scores['iou_0.5']['micro'])}",
             f"IOU F1 @0.5 macro    {prf(scores['iou_0.5']['macro'])}",
             f"random, same counts  {prf(scores['random_same_sparsity'])}",
             f"accuracy             {scores['accuracy']:.4f}"]
    for key in ("auprc", "comprehensiveness", "sufficiency"):
        if key in scores:
            lines.append(f"{key:<21}{scores[key]:.4f}")
    return "\n".join(lines)
