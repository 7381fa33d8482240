"""BeerAdvocate multi-aspect reviews (Lei, Barzilay & Jaakkola 2016) and their test annotations.

Review files ``reviews.aspect{A}.{train,heldout}.txt[.gz]``: five scores in [0, 1]
(appearance, aroma, palate, taste, overall), a TAB, the lower-cased space-tokenised text.
``annotations.json``: one JSON object per line with ``x`` (tokens), ``y`` (five scores) and
``"0"`` … ``"4"`` (per-aspect ``[start, end)`` token spans).

Conventions of the literature, applied here: label 0 for an aspect score ≤ 0.4, 1 for ≥ 0.6,
others dropped (counted); training data class-balanced by seeded downsampling (seed 20226666,
as the N2R reference); texts cut at 256 tokens; annotation items with no span for the aspect
skipped (counted).

Variants:
- ``beer``: official train file → train, heldout → dev, annotations → test.
- ``beer-heldout-split``: the official train files are not always available; the heldout file
  is split (seed 0, stratified by label) into 80 % training pool (then balanced) and 20 % dev;
  test = annotations. Numbers on it are labelled ``beer-heldout-split``. Option
  ``split: file_order`` takes the first 80 % of the labelled reviews in file order instead.
"""
from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

from n2r.data.base import (DataError, ReadResult, balance, label_from_score, require_file, spans_to_bits,
                           split_rows, text_row)

ASPECTS = {0: "appearance", 1: "aroma", 2: "palate"}
BALANCE_SEED = 20226666
HELDOUT_TRAIN_SHARE = 0.8
HELDOUT_SPLIT_SEED = 0
HELDOUT_SPLITS = ("stratified", "file_order")


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DataError(root / f"{stem}.gz", "missing file for data set 'beer'")


def read_review_file(path: Path, aspect: int, split: str, max_tokens: int, skipped: Counter) -> list[dict[str, Any]]:
    """Parse the Lei et al. line format; malformed lines raise with ``file:line``."""
    rows = []
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                raise DataError(path, "empty line", lineno)
            head, tab, text = line.partition("\t")
            if not tab:
                raise DataError(path, "no TAB between the scores and the text", lineno)
            parts = head.split()
            if len(parts) != 5:
                raise DataError(path, f"expected 5 scores before the TAB, found {len(parts)}", lineno)
            try:
                scores = [float(p) for p in parts]
            except ValueError:
                raise DataError(path, f"non-numeric score in {head!r}", lineno) from None
            tokens = text.split()
            if not tokens:
                raise DataError(path, "empty review text", lineno)
            label = label_from_score(scores[aspect])
            if label is None:
                skipped[f"{split}: neutral aspect score"] += 1
                continue
            rows.append(text_row(f"{path.name}:{lineno}", split, label, tokens[:max_tokens], None))
    return rows


def read_annotations(path: Path, aspect: int, max_tokens: int, skipped: Counter) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            try:
                item = json.loads(line)
                tokens, scores, spans = item["x"], item["y"], item[str(aspect)]
            except json.JSONDecodeError as exc:
                raise DataError(path, f"not valid JSON ({exc.msg})", lineno) from None
            except KeyError as exc:
                raise DataError(path, f"missing key {exc.args[0]!r}", lineno) from None
            if not tokens:
                raise DataError(path, "empty token list", lineno)
            if not spans:
                skipped["test: no annotation for the aspect"] += 1
                continue
            label = label_from_score(float(scores[aspect]))
            if label is None:
                skipped["test: neutral aspect score"] += 1
                continue
            bits = spans_to_bits(spans, len(tokens), path, lineno)
            # a few tokens carry surrounding whitespace (e.g. "\xa0just"); stripped in place, so the
            # spans keep their positions (as the N2R reference reads them)
            tokens = [t.strip() for t in tokens[:max_tokens]]
            rows.append(text_row(f"annotations:{lineno}", "test", label, tokens, bits[:max_tokens]))
    return rows


def read_beer(path: str | Path, aspect: int = 0, max_tokens: int = 256, balance_train: bool = True) -> ReadResult:
    root = Path(path)
    _check_aspect(aspect)
    skipped: Counter = Counter()
    train = read_review_file(_find(root, f"reviews.aspect{aspect}.train.txt"), aspect, "train", max_tokens, skipped)
    dev = read_review_file(_find(root, f"reviews.aspect{aspect}.heldout.txt"), aspect, "dev", max_tokens, skipped)
    test = read_annotations(require_file(root / "annotations.json", "beer"), aspect, max_tokens, skipped)
    if balance_train:
        before = len(train)
        train = balance(train, BALANCE_SEED)
        skipped["train: class balancing"] += before - len(train)
    return ReadResult({"train": train, "dev": dev, "test": test}, variant=f"beer-aspect{aspect}", skipped=skipped)


def read_beer_heldout_split(path: str | Path, aspect: int = 0, max_tokens: int = 256,
                            balance_train: bool = True, split: str = "stratified") -> ReadResult:
    """``split``: ``stratified`` (seeded, by label) or ``file_order`` (the first ⌊80 %⌋ of the
    labelled reviews in file order are the training pool, the rest dev — the data the parity runs
    fed the reference code: 3,308 balanced training and 1,747 dev reviews for aspect 0)."""
    root = Path(path)
    _check_aspect(aspect)
    if split not in HELDOUT_SPLITS:
        raise ValueError(f"data.options.split: {split!r} is not one of {list(HELDOUT_SPLITS)}")
    skipped: Counter = Counter()
    source = _find(root, f"reviews.aspect{aspect}.heldout.txt")
    heldout = read_review_file(source, aspect, "heldout", max_tokens, skipped)
    if split == "file_order":
        cut = int(HELDOUT_TRAIN_SHARE * len(heldout))
        train, dev = heldout[:cut], heldout[cut:]
    else:
        train, dev = split_rows(heldout, [HELDOUT_TRAIN_SHARE, 1 - HELDOUT_TRAIN_SHARE], HELDOUT_SPLIT_SEED,
                                label_of=lambda r: r["label"])
    train = [{**r, "split": "train"} for r in train]
    dev = [{**r, "split": "dev"} for r in dev]
    if balance_train:
        before = len(train)
        train = balance(train, BALANCE_SEED)
        skipped["train: class balancing"] += before - len(train)
    test = read_annotations(require_file(root / "annotations.json", "beer"), aspect, max_tokens, skipped)
    return ReadResult({"train": train, "dev": dev, "test": test},
                      variant=f"beer-heldout-split-aspect{aspect}", skipped=skipped,
                      info={"heldout_train_share": HELDOUT_TRAIN_SHARE, "split": split,
                            **({"split_seed": HELDOUT_SPLIT_SEED} if split == "stratified" else {})})



def _check_aspect(aspect: int) -> None:
    if aspect not in ASPECTS:
        raise ValueError(f"data.options.aspect: {aspect!r} is not one of {sorted(ASPECTS)}")
