"""The sweep report: the table's figures, one scatter point per trial, learning curves at the
right coordinates, fANOVA importance bars, escaped names, predicted and human rationales — read back
from the written HTML."""
import json
import re
from html.parser import HTMLParser

import pytest
import yaml

from pipelines.layout import SUMMARY_FILE, SWEEP_FILE
from pipelines.report import write_report


class Page(HTMLParser):
    """Table rows (cell texts), the plotted series (SVG groups ``points-…``, ``curve-…``, ``bar-…``:
    marker positions and path vertices), SVG texts, marked words, section titles."""

    def __init__(self):
        super().__init__()
        self.rows, self.marks, self.titles, self.svg_texts = [], [], [], []
        self.points, self.paths, self.figures = {}, {}, []     # figures: the texts of each <svg>
        self._groups, self._in_title, self._in_svg_text = [], False, False
        self._row, self._cell, self._in_mark = None, None, False

    def series(self):
        return next((g for g in reversed(self._groups) if g and g.split("-")[0] in ("points", "curve", "bar")), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "g":
            self._groups.append(attrs.get("id"))
        elif tag == "use" and self.series():
            self.points.setdefault(self.series(), []).append((float(attrs["x"]), float(attrs["y"])))
        elif tag == "path" and self.series() and "d" in attrs:
            numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", attrs["d"])]
            self.paths.setdefault(self.series(), []).append(list(zip(numbers[::2], numbers[1::2])))
        elif tag == "svg":
            self.figures.append([])
        elif tag == "text":
            self._in_svg_text = True
            self.svg_texts.append("")
        elif tag == "mark":
            self._in_mark = True
        elif tag == "h2":
            self._in_title = True
            self.titles.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_title = False
        elif tag == "g":
            self._groups.pop()
        elif tag == "text":
            self._in_svg_text = False
            self.figures[-1].append(self.svg_texts[-1])
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
        if self._in_svg_text:
            self.svg_texts[-1] += data
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


def test_report_table_plots_and_examples(tmp_path):
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(SUMMARY))
    (tmp_path / SWEEP_FILE).write_text(yaml.safe_dump({"space": {"objective.lambda_norm": {"loguniform": [0.1, 10.0]},
                                                                 "train.lr": {"loguniform": [1e-4, 1e-2]}}}))
    card = tmp_path / "export" / "text<b>-gru-n2r" / "metrics.json"
    card.parent.mkdir(parents=True)
    card.write_text(json.dumps({"test": {"accuracy": 0.875, "sparsity": 0.19, "f1": 0.6}}))
    explanations = {"text<b>-gru-n2r": [{"tokens": ["a", "<great>", "film"], "rationale": {"mask": [0, 1, 1]}, "label": 1,
                                         "probability": 0.93, "gold_label": 1, "gold_rationale": [1, 1, 0]}],
                    "graphs-gcn-rnp": [{"rationale": {"edges": [[0, 1]]}, "label": 0, "probability": 0.6,
                                        "gold_label": 1}]}
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

    # accuracy scatter: one point per trial (4 and 1); F1 scatter: the text study's 4 (the graph study has no F1)
    accuracy, f1 = page.points["points-text_b_-gru-n2r"][:4], page.points["points-text_b_-gru-n2r"][4:]
    assert len(accuracy) == 4 and len(f1) == 4 and len(page.points["points-graphs-gcn-rnp"]) == 1
    sparsities, accuracies = [0.1, 0.2, 0.3, 0.15], [0.8, 0.9, 0.7, 0.85]
    xs, ys = [p[0] for p in accuracy], [p[1] for p in accuracy]
    assert (xs[2] - xs[0]) / (xs[1] - xs[0]) == pytest.approx((0.3 - 0.1) / (0.2 - 0.1), rel=1e-3)   # linear in x
    assert sorted(range(4), key=xs.__getitem__) == sorted(range(4), key=sparsities.__getitem__)
    assert sorted(range(4), key=ys.__getitem__) == sorted(range(4), key=lambda i: -accuracies[i])      # SVG y points down
    assert (ys[2] - ys[1]) / (ys[0] - ys[1]) == pytest.approx((0.9 - 0.7) / (0.9 - 0.8), rel=1e-3)
    assert {"dev sparsity", "dev accuracy", "dev F1", "0.0", "0.2", "0.4", "0.6", "0.8", "1.0"} <= set(page.svg_texts)

    # one learning curve through (1, 0.5), (2, 0.75), (3, 0.9): equal x steps, y steps in ratio 0.25 : 0.15
    (line, *_) = page.paths["curve-text_b_-gru-n2r"]
    (x1, y1), (x2, y2), (x3, y3) = line[:3]
    assert x2 - x1 == pytest.approx(x3 - x2, rel=1e-3) and (y1 - y2) / (y2 - y3) == pytest.approx(0.25 / 0.15, rel=1e-3)
    assert {"1", "2", "3", "epoch"} <= set(page.svg_texts)                                        # whole epochs

    assert page.marks == ["<great>", "film", "a", "<great>"]            # predicted, then the human rationale
    assert "predicted: a" in text.replace("<mark>", "").replace("</mark>", "").replace("&lt;", "<").replace("&gt;", ">") \
        and "<br>human: " in text
    # fANOVA importances: one bar per searched coefficient for the study with scored trials, shares summing to 1
    assert [t.split(":")[0].split(" (")[0] for t in page.titles] == [       # every section, in order
        "Trials", "Learning curves of the best trials", "Which coefficients mattered", "Explained test inputs"]
    widths = {name: max(x for x, _ in path[0]) - min(x for x, _ in path[0]) for name, path in page.paths.items()
              if name.startswith("bar-")}
    (figure,) = [f for f in page.figures if "text<b>-gru-n2r: fANOVA importance for the tuning score" in f]
    shown = [float(t) for t in figure if re.fullmatch(r"0\.\d\d|1\.00", t)]                  # the bars' labels
    assert len(widths) == 2 and len(shown) == 2 and sum(shown) == pytest.approx(1.0, abs=0.011)   # shares of 1
    lr, norm = (widths[k] for k in sorted(widths))                                  # "…-lambda_norm" < "…-lr"
    assert {"lambda_norm", "lr"} <= set(page.svg_texts)
    assert max(norm, lr) / min(norm, lr) == pytest.approx(max(shown) / min(shown), rel=0.05)     # bar length ∝ share
    assert re.search(r"predicted 1 \(p = 0\.93\), gold 1", text)
    assert "selected edges: [[0, 1]]" in text


def test_importance_ranks_a_method_choice_that_decides_the_score():
    """FR / DR are choices of the search (tune_spaces/parts/methods.yaml): when one decides the
    score, fANOVA says so, with the coefficients far behind."""
    from pipelines.report import importances

    space = {"model.shared_encoder": {"choice": [False, True]}, "train.predictor_lr_scale": {"choice": [1.0, 0.1]},
             "objective.lambda_norm": {"loguniform": [0.1, 10.0]}}
    trials = [{"params": {"model.shared_encoder": shared, "train.predictor_lr_scale": scale, "objective.lambda_norm": norm},
               "best_score": (0.9 if scale == 0.1 else 0.6) + 0.001 * norm}
              for shared in (False, True) for scale in (1.0, 0.1) for norm in (0.2, 1.0, 5.0)]
    shares = importances({"trials": trials}, space)
    assert set(shares) == set(space) and sum(shares.values()) == pytest.approx(1.0)
    assert shares["train.predictor_lr_scale"] > 0.9, shares
