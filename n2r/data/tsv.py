"""Tab-separated classification sets without rationales: SST-2 and AG News.

- ``sst2``: ``train.tsv``, ``dev.tsv``, ``test.tsv`` with a ``sentence<TAB>label`` header,
  label 0/1, text already lower-cased and tokenised (split on spaces).
- ``agnews``: ``{train,dev,test}.tsv`` without header, ``text<TAB>label`` with labels World,
  Sports, Business, Sci/Tech (→ 0–3); raw text, tokenised by :func:`simple_tokenize`. Without a
  ``train.tsv`` the ``dev.tsv`` file is split (seed 0, stratified) into 90 % train / 10 % dev —
  the variant ``agnews-dev-split``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable

from n2r.data.base import DataError, ReadResult, require_file, split_rows, text_row
from n2r.data.text_rules import simple_tokenize

AGNEWS_LABELS = {"World": 0, "Sports": 1, "Business": 2, "Sci/Tech": 3}


def read_tsv(path: Path, split: str, header: list[str] | None, parse_label: Callable[[str], int | None],
             tokenize: Callable[[str], list[str]]) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.rstrip("\n").split("\t")
            if lineno == 1 and header is not None:
                if fields != header:
                    raise DataError(path, f"expected the header {header}, found {fields}", lineno)
                continue
            if len(fields) != 2:
                raise DataError(path, f"expected 2 TAB-separated fields, found {len(fields)}", lineno)
            text, raw_label = fields
            label = parse_label(raw_label.strip())
            if label is None:
                raise DataError(path, f"unknown label {raw_label!r}", lineno)
            tokens = tokenize(text)
            if not tokens:
                raise DataError(path, "empty text", lineno)
            rows.append(text_row(f"{path.name}:{lineno}", split, label, tokens, None))
    return rows


def _int_label(allowed: set[int]) -> Callable[[str], int | None]:
    def parse(raw: str) -> int | None:
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if value in allowed else None

    return parse


def read_sst2(path: str | Path) -> ReadResult:
    root = Path(path)
    splits = {s: read_tsv(require_file(root / f"{s}.tsv", "sst2"), s, ["sentence", "label"], _int_label({0, 1}),
                          str.split) for s in ("train", "dev", "test")}
    return ReadResult(splits, variant="sst2")


def read_agnews(path: str | Path) -> ReadResult:
    root = Path(path)
    parse = AGNEWS_LABELS.get
    test = read_tsv(require_file(root / "test.tsv", "agnews"), "test", None, parse, simple_tokenize)
    dev = read_tsv(require_file(root / "dev.tsv", "agnews"), "dev", None, parse, simple_tokenize)
    if (root / "train.tsv").is_file():
        train = read_tsv(root / "train.tsv", "train", None, parse, simple_tokenize)
        variant = "agnews"
    else:
        train, dev = split_rows(dev, [0.9, 0.1], seed=0, label_of=lambda r: r["label"])
        train = [{**r, "split": "train"} for r in train]
        variant = "agnews-dev-split"
    return ReadResult({"train": train, "dev": dev, "test": test}, variant=variant, skipped=Counter())
