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
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from n2r.config import DataConfig, ModelConfig
from n2r.data.base import DataError, DatasetSpec, ReadResult
from n2r.registry import Registry

if TYPE_CHECKING:
    import torch

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
    """Encoded splits, the tokenizer that encoded them (text) and ``inputs``: what the encoder
    family builds its model from (:meth:`~n2r.models.family.EncoderFamily.model_inputs`: GloVe
    rows for the GRU, the node feature size for the GCN)."""

    kind: str
    splits: dict[str, list]
    pad_id: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def model_inputs(self) -> dict[str, Any]:
        return dict(self.inputs)

    @property
    def embedding_matrix(self) -> torch.Tensor | None:
        return self.inputs.get("embedding_matrix")

    @property
    def num_features(self) -> int | None:
        return self.inputs.get("in_channels")

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
               bucket_window: int = 0, by_length: bool = False, pad_to: int | None = None,
               rank: int = 0, world_size: int = 1):
        """A PyTorch loader: PyG batches for graphs; dynamically padded :class:`TextBatch` for text.

        With ``shuffle`` (training) the batches come from :class:`~n2r.batch.BucketBatchSampler`,
        the one rule of every trial from 1 to N workers: ``bucket_window`` (text) batches similar
        lengths together, and rank ``rank`` of ``world_size`` keeps its disjoint share of the same
        epoch order. ``by_length`` (text, without ``shuffle``; for evaluation, whose sums do not
        depend on order) batches the split sorted by length, so each batch pads to little more
        than its own examples. ``pin_memory`` (for CUDA training) returns page-locked batches, so
        the host-to-device copy can run asynchronously (``non_blocking``). ``pad_to`` (text) pads
        every batch to that length."""
        import torch

        from n2r.batch import BucketBatchSampler, TableCollate

        rows = self.splits[split]
        if self.kind == GRAPH:
            from torch_geometric.loader import DataLoader as make_loader

            dataset, lengths, collate = rows, [1] * len(rows), {}
        else:
            make_loader = torch.utils.data.DataLoader
            dataset, collate = range(rows.num_rows), {"collate_fn": TableCollate(rows, self.pad_id, pad_to)}
            lengths = pc.list_value_length(rows.column("input_ids")).to_numpy()
        if shuffle:
            generator = torch.Generator().manual_seed(seed)
            window = bucket_window if self.kind == TEXT else 0
            sampler = BucketBatchSampler(lengths, batch_size, window, generator, rank, world_size)
            # A plain shuffle hands the loader the generator too, as ``shuffle=True`` did: its
            # workers' base seed is drawn from it, not from the global stream (same batches, same
            # global random numbers as before the sampler was shared).
            extra = {"generator": generator} if window <= 1 else {}
            return make_loader(dataset, batch_sampler=sampler, pin_memory=pin_memory, **collate, **extra)
        if world_size != 1:
            raise ValueError("PreparedData.loader: only training batches (shuffle=True) are sharded")
        if by_length and self.kind == TEXT:
            order = torch.argsort(torch.tensor(lengths), stable=True).tolist()
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
            return make_loader(dataset, batch_sampler=batches, pin_memory=pin_memory, **collate)
        return make_loader(dataset, batch_size=batch_size, pin_memory=pin_memory, **collate)


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
