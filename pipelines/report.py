"""The sweep report: one self-contained HTML file with a table and inline SVG plots (matplotlib).

Per study: the best trial's dev metrics and the exported bundle's test metrics; a scatter of
dev F1 (where annotated) and dev accuracy against achieved dev sparsity across trials (each
trial at its best epoch); learning curves (dev score per epoch) of the best trials; the fANOVA
importance of each searched coefficient; a few explained test inputs, with the human rationale
beside the prediction where the test split has one.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pipelines.layout import SUMMARY_FILE, SWEEP_FILE

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
SIZE = (5.0, 2.8)          # inches: each plot, legend outside on the right
STYLE = {"svg.fonttype": "none",        # text stays text: searchable, selectable, small
         "svg.hashsalt": "n2r-report",  # stable element ids: the same report twice is the same file
         "font.size": 8, "axes.titlesize": 9, "axes.grid": True, "grid.alpha": 0.3}


def gid(kind: str, name: str) -> str:
    """The SVG group id of one plotted series (``points-…``, ``curve-…``) or bar (``bar-…``)."""
    return f"{kind}-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE)
    return figure, figure.subplots()


def _svg(figure, axes, legend: bool = True) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog)."""
    import io

    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def scatter(title: str, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str) -> str:
    """One point per (x, y), one colour per series; y on [0, 1]."""
    if not any(series.values()):
        return ""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure, axes = _figure()
        for i, (name, points) in enumerate(series.items()):
            if points:
                axes.scatter([p[0] for p in points], [p[1] for p in points], s=14, alpha=0.8, label=name,
                             color=COLORS[i % len(COLORS)], gid=gid("points", name))
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(-0.03, 1.03))
        return _svg(figure, axes)


def curves(title: str, series: dict[str, tuple[list[float], list[float]]], ylabel: str) -> str:
    """One line per series: y against epoch."""
    if not any(xs for xs, _ in series.values()):
        return ""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context(STYLE):
        figure, axes = _figure()
        for i, (name, (xs, ys)) in enumerate(series.items()):
            axes.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=name, color=COLORS[i % len(COLORS)],
                      gid=gid("curve", name))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set(title=title, xlabel="epoch", ylabel=ylabel)
        return _svg(figure, axes)


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
    """Horizontal bars on a 0–1 axis, one per named value (largest on top), each labelled with it."""
    if not values:
        return ""
    import matplotlib

    ordered = sorted(values.items(), key=lambda kv: kv[1])
    with matplotlib.rc_context(STYLE):
        figure, axes = _figure()
        figure.set_size_inches(SIZE[0], 0.6 + 0.28 * len(values))
        drawn = axes.barh([k for k, _ in ordered], [v for _, v in ordered], color=COLORS[0])
        for bar, (name, _) in zip(drawn, ordered):
            bar.set_gid(gid("bar", f"{title}-{name}"))
        axes.bar_label(drawn, fmt="%.2f", padding=3)
        axes.set(title=title, xlim=(0, 1.08))
        axes.grid(axis="y", visible=False)
        return _svg(figure, axes, legend=False)


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
    importance = "".join(bars(f"{name}: fANOVA importance for the tuning score",
                              {k.split(".")[-1]: v for k, v in importances(study, space).items()})
                         for name, study in summary["studies"].items())
    examples = []
    for name, items in (explanations or {}).items():
        for item in items:
            if "tokens" in item:
                words = "predicted: " + _marked(item["tokens"], item["rationale"]["mask"])
                if item.get("gold_rationale") is not None:
                    words += "<br>human: " + _marked(item["tokens"], item["gold_rationale"])
            else:
                words = f"selected edges: {html.escape(json.dumps(item['rationale']['edges']))}"
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
