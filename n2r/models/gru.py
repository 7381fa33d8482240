"""GRU rationalizer over frozen pretrained word embeddings (the reference architecture).

Generator: embedding → 1-layer BiGRU (``hidden_size`` per direction) → LayerNorm → dropout →
Linear(2·hidden → 2) per token. Predictor: its own BiGRU over ``embedding · z``; outputs at
padding are set to −1e6 and max-pooled over time into ``h`` ∈ R^{2·hidden}; then dropout and a
linear classifier. The backward direction starts at each sequence's last real token (the
reference code runs it over padding; ``model.gru_reads_padding: true`` does the same); see
:class:`BiGRUEncoder`.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from n2r.batch import TextBatch
from n2r.models.base import ConcurrentOnCPU, Generator, GeneratorOutput, Predictor
from n2r.models.family import TextFamily, register

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


class BiGRUEncoder(ConcurrentOnCPU):
    """Bidirectional GRU whose backward direction starts at each sequence's last real token.

    Two unidirectional GRUs over padded tensors: the forward one reads pads only after the real
    tokens, the backward one reads each sequence reversed within its length. Outputs at real
    positions equal a packed-sequence BiGRU's exactly, at a cost linear in the batch (the
    packed CPU kernel's backward re-fills a full-size gradient per time step).

    With ``reads_padding`` the backward direction reads the whole padded row from its end, as a
    bidirectional ``nn.GRU`` over a padded tensor does (the reference code): its state at the
    last real token is then whatever the padding (zero inputs) left, and depends on how far the
    batch was padded.
    """

    def __init__(self, input_size: int, hidden_size: int, reads_padding: bool = False):
        super().__init__()
        self.forward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.backward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.output_size = 2 * hidden_size
        self.reads_padding = reads_padding

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.reads_padding:
            lengths = torch.full((inputs.shape[0],), inputs.shape[1], dtype=torch.long, device=inputs.device)
        else:
            lengths = attention_mask.sum(dim=1)
        reversed_inputs = reverse_within_length(inputs, lengths)
        if self.parallel and inputs.device.type == "cpu":
            forward, backward = _TwoDirections.apply(self, inputs, reversed_inputs, *self._parameters_of_both())
        else:
            forward, _ = self.forward_gru(inputs)
            backward, _ = self.backward_gru(reversed_inputs)
        return torch.cat([forward, reverse_within_length(backward, lengths)], dim=-1)

    def _parameters_of_both(self) -> list[torch.Tensor]:
        return [*self.forward_gru.parameters(), *self.backward_gru.parameters()]


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _pool() -> ThreadPoolExecutor:
    """Two threads of one intra-op thread each; re-created in a forked child (threads do not fork).

    ``torch.set_num_threads`` also sets the default that threads started later inherit, so both
    workers are started and pinned to one thread first, then the caller's count is restored."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        threads = torch.get_num_threads()
        ready = threading.Barrier(3)

        def one_thread() -> None:
            torch.set_num_threads(1)
            torch.get_num_threads()          # initialises this thread's count now, while the default is 1
            ready.wait()

        pool = ThreadPoolExecutor(2, thread_name_prefix="n2r-bigru", initializer=one_thread)
        for _ in range(2):
            pool.submit(lambda: None)
        ready.wait()
        torch.set_num_threads(threads)
        _POOL = (os.getpid(), pool)
    return _POOL[1]


class _TwoDirections(torch.autograd.Function):
    """Both GRU directions in parallel threads. Forward records each direction's graph in its
    thread on detached inputs; backward differentiates the two graphs in the two threads and
    returns the gradients for the inputs and for exactly the parameters that need them (N2R's
    second step freezes the predictor)."""

    @staticmethod
    def forward(ctx, encoder, inputs, reversed_inputs, *params):
        grads = any(ctx.needs_input_grad)      # forward runs with grad mode off; this says what backward needs
        n = len(params) // 2

        def run(gru, x, needs_x):
            with torch.set_grad_enabled(grads):
                x = x.detach().requires_grad_(needs_x)
                out, _ = gru(x)
            return x, out

        jobs = [(encoder.forward_gru, inputs, ctx.needs_input_grad[1]),
                (encoder.backward_gru, reversed_inputs, ctx.needs_input_grad[2])]
        (x_f, out_f), (x_b, out_b) = _pool().map(lambda job: run(*job), jobs)
        ctx.graphs = [(x_f, out_f, params[:n], ctx.needs_input_grad[1], ctx.needs_input_grad[3:3 + n]),
                      (x_b, out_b, params[n:], ctx.needs_input_grad[2], ctx.needs_input_grad[3 + n:])]
        return out_f.detach(), out_b.detach()

    @staticmethod
    def backward(ctx, grad_f, grad_b):
        def differentiate(graph, grad):
            x, out, params, needs_x, needs_params = graph
            targets = ([x] if needs_x else []) + [p for p, need in zip(params, needs_params) if need]
            if not targets or out.grad_fn is None:
                return [None] * (1 + len(params))
            found = iter(torch.autograd.grad(out, targets, grad))
            return [next(found) if needs_x else None] + [next(found) if need else None for need in needs_params]

        (gx_f, *gp_f), (gx_b, *gp_b) = _pool().map(differentiate, ctx.graphs, (grad_f, grad_b))
        ctx.graphs = None
        return (None, gx_f, gx_b, *gp_f, *gp_b)


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
    gen_encoder = BiGRUEncoder(embedding.embedding_dim, cfg.hidden_size, cfg.gru_reads_padding)
    pred_encoder = gen_encoder if cfg.shared_encoder else BiGRUEncoder(embedding.embedding_dim, cfg.hidden_size,
                                                                       cfg.gru_reads_padding)
    generator = GRUGenerator(embedding, gen_encoder, cfg.dropout)
    predictor = GRUPredictor(embedding, pred_encoder, cfg.num_classes, cfg.dropout)
    return generator, predictor


@register("gru")
class GRUFamily(TextFamily):
    """Text over a word vocabulary with frozen GloVe vectors: one unit per word."""

    fields = ("embeddings", "gru_reads_padding")

    def build(self, cfg, inputs):
        if inputs.get("embedding_matrix") is None:
            raise ValueError("the gru encoder needs an embedding matrix (see n2r.embeddings.load_glove)")
        return build_gru(cfg, embedding_matrix=inputs["embedding_matrix"])

    def tokenizer_key(self, cfg):
        return {"encoder": cfg.encoder, "embeddings": cfg.embeddings}

    def build_tokenizer(self, cfg, splits):
        """GloVe ids over the data's words that have vectors (only those rows are materialised)."""
        from n2r.data.tokenize import GloveTokenizer
        from n2r.embeddings import Vocabulary, glove_words

        vocab = Vocabulary.build((r["tokens"] for rows in splits.values() for r in rows),
                                 known=glove_words(cfg.embeddings))
        return GloveTokenizer(vocab)

    def open_tokenizer(self, cfg, entry):
        from n2r.data.tokenize import GloveTokenizer

        return GloveTokenizer(entry.vocab())

    def model_inputs(self, cfg, tokenizer=None, num_features=None):
        from n2r.embeddings import load_glove

        return {"embedding_matrix": load_glove(tokenizer.vocab, cfg.embeddings)}

    def write_bundle_files(self, folder, model, data):
        data.tokenizer.vocab.save(folder)

    def load_bundle_parts(self, root, cfg, state):
        from n2r.embeddings import Vocabulary

        vocab = Vocabulary.load(root)
        return {"embedding_matrix": torch.zeros_like(state["generator.embedding.weight"])}, vocab

    def encode_documents(self, vocab, documents):
        return ([{"input_ids": vocab.encode(tokens), "label": 0} for tokens in documents],
                [list(range(len(tokens))) for tokens in documents])

    def pad_id(self, vocab):
        return vocab.pad_id
