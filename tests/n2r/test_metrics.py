"""Metrics on hand-computed cases."""
import math

import pytest
import torch

from n2r.metrics import (RationaleCounts, accuracy, auroc, average_precision, comprehensiveness, macro_token_f1,
                         rationale_prf, selection_sparsity, sufficiency)


def test_micro_prf_counts_over_all_units():
    pred = torch.tensor([[1, 1, 0, 0, 1], [0, 1, 0, 0, 0]])
    gold = torch.tensor([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0]])
    valid = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    # tp = 2 + 1, fp = 1, fn = 1 + 1 → P = 3/4, R = 3/5, F1 = 2/3
    p, r, f = rationale_prf(pred, gold, valid)
    assert (p, r) == (pytest.approx(0.75), pytest.approx(0.6))
    assert f == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_padding_is_never_counted():
    pred = torch.tensor([[1, 0, 1]])
    gold = torch.tensor([[1, 0, 1]])
    valid = torch.tensor([[1, 1, 0]])  # the third position is padding
    assert rationale_prf(pred, gold, valid) == (1.0, 1.0, 1.0)
    assert selection_sparsity(pred, valid) == pytest.approx(0.5)


def test_counts_accumulate_across_batches_like_one_batch():
    counts = RationaleCounts()
    counts.add(torch.tensor([1, 0]), torch.tensor([1, 1]), torch.tensor([1, 1]))
    counts.add(torch.tensor([1, 1]), torch.tensor([0, 1]), torch.tensor([1, 1]))
    # tp 2, fp 1, fn 1 → P = R = F1 = 2/3; sparsity 3/4
    assert counts.precision() == pytest.approx(2 / 3)
    assert counts.recall() == pytest.approx(2 / 3)
    assert counts.f1() == pytest.approx(2 / 3)
    assert counts.sparsity() == pytest.approx(0.75)


def test_empty_selection_has_zero_precision_not_nan():
    p, r, f = rationale_prf(torch.zeros(4), torch.tensor([1, 0, 0, 0]), torch.ones(4))
    assert (p, r, f) == (0.0, 0.0, 0.0)


def test_eraser_macro_token_f1():
    # doc 1: P = 1, R = 1/2 → F1 = 2/3; doc 2: nothing right → 0; mean = 1/3
    assert macro_token_f1([[1, 0], [0, 0]], [[1, 1], [1, 0]]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        macro_token_f1([[1]], [[1], [0]])


def test_comprehensiveness_and_sufficiency():
    p_full = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    p_without = torch.tensor([[0.6, 0.4], [0.4, 0.6]])
    p_only = torch.tensor([[0.7, 0.3], [0.1, 0.9]])
    y_hat = torch.tensor([0, 1])
    assert comprehensiveness(p_full, p_without, y_hat) == pytest.approx((0.2 + 0.1) / 2)
    assert sufficiency(p_full, p_only, y_hat) == pytest.approx((0.1 - 0.2) / 2)


def test_accuracy():
    assert accuracy(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 0])) == 0.5


def test_auroc_plain_and_with_ties():
    assert auroc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == pytest.approx(0.75)
    # positives {0.5, 0.9}, negatives {0.5, 0.5}: 0.9 beats both (2), 0.5 ties both (2 × 0.5) → 3/4
    assert auroc(torch.tensor([0.5, 0.5, 0.5, 0.9]), torch.tensor([0, 1, 0, 1])) == pytest.approx(0.75)
    assert math.isnan(auroc(torch.tensor([0.1, 0.2]), torch.tensor([1, 1])))


def test_average_precision_with_tied_scores_entering_together():
    # 0.9: TP 1 of 1 chosen, R ½ → ½·1; 0.8 (two tied): TP 2 of 3 chosen, R 1 → ½·⅔; 0.3: R stays 1
    # (torchmetrics counts in float32: the exact value to ~1e-7)
    assert average_precision([0.9, 0.8, 0.8, 0.3], [1, 0, 1, 0]) == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-6)
    assert average_precision([0.2, 0.7], [0, 1]) == pytest.approx(1.0)
    assert math.isnan(average_precision([0.2, 0.7], [0, 0]))
    with pytest.raises(ValueError, match="lengths differ"):
        average_precision([0.2], [0, 1])
