"""Does extraction's batching rule move any prediction? A model's dev sentences extracted as raw
text under the rule before (16 texts a batch, no pieces cap) and the default now (on a CPU: 64 texts
and 384 padded pieces, config.EXTRACT_BATCHING): how many sentences get the same entities and
relations, and the largest score difference among those.

    python experiments/batching_parity.py --model runs/c04/best --output results/diagnostics/batching-parity.json
    python experiments/batching_parity.py --model runs/c04/onnx --runtime onnx --output ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import records  # noqa: E402  (bench/records.py)
from extract_batching import NO_CAP  # noqa: E402  (bench/extract_batching.py: the count alone decides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    import spertmt

    extractor = spertmt.load(args.model, device="cpu", runtime=args.runtime)
    documents = spertmt.read_documents(extractor.config.data_path("dev_path"), extractor.types)
    texts = [" ".join(doc.tokens) for doc in documents]
    before = extractor.extract(texts, batch_size=16, batch_pieces=NO_CAP)
    now = extractor.extract(texts)

    same, largest = 0, 0.0
    for a, b in zip(before, now):
        if records.decisions([a]) == records.decisions([b]):
            same += 1
            pairs = list(zip(a.entities, b.entities)) + list(zip(a.relations, b.relations))
            largest = max([largest] + [abs(x.score - y.score) for x, y in pairs])
    print(f"{same} of {len(texts)} dev sentences decided alike; largest score difference among them {largest:.2e}")
    if args.output:
        records.write(args.output, {
            "command": " ".join(["python", "experiments/batching_parity.py", *sys.argv[1:]]),
            "model": str(args.model), "runtime": args.runtime, "data": str(extractor.config.dev_path),
            "commit": records.commit(), "date": time.strftime("%Y-%m-%d"), "sentences": len(texts),
            "same_decisions": same, "largest_score_difference": largest})


if __name__ == "__main__":
    main()
