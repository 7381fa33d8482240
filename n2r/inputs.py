"""Checking the inputs a bundle is asked to explain, wherever they come from (``n2r explain``,
HTTP requests to ``n2r serve``): one place that turns JSON values into model-ready items or
refuses them with an :class:`InputError` naming the field.

A text input is ``{"text": "..."}`` (split into tokens by the bundle's text rule — the way its
training text was split, :mod:`n2r.data.text_rules`), ``{"tokens": ["...", ...]}`` (taken as
they are) or a bare string; it becomes ``{"tokens": [...]}``. A graph input is ``{"graph": {"x": ..., "edge_index": ...}}`` or the inner
object itself: ``x`` is nodes × features (the bundle's ``in_channels``), ``edge_index`` two equally
long lists of node ids (source, target); it becomes ``{"x": [[...]], "edge_index": [[...], [...]]}``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from n2r.data.text_rules import tokenize_text

TEXT_KEYS = ("text", "tokens")
GRAPH_KEYS = ("x", "edge_index")


class InputError(ValueError):
    """An input the model cannot take. ``field`` is where it is (``inputs[2].tokens[5]``, or
    ``FILE:LINE``), ``status`` the HTTP status that fits: 400 for a body that is not the right
    JSON shape, 413 for an input over a limit, 422 for a value that is wrong."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


@dataclass(frozen=True)
class InputLimits:
    """Largest inputs accepted; over a limit an input is refused (413), never cut.

    ``max_tokens`` words per text (a bundle trained with ``train.pad_to`` never takes more than
    that), ``max_text_chars`` characters of raw text, ``max_nodes``/``max_edges`` per graph,
    ``max_items`` inputs per request."""

    max_items: int = 64
    max_tokens: int = 512
    max_text_chars: int = 100_000
    max_nodes: int = 10_000
    max_edges: int = 100_000

    def __post_init__(self):
        for name in ("max_items", "max_tokens", "max_text_chars", "max_nodes", "max_edges"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"InputLimits.{name}: must be a positive integer, got {value!r}")

    def for_bundle(self, config) -> "InputLimits":
        """These limits, with ``max_tokens`` lowered to the bundle's ``train.pad_to`` if it has one."""
        from n2r.models.family import GRAPH, family_of

        pad_to = config.train.pad_to
        if family_of(config.model).data_kind == GRAPH or pad_to is None or pad_to >= self.max_tokens:
            return self
        return replace(self, max_tokens=pad_to)


def parse_inputs(payload: Any, kind: str, limits: InputLimits = InputLimits(),
                 in_channels: int | None = None, text_rule: str = "simple") -> tuple[list[dict[str, Any]], bool]:
    """A request body → ``(items, many)``: one input, or a list of them (``many`` is True then,
    and the answer is a list too). Each item is checked by :func:`parse_item`."""
    many = isinstance(payload, list)
    values = payload if many else [payload]
    if many and not values:
        raise InputError("inputs", "an empty list; send at least one input", 400)
    if len(values) > limits.max_items:
        raise InputError("inputs", f"{len(values)} inputs, more than the limit of {limits.max_items} per request", 413)
    return [parse_item(value, kind, limits, f"inputs[{i}]" if many else "input", in_channels, text_rule)
            for i, value in enumerate(values)], many


def parse_item(value: Any, kind: str, limits: InputLimits = InputLimits(), where: str = "input",
               in_channels: int | None = None, text_rule: str = "simple") -> dict[str, Any]:
    """One input → the model-ready item (see the module docstring), or :class:`InputError`.
    ``text_rule`` splits raw text (the bundle's :attr:`~n2r.bundle.Bundle.text_rule`)."""
    if kind == "graph":
        return _parse_graph(value, limits, where, in_channels)
    if kind != "text":
        raise ValueError(f"unknown input kind {kind!r} (text or graph)")
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, dict):
        raise InputError(where, f"an input is an object with 'text' or 'tokens', not {_json_type(value)}", 400)
    _known_keys(value, TEXT_KEYS, where)
    if ("text" in value) == ("tokens" in value):
        raise InputError(where, "give exactly one of 'text' and 'tokens'")
    if "text" in value:
        text = value["text"]
        if not isinstance(text, str):
            raise InputError(f"{where}.text", f"must be a string, not {_json_type(text)}")
        if len(text) > limits.max_text_chars:
            raise InputError(f"{where}.text", f"{len(text)} characters, more than the limit of "
                                              f"{limits.max_text_chars}", 413)
        tokens = tokenize_text(text, text_rule)
        field = f"{where}.text"
    else:
        tokens = value["tokens"]
        field = f"{where}.tokens"
        if not isinstance(tokens, list):
            raise InputError(field, f"must be a list of strings, not {_json_type(tokens)}")
        for i, token in enumerate(tokens):
            if not isinstance(token, str):    # an empty string is a token too (real data sets hold some)
                raise InputError(f"{field}[{i}]", f"must be a string, not {_json_type(token)}")
    if not tokens:
        raise InputError(field, "no tokens (empty or whitespace-only input)")
    if len(tokens) > limits.max_tokens:
        raise InputError(field, f"{len(tokens)} tokens, more than the limit of {limits.max_tokens}", 413)
    return {"tokens": list(tokens)}


def _parse_graph(value: Any, limits: InputLimits, where: str, in_channels: int | None) -> dict[str, Any]:
    if isinstance(value, dict) and "graph" in value:
        _known_keys(value, ("graph",), where)
        value, where = value["graph"], f"{where}.graph"
    if not isinstance(value, dict):
        raise InputError(where, f"a graph input is an object with 'x' and 'edge_index', not {_json_type(value)}", 400)
    _known_keys(value, GRAPH_KEYS, where)
    for key in GRAPH_KEYS:
        if key not in value:
            raise InputError(f"{where}.{key}", "missing")
    x = _array(value["x"], f"{where}.x", "nodes × features numbers")
    if x.dtype.kind not in "iuf" or x.ndim != 2:
        raise InputError(f"{where}.x", "must be a list of equally long lists of numbers (nodes × features)")
    if x.shape[0] == 0:
        raise InputError(f"{where}.x", "a graph needs at least one node")
    if x.shape[0] > limits.max_nodes:
        raise InputError(f"{where}.x", f"{x.shape[0]} nodes, more than the limit of {limits.max_nodes}", 413)
    if in_channels is not None and x.shape[1] != in_channels:
        raise InputError(f"{where}.x", f"{x.shape[1]} features per node; this model takes {in_channels}")
    if not np.isfinite(x).all():
        raise InputError(f"{where}.x", "holds NaN or infinite values")
    edges = _array(value["edge_index"], f"{where}.edge_index", "two lists of node ids")
    if edges.size == 0 and edges.ndim <= 2 and (edges.ndim < 2 or edges.shape[0] == 2):
        edges = np.zeros((2, 0), dtype=np.int64)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise InputError(f"{where}.edge_index", f"must be two equally long lists (sources, targets), got shape "
                                                f"{list(edges.shape)}")
    if edges.size and edges.dtype.kind not in "iu":
        raise InputError(f"{where}.edge_index", "node ids must be integers")
    if edges.shape[1] > limits.max_edges:
        raise InputError(f"{where}.edge_index", f"{edges.shape[1]} edges, more than the limit of {limits.max_edges}",
                         413)
    if edges.size and (edges.min() < 0 or edges.max() >= x.shape[0]):
        bad = int(np.argmax((edges < 0) | (edges >= x.shape[0])) % edges.shape[1])
        raise InputError(f"{where}.edge_index", f"edge {bad} ({int(edges[0, bad])} → {int(edges[1, bad])}) "
                                                f"points outside the graph's {x.shape[0]} nodes")
    return {"x": x.astype(np.float32).tolist(), "edge_index": edges.astype(np.int64).tolist()}


def _array(value: Any, field: str, what: str) -> np.ndarray:
    if not isinstance(value, list):
        raise InputError(field, f"must be {what} as JSON lists, not {_json_type(value)}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise InputError(field, f"must be {what}: the lists are not equally long") from None
    if array.dtype == object or array.dtype.kind in "bUS":
        raise InputError(field, f"must be {what}: found values that are not numbers or lists not equally long")
    return array


def _known_keys(value: dict, known: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise InputError(f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(known)})")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
