"""Data sets by registry name, encoded for an encoder family and served as PyTorch loaders.

A data set builder returns rows per split: text rows in the canonical schema ``{id, split,
label, tokens, rationale}`` or PyG ``Data`` graphs with ``edge_gt``. :func:`prepare_data`
turns them into model inputs for the configured encoder: GloVe ids (vocabulary = the data's
words that have vectors) or Hugging Face sub-word ids with word→sub-word rationale alignment.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import torch

from n2r.config import DataConfig, ModelConfig
from n2r.registry import Registry

DATASETS: Registry[Callable[..., dict[str, list]]] = Registry("dataset")
TEXT, GRAPH = "text", "graph"


@dataclass
class DatasetSpec:
    kind: str
    build: Callable[..., dict[str, list]]
    description: str = ""


def register_builtin() -> None:
    from n2r.data import synthetic

    if "synthetic-text" not in DATASETS:
        DATASETS.register("synthetic-text")(DatasetSpec(TEXT, synthetic.synthetic_text, "planted-rationale text"))
        DATASETS.register("ba2motifs")(DatasetSpec(GRAPH, synthetic.ba2motifs, "BA base + house/cycle motif"))


register_builtin()


@dataclass
class PreparedData:
    """Encoded splits plus what the model builder needs (embeddings or feature size)."""

    kind: str
    splits: dict[str, list]
    pad_id: int = 0
    embedding_matrix: torch.Tensor | None = None
    num_features: int | None = None
    vocab: Any = None
    tokenizer: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def model_inputs(self) -> dict[str, Any]:
        return {"embedding_matrix": self.embedding_matrix, "in_channels": self.num_features}

    def has_rationales(self, split: str) -> bool:
        rows = self.splits.get(split) or []
        if self.kind == GRAPH:
            return bool(rows) and all(getattr(g, "edge_gt", None) is not None for g in rows)
        return bool(rows) and all(r.get("rationale") is not None for r in rows)

    def loader(self, split: str, batch_size: int, shuffle: bool = False, seed: int = 0):
        rows = self.splits[split]
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        if self.kind == GRAPH:
            from torch_geometric.loader import DataLoader as GraphLoader

            return GraphLoader(rows, batch_size=batch_size, shuffle=shuffle, generator=generator)
        from n2r.batch import collate_text

        return torch.utils.data.DataLoader(rows, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                           collate_fn=partial(collate_text, pad_id=self.pad_id))


def encode_glove(rows: list[dict[str, Any]], vocab) -> list[dict[str, Any]]:
    return [{"input_ids": vocab.encode(r["tokens"]), "label": r["label"], "rationale": r.get("rationale")}
            for r in rows]


def encode_hf(rows: list[dict[str, Any]], tokenizer, max_length: int = 256) -> list[dict[str, Any]]:
    """Sub-word ids; each sub-word inherits its word's rationale bit; specials are not units."""
    enc = tokenizer([r["tokens"] for r in rows], is_split_into_words=True, truncation=True,
                    max_length=max_length)
    out = []
    for i, r in enumerate(rows):
        words = enc.word_ids(i)
        rationale = r.get("rationale")
        out.append({
            "input_ids": enc["input_ids"][i],
            "label": r["label"],
            "unit_mask": [0 if w is None else 1 for w in words],
            "rationale": None if rationale is None else [0 if w is None else int(rationale[w]) for w in words],
        })
    return out


def prepare_data(data: DataConfig, model: ModelConfig) -> PreparedData:
    """Build the named data set and encode it for ``model.encoder``."""
    spec: DatasetSpec = DATASETS.get(data.name)
    splits = spec.build(**data.options)
    if spec.kind == GRAPH:
        if model.encoder != "gcn":
            raise ValueError(f"data.name {data.name!r} is a graph data set; model.encoder must be 'gcn'")
        return PreparedData(GRAPH, splits, num_features=splits["train"][0].x.shape[1])
    if model.encoder == "gcn":
        raise ValueError(f"data.name {data.name!r} is a text data set; model.encoder must be 'gru' or 'bert'")
    if model.encoder == "bert":
        from n2r.models.bert import load_tokenizer

        tokenizer = load_tokenizer(model.checkpoint)
        encoded = {s: encode_hf(rows, tokenizer) for s, rows in splits.items()}
        return PreparedData(TEXT, encoded, pad_id=tokenizer.pad_token_id or 0, tokenizer=tokenizer)
    from n2r.embeddings import Vocabulary, glove_words, load_glove

    vocab = Vocabulary.build((r["tokens"] for rows in splits.values() for r in rows),
                             known=glove_words(model.embeddings))
    encoded = {s: encode_glove(rows, vocab) for s, rows in splits.items()}
    return PreparedData(TEXT, encoded, pad_id=vocab.pad_id, vocab=vocab,
                        embedding_matrix=load_glove(vocab, model.embeddings))
