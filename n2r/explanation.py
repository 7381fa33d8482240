"""One input's explanation as a typed value, and its one JSON shape.

:class:`Explanation` is what :meth:`n2r.bundle.Bundle.explain` and
:func:`n2r.explain.explain_many` return, what ``n2r explain`` prints (one JSON line per input),
what ``n2r serve`` answers and what ERASER predictions (:mod:`n2r.eraser`) are written from.

JSON shape (:meth:`Explanation.to_json`; :meth:`Explanation.from_json` reads it back)::

    {"label": 1, "probability": 0.93, "probabilities": [0.07, 0.93],
     "tokens": ["a", "dark", "pour"],                         # text inputs
     "rationale": {"mask": [0, 1, 1], "scores": [0.1, 0.8, 0.7],
                   "tokens": ["dark", "pour"], "spans": [[1, 3]]}}

    {"label": 0, "probability": 0.81, "probabilities": [0.81, 0.19],
     "rationale": {"edges": [[0, 1]], "mask": [1, 0], "scores": [0.9, 0.2],   # graph inputs: one
                   "node_mask": [1, 1, 0]}}                                   # entry per input edge

``mask`` is the selection (1 = in the rationale) per token (text) or per input edge (graphs);
``scores`` the generator's selection probability of each; ``spans`` the ``[start, end)`` runs of
selected tokens; ``node_mask`` the selected nodes, for graph models whose generator selects nodes
(else absent). ``label`` and ``probabilities`` are the predictor's, on the rationale alone.
``probabilities_without`` (only when asked for, :func:`n2r.explain.explain_many` with
``faithfulness=True``) are the predictor's on the input with the rationale removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from n2r.metrics import spans_of


@dataclass(frozen=True)
class Explanation:
    """The rationale for one input and the prediction made from it (see the module docstring)."""

    label: int
    probabilities: tuple[float, ...]
    mask: tuple[int, ...]
    scores: tuple[float, ...]
    tokens: tuple[str, ...] | None = None                      # text inputs
    edge_index: tuple[tuple[int, int], ...] | None = None      # graph inputs: (source, target) per edge
    node_mask: tuple[int, ...] | None = None
    probabilities_without: tuple[float, ...] | None = None

    def __post_init__(self):
        units = self.tokens if self.tokens is not None else self.edge_index
        if (self.tokens is None) == (self.edge_index is None):
            raise ValueError("Explanation: give tokens (text) or edge_index (graphs), not both or neither")
        if not (len(self.mask) == len(self.scores) == len(units)):
            raise ValueError(f"Explanation: {len(units)} units but {len(self.mask)} mask entries and "
                             f"{len(self.scores)} scores")

    @property
    def kind(self) -> str:
        return "text" if self.tokens is not None else "graph"

    @property
    def probability(self) -> float:
        """The predicted label's probability."""
        return self.probabilities[self.label]

    @property
    def spans(self) -> list[tuple[int, int]]:
        """``[start, end)`` runs of selected units (tokens, or edges in input order)."""
        return spans_of(self.mask)

    @property
    def selected(self) -> list:
        """The selected tokens (text) or ``[source, target]`` edges (graphs), in input order."""
        units = self.tokens if self.tokens is not None else [list(e) for e in self.edge_index]
        return [unit for unit, bit in zip(units, self.mask) if bit]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "probability": self.probability,
                               "probabilities": list(self.probabilities)}
        if self.tokens is not None:
            out["tokens"] = list(self.tokens)
            out["rationale"] = {"mask": list(self.mask), "scores": list(self.scores), "tokens": self.selected,
                                "spans": [list(s) for s in self.spans]}
        else:
            out["rationale"] = {"edges": self.selected, "mask": list(self.mask), "scores": list(self.scores)}
            if self.node_mask is not None:
                out["rationale"]["node_mask"] = list(self.node_mask)
        if self.probabilities_without is not None:
            out["probabilities_without"] = list(self.probabilities_without)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], edge_index: list[list[int]] | None = None) -> "Explanation":
        """The value :meth:`to_json` wrote. A graph answer lists only the selected edges, so the
        input's ``edge_index`` (two lists, as sent) is needed to read it back."""
        rationale = data["rationale"]
        common = {"label": int(data["label"]), "probabilities": tuple(data["probabilities"]),
                  "mask": tuple(rationale["mask"]), "scores": tuple(rationale["scores"]),
                  "probabilities_without": None if data.get("probabilities_without") is None
                  else tuple(data["probabilities_without"])}
        if "tokens" in data:
            return cls(tokens=tuple(data["tokens"]), **common)
        if edge_index is None:
            raise ValueError("Explanation.from_json: a graph answer needs the input's edge_index")
        return cls(edge_index=tuple(zip(*edge_index)),
                   node_mask=None if rationale.get("node_mask") is None else tuple(rationale["node_mask"]), **common)
