"""Explaining new inputs with a loaded bundle: one :class:`~n2r.explanation.Explanation` each.

:func:`explain_many` is the one way in, for ``n2r explain`` and for every batch ``n2r serve``
runs: inputs are checked by :mod:`n2r.inputs`, texts are grouped by length into buckets (the
longest input of a bucket at most ``bucket_ratio`` × its shortest) and each bucket is padded to
its own longest input (or to ``train.pad_to`` for bundles trained that way), so a request's
answer does not depend on which other requests shared its batch.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from n2r.batch import collate_text
from n2r.inputs import InputLimits, parse_item
from n2r.explanation import Explanation

BUCKET_RATIO = 2.0
MAX_BATCH = 256
# Library and command-line use: only what the model itself cannot take is refused (a bundle's
# ``train.pad_to``); ``n2r serve`` passes its own, configurable limits.
NO_LIMITS = InputLimits(max_items=2**62, max_tokens=2**62, max_text_chars=2**62, max_nodes=2**62, max_edges=2**62)


def encode_text(bundle, tokens: list[str]) -> tuple[Any, list[int | None]]:
    """One document as a batch of one, plus the word index of every model unit (``None`` for
    special tokens): GloVe ids are one unit per word, BERT sub-words map back to their word."""
    examples, word_of = encode_examples(bundle, [tokens])
    return collate_text(examples, pad_id=pad_id_of(bundle), pad_to=bundle.config.train.pad_to).to(bundle.device), \
        word_of[0]


def encode_examples(bundle, documents: Sequence[list[str]]) -> tuple[list[dict[str, Any]], list[list[int | None]]]:
    """Documents (token lists) → model examples and, per document, the word index of each unit
    (the bundle's encoder family decides: GloVe ids are one unit per word, BERT sub-words map back
    to their word)."""
    return bundle.family.encode_documents(bundle.text_encoder, documents)


def pad_id_of(bundle) -> int:
    return bundle.family.pad_id(bundle.text_encoder)


def to_words(values: list[float], word_of: list[int | None], n_words: int) -> list[float]:
    """Unit values → word values: the maximum over a word's units (0 for words cut off by
    truncation). A word is selected when any of its sub-words is."""
    out = [0.0] * n_words
    for value, word in zip(values, word_of):
        if word is not None and word < n_words:
            out[word] = max(out[word], value)
    return out


def length_buckets(lengths: Sequence[int], ratio: float = BUCKET_RATIO, max_size: int = MAX_BATCH) -> list[list[int]]:
    """Indices grouped by length, shortest first; in each group the longest length is at most
    ``ratio`` × the shortest (so padding at most doubles a group's work at the default ratio)
    and there are at most ``max_size`` indices."""
    if ratio < 1 or max_size < 1:
        raise ValueError(f"length_buckets: ratio must be ≥ 1 and max_size ≥ 1, got {ratio}, {max_size}")
    buckets: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if buckets and len(buckets[-1]) < max_size and lengths[i] <= ratio * lengths[buckets[-1][0]]:
            buckets[-1].append(i)
        else:
            buckets.append([i])
    return buckets


def explain_many(bundle, items: Sequence[Any], limits: InputLimits | None = None,
                 bucket_ratio: float = BUCKET_RATIO, faithfulness: bool = False) -> list[Explanation]:
    """An :class:`~n2r.explanation.Explanation` for each input, in order. ``limits`` (default:
    none but the bundle's ``train.pad_to``) bound each input's size; ``faithfulness`` (text) also
    gives the predictor's probabilities on each input with its rationale removed."""
    limits = (limits or NO_LIMITS).for_bundle(bundle.config)
    in_channels = bundle.config.model.in_channels
    checked = [parse_item(item, bundle.kind, limits, f"input {i}" if len(items) > 1 else "input", in_channels,
                          bundle.text_rule)
               for i, item in enumerate(items)]
    return explain_checked(bundle, checked, bucket_ratio, faithfulness)


def explain_checked(bundle, items: Sequence[dict[str, Any]], bucket_ratio: float = BUCKET_RATIO,
                    faithfulness: bool = False) -> list[Explanation]:
    """:func:`explain_many` for items :func:`n2r.inputs.parse_item` has already checked and
    normalised (``n2r explain`` checks them naming FILE:LINE, ``n2r serve``'s gateway per request)."""
    if not items:
        return []
    if bundle.kind == "graph":
        if faithfulness:
            raise ValueError("faithfulness scores are defined for text bundles only")
        return [r for start in range(0, len(items), MAX_BATCH)
                for r in _explain_graphs(bundle, list(items[start:start + MAX_BATCH]))]
    return _explain_texts(bundle, [item["tokens"] for item in items], bucket_ratio, faithfulness)


def _probabilities(logits: torch.Tensor) -> torch.Tensor:
    return logits.float().softmax(-1).cpu()


def _label(probabilities: torch.Tensor) -> dict[str, Any]:
    return {"label": int(probabilities.argmax()), "probabilities": tuple(float(p) for p in probabilities)}


@torch.no_grad()
def _explain_texts(bundle, documents: list[list[str]], bucket_ratio: float,
                   faithfulness: bool) -> list[Explanation]:
    examples, word_of = encode_examples(bundle, documents)
    results: list[Explanation | None] = [None] * len(documents)
    for bucket in length_buckets([len(e["input_ids"]) for e in examples], bucket_ratio):
        batch = collate_text([examples[i] for i in bucket], pad_id=pad_id_of(bundle),
                             pad_to=bundle.config.train.pad_to).to(bundle.device)
        out = bundle.model(batch)
        probs = _probabilities(out.logits)
        z = out.z.float().cpu()
        scores = out.generator_logits.float().softmax(-1)[..., 1].cpu()
        without = None
        if faithfulness:
            without = _probabilities(bundle.model.predict(batch, out.unit_mask.to(out.z.dtype) - out.z)[0])
        for row, i in enumerate(bucket):
            tokens = documents[i]
            n = len(tokens)
            results[i] = Explanation(
                tokens=tuple(tokens), mask=tuple(int(v > 0.5) for v in to_words(z[row].tolist(), word_of[i], n)),
                scores=tuple(to_words(scores[row].tolist(), word_of[i], n)), **_label(probs[row]),
                probabilities_without=None if without is None else tuple(float(p) for p in without[row]))
    return results


@torch.no_grad()
def _explain_graphs(bundle, graphs: list[dict[str, Any]]) -> list[Explanation]:
    from torch_geometric.data import Batch, Data

    data = [Data(x=torch.tensor(g["x"], dtype=torch.float32),
                 edge_index=torch.tensor(g["edge_index"], dtype=torch.long).view(2, -1),
                 y=torch.zeros(1, dtype=torch.long)) for g in graphs]
    batch = Batch.from_data_list(data).to(bundle.device)
    out = bundle.model(batch)
    probs = _probabilities(out.logits)
    scores = out.generator_logits.float().softmax(-1)[:, 1].cpu()
    keep = (out.z > 0.5).cpu()
    keep_nodes = None if out.z_nodes is None else (out.z_nodes > 0.5).cpu()
    results, start, node_start = [], 0, 0
    for g, graph in enumerate(data):         # PyG keeps each graph's edges and nodes together, in order
        end, node_end = start + graph.edge_index.shape[1], node_start + graph.num_nodes
        results.append(Explanation(
            edge_index=tuple(tuple(e) for e in graph.edge_index.t().tolist()),
            mask=tuple(int(b) for b in keep[start:end]), scores=tuple(scores[start:end].tolist()),
            node_mask=None if keep_nodes is None else tuple(int(b) for b in keep_nodes[node_start:node_end]),
            **_label(probs[g])))
        start, node_start = end, node_end
    return results
