"""The sweep report: one self-contained HTML file with a table and inline SVG plots.

Per study: the best trial's dev metrics and the exported bundle's test metrics; a scatter of
dev F1 (where annotated) and dev accuracy against achieved dev sparsity across trials (each
trial at its best epoch); learning curves (dev score per epoch) of the best trials; a few
explained test inputs.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pipelines.layout import SUMMARY_FILE

W, H, PAD, LEGEND = 480, 220, 36, 130   # LEGEND: width kept right of the plot for the series names
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _scale(values: list[float], lo: float | None = None, hi: float | None = None):
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    span = (hi - lo) or 1.0
    return lambda v: (v - lo) / span, lo, hi


def _axes(title: str, xlabel: str, ylabel: str, xlo: float, xhi: float, ylo: float, yhi: float) -> list[str]:
    return [f"<svg width='{W}' height='{H}' xmlns='http://www.w3.org/2000/svg' font-size='10'>",
            f"<text x='{(W - LEGEND) / 2}' y='12' text-anchor='middle' font-weight='bold'>{html.escape(title)}</text>",
            f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - LEGEND}' y2='{H - PAD}' stroke='#333'/>",
            f"<line x1='{PAD}' y1='{H - PAD}' x2='{PAD}' y2='20' stroke='#333'/>",
            f"<text x='{(W - LEGEND) / 2}' y='{H - 6}' text-anchor='middle'>{html.escape(xlabel)}</text>",
            f"<text x='10' y='{H / 2}' transform='rotate(-90 10 {H / 2})' text-anchor='middle'>{html.escape(ylabel)}</text>",
            f"<text x='{PAD}' y='{H - PAD + 12}' text-anchor='middle'>{xlo:.2g}</text>",
            f"<text x='{W - LEGEND}' y='{H - PAD + 12}' text-anchor='end'>{xhi:.2g}</text>",
            f"<text x='{PAD - 3}' y='{H - PAD}' text-anchor='end'>{ylo:.2g}</text>",
            f"<text x='{PAD - 3}' y='24' text-anchor='end'>{yhi:.2g}</text>"]


def _xy(fx, fy, x: float, y: float) -> tuple[float, float]:
    return PAD + fx(x) * (W - PAD - LEGEND), H - PAD - fy(y) * (H - PAD - 20)


def scatter(title: str, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str) -> str:
    points = [p for pts in series.values() for p in pts]
    if not points:
        return ""
    fx, xlo, xhi = _scale([p[0] for p in points])
    fy, ylo, yhi = _scale([p[1] for p in points], 0.0, 1.0)
    out = _axes(title, xlabel, ylabel, xlo, xhi, ylo, yhi)
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        for x, y in pts:
            cx, cy = _xy(fx, fy, x, y)
            out.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='3.5' fill='{color}' fill-opacity='0.75'/>")
        out.append(f"<text x='{W - LEGEND + 8}' y='{30 + 12 * i}' fill='{color}'>{html.escape(name)}</text>")
    return "".join(out) + "</svg>"


def curves(title: str, series: dict[str, tuple[list[float], list[float]]], ylabel: str) -> str:
    xs = [x for xs_, _ in series.values() for x in xs_]
    ys = [y for _, ys_ in series.values() for y in ys_]
    if not xs:
        return ""
    fx, xlo, xhi = _scale(xs)
    fy, ylo, yhi = _scale(ys, min(min(ys), 0.0), max(max(ys), 1.0))
    out = _axes(title, "epoch", ylabel, xlo, xhi, ylo, yhi)
    for i, (name, (x_values, y_values)) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = " ".join("{:.1f},{:.1f}".format(*_xy(fx, fy, x, y)) for x, y in zip(x_values, y_values))
        out.append(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='2'/>")
        out.append(f"<text x='{W - LEGEND + 8}' y='{30 + 12 * i}' fill='{color}'>{html.escape(name)}</text>")
    return "".join(out) + "</svg>"


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def write_report(sweep_dir: str | Path, explanations: dict[str, list] | None = None) -> Path:
    sweep_dir = Path(sweep_dir)
    summary = json.loads((sweep_dir / SUMMARY_FILE).read_text())
    rows, accuracy, f1, learning = [], {}, {}, {}
    for name, study in summary["studies"].items():
        card_path = sweep_dir / "export" / name / "metrics.json"
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        best = study.get("best") or {}
        dev, test = best.get("best_dev", {}), card.get("test", {})
        params = {k.split(".")[-1]: round(v, 3) for k, v in best.get("params", {}).items()}
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{len(study['trials'])}</td><td>{_fmt(best.get('best_score'))}</td>"
                    f"<td>{_fmt(dev.get('accuracy'))}</td><td>{_fmt(dev.get('sparsity'))}</td><td>{_fmt(dev.get('f1'))}</td>"
                    f"<td>{_fmt(test.get('accuracy'))}</td><td>{_fmt(test.get('sparsity'))}</td><td>{_fmt(test.get('f1'))}</td>"
                    f"<td>{_fmt(study.get('useful_work_share'))}</td>"
                    f"<td>{html.escape(json.dumps(params))}</td></tr>")
        accuracy[name] = [(t["best_dev"]["sparsity"], t["best_dev"]["accuracy"]) for t in study["trials"]
                          if t.get("best_dev") and "sparsity" in t["best_dev"]]
        f1[name] = [(t["best_dev"]["sparsity"], t["best_dev"]["f1"]) for t in study["trials"]
                    if t.get("best_dev") and "f1" in t["best_dev"]]
        if best.get("curves"):
            learning[name] = (best["curves"]["epoch"], best["curves"]["score"])
    examples = []
    for name, items in (explanations or {}).items():
        for item in items:
            if "tokens" in item:
                words = " ".join(f"<mark>{html.escape(t)}</mark>" if b else html.escape(t)
                                 for t, b in zip(item["tokens"], item["rationale"]))
            else:
                words = f"selected edges: {html.escape(json.dumps(item['edges']))}"
            examples.append(f"<div class='ex'><b>{html.escape(name)}</b> — predicted {item['label']} "
                            f"(p = {item['probability']:.2f}), gold {item.get('gold_label')}<br>{words}</div>")
    page = f"""<!doctype html><meta charset='utf-8'><title>n2r sweep {html.escape(summary['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}mark{{background:#ffd54f}}
.ex{{margin:.6em 0;font-size:13px}}svg{{margin:.5em 1em .5em 0}}</style>
<h1>Sweep {html.escape(summary['name'])}</h1>
<p>Wall time {summary['wall_time_s']:.0f} s. Selection uses the dev <code>score</code> only; test columns are the
exported (dev-selected) model evaluated once on the test split.</p>
<table><tr><th>study</th><th>trials</th><th>best score</th><th>dev acc</th><th>dev S</th><th>dev F1</th>
<th>test acc</th><th>test S</th><th>test F1</th><th>useful-work share</th><th>best coefficients</th></tr>
{''.join(rows)}</table>
<h2>Trials: accuracy and rationale F1 against achieved sparsity (dev, best epoch of each trial)</h2>
{scatter('dev accuracy vs sparsity', accuracy, 'dev sparsity', 'dev accuracy')}
{scatter('dev F1 vs sparsity', f1, 'dev sparsity', 'dev F1')}
<h2>Learning curves of the best trials</h2>
{curves('dev score per epoch', learning, 'score')}
<h2>Explained test inputs</h2>
{''.join(examples)}
"""
    out = sweep_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
