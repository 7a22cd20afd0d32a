"""int8's F1 cost on the CoNLL04 *dev* set, for choosing what `--precision auto` may take, and
whether leaving some of the encoder's linear layers in fp32 lowers it (issue 23).

    python experiments/int8_dev.py --model runs/bench-model [--output results/diagnostics/int8-dev.json]

Prints, per variant and batch size, NER and RE+ micro F1 minus fp32's and the time of the dev
set's extraction (Extractor.predict). Variants name the linear layers that get int8 weights.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import torch

import spertmt
from spertmt.config import Config
from spertmt.data.documents import read_documents
from spertmt.evaluate import evaluate


def variants(names: list[str]) -> dict[str, list[str]]:
    ffn_output = [n for n in names if n.endswith("output.dense") and "attention" not in n]
    return {
        "all (what --precision int8 runs)": names,
        "all but the FFN output layers": [n for n in names if n not in ffn_output],
        "attention only": [n for n in names if "attention" in n],
        "all but the last layer": [n for n in names if "layer.5." not in n],
        "all but the first layer": [n for n in names if "layer.0." not in n],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--output")
    args = parser.parse_args()
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    warnings.simplefilter("ignore")
    extractor = spertmt.load(args.model, device="cpu")
    dev = read_documents(Config().data_path("dev_path"), extractor.types)
    fp32_encoder = extractor.model.encoder

    def score(batch: int) -> dict:
        start = time.perf_counter()
        predictions = extractor.predict(dev, batch_size=batch)
        seconds = time.perf_counter() - start
        metrics = evaluate(dev, predictions, extractor.types)
        return {"ner": metrics["ner"]["micro"]["f1"], "re_strict": metrics["re_strict"]["micro"]["f1"], "s": seconds}

    rows = [{"variant": "fp32", "batch": b, **score(b)} for b in args.batch]
    base = {r["batch"]: r for r in rows}
    names = [n for n, m in fp32_encoder.named_modules() if isinstance(m, torch.nn.Linear)]
    print(f"{'variant':34} {'batch':>5} {'NER':>7} {'RE+':>7} {'s':>6}")
    for r in rows:
        print(f"{'fp32':34} {r['batch']:5d} {r['ner']:7.2f} {r['re_strict']:7.2f} {r['s']:6.2f}")
    for name, chosen in variants(names).items():
        spec = {n: per_channel_dynamic_qconfig for n in chosen}
        extractor.model.encoder = quantize_dynamic(copy.deepcopy(fp32_encoder), spec, dtype=torch.qint8)
        for b in args.batch:
            row = {"variant": name, "batch": b, "linears": f"{len(chosen)}/{len(names)}", **score(b)}
            rows.append(row)
            print(
                f"{name:34} {b:5d} {row['ner'] - base[b]['ner']:+7.2f} {row['re_strict'] - base[b]['re_strict']:+7.2f} "
                f"{row['s']:6.2f}",
                flush=True,
            )
        extractor.model.encoder = fp32_encoder
    if args.output:
        Path(args.output).write_text(json.dumps({"model": args.model, "threads": torch.get_num_threads(),
                                                 "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
