"""The sweep report: the table's figures, one scatter point per trial, learning curves at the
right coordinates, fANOVA importance bars, escaped names, predicted and human rationales — read back
from the written HTML."""
import json
import re
from html.parser import HTMLParser

import pytest
import yaml

from pipelines.layout import SUMMARY_FILE, SWEEP_FILE
from pipelines.report import H, LEGEND, PAD, W, write_report


class Page(HTMLParser):
    """Table rows (cell texts), SVG circles, polylines and bars, marked words, section titles."""

    def __init__(self):
        super().__init__()
        self.rows, self.circles, self.polylines, self.marks, self.rects, self.titles = [], [], [], [], [], []
        self._in_title = False
        self._row, self._cell, self._in_mark = None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "circle":
            self.circles.append((float(attrs["cx"]), float(attrs["cy"]), attrs["fill"]))
        elif tag == "polyline":
            self.polylines.append([tuple(map(float, p.split(","))) for p in attrs["points"].split()])
        elif tag == "mark":
            self._in_mark = True
        elif tag == "rect":
            self.rects.append(float(attrs["width"]))
        elif tag == "h2":
            self._in_title = True
            self.titles.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_title = False
        if tag in ("td", "th"):
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)
        elif tag == "mark":
            self._in_mark = False

    def handle_data(self, data):
        if self._in_title:
            self.titles[-1] += data
        if self._cell is not None:
            self._cell += data
        if self._in_mark:
            self.marks.append(data)


def trial(sparsity, accuracy, f1=None, norm=None, lr=None):
    dev = {"sparsity": sparsity, "accuracy": accuracy, **({"f1": f1} if f1 is not None else {})}
    params = {"objective.lambda_norm": norm, "train.lr": lr} if norm is not None else {}
    return {"best_dev": dev, "params": params, "best_score": accuracy}


SUMMARY = {
    "name": "demo", "wall_time_s": 42.0,
    "studies": {
        "text<b>-gru-n2r": {
            "trials": [trial(0.1, 0.8, 0.5, 1.0, 1e-3), trial(0.2, 0.9, 0.7, 3.0, 2e-3), trial(0.3, 0.7, 0.4, 0.3, 1e-3),
                       trial(0.15, 0.85, 0.6, 2.0, 3e-3)],
            "best": {"best_score": 0.9, "best_dev": {"accuracy": 0.9, "sparsity": 0.2, "f1": 0.7},
                     "params": {"objective.lambda_norm": 1.23456},
                     "curves": {"epoch": [1, 2, 3], "score": [0.5, 0.75, 0.9]}},
            "useful_work_share": 0.85},
        "graphs-gcn-rnp": {"trials": [trial(0.25, 0.6)], "best": None},
    },
}


def test_nice_ticks_are_round_and_cover_the_range():
    from pipelines.report import nice_ticks

    assert nice_ticks(0.1, 0.3) == [0.1, 0.15, 0.2, 0.25, 0.3]
    assert nice_ticks(0, 0.0928) == [0, 0.02, 0.04, 0.06, 0.08, 0.1]
    assert nice_ticks(-0.517, 1) == [-1, -0.5, 0, 0.5, 1]
    assert nice_ticks(1, 300) == [0, 100, 200, 300]
    assert nice_ticks(0.2, 0.2) == [0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26]


def test_report_table_plots_and_examples(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    (tmp_path / SWEEP_FILE).write_text(yaml.safe_dump({"space": {"objective.lambda_norm": {"loguniform": [0.1, 10.0]},
                                                                 "train.lr": {"loguniform": [1e-4, 1e-2]}}}))
    card = tmp_path / "export" / "text<b>-gru-n2r" / "metrics.json"
    card.parent.mkdir(parents=True)
    card.write_text(json.dumps({"test": {"accuracy": 0.875, "sparsity": 0.19, "f1": 0.6}}))
    explanations = {"text<b>-gru-n2r": [{"tokens": ["a", "<great>", "film"], "rationale": [0, 1, 1], "label": 1,
                                         "probability": 0.93, "gold_label": 1, "gold_rationale": [1, 1, 0]}],
                    "graphs-gcn-rnp": [{"edges": [[0, 1]], "label": 0, "probability": 0.6, "gold_label": 1}]}
    out = write_report(tmp_path, explanations)
    text = out.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)

    header, text_row, graph_row = page.rows
    assert header[0] == "study" and header[-1] == "best coefficients"
    assert text_row[:10] == ["text<b>-gru-n2r", "4", "0.900", "0.900", "0.200", "0.700", "0.875", "0.190", "0.600",
                             "0.850"]
    assert json.loads(text_row[10]) == {"lambda_norm": 1.235}
    assert graph_row[:3] == ["graphs-gcn-rnp", "1", "–"] and graph_row[6:9] == ["–", "–", "–"]  # no best, no card
    assert "text<b>" not in text.replace("&lt;b&gt;", "")          # names are escaped, never markup

    # accuracy scatter: 4 trials; F1 scatter: the 3 with F1. x spans the sparsities 0.1–0.3, y is [0, 1]
    assert len(page.circles) == 9
    left, right, bottom, top = PAD, W - LEGEND, H - PAD, 20
    assert [c[0] for c in page.circles[:5]] == [round(left + (right - left) * f, 1) for f in (0, 0.5, 1, 0.25, 0.75)]
    assert len({c[2] for c in page.circles[:5]}) == 2                # one colour per study
    for label in ("0.1", "0.15", "0.2", "0.25", "0.3", "0", "0.4", "0.6", "0.8", "1"):   # round ticks on both axes
        assert f">{label}</text>" in text, label
    assert ">0.14</text>" not in text and ">0.18</text>" not in text
    cx, cy, _ = page.circles[1]                                     # sparsity 0.2, accuracy 0.9
    assert (cx, cy) == (round(left + (right - left) * 0.5, 1), round(bottom - 0.9 * (bottom - top), 1))

    # one learning curve: epochs 1–3 across the width, scores on [0, 1]
    (curve,) = page.polylines
    assert [p[0] for p in curve] == [left, round(left + (right - left) / 2, 1), right]
    assert [p[1] for p in curve] == [round(bottom - s * (bottom - top), 1) for s in (0.5, 0.75, 0.9)]

    assert page.marks == ["<great>", "film", "a", "<great>"]            # predicted, then the human rationale
    assert "predicted: a" in text.replace("<mark>", "").replace("</mark>", "").replace("&lt;", "<").replace("&gt;", ">") \
        and "<br>human: " in text
    # fANOVA importances: one bar per searched coefficient for the study with scored trials, shares summing to 1
    assert [t.split(":")[0].split(" (")[0] for t in page.titles] == [       # every section, in order
        "Trials", "Learning curves of the best trials", "Which coefficients mattered", "Explained test inputs"]
    assert len(page.rects) == 2 and sum(page.rects) == pytest.approx(W - 170 - 20, rel=1e-3)
    assert re.search(r"predicted 1 \(p = 0\.93\), gold 1", text)
    assert "selected edges: [[0, 1]]" in text
