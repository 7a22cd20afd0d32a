"""What the relation head's calibration should read: the relation's score, or its joint score (the
relation's times its two entities', decoding.joint_score), on dev only (issue 47; docs/results.md,
"Calibration").

    python experiments/relation_calibration_input.py \
        runs/experiments/calibration-conll04/spertmt-sums-head-lr/seed0/best \
        runs/experiments/calibration-ade/spertmt-sums-head-lr/seed0/best \
        --output results/diagnostics/relation-calibration-input.json

A calibrated relation probability is the chance that the triple is right under RE+, its entities
included, while the relation head's score does not see how sure the entity head was. For each model
folder (of a recorded run: its config names the dev set, or the training documents it held out as
one), the relation candidates are taken as `spertmt calibrate` takes them (every pair of the entities
the folder's θ keeps), and the calibration's own choice (calibration.choose_and_fit: Platt and
isotonic, per head and per type, 5-fold cross-validated over the dev documents on the items
extraction returns) is run twice: on the score, and on the joint score (Platt on its logit). Prints
and records each method's cross-validated Brier score and ECE. Dev only: no test set is read.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)


def compare(folder: str) -> dict:
    import torch

    import spertmt
    from spertmt.data.documents import model_dev_set
    from spertmt.inference.calibration import Candidates, choose_and_fit
    from spertmt.inference.thresholds import applied_thresholds, relation_candidates

    extractor = spertmt.load(folder, device="cpu")
    extractor.calibration = None
    model = extractor.model
    entity_theta, relation_theta = applied_thresholds(model, extractor.thresholds)
    rows, _ = relation_candidates(extractor, model_dev_set(extractor.config, extractor.types)[0],
                                  torch.tensor(entity_theta) if model.entity_head.thresholded else None, 8)
    theta = dict(zip([t.name for t in extractor.types.relations], relation_theta))
    found = {"model": folder, "candidates": len(rows)}
    for name, field, logit_input in (("score", 1, model.relation_head.scores_are_probabilities),
                                     ("joint score", -1, True)):
        candidates = Candidates.from_rows([(row[0], row[field], row[2], row[3], row[4],
                                            not model.relation_head.thresholded or row[1] >= theta[row[0]])
                                           for row in rows])
        head, report = choose_and_fit(candidates, logit_input=logit_input)
        found[name] = {"chosen": head.method + (" per type" if head.per_type else ""),
                       "returned": int(candidates.returned.sum()),
                       "cross_validated": {method: {"brier": q["brier"], "ece": q["ece"]}
                                           for method, q in report.items()}}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model folders of recorded runs (<run>/best)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = []
    for folder in args.models:
        found = compare(folder)
        rows.append(found)
        for name in ("score", "joint score"):
            best = found[name]["cross_validated"][found[name]["chosen"]]
            print(f"{folder}: on the {name}: {found[name]['chosen']}, cross-validated Brier {best['brier']:.4f}, "
                  f"ECE {best['ece']:.4f} ({found[name]['returned']} returned dev relations)")
    if args.output:
        records.write(args.output, {"command": shlex.join(["python", "experiments/relation_calibration_input.py",
                                                          *sys.argv[1:]]),
                                    "commit": records.commit(), "date": time.strftime("%Y-%m-%d"), "rows": rows})


if __name__ == "__main__":
    main()
