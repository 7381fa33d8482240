"""TripAdvisor hotel reviews in the R2A / HotelReview layout used by the rationalization
literature (Location, Service, Cleanliness).

``hotel_<Aspect>.train`` and ``hotel_<Aspect>.dev``: TSV with a header naming at least the
``label`` and ``text`` columns (label 0/1, text lower-cased and space-tokenised). The human
annotations (test set) are ``annotations/hotel_<Aspect>.train`` or ``hotel_<Aspect>.test``:
the same columns plus ``rationale``, one space-separated 0/1 bit per token.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from n2r.data.base import DataError, ReadResult, text_row

ASPECTS = ("Location", "Service", "Cleanliness")


def read_hotel_file(path: Path, split: str, with_rationale: bool) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        needed = ["label", "text"] + (["rationale"] if with_rationale else [])
        missing = [c for c in needed if c not in header]
        if missing:
            raise DataError(path, f"header {header} lacks column(s) {missing}", 1)
        col = {name: header.index(name) for name in needed}
        for lineno, line in enumerate(handle, 2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                raise DataError(path, f"expected {len(header)} TAB-separated fields, found {len(fields)}", lineno)
            try:
                label = int(float(fields[col["label"]]))
            except ValueError:
                raise DataError(path, f"non-numeric label {fields[col['label']]!r}", lineno) from None
            if label not in (0, 1):
                raise DataError(path, f"label {label} is not 0 or 1", lineno)
            tokens = fields[col["text"]].split()
            if not tokens:
                raise DataError(path, "empty text", lineno)
            rationale = None
            if with_rationale:
                raw = fields[col["rationale"]].split()
                if len(raw) != len(tokens):
                    raise DataError(path, f"{len(raw)} rationale bits for {len(tokens)} tokens", lineno)
                if any(b not in ("0", "1") for b in raw):
                    raise DataError(path, "rationale bits must be 0 or 1", lineno)
                rationale = [int(b) for b in raw]
            rows.append(text_row(f"{path.name}:{lineno}", split, label, tokens, rationale))
    return rows


def read_hotel(path: str | Path, aspect: str = "Location") -> ReadResult:
    if aspect not in ASPECTS:
        raise ValueError(f"data.options.aspect: {aspect!r} is not one of {list(ASPECTS)}")
    root = Path(path)
    stem = f"hotel_{aspect}"
    splits = {}
    for split in ("train", "dev"):
        file = root / f"{stem}.{split}"
        if not file.is_file():
            raise DataError(file, "missing file for data set 'hotel'")
        splits[split] = read_hotel_file(file, split, with_rationale=False)
    for candidate in (root / "annotations" / f"{stem}.train", root / f"{stem}.test"):
        if candidate.is_file():
            splits["test"] = read_hotel_file(candidate, "test", with_rationale=True)
            break
    else:
        raise DataError(root / "annotations" / f"{stem}.train", "missing annotation file for data set 'hotel'")
    return ReadResult(splits, variant=f"hotel-{aspect.lower()}", skipped=Counter())
