"""Does the N2R objective prefer the human rationale? Predictor norms on four masks per document.

    python benchmarks/norm_check.py BUNDLE [BUNDLE ...] --gold DATA_DIR --split test

For every annotated document (text), the bundle's predictor encodes four masks: the method's own
rationale, the human rationale, a random mask with as many tokens as the method's (seeded), and
the full input. Printed per bundle: the mean of log ‖h‖₂ (N2R's term, paper Eq. 6, maximised by
the generator) and the predictor's accuracy on each mask. If the method's rationale has the larger
norm, the generator did what N2R asks and the human rationale is simply not what this predictor
encodes with the largest norm (the objective's optimum differs from the annotation); if the human
rationale has the larger norm, the generator failed to find it (a search problem). Reads test
annotations: a diagnostic, never used for model selection. Documents are read with each bundle's
own data options (Beer aspect, truncation).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MASKS = ("method", "human", "random", "full")


@torch.no_grad()
def norms(bundle, docs: list, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean log‖h‖ and accuracy of the bundle's predictor per mask (see the module docstring)."""
    from n2r.explain import encode_text

    generator = torch.Generator().manual_seed(seed)
    log_norm = {m: [] for m in MASKS}
    correct = {m: [] for m in MASKS}
    for doc in docs:
        batch, word_of = encode_text(bundle, doc.tokens)
        out = bundle.model(batch)
        units = batch.unit_mask[0].bool()
        human = torch.tensor([float(w is not None and doc.rationale[w]) for w in word_of]).unsqueeze(0)
        k = int(out.z[0].sum())
        random = torch.zeros_like(out.z)
        real = units.nonzero().flatten()
        random[0, real[torch.randperm(len(real), generator=generator)[:k]]] = 1.0
        for name, z in (("method", out.z), ("human", human), ("random", random),
                        ("full", units.float().unsqueeze(0))):
            logits, h = bundle.model.predict(batch, z)
            log_norm[name].append(float(torch.log(h.float().norm(dim=-1) + 1e-6)))
            correct[name].append(float(logits.argmax(-1).item() == doc.label))
    return {m: {"log_norm": statistics.fmean(log_norm[m]), "accuracy": statistics.fmean(correct[m])} for m in MASKS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--gold", required=True)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    from n2r.bundle import load_bundle
    from n2r.eraser import gold_for_bundle

    print("| bundle | " + " | ".join(f"log‖h‖ {m}" for m in MASKS) + " | " + " | ".join(f"acc {m}" for m in MASKS) + " |")
    print("|---" * (1 + 2 * len(MASKS)) + "|")
    for path in args.bundles:
        bundle = load_bundle(path)
        if bundle.kind != "text":
            raise SystemExit(f"{path}: norm_check reads text bundles (this one is {bundle.kind})")
        result = norms(bundle, gold_for_bundle(bundle, args.gold, args.split))
        print(f"| {Path(path).name} | " + " | ".join(f"{result[m]['log_norm']:.3f}" for m in MASKS) + " | "
              + " | ".join(f"{result[m]['accuracy']:.3f}" for m in MASKS) + " |", flush=True)


if __name__ == "__main__":
    main()
