"""Explaining new inputs with a loaded bundle: rationale, label and probability as plain data."""
from __future__ import annotations

from typing import Any

import torch

from n2r.batch import collate_text
from n2r.data.base import simple_tokenize
from n2r.metrics import spans_of


def _tokens_of(item: dict[str, Any] | str) -> list[str]:
    if isinstance(item, str):
        tokens = simple_tokenize(item)
    elif "tokens" in item:
        tokens = [str(t) for t in item["tokens"]]
    elif "text" in item:
        tokens = simple_tokenize(str(item["text"]))
    else:
        raise ValueError("an input needs 'text' or 'tokens'")
    if not tokens:
        raise ValueError("an input has no tokens")
    return tokens


def encode_text(bundle, tokens: list[str]) -> tuple[Any, list[int | None]]:
    """One document as a batch of one, plus the word index of every model unit (``None`` for
    special tokens): GloVe ids are one unit per word, BERT sub-words map back to their word."""
    if bundle.vocab is not None:
        example = {"input_ids": bundle.vocab.encode(tokens), "label": 0}
        word_of: list[int | None] = list(range(len(tokens)))
        pad_id = 0
    else:
        enc = bundle.tokenizer([tokens], is_split_into_words=True, truncation=True, max_length=512)
        word_of = enc.word_ids(0)
        example = {"input_ids": enc["input_ids"][0], "label": 0,
                   "unit_mask": [0 if w is None else 1 for w in word_of]}
        pad_id = bundle.tokenizer.pad_token_id or 0
    return collate_text([example], pad_id=pad_id).to(bundle.device), word_of


def to_words(values: list[float], word_of: list[int | None], n_words: int) -> list[float]:
    """Unit values → word values: the maximum over a word's units (0 for words cut off by
    truncation). A word is selected when any of its sub-words is."""
    out = [0.0] * n_words
    for value, word in zip(values, word_of):
        if word is not None and word < n_words:
            out[word] = max(out[word], value)
    return out


@torch.no_grad()
def explain_text(bundle, item: dict[str, Any] | str) -> dict[str, Any]:
    tokens = _tokens_of(item)
    batch, word_of = encode_text(bundle, tokens)
    out = bundle.model(batch)
    probs = out.logits.float().softmax(-1)[0]
    bits = [int(v > 0.5) for v in to_words(out.z[0].tolist(), word_of, len(tokens))]
    label = int(probs.argmax())
    return {"tokens": tokens, "rationale": bits, "spans": [list(span) for span in spans_of(bits)], "label": label,
            "probability": float(probs[label]), "probabilities": [float(p) for p in probs]}


@torch.no_grad()
def explain_graph(bundle, item: dict[str, Any]) -> dict[str, Any]:
    from torch_geometric.data import Batch, Data

    try:
        x = torch.tensor(item["x"], dtype=torch.float32)
        edge_index = torch.tensor(item["edge_index"], dtype=torch.long).view(2, -1)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"a graph input needs 'x' (nodes × features) and 'edge_index' (2 lists): {exc}") from None
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= x.shape[0]):
        raise ValueError(f"an edge points past the graph's {x.shape[0]} nodes")
    batch = Batch.from_data_list([Data(x=x, edge_index=edge_index, y=torch.zeros(1, dtype=torch.long))]).to(bundle.device)
    out = bundle.model(batch)
    probs = out.logits.float().softmax(-1)[0]
    scores = out.generator_logits.float().softmax(-1)[:, 1]
    keep = out.z > 0.5
    label = int(probs.argmax())
    return {"edges": edge_index[:, keep.cpu()].t().tolist(), "edge_scores": scores.cpu().tolist(),
            "label": label, "probability": float(probs[label]), "probabilities": [float(p) for p in probs]}
