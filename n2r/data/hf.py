"""Hugging Face ``datasets`` as a data source: a folder written by ``Dataset.save_to_disk`` /
``DatasetDict.save_to_disk``, or a hub name ``hf:NAME[:CONFIG]`` (``datasets.load_dataset``).

Columns are mapped into the canonical text rows (``id, split, label, tokens, rationale``) by
options: ``text`` (a string column, split on whitespace) or ``tokens`` (a list-of-strings column),
``label`` (integers or a ``ClassLabel``), and optionally ``rationale`` — a 0/1 token mask of the
tokens' length, or a list of ``[start, end)`` token spans (``rationale_format: mask | spans``).
Splits ``train``/``validation`` (or ``dev``)/``test`` map to train/dev/test; ``dev_from_train``
takes the last share of the training rows as dev when the source has no validation split. The
columns are read from the datasets' Arrow tables (no pandas round trip). Every missing or
malformed column is refused naming the column, the split and, for a bad row, its index.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from n2r.data.base import DataError, ReadResult, spans_to_bits, text_row

HUB_PREFIX = "hf:"
SPLIT_NAMES = {"train": "train", "validation": "dev", "dev": "dev", "test": "test"}


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


def read_hf(path: str | Path, text: str | None = "text", tokens: str | None = None, label: str = "label",
            rationale: str | None = None, rationale_format: str = "mask", dev_from_train: float | None = None,
            max_tokens: int = 256) -> ReadResult:
    if rationale_format not in ("mask", "spans"):
        raise ValueError(f"data.options.rationale_format: {rationale_format!r} is not 'mask' or 'spans'")
    sources = load_source(path)
    unknown = sorted(set(sources) - set(SPLIT_NAMES))
    if unknown:
        raise DataError(path, f"split {unknown[0]!r} has no meaning here (known: {', '.join(SPLIT_NAMES)})")
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "dev": [], "test": []}
    for name, dataset in sources.items():
        split = SPLIT_NAMES[name]
        splits[split] = _rows(dataset, f"{path} [{name}]", split, text, tokens, label, rationale, rationale_format,
                              max_tokens)
    if dev_from_train is not None:
        if splits["dev"]:
            raise DataError(path, "data.options.dev_from_train: the source has its own validation split")
        if not 0.0 < dev_from_train < 1.0:
            raise ValueError(f"data.options.dev_from_train: {dev_from_train!r} must lie in (0, 1)")
        cut = len(splits["train"]) - max(1, int(round(dev_from_train * len(splits["train"]))))
        splits["dev"] = [{**r, "split": "dev"} for r in splits["train"][cut:]]
        splits["train"] = splits["train"][:cut]
    for split in ("train", "dev", "test"):
        if not splits[split]:
            raise DataError(path, f"no {split} rows (splits present: {sorted(sources)}; "
                            + ("use data.options.dev_from_train" if split == "dev" else "save one") + ")")
    return ReadResult(splits, variant=f"hf:{Path(str(path)).name}")


def _column(table: pa.Table, name: str, where: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataError(where, f"no column {name!r} (columns: {', '.join(table.column_names)}); map yours with "
                        "data.options (text, tokens, label, rationale)")
    return table.column(name)


def _rows(dataset, where: str, split: str, text: str | None, tokens: str | None, label: str,
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
            bits = _bits(marks[i], len(tokens_i), rationale, rationale_format, where, i)
        rows.append(text_row(f"{split}:{i}", split, label_i, tokens_i[:max_tokens],
                             None if bits is None else bits[:max_tokens]))
    return rows


def _bits(value: Any, length: int, column: str, form: str, where: str, row: int) -> list[int]:
    if value is None:
        raise DataError(where, f"row {row}: column {column!r} is empty")
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
