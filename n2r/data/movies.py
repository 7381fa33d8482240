"""Movie reviews with human rationales (Zaidan, Eisner & Piatko 2007; ERASER "Movies").

Two layouts:
- Zaidan: ``withRats_neg/negR_NNN.txt`` and ``withRats_pos/posR_NNN.txt``, one lower-cased,
  space-tokenised review per file with the annotators' spans inline as ``<NEG> … </NEG>`` /
  ``<POS> … </POS>`` (tags are separate tokens and are removed from the text).
- ERASER: ``docs/<docid>`` (whitespace tokens) and ``{train,val,test}.jsonl`` whose lines carry
  ``annotation_id``, ``classification`` (POS/NEG) and ``evidences`` (token spans per docid).
ERASER's split by file number: 000–799 train, 800–899 validation (here ``dev``), 900–999 test.
A review without any rationale tag is kept with an all-zero rationale and counted.

``dev_from_train`` (a share in (0, 1)) holds out the last files of each class's training files
as ``dev`` and reports on the annotated validation files as ``test`` — for copies without the
test files (900–999), so that model selection never sees the reported split. If the copy has
test files, those stay ``test`` and the validation files are left out (counted in ``skipped``).
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

from n2r.data.base import DataError, ReadResult, spans_to_bits, text_row

TAGS = {"<POS>": "</POS>", "<NEG>": "</NEG>"}
CLOSING = set(TAGS.values())
_NUMBER = re.compile(r"(neg|pos)R_(\d+)\.txt$")


def split_of(number: int) -> str:
    return "train" if number < 800 else "dev" if number < 900 else "test"


def parse_tagged(text: str, where: Path) -> tuple[list[str], list[int]]:
    """Remove inline rationale tags; returns tokens and their 0/1 rationale bits."""
    tokens, bits, open_tag = [], [], None
    for token in text.split():
        if token in TAGS:
            if open_tag is not None:
                raise DataError(where, f"{token} opened inside {open_tag}")
            open_tag = token
        elif token in CLOSING:
            if open_tag is None or TAGS[open_tag] != token:
                raise DataError(where, f"{token} closes {open_tag or 'nothing'}")
            open_tag = None
        else:
            tokens.append(token)
            bits.append(int(open_tag is not None))
    if open_tag is not None:
        raise DataError(where, f"{open_tag} is never closed")
    if not tokens:
        raise DataError(where, "empty review")
    return tokens, bits


def read_zaidan(root: Path, skipped: Counter) -> dict[str, list]:
    splits: dict[str, list] = {"train": [], "dev": [], "test": []}
    for folder, label in (("withRats_neg", 0), ("withRats_pos", 1)):
        directory = root / folder
        if not directory.is_dir():
            raise DataError(directory, "missing folder for data set 'movies' (Zaidan layout)")
        for path in sorted(directory.glob("*.txt")):
            match = _NUMBER.search(path.name)
            if not match:
                raise DataError(path, "unexpected file name (expected negR_NNN.txt or posR_NNN.txt)")
            tokens, bits = parse_tagged(path.read_text(encoding="utf-8"), path)
            split = split_of(int(match.group(2)))
            if not any(bits):
                skipped[f"{split}: kept without rationale tags"] += 1
            splits[split].append(text_row(path.name, split, label, tokens, bits))
    return splits


def read_eraser(root: Path, skipped: Counter) -> dict[str, list]:
    splits: dict[str, list] = {"train": [], "dev": [], "test": []}
    docs = root / "docs"
    for split, name in (("train", "train.jsonl"), ("dev", "val.jsonl"), ("test", "test.jsonl")):
        path = root / name
        if not path.is_file():
            continue
        seen: set[str] = set()
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    annotation_id, cls = item["annotation_id"], item["classification"]
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"not valid JSON ({exc.msg})", lineno) from None
                except KeyError as exc:
                    raise DataError(path, f"missing key {exc.args[0]!r}", lineno) from None
                if annotation_id in seen:
                    raise DataError(path, f"duplicate annotation_id {annotation_id!r}", lineno)
                seen.add(annotation_id)
                label = {"NEG": 0, "POS": 1}.get(str(cls).upper())
                if label is None:
                    raise DataError(path, f"classification {cls!r} is not POS or NEG", lineno)
                evidences = [ev for group in item.get("evidences", []) for ev in group]
                docid = item.get("docids", [None])[0] if item.get("docids") else None
                docid = docid or (evidences[0]["docid"] if evidences else annotation_id)
                doc_path = docs / docid
                if not doc_path.is_file():
                    raise DataError(path, f"document {docid!r} not found in {docs}", lineno)
                tokens = doc_path.read_text(encoding="utf-8").split()
                if not tokens:
                    raise DataError(doc_path, "empty document")
                spans = [(ev["start_token"], ev["end_token"]) for ev in evidences if ev.get("docid", docid) == docid]
                bits = spans_to_bits(spans, len(tokens), path, lineno)
                if not any(bits):
                    skipped[f"{split}: kept without evidence"] += 1
                row = text_row(str(annotation_id), split, label, tokens, bits)
                row["docid"] = docid           # ERASER predictions name both (not cached)
                splits[split].append(row)
    if not any(splits.values()):
        raise DataError(root, "no train.jsonl, val.jsonl or test.jsonl (ERASER layout)")
    return splits


def hold_out_dev(splits: dict[str, list], share: float, skipped: Counter) -> dict[str, list]:
    """``dev`` = the last ``⌈share·n⌉`` training rows of each label (file order); the former
    ``dev`` (validation) becomes ``test`` unless the copy has its own test rows."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"data.options.dev_from_train: must lie in (0, 1), got {share!r}")
    train, dev = [], []
    for label in sorted({r["label"] for r in splits["train"]}):
        rows = [r for r in splits["train"] if r["label"] == label]
        cut = len(rows) - max(1, math.ceil(share * len(rows)))
        train += rows[:cut]
        dev += [{**r, "split": "dev"} for r in rows[cut:]]
    test = splits["test"]
    if test:
        skipped["validation files left out (dev_from_train; the copy has test files)"] += len(splits["dev"])
    else:
        test = [{**r, "split": "test"} for r in splits["dev"]]
    return {"train": train, "dev": dev, "test": test}


def read_movies(path: str | Path, max_tokens: int | None = None,
                dev_from_train: float | None = None) -> ReadResult:
    """Zaidan layout if ``withRats_*`` folders exist, else ERASER layout (``docs/`` + jsonl)."""
    root = Path(path)
    skipped: Counter = Counter()
    if (root / "withRats_neg").is_dir() or (root / "withRats_pos").is_dir():
        splits, layout = read_zaidan(root, skipped), "zaidan"
    elif (root / "docs").is_dir():
        splits, layout = read_eraser(root, skipped), "eraser"
    else:
        raise DataError(root, "neither the Zaidan layout (withRats_neg/, withRats_pos/) nor ERASER's (docs/)")
    variant = f"movies-{layout}"
    if dev_from_train:
        splits = hold_out_dev(splits, float(dev_from_train), skipped)
        variant += f"-dev{dev_from_train:g}oftrain"
    if max_tokens:
        splits = {s: [{**r, "tokens": r["tokens"][:max_tokens], "rationale": r["rationale"][:max_tokens]}
                      for r in rows] for s, rows in splits.items()}
    return ReadResult(splits, variant=variant, skipped=skipped)
