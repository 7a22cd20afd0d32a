"""One optimizer step over the offline encoder's 22.7 M parameters, per implementation.

    python bench/run_optim.py --repeats 20     # writes bench/results/optim-<device>.json

SpERT's optimizer is AdamW without bias correction (transformers.AdamW(correct_bias=False), see
spertmt/training/optim.py). Rows: our fused CPU kernel ("auto"), the same update with torch's foreach ops
(the fallback), the per-tensor loop that SpERT's code runs, and torch's own AdamW (with bias
correction, so a slightly different update) as foreach and fused for scale. Medians of
`--repeats` steps after 3 warm-up steps, all in this process one after another.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from spertmt import ops
from spertmt.config import OFFLINE_ENCODER
from spertmt.model.encoder import load_encoder
from spertmt.training.optim import AdamWNoBiasCorrection


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", help="JSON file (default bench/results/optim-<device>.json)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    params = list(load_encoder(OFFLINE_ENCODER).to(device).parameters())
    torch.manual_seed(0)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    makers = {
        "spertmt AdamW (native, fused)": lambda: AdamWNoBiasCorrection(params, lr=1e-5, weight_decay=0.01),
        "spertmt AdamW (foreach fallback)": lambda: AdamWNoBiasCorrection(params, lr=1e-5, weight_decay=0.01,
                                                                          implementation="foreach"),
        "SpERT's loop (transformers.AdamW)": lambda: AdamWNoBiasCorrection(params, lr=1e-5, weight_decay=0.01,
                                                                           implementation="loop"),
        "torch AdamW foreach": lambda: torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01, foreach=True),
        "torch AdamW fused": lambda: torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01, fused=True),
    }
    print(f"# device={device} threads={torch.get_num_threads()} torch={torch.__version__} "
          f"native={ops.native_available(device.type)} params={sum(p.numel() for p in params) / 1e6:.1f}M "
          f"tensors={len(params)}")
    rows = []
    for name, make in makers.items():
        optimizer = make()
        for _ in range(3):
            optimizer.step()
        times = []
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(1000 * (time.perf_counter() - start))
        rows.append({"optimizer": name, "median_ms": statistics.median(times), "times_ms": times})
    base = rows[0]["median_ms"]
    print(f"{'optimizer':36} {'median ms':>10} {'x native':>9}")
    for row in rows:
        print(f"{row['optimizer']:36} {row['median_ms']:10.2f} {row['median_ms'] / base:8.2f}x")
    output = Path(args.output or Path(__file__).resolve().parent / "results" / f"optim-{device.type}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
