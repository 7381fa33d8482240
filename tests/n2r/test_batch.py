"""Collating text batches (n2r/batch.py)."""
import pytest
import torch

from n2r.batch import collate_text


def test_collate_pads_to_the_batch_maximum_and_checks_alignment():
    batch = collate_text([{"input_ids": [5, 6, 7], "label": 1, "rationale": [0, 1, 0]},
                          {"input_ids": [8], "label": 0, "rationale": [1]}], pad_id=9)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 9, 9]]
    assert batch.attention_mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.rationale.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert torch.equal(batch.unit_mask, batch.attention_mask)
    partial = collate_text([{"input_ids": [5], "label": 1, "rationale": [1]}, {"input_ids": [6], "label": 0}])
    assert partial.rationale is None  # a batch is annotated only when every example is
    with pytest.raises(ValueError, match="example 0 has 2 rationale bits for 1 ids"):
        collate_text([{"input_ids": [5], "label": 1, "rationale": [1, 0]}])
    with pytest.raises(ValueError, match="an example has no tokens"):
        collate_text([{"input_ids": [], "label": 1}])
