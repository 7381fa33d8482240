"""An encoder family as one object: what GRU, BERT or GCN need beyond their config fields.

Each family file (:mod:`n2r.models.gru`, :mod:`n2r.models.bert`, :mod:`n2r.models.gcn`) ends with
a subclass of :class:`EncoderFamily` registered in :data:`FAMILIES` under its ``model.encoder``
name. It owns, in that file: the config fields only it reads (the run config refuses them for
another family, naming the field), how a data set is tokenized and reopened for it, how the model
is built, what a bundle stores for it and how it loads, and how new documents become model inputs
for an explanation. The engine, bundles, explanations, the data layer, serving and the pipelines
ask ``family_of(cfg.model)`` and never test an encoder's name.

Adding a family is one file: a :class:`~n2r.models.base.Generator` and
:class:`~n2r.models.base.Predictor`, a subclass of :class:`TextFamily` or :class:`GraphFamily`
(or of a built-in family whose data handling it shares) with :meth:`EncoderFamily.build`, and
``@register("name")``; another package declares the module as an ``n2r.encoders`` entry point
(the README shows one). The config fields stay one strict ``model`` section: a family lists the
fields only it reads in ``fields``; a new family with options of its own also adds them to
:class:`~n2r.config.ModelConfig`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from n2r.data import GRAPH, TEXT
from n2r.registry import Registry


class EncoderFamily:
    """The base: graph-or-text agnostic hooks, each with the behaviour most families want."""

    name: str = ""
    data_kind: str = TEXT        # what a data set must hold for this family: "text" or "graph"
    fields: tuple[str, ...] = ()  # ModelConfig fields only this family reads
    sequential: bool = True      # units form a sequence (Ω_c prices transitions between neighbours)
    units_are_words: bool = True  # a selected unit is a word / an edge (False: a sub-word piece)

    def build(self, cfg, inputs: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module]:
        """``(generator, predictor)`` for ``cfg`` (a :class:`~n2r.config.ModelConfig`) and the data's
        model inputs (:meth:`model_inputs`, or :meth:`load_bundle_parts` from a bundle)."""
        raise NotImplementedError

    # -- data ------------------------------------------------------------------------------------
    def tokenizer_key(self, cfg) -> dict[str, Any] | None:
        """What tokenization depends on (part of the cache key); ``None``: nothing to tokenize."""
        return None

    def build_tokenizer(self, cfg, splits: dict[str, list]) -> Any:
        """The tokenizer for a data set's canonical rows (``splits``: per split, rows with ``tokens``)."""
        return None

    def open_tokenizer(self, cfg, entry) -> Any:
        """The tokenizer an already tokenized cache entry was written with."""
        return None

    def model_inputs(self, cfg, tokenizer=None, num_features: int | None = None) -> dict[str, Any]:
        """What :meth:`build` needs from the data (an embedding table, a feature size)."""
        return {}

    # -- bundles ---------------------------------------------------------------------------------
    def complete_config(self, cfg, data) -> None:
        """Fill what a bundle must rebuild from without the data (``cfg`` is a copy to write)."""

    def write_bundle_files(self, folder: Path, model, data) -> None:
        """Write what a bundle needs besides config and weights to explain raw inputs (listed in
        its manifest by :func:`n2r.bundle.save_bundle`)."""

    def load_bundle_parts(self, root: Path, cfg, state: dict[str, torch.Tensor]) -> tuple[dict[str, Any], Any]:
        """``(model inputs for build, text encoder)`` from a bundle folder (what
        :meth:`write_bundle_files` wrote; ``state`` the weights); ``cfg`` may be adjusted."""
        return {}, None

    # -- explanations ----------------------------------------------------------------------------
    def encode_documents(self, encoder, documents: Sequence[list[str]]
                         ) -> tuple[list[dict[str, Any]], list[list[int | None]]]:
        """Documents (word lists) → model examples and, per document, the word index of each unit."""
        raise NotImplementedError(f"the {self.name} encoder does not read text")

    def pad_id(self, encoder) -> int:
        return 0


class TextFamily(EncoderFamily):
    """Text families: bundles record how raw text is split (the training data's text rule)."""

    data_kind = TEXT

    def complete_config(self, cfg, data) -> None:
        if cfg.data.text_rule is None:
            from n2r.data import text_rule_of

            cfg.data.text_rule = text_rule_of(cfg.data)     # raw text is split as the training text was


class GraphFamily(EncoderFamily):
    """Graph families: bundles record the node feature size."""

    data_kind = GRAPH
    sequential = False

    def complete_config(self, cfg, data) -> None:
        if cfg.model.in_channels is None:
            cfg.model.in_channels = data.num_features       # the bundle must rebuild without the data

    def model_inputs(self, cfg, tokenizer=None, num_features: int | None = None) -> dict[str, Any]:
        return {"in_channels": num_features}


FAMILIES: Registry[EncoderFamily] = Registry("encoder")


def register(name: str):
    """Class decorator: register an :class:`EncoderFamily` subclass as ``model.encoder: name``."""
    def decorator(cls: type[EncoderFamily]) -> type[EncoderFamily]:
        cls.name = name
        FAMILIES.register(name)(cls())
        return cls

    return decorator


ENTRY_POINTS = "n2r.encoders"


def family_of(model_or_name) -> EncoderFamily:
    """The family of a :class:`~n2r.config.ModelConfig` (or of an encoder name). A name not
    registered yet is looked up among the installed packages' ``n2r.encoders`` entry points, whose
    module registers it when imported — so Ray workers and ``n2r serve`` find a family from
    another package without importing it by hand."""
    import n2r.models  # noqa: F401  (registers the built-in families)

    name = model_or_name if isinstance(model_or_name, str) else model_or_name.encoder
    if name not in FAMILIES:
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINTS, name=name):
            point.load()
    return FAMILIES.get(name)
