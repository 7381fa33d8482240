"""Which words does a rationalizer select, and where? An analysis of ERASER prediction files.

    n2r explain BUNDLE --eraser DATA_DIR --split test --out predictions.jsonl
    python benchmarks/rationale_words.py predictions.jsonl [more.jsonl ...] --gold DATA_DIR --split test \
        [--aspect 0] [--top 20]

For each prediction file: token precision/recall/F1 against the human rationales, the words it
selects most often with the share of those selections that lie inside a human rationale, and
where in the document the selected and the human-annotated tokens sit (share per fifth of the
document). Used in ``docs/results.md`` to look at *what* a method picks when its F1 is low —
never for model selection (it reads test annotations).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def analyse(predictions: dict, gold: list, top: int) -> dict:
    """Counts over the gold documents that have a prediction."""
    from n2r.metrics import f1_from

    selected, inside = Counter(), Counter()
    fifths_selected, fifths_gold = [0] * 5, [0] * 5
    tp = n_selected = n_gold = 0
    for doc in gold:
        item = predictions.get(doc.annotation_id)
        if item is None:
            continue
        n = len(doc.tokens)
        for i, (word, z, g) in enumerate(zip(doc.tokens, item["bits"], doc.rationale)):
            fifth = min(5 * i // n, 4)
            if z:
                selected[word] += 1
                inside[word] += g
                fifths_selected[fifth] += 1
            if g:
                fifths_gold[fifth] += 1
            tp += z and g
        n_selected += sum(item["bits"])
        n_gold += sum(doc.rationale)
    precision = tp / max(n_selected, 1)
    recall = tp / max(n_gold, 1)
    return {"precision": precision, "recall": recall, "f1": f1_from(precision, recall),
            "words": [(w, c, inside[w] / c) for w, c in selected.most_common(top)],
            "fifths_selected": [c / max(n_selected, 1) for c in fifths_selected],
            "fifths_gold": [c / max(n_gold, 1) for c in fifths_gold]}


def report(name: str, result: dict) -> str:
    lines = [f"#### {name}", "",
             f"token P {result['precision']:.3f}  R {result['recall']:.3f}  F1 {result['f1']:.3f}", "",
             "| position in the document | 1st fifth | 2nd | 3rd | 4th | 5th |", "|---|---|---|---|---|---|",
             "| selected tokens | " + " | ".join(f"{x:.2f}" for x in result["fifths_selected"]) + " |",
             "| human rationale tokens | " + " | ".join(f"{x:.2f}" for x in result["fifths_gold"]) + " |", "",
             "most selected words (count, share inside a human rationale): "
             + ", ".join(f"{w} {c} ({share:.2f})" for w, c, share in result["words"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", nargs="+")
    parser.add_argument("--gold", required=True, help="the data folder with the human rationales")
    parser.add_argument("--split", default="test")
    parser.add_argument("--aspect", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    from n2r.eraser import read_gold, read_predictions

    gold = read_gold(args.gold, args.split, aspect=args.aspect, max_tokens=args.max_tokens)
    for path in args.predictions:
        print(report(path, analyse(read_predictions(path, gold), gold, args.top)))


if __name__ == "__main__":
    main()
