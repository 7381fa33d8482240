"""The sweep report: one self-contained HTML file with a table and inline SVG plots.

Per study: the best trial's dev metrics and the exported bundle's test metrics; a scatter of
dev F1 (where annotated) and dev accuracy against achieved dev sparsity across trials (each
trial at its best epoch); learning curves (dev score per epoch) of the best trials; the fANOVA
importance of each searched coefficient; a few explained test inputs, with the human rationale
beside the prediction where the test split has one.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from pipelines.layout import SUMMARY_FILE, SWEEP_FILE

W, H, PAD, LEGEND = 480, 220, 36, 130   # LEGEND: width kept right of the plot for the series names
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def nice_ticks(lo: float, hi: float, intervals: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]``: the step is the smallest of 1, 2, 2.5, 5 × 10^k
    giving at most ``intervals`` intervals over the span, the ends are the multiples of the step
    at or beyond ``lo`` and ``hi`` (an empty span is widened by a quarter of the value, or ½)."""
    if hi <= lo:
        pad = abs(lo) / 4 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / intervals
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(start, stop + 1)]


def _scale(values: list[float], lo: float | None = None, hi: float | None = None):
    """``(fraction of the axis, ticks)``: the axis runs from the first to the last nice tick."""
    ticks = nice_ticks(min(values) if lo is None else lo, max(values) if hi is None else hi)
    first, span = ticks[0], ticks[-1] - ticks[0]
    return (lambda v: (v - first) / span), ticks


def _axes(title: str, xlabel: str, ylabel: str, fx, xticks: list[float], fy, yticks: list[float]) -> list[str]:
    return [f"<svg width='{W}' height='{H}' xmlns='http://www.w3.org/2000/svg' font-size='10'>",
            f"<text x='{(W - LEGEND) / 2}' y='12' text-anchor='middle' font-weight='bold'>{html.escape(title)}</text>",
            *_grid(fx, xticks, fy, yticks),
            f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - LEGEND}' y2='{H - PAD}' stroke='#333'/>",
            f"<line x1='{PAD}' y1='{H - PAD}' x2='{PAD}' y2='20' stroke='#333'/>",
            f"<text x='{(W - LEGEND) / 2}' y='{H - 6}' text-anchor='middle'>{html.escape(xlabel)}</text>",
            f"<text x='10' y='{H / 2}' transform='rotate(-90 10 {H / 2})' text-anchor='middle'>{html.escape(ylabel)}</text>"]


def _grid(fx, xticks: list[float], fy, yticks: list[float]) -> list[str]:
    """A labelled tick with a light grid line at every nice tick of both axes."""
    out = []
    for v in xticks:
        x = PAD + fx(v) * (W - PAD - LEGEND)
        out.append(f"<line x1='{x:.1f}' y1='20' x2='{x:.1f}' y2='{H - PAD}' stroke='#eee'/>"
                   f"<text x='{x:.1f}' y='{H - PAD + 12}' text-anchor='middle'>{v:g}</text>")
    for v in yticks:
        y = H - PAD - fy(v) * (H - PAD - 20)
        out.append(f"<line x1='{PAD}' y1='{y:.1f}' x2='{W - LEGEND}' y2='{y:.1f}' stroke='#eee'/>"
                   f"<text x='{PAD - 3}' y='{y + 3:.1f}' text-anchor='end'>{v:g}</text>")
    return out


def _xy(fx, fy, x: float, y: float) -> tuple[float, float]:
    return PAD + fx(x) * (W - PAD - LEGEND), H - PAD - fy(y) * (H - PAD - 20)


def scatter(title: str, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str) -> str:
    points = [p for pts in series.values() for p in pts]
    if not points:
        return ""
    fx, xticks = _scale([p[0] for p in points])
    fy, yticks = _scale([p[1] for p in points], 0.0, 1.0)
    out = _axes(title, xlabel, ylabel, fx, xticks, fy, yticks)
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
    fx, xticks = _scale(xs)
    fy, yticks = _scale(ys, min(min(ys), 0.0), max(max(ys), 1.0))
    out = _axes(title, "epoch", ylabel, fx, xticks, fy, yticks)
    for i, (name, (x_values, y_values)) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = " ".join("{:.1f},{:.1f}".format(*_xy(fx, fy, x, y)) for x, y in zip(x_values, y_values))
        out.append(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='2'/>")
        out.append(f"<text x='{W - LEGEND + 8}' y='{30 + 12 * i}' fill='{color}'>{html.escape(name)}</text>")
    return "".join(out) + "</svg>"


def importances(study: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, float]:
    """fANOVA importance of each searched coefficient for the tuning score of one study's trials
    (Optuna's ``FanovaImportanceEvaluator``, seeded): the share of the score's variance each
    coefficient explains. Empty with fewer than two scored trials or no spread in the scores."""
    import optuna

    from pipelines.spec import optuna_distributions

    distributions = optuna_distributions(space)
    trials = [t for t in study.get("trials", []) if t.get("params") and isinstance(t.get("best_score"), (int, float))]
    if len(trials) < 2 or len({t["best_score"] for t in trials}) < 2:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    record = optuna.create_study(direction="maximize")
    for t in trials:
        params = {k: v for k, v in t["params"].items() if k in distributions}
        record.add_trial(optuna.trial.create_trial(params=params, value=float(t["best_score"]),
                                                   distributions={k: distributions[k] for k in params}))
    scores = optuna.importance.get_param_importances(record, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    return {k: float(v) for k, v in scores.items()}


def bars(title: str, values: dict[str, float]) -> str:
    """Horizontal bars on a 0–1 axis with ticks at every 0.2, one per named value (largest first)."""
    if not values:
        return ""
    row, left, width = 18, 170, W - 170 - 20
    height = 30 + row * len(values) + 24
    out = [f"<svg width='{W}' height='{height}' xmlns='http://www.w3.org/2000/svg' font-size='10'>",
           f"<text x='{W / 2}' y='12' text-anchor='middle' font-weight='bold'>{html.escape(title)}</text>"]
    for tick in range(6):
        x = left + width * tick / 5
        out.append(f"<line x1='{x:.1f}' y1='22' x2='{x:.1f}' y2='{height - 20}' stroke='#ddd'/>"
                   f"<text x='{x:.1f}' y='{height - 8}' text-anchor='middle'>{tick / 5:.1f}</text>")
    for i, (name, value) in enumerate(sorted(values.items(), key=lambda kv: -kv[1])):
        y = 26 + row * i
        out.append(f"<text x='{left - 6}' y='{y + 11}' text-anchor='end'>{html.escape(name)}</text>"
                   f"<rect x='{left}' y='{y}' width='{width * value:.1f}' height='{row - 5}' fill='{COLORS[0]}'/>"
                   f"<text x='{left + width * value + 4:.1f}' y='{y + 11}'>{value:.2f}</text>")
    return "".join(out) + "</svg>"


def _marked(tokens: list[str], bits: list[int] | None) -> str:
    return " ".join(f"<mark>{html.escape(t)}</mark>" if b else html.escape(t) for t, b in zip(tokens, bits or []))


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
    space = {}
    if (sweep_dir / SWEEP_FILE).is_file():
        import yaml

        space = (yaml.safe_load((sweep_dir / SWEEP_FILE).read_text()) or {}).get("space", {})
    importance = "".join(bars(f"{name}: fANOVA importance of each coefficient for the tuning score",
                              {k.split(".")[-1]: v for k, v in importances(study, space).items()})
                         for name, study in summary["studies"].items())
    examples = []
    for name, items in (explanations or {}).items():
        for item in items:
            if "tokens" in item:
                words = "predicted: " + _marked(item["tokens"], item["rationale"])
                if item.get("gold_rationale") is not None:
                    words += "<br>human: " + _marked(item["tokens"], item["gold_rationale"])
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
<h2>Which coefficients mattered</h2>
{importance or '<p>Fewer than two scored trials per study: no importances.</p>'}
<h2>Explained test inputs (the human rationale below the prediction where the test split has one)</h2>
{''.join(examples)}
"""
    out = sweep_dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
