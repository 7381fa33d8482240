"""Hugging Face ``datasets`` as a data source: a folder written by ``Dataset.save_to_disk`` /
``DatasetDict.save_to_disk``, or a hub name ``hf:NAME[:CONFIG]`` (``datasets.load_dataset``).

Columns are mapped into the canonical text rows (``id, split, label, tokens, rationale``) by
options: ``text`` (a string column, split on whitespace) or ``tokens`` (a list-of-strings column),
``label`` (integers or a ``ClassLabel``), and optionally ``rationale`` — a 0/1 token mask of the
tokens' length, or a list of ``[start, end)`` token spans (``rationale_format: mask | spans``).
Splits ``train``/``validation`` (or ``dev``)/``test`` map to train/dev/test; ``dev_from_train``
takes a seeded, label-stratified share of the training rows as dev when the source has no
validation split; ``split_map`` renames or leaves out source splits. The
columns are read from the datasets' Arrow tables (no pandas round trip). Every missing or
malformed column is refused naming the column, the split and, for a bad row, its index.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from n2r.data.base import DataError, ReadResult, spans_to_bits, split_rows, text_row

HUB_PREFIX = "hf:"
SPLIT_NAMES = {"train": "train", "validation": "dev", "dev": "dev", "test": "test"}
DEV_SPLIT_SEED = 0      # dev_from_train: a seeded sample of the training rows, stratified by label


def load_source(path: str | Path) -> dict[str, Any]:
    """``{split name: datasets.Dataset}`` from a saved folder or a hub name."""
    import datasets

    source = str(path)
    if source.startswith(HUB_PREFIX):
        name, _, config = source[len(HUB_PREFIX):].partition(":")
        if _offline():
            raise DataError(source, "the Hugging Face hub is offline here (HF_HUB_OFFLINE); download the data set "
                            "where there is a network, save it with DatasetDict.save_to_disk and pass that folder "
                            "(--from FOLDER or data.path)")
        try:
            loaded = datasets.load_dataset(name, config or None)
        except Exception as exc:  # noqa: BLE001 - every hub failure is reported the same way
            raise DataError(source, f"cannot load from the hub ({type(exc).__name__}: {exc}); pass a folder "
                            "written by save_to_disk instead (--from FOLDER)") from None
    else:
        folder = Path(source)
        if not (folder / "dataset_dict.json").is_file() and not (folder / "dataset_info.json").is_file():
            raise DataError(folder, "not a folder written by datasets' save_to_disk (no dataset_dict.json or "
                            "dataset_info.json)")
        loaded = datasets.load_from_disk(str(folder))
    return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


RATIONALE_FORMATS = ("mask", "spans", "evidence")


def read_hf(path: str | Path, text: str | None = "text", tokens: str | None = None, label: str = "label",
            rationale: str | None = None, rationale_format: str = "mask", dev_from_train: float | None = None,
            split_map: dict[str, str | None] | None = None, max_tokens: int = 256) -> ReadResult:
    """``split_map`` names what each source split becomes (``train``/``dev``/``test``, or ``None``
    to leave it out — e.g. a test split without public labels); ``rationale_format: evidence``
    reads a list of evidence strings and marks where each one's tokens occur (in document order)."""
    if rationale_format not in RATIONALE_FORMATS:
        raise ValueError(f"data.options.rationale_format: {rationale_format!r} is not one of {list(RATIONALE_FORMATS)}")
    sources = load_source(path)
    mapping = dict(SPLIT_NAMES if split_map is None else split_map)
    unknown = sorted(set(sources) - set(mapping))
    if unknown:
        raise DataError(path, f"split {unknown[0]!r} has no meaning here (known: {', '.join(mapping)}); "
                        "name it in data.options.split_map (null leaves it out)")
    bad = {v for v in mapping.values() if v not in ("train", "dev", "test", None)}
    if bad:
        raise ValueError(f"data.options.split_map: {sorted(bad)[0]!r} is not train, dev, test or null")
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "dev": [], "test": []}
    for name, dataset in sources.items():
        split = mapping[name]
        if split is None:
            continue
        splits[split] += _rows(dataset, f"{path} [{name}]", name, split, text, tokens, label, rationale,
                               rationale_format, max_tokens)
    if dev_from_train is not None:
        if splits["dev"]:
            raise DataError(path, "data.options.dev_from_train: the source has its own validation split")
        if not 0.0 < dev_from_train < 1.0:
            raise ValueError(f"data.options.dev_from_train: {dev_from_train!r} must lie in (0, 1)")
        train, dev = split_rows(splits["train"], [1 - dev_from_train, dev_from_train], DEV_SPLIT_SEED,
                                label_of=lambda r: r["label"])
        splits["train"], splits["dev"] = train, [{**r, "split": "dev"} for r in dev]
    for split in ("train", "dev", "test"):
        if not splits[split]:
            raise DataError(path, f"no {split} rows (splits present: {sorted(sources)}; "
                            + ("use data.options.dev_from_train" if split == "dev" else "save one") + ")")
    return ReadResult(splits, variant=f"hf:{Path(str(path)).name}")


# Registered presets: name → (hub name used when no folder is given, column mapping, description,
# whether the rows carry rationales). A folder saved from the same hub data set works the same way.
PRESETS: dict[str, tuple[str, dict[str, Any], str, bool]] = {
    "hf-imdb": ("hf:imdb", {"split_map": {"train": "train", "test": "test", "unsupervised": None},
                            "dev_from_train": 0.1},
                "IMDB reviews (hub imdb); dev a 10 % sample of train", False),
    "hf-rotten-tomatoes": ("hf:rotten_tomatoes", {}, "Rotten Tomatoes sentences (hub rotten_tomatoes)", False),
    "hf-sst2": ("hf:glue:sst2", {"text": "sentence", "split_map": {"train": "train", "validation": "test", "test": None},
                                 "dev_from_train": 0.1},
                "GLUE SST-2: GLUE's validation set is the test split (its test labels are hidden)", False),
    "hf-ag-news": ("hf:ag_news", {"dev_from_train": 0.1}, "AG News, 4 classes (model.num_classes: 4)", False),
    "hf-movie-rationales": ("hf:movie_rationales", {"text": "review", "rationale": "evidences",
                                                    "rationale_format": "evidence"},
                            "ERASER movie reviews; evidence strings → token masks", True),
}


def preset_reader(name: str):
    """``read(path, **options)`` of a preset: its mapping, overridable by ``options``."""
    hub, defaults, _, _ = PRESETS[name]

    def read(path: str | Path | None = None, **options: Any) -> ReadResult:
        return read_hf(path or hub, **{**defaults, **options})

    read.__name__ = f"read_{name.replace('-', '_')}"
    return read


def _column(table: pa.Table, name: str, where: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataError(where, f"no column {name!r} (columns: {', '.join(table.column_names)}); map yours with "
                        "data.options (text, tokens, label, rationale)")
    return table.column(name)


def _rows(dataset, where: str, source: str, split: str, text: str | None, tokens: str | None, label: str,
          rationale: str | None, rationale_format: str, max_tokens: int) -> list[dict[str, Any]]:
    table: pa.Table = dataset.data.table
    if tokens is not None:
        words = _column(table, tokens, where)
        if not pa.types.is_list(words.type) or not pa.types.is_string(words.type.value_type):
            raise DataError(where, f"column {tokens!r} must hold lists of strings, not {words.type}")
    else:
        if text is None:
            raise ValueError("data.options: give text (a string column) or tokens (a list-of-strings column)")
        column = _column(table, text, where)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            raise DataError(where, f"column {text!r} must hold strings, not {column.type}")
        words = pc.utf8_split_whitespace(column)
    labels = _column(table, label, where)
    if not pa.types.is_integer(labels.type):
        raise DataError(where, f"column {label!r} must hold integer class ids (or a ClassLabel), not {labels.type}")
    marks = _column(table, rationale, where).to_pylist() if rationale is not None else None
    rows = []
    for i, (tokens_i, label_i) in enumerate(zip(words.to_pylist(), labels.to_pylist())):
        if not tokens_i:
            raise DataError(where, f"row {i}: empty text")
        if label_i is None or label_i < 0:
            raise DataError(where, f"row {i}: column {label!r} has no class ({label_i!r})")
        bits = None
        if marks is not None:
            bits = _bits(marks[i], tokens_i, rationale, rationale_format, where, i)
        rows.append(text_row(f"{source}:{i}", split, label_i, tokens_i[:max_tokens],
                             None if bits is None else bits[:max_tokens]))
    return rows


def _evidence_bits(evidences: list[str], tokens: list[str], column: str, where: str, row: int) -> list[int]:
    """Each evidence string, split on whitespace, marked where its tokens occur: the first place
    at or after the end of the previous evidence (evidence lists come in document order, and a
    short evidence often also occurs earlier), else the first place anywhere."""
    bits = [0] * len(tokens)
    after = 0
    for evidence in evidences:
        words = evidence.split()
        n = len(words)

        def first(begin: int) -> int | None:
            return next((i for i in range(begin, len(tokens) - n + 1) if words and tokens[i:i + n] == words), None)

        start = first(after)
        start = first(0) if start is None else start
        if start is None:
            raise DataError(where, f"row {row}, column {column!r}: evidence {evidence[:60]!r} does not occur in the text")
        bits[start:start + n] = [1] * n
        after = start + n
    return bits


def _bits(value: Any, tokens: list[str], column: str, form: str, where: str, row: int) -> list[int]:
    length = len(tokens)
    if value is None:
        raise DataError(where, f"row {row}: column {column!r} is empty")
    if form == "evidence":
        return _evidence_bits(value, tokens, column, where, row)
    if form == "spans":
        bad = next((v for v in value if not isinstance(v, (list, tuple))), None)
        if bad is not None:
            raise DataError(where, f"row {row}, column {column!r}: {bad!r} is not [start, end) (a list of spans "
                            "is expected with rationale_format: spans)")
        return spans_to_bits(value, length, f"{where} row {row}, column {column!r}", None)
    if len(value) != length or any(v not in (0, 1) for v in value):
        raise DataError(where, f"row {row}: column {column!r} must be a 0/1 mask of the row's {length} tokens "
                        f"(got {len(value)} values)")
    return [int(v) for v in value]
