"""A fourth encoder family in one file, as a user would add one: bag-of-words text.

Generator: a linear score per word vector. Predictor: the mean of the selected words' vectors
through a linear layer. Tokenization, cache entries and bundles are the GRU family's (a GloVe
vocabulary), inherited; the model is its own. ``register("toy-bow")(BowFamily)`` makes it
``model.encoder: toy-bow`` (the test registers it for its own duration only).
"""
from torch import nn

from n2r.models.base import Generator, GeneratorOutput, Predictor
from n2r.models.gru import GRUFamily


class BowGenerator(Generator):
    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.embedding, self.head = embedding, nn.Linear(embedding.embedding_dim, 2)

    def forward(self, batch):
        return GeneratorOutput(logits=self.head(self.embedding(batch.input_ids)), unit_mask=batch.unit_mask)


class BowPredictor(Predictor):
    def __init__(self, embedding: nn.Embedding, num_classes: int):
        super().__init__()
        self.embedding, self.classifier = embedding, nn.Linear(embedding.embedding_dim, num_classes)

    def forward(self, batch, z, z_nodes=None):
        weights = z * batch.attention_mask
        h = (self.embedding(batch.input_ids) * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp_min(1)
        return self.classifier(h), h


class BowFamily(GRUFamily):
    fields = ("embeddings",)
    sequential = False

    def build(self, cfg, inputs):
        embedding = nn.Embedding.from_pretrained(inputs["embedding_matrix"].float(), freeze=True, padding_idx=0)
        return BowGenerator(embedding), BowPredictor(embedding, cfg.num_classes)
