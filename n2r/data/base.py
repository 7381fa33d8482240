"""What every reader shares: the error type, the result container and small split helpers.

A reader returns a :class:`ReadResult`: rows per split (text rows in the canonical schema
``{id, split, label, tokens, rationale}`` or PyG ``Data`` graphs), the counted skips (items
the literature drops, e.g. neutral Beer scores — never a silent drop), and a ``variant`` label
that must accompany any number reported on the data.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

SPLITS = ("train", "dev", "test")


class DataError(ValueError):
    """Malformed input; the message starts with ``file:line`` (or the file) and says what is wrong."""

    def __init__(self, where: str | Path, message: str, line: int | None = None):
        location = f"{where}:{line}" if line is not None else str(where)
        super().__init__(f"{location}: {message}")


@dataclass
class ReadResult:
    splits: dict[str, list]
    variant: str
    skipped: Counter = field(default_factory=Counter)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetSpec:
    """A registered data set: ``read(path, **options)`` → :class:`ReadResult`.

    ``kind`` is ``text`` or ``graph``; ``description`` is what ``n2r data list`` prints;
    ``generated`` sets need no path; ``has_rationales`` is ``None`` where the files decide;
    ``folder`` is the data set's folder name under a data root (``--data-dir``), where it has a
    conventional one; ``default_path`` is read when no path is given (a hub name, ``hf:NAME``);
    ``text_rule`` is how its raw text was split into tokens (:mod:`n2r.data.text_rules`), which
    a bundle trained on it applies to the raw text it is given.
    """

    kind: str
    read: Callable[..., ReadResult]
    description: str
    generated: bool = False
    has_rationales: bool | None = True
    folder: str | None = None
    default_path: str | None = None
    text_rule: str = "whitespace"


def label_from_score(score: float, low: float = 0.4, high: float = 0.6) -> int | None:
    """Beer/Hotel convention (Lei et al. 2016): ≤ low → 0, ≥ high → 1, otherwise dropped (None)."""
    if score <= low:
        return 0
    if score >= high:
        return 1
    return None


def balance(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Class-balance by seeded downsampling of every larger class to the smallest class's size
    (input order is kept). Classes are visited in label order and a class already at that size is
    kept whole without a draw, so for two classes the kept rows are those of the N2R reference
    loader (``random.seed(seed)``, then ``random.sample`` of the larger class)."""
    by_label: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["label"], []).append(i)
    if not by_label:
        return []
    n = min(len(v) for v in by_label.values())
    rng = random.Random(seed)
    kept: list[int] = []
    for label in sorted(by_label):
        members = by_label[label]
        kept += rng.sample(members, n) if len(members) > n else members
    return [rows[i] for i in sorted(kept)]


def split_rows(rows: Sequence[Any], shares: Sequence[float], seed: int,
               label_of: Callable[[Any], int] | None = None) -> list[list[Any]]:
    """Seeded (stratified when ``label_of`` is given) split into ``len(shares)`` parts; the last
    part takes the remainder. Order inside each part follows the input order."""
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(label_of(row) if label_of else 0, []).append(i)
    rng = random.Random(seed)
    parts: list[list[int]] = [[] for _ in shares]
    for key in sorted(groups):
        idx = groups[key][:]
        rng.shuffle(idx)
        start = 0
        for p, share in enumerate(shares):
            end = len(idx) if p == len(shares) - 1 else start + round(share * len(idx))
            parts[p] += idx[start:end]
            start = end
    return [[rows[i] for i in sorted(part)] for part in parts]


def spans_to_bits(spans: Iterable[Sequence[int]], length: int, where: str | Path, line: int | None) -> list[int]:
    """``[start, end)`` token spans → 0/1 bits; a span outside ``[0, length]`` is an error."""
    bits = [0] * length
    for span in spans:
        if len(span) != 2:
            raise DataError(where, f"span {list(span)} is not [start, end)", line)
        start, end = int(span[0]), int(span[1])
        if not (0 <= start <= end <= length):
            raise DataError(where, f"span [{start}, {end}) lies outside the document of {length} tokens", line)
        for i in range(start, end):
            bits[i] = 1
    return bits


def text_row(id_: str, split: str, label: int, tokens: list[str], rationale: list[int] | None) -> dict[str, Any]:
    return {"id": id_, "split": split, "label": int(label), "tokens": tokens, "rationale": rationale}


def require_file(path: Path, dataset: str) -> Path:
    if not path.is_file():
        raise DataError(path, f"missing file for data set {dataset!r}")
    return path
