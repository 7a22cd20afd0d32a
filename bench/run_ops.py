"""Benchmark of the pooling ops: native kernels vs the pure-PyTorch fallbacks vs SpERT's approach.

    python bench/run_ops.py                      # CPU, CoNLL04-like shapes, table + JSON
    python bench/run_ops.py --device cuda --repeats 50

Shapes follow CoNLL04 (about 45 words, 60 pieces per sentence, spans of up to 10 words):
- spans:     span_max_pool over 128 sampled spans per sentence (the training path);
- enumerate: every span of width 1..10 (405 per sentence; SpERT pools them with masks, we
             use enumerate_span_max_pool: the inference path);
- context:   pair_context_max_pool over 64 ordered pairs per sentence (relation context).
Each case is checked (all three agree) before it is timed. Times are the median of --repeats
runs after warm-up, all implementations measured in the same process one after another; ratios
are taken from those medians. Peak memory is the growth of the process's peak resident set while
running the case once, each measurement in a fresh subprocess (CPU), or the peak allocated
device memory (CUDA).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)
from spert_baseline import ranges_to_masks, spert_max_pool  # noqa: E402

from spertmt import ops  # noqa: E402
from spertmt.ops import reference  # noqa: E402
from spertmt.runtime import cpu_capability  # noqa: E402
from spertmt.testing import random_words  # noqa: E402

WORDS, MAX_WIDTH, SAMPLED_SPANS, PAIRS = 45, 10, 128, 64
IMPLS = ("native", "fallback", "spert")
WORKLOADS = ("spans", "enumerate", "context")


def make_case(workload: str, batch: int, hidden_size: int, device: str, seed: int = 0):
    """Inputs of one case: hidden states and the ranges (plus SpERT's masks) to pool."""
    g = torch.Generator().manual_seed(seed)
    ws, we, nw, T = random_words(batch, WORDS, 2, g)
    nw.fill_(WORDS)
    ws, we = ws[:, :WORDS], we[:, :WORDS]
    T = int(we.max()) + 1
    hidden = torch.randn(batch, T, hidden_size, generator=g)

    def random_word_spans(n):
        width = torch.randint(1, MAX_WIDTH + 1, (batch, n), generator=g)
        start = (torch.rand(batch, n, generator=g) * (WORDS - width + 1)).long()
        first, last = start, start + width - 1
        return ws.gather(1, first), we.gather(1, last)

    if workload == "spans":
        starts, ends = random_word_spans(SAMPLED_SPANS)
    elif workload == "enumerate":
        spans = reference.enumerate_spans(WORDS, MAX_WIDTH)
        starts, ends = ws[:, spans[:, 0]], we[:, spans[:, 1] - 1]
    else:
        hs, he = random_word_spans(PAIRS)
        ts, te = random_word_spans(PAIRS)
        head, tail = torch.stack([hs, he], -1), torch.stack([ts, te], -1)
        starts, ends = reference.pair_context_ranges(head, tail)
    case = {"hidden": hidden, "starts": starts, "ends": ends, "masks": ranges_to_masks(starts, ends, T),
            "word_starts": ws, "word_ends": we, "num_words": nw}
    if workload == "context":
        case.update(head=head, tail=tail)
    return {k: v.to(device) for k, v in case.items()}


def pool_fn(workload: str, impl: str, case: dict):
    """A function hidden -> pooled for one implementation."""
    if impl == "spert":
        return lambda h: spert_max_pool(h, case["masks"])
    mod = torch.ops.spertmt if impl == "native" else reference
    if workload == "spans":
        return lambda h: mod.span_max_pool(h, case["starts"], case["ends"], h.requires_grad)[0]
    if workload == "context":
        return lambda h: mod.pair_context_max_pool(h, case["head"], case["tail"], h.requires_grad)[0]
    return lambda h: mod.enumerate_span_max_pool(h, case["word_starts"], case["word_ends"], case["num_words"],
                                                 MAX_WIDTH, h.requires_grad)[0]


def run_once(fn, hidden: torch.Tensor, mode: str, grad_out: torch.Tensor | None):
    if mode == "forward":
        with torch.no_grad():
            return fn(hidden)
    h = hidden.detach().requires_grad_()
    out = fn(h)
    out.backward(grad_out)
    return h.grad


def sync(device: str):
    if device == "cuda":
        torch.cuda.synchronize()


def time_case(fn, hidden, mode, grad_out, device, repeats, warmup=3):
    for _ in range(warmup):
        run_once(fn, hidden, mode, grad_out)
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        run_once(fn, hidden, mode, grad_out)
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), times


def verify(workload, case, device):
    """All three implementations give the same values and gradients (SpERT's up to its -1e30 trick)."""
    hidden = case["hidden"]
    g = torch.randn(case["starts"].shape + (hidden.shape[2],), device=device)
    results = {impl: (run_once(pool_fn(workload, impl, case), hidden, "forward", None),
                      run_once(pool_fn(workload, impl, case), hidden, "forward+backward", g)) for impl in IMPLS}
    for impl in ("fallback", "spert"):
        for a, b in zip(results["native"], results[impl]):
            torch.testing.assert_close(a, b, msg=f"{workload}: native and {impl} disagree")


def memory_probe(spec: dict) -> float:
    """Peak memory growth (MiB) of running one case once."""
    torch.manual_seed(0)
    case = make_case(spec["workload"], spec["batch"], spec["hidden"], spec["device"])
    fn = pool_fn(spec["workload"], spec["impl"], case)
    hidden = case["hidden"]
    grad_out = torch.randn(case["starts"].shape + (hidden.shape[2],), device=spec["device"])
    if spec["device"] == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run_once(fn, hidden, spec["mode"], grad_out)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    # Warm up on a tiny case first: one-time costs (the autograd engine, thread pools, lazy
    # initialisation, about 35 MiB on CPU) are not the op's.
    tiny = make_case(spec["workload"], 1, 8, spec["device"])
    run_once(pool_fn(spec["workload"], spec["impl"], tiny), tiny["hidden"], spec["mode"],
             torch.randn(tiny["starts"].shape + (8,), device=spec["device"]))
    before = peak_rss_kib()
    run_once(fn, hidden, spec["mode"], grad_out)
    return (peak_rss_kib() - before) / 1024


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not getrusage: after fork + exec, ru_maxrss
    starts from the parent's peak, which would hide the child's own growth."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def measure_memory(spec: dict) -> float:
    if spec["device"] == "cuda":
        return memory_probe(spec)
    out = subprocess.run([sys.executable, __file__, "--memory-probe", json.dumps(spec)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def environment(device: str) -> dict:
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device == "cuda" else records.cpu_name(),
        "threads": torch.get_num_threads(),
        "cpu_capability": cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "native": ops.native_available(device),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--hidden", type=int, nargs="+", default=[384, 768])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS,
                        help="which implementations to time (all three are still checked against each other)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument("--output", default=None, help="JSON file (default bench/results/ops-<device>.json)")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(memory_probe(json.loads(args.memory_probe)))
        return 0
    if not ops.native_available(args.device):
        print(f"native kernels not available on {args.device}: {ops.native_load_error()}", file=sys.stderr)
        return 1

    env = environment(args.device)
    print("# " + ", ".join(f"{k}={v}" for k, v in env.items()))
    rows = []
    header = (f"{'workload':9} {'mode':16} {'B':>2} {'H':>4} {'S':>4} {'T':>3} | "
              + " ".join(f"{impl + ' ms':>11}" for impl in args.impls) + " | spert/nat fb/nat | "
              + " ".join(f"{impl[:6] + ' MiB':>10}" for impl in args.impls))
    print(header)
    print("-" * len(header))
    for workload in args.workloads:
        for mode in ("forward", "forward+backward"):
            for batch in args.batch:
                for hidden_size in args.hidden:
                    case = make_case(workload, batch, hidden_size, args.device)
                    if mode == "forward":
                        verify(workload, case, args.device)
                    hidden = case["hidden"]
                    grad_out = torch.randn(case["starts"].shape + (hidden_size,), device=args.device)
                    row = {"workload": workload, "mode": mode, "batch": batch, "hidden": hidden_size,
                           "spans": case["starts"].shape[1], "pieces": hidden.shape[1]}
                    for impl in args.impls:
                        median, times = time_case(pool_fn(workload, impl, case), hidden, mode, grad_out,
                                                  args.device, args.repeats)
                        row[f"{impl}_ms"], row[f"{impl}_times_ms"] = median, times
                        if not args.no_memory:
                            spec = {"workload": workload, "mode": mode, "batch": batch, "hidden": hidden_size,
                                    "device": args.device, "impl": impl}
                            row[f"{impl}_peak_mib"] = measure_memory(spec)
                    nan = float("nan")
                    row["spert_over_native"] = row.get("spert_ms", nan) / row.get("native_ms", nan)
                    row["fallback_over_native"] = row.get("fallback_ms", nan) / row.get("native_ms", nan)
                    rows.append(row)
                    mem = " ".join(f"{row.get(f'{impl}_peak_mib', nan):10.1f}" for impl in args.impls)
                    print(f"{workload:9} {mode:16} {batch:>2} {hidden_size:>4} {row['spans']:>4} {row['pieces']:>3} | "
                          + " ".join(f"{row[f'{impl}_ms']:11.3f}" for impl in args.impls)
                          + f" | {row['spert_over_native']:9.1f} {row['fallback_over_native']:6.1f} | {mem}",
                          flush=True)
    output = Path(args.output or Path(__file__).resolve().parent / "results" / f"ops-{args.device}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"environment": env, "command": " ".join(sys.argv), "rows": rows}, indent=1))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
