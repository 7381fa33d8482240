"""Evaluation metrics as plain functions; each docstring states its formula and source.

Masks are 0/1 tensors of equal shape; ``valid`` marks the units that count (real tokens or
edges) — padding is excluded everywhere, unlike the reference code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass
class RationaleCounts:
    """Micro-averaging accumulator: true/false positives, false negatives, selected and real units."""

    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0
    selected: float = 0.0
    total: float = 0.0

    def add(self, pred: torch.Tensor, gold: torch.Tensor | None, valid: torch.Tensor) -> None:
        """Add one batch. Sums stay on the tensors' device (no host sync) until read."""
        p, v = pred.bool() & valid.bool(), valid.bool()
        self.selected = self.selected + p.sum()
        self.total = self.total + v.sum()
        if gold is not None:
            g = gold.bool() & v
            self.tp = self.tp + (p & g).sum()
            self.fp = self.fp + (p & ~g).sum()
            self.fn = self.fn + (~p & g).sum()

    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    def f1(self) -> float:
        return f1_from(self.precision(), self.recall())

    def sparsity(self) -> float:
        return _ratio(self.selected, self.total)


def _ratio(a, b) -> float:
    a, b = float(a), float(b)
    return a / b if b > 0 else 0.0


def f1_from(precision: float, recall: float) -> float:
    """F1 = 2PR / (P + R), 0 when P + R = 0."""
    return _ratio(2 * precision * recall, precision + recall)


def rationale_prf(pred: torch.Tensor, gold: torch.Tensor, valid: torch.Tensor) -> tuple[float, float, float]:
    """Micro token (or edge/node) precision, recall, F1 against human rationales.

    P = Σ|pred ∧ gold| / Σ|pred|, R = Σ|pred ∧ gold| / Σ|gold|, sums over all units of the
    whole set — the Beer/Hotel convention of Lei et al. (2016) and the N2R evaluation
    (``pred = z > 0.5``).
    """
    counts = RationaleCounts()
    counts.add(pred, gold, valid)
    return counts.precision(), counts.recall(), counts.f1()


def selection_sparsity(pred: torch.Tensor, valid: torch.Tensor) -> float:
    """S = selected real units / real units (the "S" column of Beer tables)."""
    counts = RationaleCounts()
    counts.add(pred, None, valid)
    return counts.sparsity()


def macro_token_prf(preds: Sequence[Sequence[int]], golds: Sequence[Sequence[int]]) -> tuple[float, float, float]:
    """ERASER token-level macro scores (DeYoung et al. 2020): the means over documents of each
    document's token precision, recall and F1 (a document's score is 0 where its denominator is,
    as in ERASER's scorer, which averages over documents that have annotations)."""
    if len(preds) != len(golds):
        raise ValueError(f"macro_token_f1: {len(preds)} predictions for {len(golds)} documents")
    ps, rs, fs = [], [], []
    for p, g in zip(preds, golds):
        pt, gt = torch.as_tensor(p).bool(), torch.as_tensor(g).bool()
        if pt.shape != gt.shape:
            raise ValueError("macro_token_f1: prediction and gold lengths differ")
        tp = float((pt & gt).sum())
        ps.append(_ratio(tp, float(pt.sum())))
        rs.append(_ratio(tp, float(gt.sum())))
        fs.append(f1_from(ps[-1], rs[-1]))
    n = len(fs)
    return (sum(ps) / n, sum(rs) / n, sum(fs) / n) if n else (0.0, 0.0, 0.0)


def macro_token_f1(preds: Sequence[Sequence[int]], golds: Sequence[Sequence[int]]) -> float:
    """ERASER token F1 (DeYoung et al. 2020): mean over documents of each document's token F1
    (see :func:`macro_token_prf`)."""
    return macro_token_prf(preds, golds)[2]


def comprehensiveness(p_full: torch.Tensor, p_without: torch.Tensor, labels: torch.Tensor) -> float:
    """ERASER comprehensiveness (DeYoung et al. 2020): mean_i p(ŷ_i|x_i) − p(ŷ_i|x_i \\ r_i).

    ``p_*`` are class probabilities ``[N, C]``; ``labels`` is ŷ, the class predicted on the full
    input. Higher means the rationale was needed.
    """
    idx = labels.long().unsqueeze(1)
    return float((p_full.gather(1, idx) - p_without.gather(1, idx)).mean())


def sufficiency(p_full: torch.Tensor, p_only: torch.Tensor, labels: torch.Tensor) -> float:
    """ERASER sufficiency (DeYoung et al. 2020): mean_i p(ŷ_i|x_i) − p(ŷ_i|r_i). Lower is better."""
    idx = labels.long().unsqueeze(1)
    return float((p_full.gather(1, idx) - p_only.gather(1, idx)).mean())


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of examples whose predicted class equals the label."""
    if labels.numel() == 0:
        return 0.0
    return float((predicted.long() == labels.long()).float().mean())


def auroc(scores: torch.Tensor, gold: torch.Tensor) -> float:
    """Area under the ROC curve of soft scores vs 0/1 ground truth (e.g. explanation edges):
    AUC = P(score of a random positive > score of a random negative) + ½ P(tie), the Mann–Whitney
    form (Hanley & McNeil 1982). Computed by torchmetrics (``binary_auroc``; it counts in float32,
    so values agree with the exact form to ~1e-7); NaN when only one class is present (undefined)."""
    from torchmetrics.functional.classification import binary_auroc

    s = scores.flatten().double()
    g = gold.flatten().long()
    if int(g.sum()) in (0, g.numel()):
        return float("nan")
    return float(binary_auroc(s, g))


def spans_of(bits: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of selected units as ``[start, end)`` spans (ERASER's span convention)."""
    spans, start = [], None
    for i, bit in enumerate(list(bits) + [0]):
        if bit and start is None:
            start = i
        elif not bit and start is not None:
            spans.append((start, i))
            start = None
    return spans


def iou_prf(preds: Sequence[Sequence[tuple[int, int]]], golds: Sequence[Sequence[tuple[int, int]]],
            threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """ERASER IOU F1 (DeYoung et al. 2020, §4): a predicted span *matches* when its best
    intersection-over-union with a gold span of the same document is ≥ ``threshold``.

    Per document d: TP_d = matched predicted spans, P_d = TP_d / |pred_d|, R_d = TP_d / |gold_d|.
    ``micro``: ΣTP / Σ|pred|, ΣTP / Σ|gold|; ``macro``: means of P_d over documents with
    predictions and of R_d over documents with gold spans; F1 = 2PR / (P + R) of each pair.
    """
    if len(preds) != len(golds):
        raise ValueError(f"iou_prf: {len(preds)} predictions for {len(golds)} documents")
    tps, n_pred, n_gold = [], [], []
    for pred, gold in zip(preds, golds):
        gold_sets = [set(range(a, b)) for a, b in gold]
        matched = 0
        for a, b in pred:
            p = set(range(a, b))
            best = max((len(p & g) / len(p | g) for g in gold_sets if p | g), default=0.0)
            matched += best >= threshold
        tps.append(matched)
        n_pred.append(len(pred))
        n_gold.append(len(gold))
    micro_p, micro_r = _ratio(sum(tps), sum(n_pred)), _ratio(sum(tps), sum(n_gold))
    ps = [t / n for t, n in zip(tps, n_pred) if n]
    rs = [t / n for t, n in zip(tps, n_gold) if n]
    macro_p, macro_r = (sum(ps) / len(ps) if ps else 0.0), (sum(rs) / len(rs) if rs else 0.0)
    return {"micro": {"precision": micro_p, "recall": micro_r, "f1": f1_from(micro_p, micro_r)},
            "macro": {"precision": macro_p, "recall": macro_r, "f1": f1_from(macro_p, macro_r)}}


def average_precision(scores: Sequence[float], gold: Sequence[int]) -> float:
    """Average precision of soft scores against 0/1 gold: AP = Σ_k (R_k − R_{k−1}) P_k over the
    distinct score thresholds, highest first (tied units enter together) — the area under the
    precision–recall curve that ERASER's AUPRC averages over documents. Computed by torchmetrics
    (``binary_average_precision``; float32 counts, ~1e-7 from the exact value); NaN without positives."""
    from torchmetrics.functional.classification import binary_average_precision

    s = torch.as_tensor(list(scores), dtype=torch.float64)
    g = torch.as_tensor(list(gold)).long()
    if s.shape != g.shape:
        raise ValueError("average_precision: scores and gold lengths differ")
    if int(g.sum()) == 0:
        return float("nan")
    return float(binary_average_precision(s, g))


def expected_random_prf(selected: Sequence[int], gold: Sequence[int], lengths: Sequence[int]) -> dict[str, float]:
    """Token P/R/F1 expected from selecting, in each document, the same number of tokens as the
    method did (k_d) uniformly at random: E[TP_d] = k_d·g_d / n_d (hypergeometric mean), so
    P = ΣE[TP] / Σk, R = ΣE[TP] / Σg (micro; ratios of expectations), F1 = 2PR / (P + R).
    This is the "random selection at the same sparsity" reference row."""
    if not len(selected) == len(gold) == len(lengths):
        raise ValueError("expected_random_prf: selected, gold and lengths differ in length")
    tp = sum(k * g / n for k, g, n in zip(selected, gold, lengths) if n)
    p, r = _ratio(tp, sum(selected)), _ratio(tp, sum(gold))
    return {"precision": p, "recall": r, "f1": f1_from(p, r), "sparsity": _ratio(sum(selected), sum(lengths))}
