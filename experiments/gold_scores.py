"""Where SpERT.MT's gold spans score against θ: a recall diagnostic (issue 21; docs/results.md).

    python experiments/gold_scores.py MODEL_DIR DEV.json [--output results/diagnostics/NAME.json]

Every candidate span of the dev documents is scored with no threshold (entities only). For the gold
entity spans and, for contrast, the other candidate spans, it prints quantiles of the best class
score max_c score_c (what prediction compares with θ) and the share of spans at or above θ = 0.85
and above the θ stored in the model's thresholds.json, if any; and for the gold spans, how often
the best class is the gold type. A gold span under θ is a missed entity whatever its type.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import spertmt
from spertmt.inference.engines.base import predict_documents
from spertmt.model.heads import MultiTaskHead

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def quantiles(values: list[float]) -> dict:
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {f"q{int(q * 100)}": cuts[int(q * 100) - 1] for q in QUANTILES}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--output")
    args = parser.parse_args(argv)

    extractor = spertmt.load(args.model, device="cpu")
    if not isinstance(extractor.model.entity_head, MultiTaskHead):
        parser.error("the model has no class scores to compare with θ (spert mode or -MTL)")
    documents = spertmt.read_documents(args.data, extractor.types)
    lowest = extractor.model.entity_head.lowest_threshold
    scored = predict_documents(extractor.engine, documents, entity_threshold=lowest, relation_threshold=lowest,
                               relations=False, progress=True)
    gold_scores, gold_type_right, other_scores = [], [], []
    for doc, pred in zip(documents, scored):
        by_span = {(e.start, e.end): e for e in pred.entities}
        gold = {(e.start, e.end): e.type for e in doc.entities}
        for span, entity in by_span.items():
            if span in gold:
                gold_scores.append(entity.score)
                gold_type_right.append(entity.type == gold[span])
            else:
                other_scores.append(entity.score)
    tuned = extractor.thresholds.get("entity", {}).get("*")
    thetas = {"0.85": 0.85, **({f"tuned {tuned:.3f}": tuned} if tuned is not None else {})}
    result = {
        "model": args.model,
        "data": args.data,
        "gold_spans": len(gold_scores),
        "gold_spans_not_candidates": sum(len(d.entities) for d in documents) - len(gold_scores),
        "gold_best_class_is_gold_type": sum(gold_type_right) / max(1, len(gold_type_right)),
        "gold": {
            **quantiles(gold_scores),
            **{f"share >= {k}": sum(s >= t for s in gold_scores) / len(gold_scores) for k, t in thetas.items()},
        },
        "other": {
            **quantiles(other_scores),
            **{f"share >= {k}": sum(s >= t for s in other_scores) / len(other_scores) for k, t in thetas.items()},
        },
        "other_spans": len(other_scores),
    }
    keys = [f"q{int(q * 100)}" for q in QUANTILES] + [f"share >= {k}" for k in thetas]
    print("| spans | count | " + " | ".join(keys) + " |")
    print("| --- | --- |" + " --- |" * len(keys))
    for name, count in (("gold", len(gold_scores)), ("other", len(other_scores))):
        print(f"| {name} | {count} | " + " | ".join(f"{result[name][k]:.2f}" for k in keys) + " |")
    print(f"gold spans whose best class is the gold type: {100 * result['gold_best_class_is_gold_type']:.1f} %; "
          f"gold spans wider than max_span_width (never candidates): {result['gold_spans_not_candidates']}")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps({"command": " ".join(["python", *sys.argv]), **result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
