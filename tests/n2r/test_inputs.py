"""Input checks shared by ``n2r explain`` and ``n2r serve``: accepted forms, and every refusal
with its field and HTTP status."""
import re

import pytest

from n2r.config import RunConfig
from n2r.inputs import InputError, InputLimits, parse_inputs, parse_item

SMALL = InputLimits(max_items=3, max_tokens=5, max_text_chars=40, max_nodes=4, max_edges=3)


def test_text_forms_become_token_lists():
    assert parse_item("The Beer, dark!", "text") == {"tokens": ["the", "beer", ",", "dark", "!"]}
    assert parse_item({"text": "The Beer"}, "text") == {"tokens": ["the", "beer"]}
    assert parse_item({"tokens": ["Keep", "CASE"]}, "text") == {"tokens": ["Keep", "CASE"]}
    assert parse_item({"tokens": ["", "a"]}, "text") == {"tokens": ["", "a"]}     # Beer's test split has one
    assert parse_inputs({"text": "a b"}, "text") == ([{"tokens": ["a", "b"]}], False)
    assert parse_inputs([{"text": "a"}, {"tokens": ["b"]}], "text") == ([{"tokens": ["a"]}, {"tokens": ["b"]}], True)


def test_graph_forms_are_normalised():
    graph = {"x": [[1, 0], [0, 1], [1, 1]], "edge_index": [[0, 1], [1, 2]]}
    expected = {"x": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "edge_index": [[0, 1], [1, 2]]}
    assert parse_item(graph, "graph", in_channels=2) == expected
    assert parse_item({"graph": graph}, "graph", in_channels=2) == expected
    assert parse_item({"x": [[1.0]], "edge_index": [[], []]}, "graph")["edge_index"] == [[], []]
    assert parse_item({"x": [[1.0]], "edge_index": []}, "graph")["edge_index"] == [[], []]


@pytest.mark.parametrize("payload, field, status, message", [
    ([], "inputs", 400, "an empty list"),
    ([{"text": "a"}] * 4, "inputs", 413, "4 inputs, more than the limit of 3"),
    (7, "input", 400, "an object with 'text' or 'tokens', not a number"),
    ([{"text": "a"}, None], "inputs[1]", 400, "not null"),
    ({"txt": "a"}, "input.txt", 422, "unknown field (known: text, tokens)"),
    ({"text": "a", "tokens": ["a"]}, "input", 422, "exactly one of 'text' and 'tokens'"),
    ({}, "input", 422, "exactly one of"),
    ({"text": 5}, "input.text", 422, "must be a string, not a number"),
    ({"text": "   "}, "input.text", 422, "no tokens"),
    ({"text": "x" * 41}, "input.text", 413, "41 characters, more than the limit of 40"),
    ({"text": "a b c d e f"}, "input.text", 413, "6 tokens, more than the limit of 5"),
    ({"tokens": "a b"}, "input.tokens", 422, "must be a list of strings, not a string"),
    ({"tokens": []}, "input.tokens", 422, "no tokens"),
    ([{"tokens": ["a"]}, {"tokens": ["a", 3]}], "inputs[1].tokens[1]", 422, "must be a string, not a number"),
])
def test_bad_text_inputs_name_field_and_status(payload, field, status, message):
    with pytest.raises(InputError, match=re.escape(message)) as err:
        parse_inputs(payload, "text", SMALL)
    assert (err.value.field, err.value.status) == (field, status)
    assert str(err.value).startswith(f"{field}: ")


GOOD_X = [[0.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize("graph, field, status, message", [
    ("edges", "input", 400, "a graph input is an object"),
    ({"graph": {"x": GOOD_X, "edge_index": [[0], [1]]}, "extra": 1}, "input.extra", 422, "unknown field"),
    ({"x": GOOD_X}, "input.edge_index", 422, "missing"),
    ({"x": GOOD_X, "edge_index": [[0], [1]], "y": 1}, "input.y", 422, r"unknown field \(known: x, edge_index\)"),
    ({"x": "many", "edge_index": [[0], [1]]}, "input.x", 422, "not a string"),
    ({"x": [[0.0, 1.0], [1.0]], "edge_index": [[0], [1]]}, "input.x", 422, "not equally long"),
    ({"x": [[0.0, "a"], [1.0, 0.0]], "edge_index": [[0], [1]]}, "input.x", 422, "not numbers"),
    ({"x": [0.0, 1.0], "edge_index": [[0], [1]]}, "input.x", 422, "nodes × features"),
    ({"x": [], "edge_index": []}, "input.x", 422, "nodes × features"),
    ({"x": [[0.0, 1.0, 2.0]] * 2, "edge_index": [[0], [1]]}, "input.x", 422, "3 features per node; this model takes 2"),
    ({"x": [[0.0, 1.0]] * 5, "edge_index": [[0], [1]]}, "input.x", 413, "5 nodes, more than the limit of 4"),
    ({"x": [[float("nan"), 1.0]] * 2, "edge_index": [[0], [1]]}, "input.x", 422, "NaN or infinite"),
    ({"x": GOOD_X, "edge_index": [[0, 1]]}, "input.edge_index", 422, r"two equally long lists .* shape \[1, 2\]"),
    ({"x": GOOD_X, "edge_index": [[0, 1], [1]]}, "input.edge_index", 422, "not equally long"),
    ({"x": GOOD_X, "edge_index": [[0.5], [1]]}, "input.edge_index", 422, "node ids must be integers"),
    ({"x": GOOD_X, "edge_index": [[0, 1, 0, 1], [1, 0, 1, 0]]}, "input.edge_index", 413, "4 edges, more than"),
    ({"x": GOOD_X, "edge_index": [[0, 1], [1, 2]]}, "input.edge_index", 422,
     r"edge 1 \(1 → 2\) points outside the graph's 2 nodes"),
    ({"x": GOOD_X, "edge_index": [[-1], [0]]}, "input.edge_index", 422, r"edge 0 \(-1 → 0\) points outside"),
])
def test_bad_graph_inputs_name_field_and_status(graph, field, status, message):
    with pytest.raises(InputError, match=message) as err:
        parse_inputs(graph, "graph", SMALL, in_channels=2)
    assert (err.value.field, err.value.status) == (field, status)


def test_limits_are_checked_and_follow_a_bundles_pad_to():
    with pytest.raises(ValueError, match="InputLimits.max_tokens: must be a positive integer"):
        InputLimits(max_tokens=0)
    cfg = RunConfig.from_dict({"data": {"name": "synthetic-text"}, "train": {"pad_to": 256}})
    assert InputLimits(max_tokens=512).for_bundle(cfg).max_tokens == 256
    assert InputLimits(max_tokens=100).for_bundle(cfg).max_tokens == 100
    with pytest.raises(ValueError, match="unknown input kind 'audio'"):
        parse_item("a", "audio")
