"""Flat against nested decoding on a *dev* set, for choosing `flat_ner`'s default (issue 37).

    python experiments/flat_ner_dev.py --model runs/conll04-short-dev/best \
        --data ../shared/datasets/conll04/conll04_dev.json --output results/flat-ner/conll04-dev.json

Predicts the dev set once per decoding (Extractor.predict: SpERT's nested decoding, then flat_ner)
and scores both with SpERT's evaluator; prints NER, RE and RE+ micro precision, recall and F1 and
writes them, with the model's run settings, as JSON. Also counts, in the training data named by the
model's config, the entities that overlap another (flat decoding can never predict those).

The table of docs/results.md: `python experiments/results_tables.py flat-ner`.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import spertmt
from spertmt.data.documents import read_documents
from spertmt.evaluate import evaluate


def overlapping_entities(documents) -> tuple[int, int]:
    """(entities that overlap another entity of their document, all entities)."""
    overlapping = total = 0
    for doc in documents:
        total += len(doc.entities)
        overlapping += sum(any(a.start < b.end and b.start < a.end for b in doc.entities if b is not a)
                           for a in doc.entities)
    return overlapping, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--data", help="the dev set (never a test set)")
    parser.add_argument("--output")
    args = parser.parse_args()
    if not (args.model and args.data and args.output):
        parser.error("--model, --data and --output are needed")
    extractor = spertmt.load(args.model, device="cpu")
    gold = read_documents(args.data, extractor.types)
    train = read_documents(extractor.config.data_path("train_path"), extractor.types)
    overlapping, total = overlapping_entities(train)
    result = {"date": datetime.date.today().isoformat(), "model": args.model, "data": args.data,
              "train_overlapping_entities": overlapping, "train_entities": total,
              "config": {k: getattr(extractor.config, k) for k in ("mode", "encoder", "epochs", "lr", "head_lr",
                                                                   "batch_size", "seed", "train_path")}}
    print(f"{args.data}; training data: {overlapping} of {total} entities overlap another")
    print(f"{'decoding':8} {'NER P/R/F1':>20} {'RE P/R/F1':>20} {'RE+ P/R/F1':>20}")
    for name, flat in (("nested", False), ("flat", True)):
        metrics = evaluate(gold, extractor.predict(gold, flat_ner=flat), extractor.types)
        result[name] = {key: {m: metrics[key]["micro"][m] for m in ("precision", "recall", "f1")}
                        for key in ("ner", "re", "re_strict")}
        cells = [" / ".join(f"{result[name][key][m]:.2f}" for m in ("precision", "recall", "f1"))
                 for key in ("ner", "re", "re_strict")]
        print(f"{name:8} " + " ".join(f"{c:>20}" for c in cells))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
