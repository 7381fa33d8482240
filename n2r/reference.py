"""Reference-compatible mode: every documented difference from the authors' code, switchable back.

The N2R reference implementation (Liu et al., ICLR 2025; public repository
"Rationalization-N2R") differs from this project's defaults in a few places. Each difference is
one configuration field; :data:`REFERENCE_SETTINGS` lists the field, the reference's value and what
it does. :func:`reference_compatible` returns a configuration with all of them set, which
``benchmarks/parity.py`` runs beside the authors' code on identical weights, batches and noise.

Two differences have no switch because they change nothing numerically:

- unknown words: the reference maps them to id 0, the padding id, but keeps them as real
  tokens (mask 1); here they have their own id. Both ids carry a zero vector of the frozen table,
  so every forward and backward value is identical (the parity test feeds the reference id 0).
- class balancing draws the same reviews as the reference (:func:`n2r.data.base.balance`).

Evaluation is not switched: metrics never count padding (the reference counts a sampled padding
position as a false positive); ``model.eval_selection: sample`` gives its sampled masks.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from n2r.config import RunConfig


@dataclass(frozen=True)
class Setting:
    field: str          # dotted configuration field
    reference: object   # the value that reproduces the reference code
    what: str           # what the reference does


REFERENCE_SETTINGS: tuple[Setting, ...] = (
    Setting("objective.padding_in_penalties", True,
            "Ω_s counts sampled padding positions as selected; Ω_c is a mean over all B×(T−1) neighbour pairs"),
    Setting("model.gru_reads_padding", True,
            "each BiGRU's backward direction reads the padding before the text"),
    Setting("train.pad_to", 256, "every batch is padded to 256 positions"),
    Setting("train.bucket_window", 0, "plain shuffled batches, no length bucketing"),
    Setting("objective.ce_weight", 0.9, "step 1's cross-entropy is scaled by 0.9 (cls_lambda, every objective)"),
    Setting("model.eval_selection", "sample", "evaluation masks are Gumbel samples"),
)


def reference_compatible(cfg: RunConfig, pad_to: int = 256) -> RunConfig:
    """A copy of ``cfg`` with every :data:`REFERENCE_SETTINGS` field at its reference value
    (``pad_to`` replaces 256 where texts are cut elsewhere). Coefficients are left alone."""
    out = copy.deepcopy(cfg)
    for setting in REFERENCE_SETTINGS:
        section, name = setting.field.split(".")
        value = pad_to if setting.field == "train.pad_to" else setting.reference
        setattr(getattr(out, section), name, value)
    return RunConfig.from_dict(out.to_dict())
