"""Batches the models consume, and the dynamic-padding collate for text.

Text batches are padded to their own longest input, never to a global maximum. Graph
batches are PyTorch Geometric ``Batch`` objects (units = edges, all real).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

import torch


@dataclass
class TextBatch:
    """``input_ids`` and masks are ``[B, T]``.

    ``attention_mask`` marks non-padding positions; ``unit_mask`` marks the positions a
    rationale may select (non-padding, and for BERT not [CLS]/[SEP]). ``rationale`` holds
    human/planted rationale bits (float 0/1) or is ``None``.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    unit_mask: torch.Tensor
    labels: torch.Tensor
    rationale: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TextBatch":
        return replace(self, **{
            f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
            for f in fields(self) if getattr(self, f.name) is not None
        })

    def pin_memory(self) -> "TextBatch":
        return replace(self, **{
            f.name: getattr(self, f.name).pin_memory()
            for f in fields(self) if getattr(self, f.name) is not None
        })

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def collate_text(examples: Sequence[Mapping[str, Any]], pad_id: int = 0) -> TextBatch:
    """Pad ``input_ids`` (and ``rationale``/``unit_mask`` when given) to the batch maximum.

    Each example has ``input_ids`` and ``label``; optional ``rationale`` (0/1 per id, or None)
    and ``unit_mask`` (0/1 per id; default: every id selectable).
    """
    if not examples:
        raise ValueError("collate_text: empty batch")
    lengths = [len(e["input_ids"]) for e in examples]
    if min(lengths) == 0:
        raise ValueError("collate_text: an example has no tokens")
    batch, width = len(examples), max(lengths)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention = torch.zeros((batch, width), dtype=torch.bool)
    units = torch.zeros((batch, width), dtype=torch.bool)
    has_rationale = all(e.get("rationale") is not None for e in examples)
    rationale = torch.zeros((batch, width), dtype=torch.float32) if has_rationale else None
    for i, (e, n) in enumerate(zip(examples, lengths)):
        ids[i, :n] = torch.as_tensor(e["input_ids"], dtype=torch.long)
        attention[i, :n] = True
        unit = e.get("unit_mask")
        units[i, :n] = True if unit is None else torch.as_tensor(unit, dtype=torch.bool)
        if rationale is not None:
            r = e["rationale"]
            if len(r) != n:
                raise ValueError(f"collate_text: example {i} has {len(r)} rationale bits for {n} ids")
            rationale[i, :n] = torch.as_tensor(r, dtype=torch.float32)
    labels = torch.as_tensor([int(e["label"]) for e in examples], dtype=torch.long)
    return TextBatch(ids, attention, units, labels, rationale)
