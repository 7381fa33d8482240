"""Data sets by registry name, encoded for an encoder family and served as PyTorch loaders.

A data set builder returns rows per split: text rows in the canonical schema ``{id, split,
label, tokens, rationale}`` or PyG ``Data`` graphs with ``edge_gt``. :func:`prepare_data`
turns them into model inputs for the configured encoder: GloVe ids (vocabulary = the data's
words that have vectors) or Hugging Face sub-word ids with word→sub-word rationale alignment.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
import torch

from n2r.config import DataConfig, ModelConfig
from n2r.data.base import DataError, DatasetSpec, ReadResult
from n2r.registry import Registry

DATASETS: Registry[DatasetSpec] = Registry("dataset")
TEXT, GRAPH = "text", "graph"


def _generated(builder: Callable[..., dict[str, list]], variant: str) -> Callable[..., ReadResult]:
    def read(path=None, **options) -> ReadResult:
        return ReadResult(builder(**options), variant=variant)

    read.__name__ = builder.__name__
    return read


def register_builtin() -> None:
    """Register the shipped readers (imported lazily so ``import n2r`` stays light)."""
    from n2r.data import beer, files, hf, hotel, movies, mutagenicity, synthetic, tsv

    specs = {
        "synthetic-text": DatasetSpec(TEXT, _generated(synthetic.synthetic_text, "synthetic-text"),
                                      "generated planted-rationale text", generated=True, text_rule="simple"),
        "ba2motifs": DatasetSpec(GRAPH, _generated(synthetic.ba2motifs, "ba2motifs"),
                                 "generated BA graphs with a house or cycle motif", generated=True),
        "beer": DatasetSpec(TEXT, beer.read_beer, "BeerAdvocate (Lei et al. 2016), official train/heldout",
                            folder="beer", text_rule="ptb"),
        "beer-heldout-split": DatasetSpec(TEXT, beer.read_beer_heldout_split,
                                          "BeerAdvocate, heldout file split 80/20 into train/dev", folder="beer",
                                          text_rule="ptb"),
        "hotel": DatasetSpec(TEXT, hotel.read_hotel, "TripAdvisor hotel reviews (R2A layout)", folder="hotel",
                             text_rule="ptb"),
        "movies": DatasetSpec(TEXT, movies.read_movies, "movie reviews with human rationales (Zaidan / ERASER)",
                              folder="movies", text_rule="lower-words"),
        "sst2": DatasetSpec(TEXT, tsv.read_sst2, "SST-2 (GLUE)", has_rationales=False, folder="sst2",
                            text_rule="ptb"),
        "agnews": DatasetSpec(TEXT, tsv.read_agnews, "AG News", has_rationales=False, folder="agnews",
                              text_rule="simple"),
        "mutagenicity": DatasetSpec(GRAPH, mutagenicity.read_mutagenicity, "Mutagenicity with NO2/NH2 edges",
                                    folder="mutagenicity"),
        "hf": DatasetSpec(TEXT, hf.read_hf, "Hugging Face datasets: a save_to_disk folder, or hf:NAME[:CONFIG]",
                          has_rationales=None),
        "files": DatasetSpec("auto", files.read_files, "your own Parquet/JSONL files in the canonical schema",
                             has_rationales=None),
    }
    for name, (hub, _, description, rationales) in hf.PRESETS.items():
        specs[name] = DatasetSpec(TEXT, hf.preset_reader(name), f"{description}; a saved folder or {hub}",
                                  has_rationales=rationales, default_path=hub)
    for name, spec in specs.items():
        if name not in DATASETS:
            DATASETS.register(name)(spec)


register_builtin()


def text_rule_of(cfg) -> str:
    """How raw text becomes tokens for a model trained on the data section ``cfg``: its
    ``text_rule``, else the data set's own (``whitespace`` for a name not registered here)."""
    if cfg.text_rule is not None:
        return cfg.text_rule
    return DATASETS.get(cfg.name).text_rule if cfg.name in DATASETS else "whitespace"


def default_data_path(name: str, data_dir: str | Path) -> str | None:
    """``data_dir/FOLDER`` for a data set with a conventional folder (``beer/``, ``movies/``, …);
    ``None`` for generated sets and ``files``."""
    folder = DATASETS.get(name).folder
    return None if folder is None else str(Path(data_dir) / folder)


def read_dataset(name: str, path: str | Path | None = None, **options: Any) -> ReadResult:
    """Read a registered data set into rows per split (no tokenization)."""
    spec: DatasetSpec = DATASETS.get(name)
    if spec.generated:
        return spec.read(None, **options)
    path = path if path is not None else spec.default_path
    if path is None:
        raise DataError("data.path", f"the data set {name!r} is read from files: pass its folder "
                        "(data.path in a config, --from / --data-dir on the command line)")
    if not Path(path).exists() and not str(path).startswith("hf:"):      # hf:NAME is a hub name
        raise DataError(path, f"no such file or folder for data set {name!r}")
    return spec.read(path, **options)


def kind_of(result: ReadResult) -> str:
    for rows in result.splits.values():
        if rows:
            return TEXT if isinstance(rows[0], dict) else GRAPH
    return TEXT


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

    def __post_init__(self) -> None:
        if self.kind == TEXT:
            from n2r.batch import examples_table

            self.splits = {s: rows if isinstance(rows, pa.Table) else examples_table(rows)
                           for s, rows in self.splits.items()}

    def has_rationales(self, split: str) -> bool:
        rows = self.splits.get(split)
        if rows is None or len(rows) == 0:
            return False
        if self.kind == GRAPH:
            return all(getattr(g, "edge_gt", None) is not None for g in rows)
        return "rationale" in rows.column_names and rows.column("rationale").null_count == 0

    def loader(self, split: str, batch_size: int, shuffle: bool = False, seed: int = 0, pin_memory: bool = False,
               bucket_window: int = 0, by_length: bool = False, pad_to: int | None = None):
        """A PyTorch loader: PyG batches for graphs; dynamically padded :class:`TextBatch` for text.
        ``bucket_window`` (text, with ``shuffle``) batches similar lengths together
        (:class:`~n2r.batch.BucketBatchSampler`). ``by_length`` (text, without ``shuffle``; for
        evaluation, whose sums do not depend on order) batches the split sorted by length, so
        each batch pads to little more than its own examples. ``pin_memory`` (for CUDA training)
        returns page-locked batches, so the host-to-device copy can run asynchronously
        (``non_blocking``). ``pad_to`` (text) pads every batch to that length."""
        rows = self.splits[split]
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        if self.kind == GRAPH:
            from torch_geometric.loader import DataLoader as GraphLoader

            return GraphLoader(rows, batch_size=batch_size, shuffle=shuffle, generator=generator, pin_memory=pin_memory)
        from n2r.batch import BucketBatchSampler, TableCollate

        collate = TableCollate(rows, self.pad_id, pad_to)
        if shuffle and bucket_window > 1:
            lengths = pc.list_value_length(rows.column("input_ids")).to_numpy()
            return torch.utils.data.DataLoader(range(rows.num_rows), collate_fn=collate, pin_memory=pin_memory,
                                               batch_sampler=BucketBatchSampler(lengths, batch_size, bucket_window,
                                                                                generator))
        if by_length and not shuffle:
            lengths = torch.tensor(pc.list_value_length(rows.column("input_ids")).to_numpy())
            order = torch.argsort(lengths, stable=True).tolist()
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            return torch.utils.data.DataLoader(range(rows.num_rows), collate_fn=collate, pin_memory=pin_memory,
                                               batch_sampler=batches)
        return torch.utils.data.DataLoader(range(rows.num_rows), batch_size=batch_size, shuffle=shuffle,
                                           generator=generator, collate_fn=collate, pin_memory=pin_memory)


def build_tokenizer(model: ModelConfig, splits: dict[str, list]):
    """The tokenizer for ``model.encoder``: GloVe ids over the data's words that have vectors
    (only those rows are materialised), or the checkpoint's HF sub-word tokenizer."""
    from n2r.data.tokenize import GloveTokenizer, HFTokenizer

    if model.encoder == "bert":
        return HFTokenizer(model.checkpoint)
    from n2r.embeddings import Vocabulary, glove_words

    vocab = Vocabulary.build((r["tokens"] for rows in splits.values() for r in rows),
                             known=glove_words(model.embeddings))
    return GloveTokenizer(vocab)


def prepare_data(data: DataConfig, model: ModelConfig, cache_dir: str | Path | None = None) -> PreparedData:
    """The configured data set encoded for ``model.encoder`` — the one in-process data path of
    every entry point (``n2r train``, the Ray trial, export, the benchmarks).

    It goes through the Parquet cache (:mod:`n2r.data.cache`, ``cache_dir`` or ``$N2R_CACHE`` or
    ``~/.cache/n2r``): the first call reads and tokenizes the sources; later calls — in any
    process, and after ``n2r data prepare --encoder`` — open the entry. Memoised per process on
    the entry's key (data set, options, tokenization, source files' sizes and times), so trials
    that reuse an actor neither read nor tokenize again."""
    from n2r.data.cache import cache_key, default_cache_dir, tokenizer_key

    folder = str(Path(cache_dir or default_cache_dir()).resolve())
    key = cache_key(data.name, data.path, data.options, tokenizer_key(model))
    return _prepared(key, folder, data.model_dump_json(), model.encoder, model.embeddings, model.checkpoint)


@functools.lru_cache(maxsize=8)
def _prepared(key: str, folder: str, data_json: str, encoder: str, embeddings: str,
              checkpoint: str | None) -> PreparedData:
    from n2r.data.cache import prepare

    data = DataConfig.model_validate_json(data_json)
    model = ModelConfig(encoder=encoder, embeddings=embeddings, checkpoint=checkpoint)
    return prepare(data.name, data.path, data.options, cache_dir=folder, model=model).prepared(model)
