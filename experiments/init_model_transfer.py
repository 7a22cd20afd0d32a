"""A small corpus that shares most of its types with a larger one: trained from the bare encoder, or
from the larger corpus's model (`init_model`)? Dev sets only.

    python experiments/init_model_transfer.py --output results/diagnostics/init-model-transfer.json

CoNLL04 made into two corpora: the large one is training documents 100-921 without the relation
type Kill (its types file lacks it, its relations are dropped), the small one is documents 0-99 with
every type (a few of these are among the large one's too: CoNLL04's training file repeats some).
The large one trains once (the short preset, configs/conll04-offline-short.toml, its epoch
chosen on CoNLL04 dev without Kill). The small one trains with the same settings but 10 epochs,
seeds 0-2, from the bare encoder, from the large one's best/ (Kill a new type there), and from it
with the encoder frozen (freeze_encoder). Each small run's epoch is chosen on the whole CoNLL04 dev
set, which then scores its best/: NER and RE+ micro F1, RE+ F1 of Kill (the new type) and micro
over the other four, and each difference (from the model against from the encoder; frozen against
not) with a 95% seed interval (spertmt.experiment.intervals). No test set is read. Writes the
figures as JSON; the table of docs/results.md: `python experiments/results_tables.py --write`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

import spertmt
from spertmt.config import Config, default_data_root
from spertmt.evaluate import evaluate
from spertmt.experiment.intervals import seed_interval
from spertmt.experiment.records import cpu_name

NEW_TYPE = "Kill"
SMALL = 100  # the small corpus: the first training documents
SEEDS = (0, 1, 2)
SMALL_EPOCHS = 10
PRESET = "configs/conll04-offline-short.toml"
# The small corpus's starts: (from the large corpus's model, its encoder frozen)
ARMS = {"encoder": (False, False), "init_model": (True, False), "init_model_frozen": (True, True)}
COMPARISONS = (("init_model", "encoder"), ("init_model_frozen", "init_model"))
FIGURES = ("ner_f1", "re_strict_f1", "new_type_f1", "shared_types_f1")


def write_corpora(data: Path, folder: Path) -> dict[str, Path]:
    """The two corpora's files (SpERT JSON) in `folder`, from CoNLL04 under `data`."""
    train = json.loads((data / "conll04_train.json").read_text())
    dev = json.loads((data / "conll04_dev.json").read_text())
    types = json.loads((data / "conll04_types.json").read_text())

    def without_new_type(documents):
        return [{**doc, "relations": [r for r in doc["relations"] if r["type"] != NEW_TYPE]} for doc in documents]

    files = {"large_train": without_new_type(train[SMALL:]), "large_dev": without_new_type(dev),
             "large_types": {**types, "relations": {k: v for k, v in types["relations"].items() if k != NEW_TYPE}},
             "small_train": train[:SMALL]}
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(content))
    return paths


def dev_scores(model: Path, dev: Path) -> dict:
    """The model's dev figures: NER and RE+ micro F1, RE+ F1 of the new type, and RE+ micro F1 over
    the other types (the new type's relations left out of the gold and the predictions alike)."""
    extractor = spertmt.load(model, device="cpu")
    gold = spertmt.read_documents(dev, extractor.types)
    predicted = extractor.predict(gold)
    metrics = evaluate(gold, predicted, extractor.types)

    def shared(documents):
        return [dataclasses.replace(d, relations=[r for r in d.relations if r.type != NEW_TYPE]) for d in documents]

    shared_metrics = evaluate(shared(gold), shared(predicted), extractor.types)
    return {"ner_f1": metrics["ner"]["micro"]["f1"], "re_strict_f1": metrics["re_strict"]["micro"]["f1"],
            "new_type_f1": metrics["re_strict"]["per_type"].get(NEW_TYPE, {}).get("f1"),
            "shared_types_f1": shared_metrics["re_strict"]["micro"]["f1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True)
    parser.add_argument("--data", default=str(default_data_root() / "conll04"),
                        help="CoNLL04's folder (conll04_train.json, conll04_dev.json, conll04_types.json)")
    parser.add_argument("--runs", help="where the run folders go (default: a temporary folder)")
    args = parser.parse_args()
    data = Path(args.data).resolve()
    preset = Config.load(PRESET)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="spertmt-transfer-") as tmp:
        runs = Path(args.runs) if args.runs else Path(tmp)
        paths = write_corpora(data, Path(tmp))
        large = dataclasses.replace(preset, train_path=str(paths["large_train"]), dev_path=str(paths["large_dev"]),
                                    test_path="", types_path=str(paths["large_types"]))
        spertmt.train(large, runs / "large", progress=False)
        record = {"large_dev_without_new_type": dev_scores(runs / "large" / "best", paths["large_dev"]), "runs": []}
        print(f"large corpus ({len(json.loads(paths['large_train'].read_text()))} documents, no {NEW_TYPE}): dev "
              f"without {NEW_TYPE}: {record['large_dev_without_new_type']}")
        for seed in SEEDS:
            for arm, (init_model, frozen) in ARMS.items():
                small = dataclasses.replace(preset, train_path=str(paths["small_train"]),
                                            dev_path=str(data / "conll04_dev.json"), test_path="",
                                            types_path=str(data / "conll04_types.json"), epochs=SMALL_EPOCHS,
                                            seed=seed, init_model=str(runs / "large" / "best") if init_model else "",
                                            freeze_encoder=frozen)
                folder = runs / f"small-{arm}-seed{seed}"
                began = time.time()
                spertmt.train(small, folder, progress=False)
                seconds = round(time.time() - began)
                scores = dev_scores(folder / "best", data / "conll04_dev.json")
                record["runs"].append({"arm": arm, "seed": seed, "training_seconds": seconds, **scores})
                print(f"{arm:18} seed {seed}: {scores} ({seconds} s)")
    record["summary"] = {}
    for first, second in COMPARISONS:
        for figure in FIGURES:
            by_arm = {arm: [r[figure] for r in record["runs"] if r["arm"] == arm] for arm in (first, second)}
            interval = seed_interval(by_arm[first], by_arm[second])
            record["summary"].setdefault(f"{first} - {second}", {})[figure] = {
                "first_mean": statistics.fmean(by_arm[first]), "second_mean": statistics.fmean(by_arm[second]),
                "difference": interval.difference, "low": interval.low, "high": interval.high,
                "verdict": interval.word}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record.update({"command": "python experiments/init_model_transfer.py --output " + args.output,
                   "date": datetime.date.today().isoformat(), "commit": commit,
                   "machine": f"{cpu_name()}, {torch.get_num_threads()} threads",
                   "seconds": round(time.time() - started), "small_documents": SMALL, "small_epochs": SMALL_EPOCHS,
                   "new_type": NEW_TYPE, "preset": PRESET})
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(record, indent=2) + "\n")
    for comparison, figures in record["summary"].items():
        print(f"{comparison}:")
        for figure, f in figures.items():
            print(f"  {figure:18} {f['first_mean']:7.2f} {f['second_mean']:7.2f} {f['difference']:+8.2f} "
                  f"[{f['low']:+.2f}, {f['high']:+.2f}] {f['verdict']}")

if __name__ == "__main__":
    main()
