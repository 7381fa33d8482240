"""GRU rationalizer over frozen pretrained word embeddings (the reference architecture).

Generator: embedding → 1-layer BiGRU (``hidden_size`` per direction) → LayerNorm → dropout →
Linear(2·hidden → 2) per token. Predictor: its own BiGRU over ``embedding · z``; outputs at
padding are set to −1e6 and max-pooled over time into ``h`` ∈ R^{2·hidden}; then dropout and a
linear classifier. The backward direction starts at each sequence's last real token (the
reference code runs it over padding); see :class:`BiGRUEncoder`.
"""
from __future__ import annotations

import torch
from torch import nn

from n2r.batch import TextBatch
from n2r.models.base import Generator, GeneratorOutput, Predictor

PAD_FILL = -1e6


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over time of ``states`` [B, T, H] at ``mask`` [B, T] positions; padding is filled with
    ``PAD_FILL`` clamped to the dtype's range (a cuDNN GRU under CUDA autocast returns fp16 states,
    where −1e6 overflows)."""
    fill = max(PAD_FILL, torch.finfo(states.dtype).min)
    return states.masked_fill(~mask.unsqueeze(-1), fill).max(dim=1).values


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` [B, T, ...] inside its own length, leaving padding at the
    end: position t < len ↦ len − 1 − t. Its own inverse."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    lengths = lengths.to(x.device).unsqueeze(1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


class BiGRUEncoder(nn.Module):
    """Bidirectional GRU whose backward direction starts at each sequence's last real token.

    Two unidirectional GRUs over padded tensors: the forward one reads pads only after the real
    tokens, the backward one reads each sequence reversed within its length. Outputs at real
    positions equal a packed-sequence BiGRU's exactly, at a cost linear in the batch (the
    packed CPU kernel's backward re-fills a full-size gradient per time step).
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.forward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.backward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.output_size = 2 * hidden_size

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        lengths = attention_mask.sum(dim=1)
        forward, _ = self.forward_gru(inputs)
        backward, _ = self.backward_gru(reverse_within_length(inputs, lengths))
        return torch.cat([forward, reverse_within_length(backward, lengths)], dim=-1)


class GRUGenerator(Generator):
    def __init__(self, embedding: nn.Embedding, encoder: BiGRUEncoder, dropout: float):
        super().__init__()
        self.embedding = embedding
        self.encoder = encoder
        self.norm = nn.LayerNorm(encoder.output_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.output_size, 2)

    def forward(self, batch: TextBatch) -> GeneratorOutput:
        states = self.encoder(self.embedding(batch.input_ids), batch.attention_mask)
        logits = self.head(self.dropout(self.norm(states)))
        return GeneratorOutput(logits=logits, unit_mask=batch.unit_mask)


class GRUPredictor(Predictor):
    def __init__(self, embedding: nn.Embedding, encoder: BiGRUEncoder, num_classes: int, dropout: float):
        super().__init__()
        self.embedding = embedding
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.output_size, num_classes)

    def forward(self, batch: TextBatch, z: torch.Tensor, z_nodes=None):
        inputs = self.embedding(batch.input_ids) * z.unsqueeze(-1).to(self.embedding.weight.dtype)
        states = self.encoder(inputs, batch.attention_mask)
        h = masked_max(states, batch.attention_mask)
        return self.classifier(self.dropout(h)), h


def build_gru(cfg, *, embedding_matrix: torch.Tensor):
    """Generator and predictor over one frozen embedding table (frozen, so sharing is free)."""
    embedding = nn.Embedding.from_pretrained(embedding_matrix.float(), freeze=True, padding_idx=0)
    gen_encoder = BiGRUEncoder(embedding.embedding_dim, cfg.hidden_size)
    pred_encoder = gen_encoder if cfg.shared_encoder else BiGRUEncoder(embedding.embedding_dim, cfg.hidden_size)
    generator = GRUGenerator(embedding, gen_encoder, cfg.dropout)
    predictor = GRUPredictor(embedding, pred_encoder, cfg.num_classes, cfg.dropout)
    return generator, predictor
