"""Where the time goes: torch.profiler over one extraction batch and one training step.

    python bench/profile_step.py                       # CPU, extraction batch 8, training batch 2
    python bench/profile_step.py --extract-batch 32 --model runs/c04/best

The model's parts are timed under named scopes (wrapped here, so the library carries no profiler
code): `encoder` (the transformer), `spans` (span enumeration / pooling), `entity head`,
`pairs` (building relation candidates), `relation head`, `losses`, `decode` (tensors to
documents), `backward` and `optimizer`. Prints, per task, the wall time of each scope (median of
`--repeats` profiled runs) and the operators with the most self time; writes it all to
bench/results/profile-<device>.json and .txt. Same model and data as bench/throughput.py.
`--dtype bf16` profiles autocast over the fp32 weights, as training runs it; extraction with
`spertmt.load(..., precision="bf16")` also casts the encoder's weights once (bench/throughput.py's
`bf16` against `bf16-autocast` measures what that changes).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import statistics
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402

import spertmt.inference.engines.base as engine_loop  # noqa: E402
import spertmt.inference.extractor  # noqa: E402
import spertmt.model.heads as heads_module  # noqa: E402
import spertmt.model.spertmt as model_module  # noqa: E402
from spertmt import ops  # noqa: E402
from spertmt.config import Config  # noqa: E402
from spertmt.data.batching import Collator, DocumentDataset, encode_documents  # noqa: E402
from spertmt.training.trainer import make_optimizer  # noqa: E402

SCOPES = ("encoder", "spans", "entity head", "pairs", "relation head", "losses", "decode", "backward", "optimizer")


def _scoped(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with record_function(name):
            return fn(*args, **kwargs)
    return wrapper


def instrument(model) -> None:
    """Wraps the model's parts in named profiler scopes (this process only)."""
    model.encoder.forward = _scoped("encoder", model.encoder.forward)
    model.score_entities = _scoped("entity head", model.score_entities)
    model.score_relations = _scoped("relation head", model.score_relations)
    for name in ("span_max_pool", "enumerate_span_max_pool"):
        setattr(ops, name, _scoped("spans", getattr(ops, name)))
    model_module.ordered_pairs = _scoped("pairs", model_module.ordered_pairs)
    for name in ("multitask_loss", "none_class_cross_entropy", "multilabel_bce"):  # as the heads call them
        setattr(heads_module, name, _scoped("losses", getattr(heads_module, name)))
    engine_loop.decode_arrays = _scoped("decode", engine_loop.decode_arrays)


def scope_times(prof) -> dict[str, float]:
    """ms of wall time inside each scope (outermost occurrences; CPU)."""
    totals = {name: 0.0 for name in SCOPES}
    for event in prof.events():
        if event.name in totals and event.device_type.name == "CPU":
            totals[event.name] += event.cpu_time_total / 1000.0  # the scope's inclusive time
    return totals


def profile_once(fn, device: str):
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = (time.perf_counter() - t0) * 1000
    return prof, wall


def run(args) -> dict:
    extractor, _, test, train = throughput.build(args)
    model = extractor.model
    instrument(model)
    words = [d.tokens for d in test]
    # One extraction batch: the batch of median length among the length-sorted batches of the test set.
    order = sorted(range(len(words)), key=lambda i: -len(words[i]))
    batches = [order[s:s + args.extract_batch] for s in range(0, len(order), args.extract_batch)]
    chosen = [words[i] for i in batches[len(batches) // 2]]
    extractor.extract(chosen, batch_size=args.extract_batch)  # warm-up

    def extract():
        with throughput._autocast(args):
            extractor.extract(chosen, batch_size=args.extract_batch)

    # One training step at the trainer's settings (its optimizer, clipping).
    dataset = DocumentDataset(train, encode_documents(extractor.tokenizer, train[: 8 * args.train_batch]),
                              extractor.types, train=True)
    collate = Collator(extractor.tokenizer.pad_token_id)
    optimizer = make_optimizer(model, Config(lr=0.0))  # the cost of a step; the weights stay as they are
    steps = iter(range(10**6))

    def train_step():
        k = next(steps) % 8
        batch = collate([dataset[i] for i in range(k * args.train_batch, (k + 1) * args.train_batch)])
        batch = batch.to(extractor.device)
        with throughput._autocast(args):
            loss = model(batch).loss
        with record_function("backward"):
            loss.backward()
        with record_function("optimizer"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    model.train()
    train_step()  # warm-up
    model.eval()

    report = {"command": " ".join(sys.argv), "device": args.device, "dtype": args.dtype,
              "threads": torch.get_num_threads(), "torch": torch.__version__, "tasks": {}}
    for task, fn, batch in (("extract", extract, args.extract_batch), ("train", train_step, args.train_batch)):
        model.train(task == "train")
        runs = []
        for _ in range(args.repeats):
            prof, wall = profile_once(fn, args.device)
            runs.append((wall, scope_times(prof), prof))
        walls = [r[0] for r in runs]
        median_run = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        scopes = {name: statistics.median(r[1][name] for r in runs) for name in SCOPES}
        table = median_run[2].key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top,
                                                   max_name_column_width=48)
        report["tasks"][task] = {"batch": batch, "wall_ms": statistics.median(walls), "walls_ms": walls,
                                 "scopes_ms": scopes, "top_ops": table}
    model.eval()
    return report


def format_report(report: dict) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        print(f"# {report['command']}\n# device={report['device']} dtype={report['dtype']} "
              f"threads={report['threads']} torch={report['torch']}")
        for task, entry in report["tasks"].items():
            wall = entry["wall_ms"]
            print(f"\n## {task}, batch {entry['batch']}: {wall:.1f} ms (median of {len(entry['walls_ms'])} "
                  "profiled runs; the profiler itself adds some time)")
            print(f"{'scope':16} {'ms':>9} {'share':>7}")
            inside = 0.0
            for name, ms in entry["scopes_ms"].items():
                if ms > 0:
                    print(f"{name:16} {ms:9.2f} {100 * ms / wall:6.1f}%")
                    inside += ms  # the scopes do not nest
            print(f"{'(rest)':16} {wall - inside:9.2f} {100 * (wall - inside) / wall:6.1f}%")
            print(f"\nOperators by self CPU time ({task}):")
            print(entry["top_ops"])
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--extract-batch", type=int, default=8)
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=15, help="operators listed per task")
    parser.add_argument("--model", help="a trained model folder (default: untrained, calibrated θ)")
    parser.add_argument("--output", help="file stem (default bench/results/profile-<device>-<dtype>-extract<batch>)")
    args = parser.parse_args(argv)
    report = run(args)
    text = format_report(report)
    print(text)
    stem = Path(args.output or Path(__file__).resolve().parent / "results" /
                f"profile-{torch.device(args.device).type}-{args.dtype}-extract{args.extract_batch}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    stem.with_suffix(".txt").write_text(text)
    print(f"wrote {stem}.json and .txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
