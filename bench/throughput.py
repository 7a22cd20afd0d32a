"""End-to-end throughput: extraction and training in sentences per second, with peak memory.

    python bench/throughput.py                                  # CPU, fp32 and bf16, batches 1 8 32
    python bench/throughput.py --dtype bf16 --model runs/c04/best --extract-batch 8
    python bench/throughput.py --dtype fp32 bf16 int8 onnx-fp32 onnx-int8 --model runs/c04/best \
        --configs encoder native --train-batch --eval-process      # the encoder's runtimes (issue 23)

Configurations, measured one after another in this process on the same batches (CoNLL04 test
for extraction, CoNLL04 train for training, the offline MiniLM encoder):
- encoder:  the encoder alone (forward; for training forward + backward + AdamW step): the floor;
- native:   spertmt with its compiled kernels;
- fallback: spertmt with the pure-PyTorch fallbacks;
- spert:    spertmt with SpERT's pooling path swapped in (bench/spert_baseline.py: [B, S, T]
            masks and a [B, S, T, H] tensor per pooling) and, for training, SpERT's optimizer
            loop (transformers.AdamW steps one tensor at a time).
Training steps are the trainer's: forward, backward, gradient clipping, optimizer step.
Extraction goes through `Extractor.extract` (length-sorted batches, inference mode). Peak memory is
the growth of the peak resident set of a fresh process running the configuration once, measured
from after loading and a warm-up (CPU), or the peak allocated GPU memory. The scale rows (issue 10)
extract one 200-word document (`doc200`) and the 64 longest test sentences in one batch
(`batch64`). Without `--model`, an untrained model is used, with θ set so that it
keeps as many entities as the gold has on the first 64 test sentences (a realistic relation load);
with `--model` (a trained model) the extraction rows also give the test set's NER and RE+ micro F1,
so that bf16's effect on F1 is read from the same run as its speed.

Settings (`--dtype`), how the encoder runs (spertmt.inference.runtimes): fp32, bf16 (the encoder's
weights cast to bf16 once, under autocast), bf16-autocast (fp32 weights under autocast, which casts
them again on every batch: what bf16 was before the cast), int8 (PyTorch's dynamic quantisation,
per channel), onnx-fp32 and onnx-int8 (ONNX Runtime: the model exported once into a temporary
folder at the start, as `spertmt export` writes it; on a CPU their `native` rows run the whole model
without torch, as `--runtime onnx` does there). The int8 and ONNX settings have
extraction rows only (`encoder` and `native`; their `encoder` row is that runtime's encoder
alone). `--predict` adds rows timing `Extractor.predict` on the test documents at each extraction
batch size (pre-tokenised documents: the path of `spertmt eval` and of the trainer's evaluation on
dev). With `--eval-process` and `--model` every setting also gets a row timing the whole
`spertmt eval` process on CoNLL04 test (start-up and loading included: what a user waits for).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)
from spert_baseline import ranges_to_masks, spert_max_pool  # noqa: E402
from tables import markdown_rows  # noqa: E402

import spertmt  # noqa: E402
from spertmt import ops  # noqa: E402
from spertmt.config import Config  # noqa: E402
from spertmt.data.batching import Collator, DocumentDataset, encode_documents  # noqa: E402
from spertmt.data.documents import Document, Entity, Relation  # noqa: E402
from spertmt.evaluate import evaluate  # noqa: E402
from spertmt.inference.export import export_onnx  # noqa: E402
from spertmt.inference.extractor import Extractor  # noqa: E402
from spertmt.inference.portable import load_portable  # noqa: E402
from spertmt.inference.runtimes import prepare_encoder  # noqa: E402
from spertmt.layout import RunFolder  # noqa: E402
from spertmt.model.encoder import load_encoder, load_tokenizer  # noqa: E402
from spertmt.model.spertmt import SpERTMT  # noqa: E402
from spertmt.ops import reference  # noqa: E402
from spertmt.runtime import autocast, cpu_capability  # noqa: E402
from spertmt.training.optim import AdamWNoBiasCorrection  # noqa: E402
from spertmt.training.trainer import make_optimizer  # noqa: E402

CONFIGS = ("encoder", "native", "fallback", "spert")
# setting -> (runtime, precision) of spertmt.load
SETTINGS = {"fp32": ("torch", "fp32"), "bf16": ("torch", "bf16"), "bf16-autocast": ("torch", "bf16"),
            "int8": ("torch", "int8"),
            "onnx-fp32": ("onnx", "fp32"), "onnx-int8": ("onnx", "int8")}
AUTOCAST_SETTINGS = ("fp32", "bf16")  # the settings with training, fallback and SpERT rows
SCALE = ("doc200", "batch64")  # issue 10's scale checks: memory must not grow with spans x pieces x hidden


def _spert_span_pool(hidden, starts, ends):
    return spert_max_pool(hidden, ranges_to_masks(starts, ends, hidden.shape[1]))


def _spert_enumerate(hidden, word_starts, word_ends, num_words, max_width=10):
    spans = reference.enumerate_spans(word_starts.shape[1], max_width, hidden.device)
    mask = spans[:, 1].unsqueeze(0) <= num_words.unsqueeze(1)
    last = word_starts.shape[1] - 1
    starts = torch.where(mask, word_starts[:, spans[:, 0].clamp(max=last)], 0)
    ends = torch.where(mask, word_ends[:, (spans[:, 1] - 1).clamp(max=last)], 0)
    return ops.EnumeratedSpans(_spert_span_pool(hidden, starts, ends), spans, mask)


def _spert_context(hidden, head, tail):
    start, end = reference.pair_context_ranges(head, tail)
    return _spert_span_pool(hidden, start, end)


@contextlib.contextmanager
def pooling(config: str):
    """Swaps the pooling implementation the model calls (spertmt.ops is the one place it picks)."""
    saved = ops.span_max_pool, ops.enumerate_span_max_pool, ops.pair_context_max_pool
    if config == "spert":
        ops.span_max_pool, ops.enumerate_span_max_pool, ops.pair_context_max_pool = (
            _spert_span_pool, _spert_enumerate, _spert_context)
    try:
        with ops.fallbacks_only() if config == "fallback" else contextlib.nullcontext():
            yield
    finally:
        ops.span_max_pool, ops.enumerate_span_max_pool, ops.pair_context_max_pool = saved


def conll04(name: str) -> Path:
    """A CoNLL04 file of the data root (conll04_<name>.json)."""
    return Config().data_path("train_path").parents[1] / "conll04" / f"conll04_{name}.json"


def build(args):
    device = torch.device(args.device)
    types = spertmt.read_types(conll04("types"))
    test = spertmt.read_documents(conll04("test"), types)
    train = spertmt.read_documents(conll04("train"), types)
    if args.model:
        extractor = spertmt.load(args.model, device=args.device)
    else:
        tokenizer = load_tokenizer(Config().encoder)
        torch.manual_seed(0)
        model = SpERTMT(Config(), types, load_encoder(Config().encoder)).to(device).eval()
        extractor = Extractor(model, tokenizer, device)
        # θ such that the untrained model keeps as many entities as the gold has: a realistic load.
        sample = test[:64]
        found = extractor.extract([d.tokens for d in sample], threshold=-1e9, relations=False)
        scores = sorted((e.score for r in found for e in r.entities), reverse=True)
        model.config.threshold = scores[sum(len(d.entities) for d in sample) - 1]
    return extractor, types, test, train


def _autocast(args):
    return autocast(args.device, "bf16" if SETTINGS[args.dtype][1] == "bf16" else "fp32")


def with_setting(extractor, fp32_encoder, setting: str, onnx_dir: Path | None):
    """The extractor with its encoder running as `setting`, swapped in as `spertmt.load` does (the
    model object is shared: each call starts again from the fp32 encoder; `onnx_dir` holds the
    encoder's ONNX files)."""
    runtime, precision = SETTINGS[setting]
    model = extractor.model
    model.encoder = copy.deepcopy(fp32_encoder) if setting == "bf16" else fp32_encoder  # bf16 casts in place
    if setting != "bf16-autocast":  # bf16 as before its weights were cast once: fp32 weights under autocast
        prepare_encoder(model, onnx_dir, precision, runtime, extractor.device)
    swapped = Extractor(model, extractor.tokenizer, extractor.device, extractor.thresholds, precision, runtime)
    swapped.training_encoder = fp32_encoder  # training keeps fp32 weights (bf16: under autocast)
    if runtime == "onnx" and extractor.device.type == "cpu":  # what `--runtime onnx` runs on a CPU
        swapped.torch_free = load_portable(onnx_dir, precision)
    return swapped


def f1_of(results, test, types) -> dict:
    """NER and RE+ micro F1 of extraction results against the gold test documents."""
    predicted = [Document(doc.tokens, [Entity(e.token_start, e.token_end, e.type) for e in r.entities],
                          [Relation(x.head, x.tail, x.type) for x in r.relations]) for doc, r in zip(test, results)]
    metrics = evaluate(test, predicted, types)
    return {"ner_f1": metrics["ner"]["micro"]["f1"], "re_strict_f1": metrics["re_strict"]["micro"]["f1"]}


def _sync(args):
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


def scale_workload(test, name):
    """(documents, batch size) of the scale checks: one 200-word document made of consecutive test
    sentences, or the 64 longest test sentences in one batch."""
    if name == "doc200":
        words = [w for d in test for w in d.tokens][:200]
        return [Document(words)], 1
    return sorted(test, key=lambda d: -len(d.tokens))[:64], 64


def extract_once(extractor, test, config, batch, args):
    words = [d.tokens for d in test]
    if config == "encoder":  # the same length-sorted batches, the encoder alone
        order = sorted(range(len(test)), key=lambda i: -len(words[i]))
        dataset = DocumentDataset(test, encode_documents(extractor.tokenizer, test), extractor.types, train=False)
        collate = Collator(extractor.tokenizer.pad_token_id)
        with torch.inference_mode(), _autocast(args):
            for s in range(0, len(order), batch):
                b = collate([dataset[i] for i in order[s:s + batch]]).to(extractor.device)
                extractor.model.encoder(input_ids=b.input_ids, attention_mask=b.attention_mask)
        return None
    with pooling(config), _autocast(args):
        return getattr(extractor, "torch_free", extractor).extract(words, batch_size=batch)


def train_steps(extractor, train, config, batch, steps, args):
    model = extractor.model
    extraction_encoder, model.encoder = model.encoder, getattr(extractor, "training_encoder", model.encoder)
    model.train()
    dataset = DocumentDataset(train, encode_documents(extractor.tokenizer, train[: steps * batch]), extractor.types,
                              train=True)
    collate = Collator(extractor.tokenizer.pad_token_id)
    # The trainer's optimizer (SpERT's AdamW, fused kernel on the CPU); the SpERT configuration
    # steps it tensor by tensor, as transformers.AdamW in SpERT's code does. lr = 0: every step
    # costs what a real one does, and the weights (a trained model's, measured for F1 in the
    # extraction rows that follow) stay exactly as they are.
    optimizer = (AdamWNoBiasCorrection(model.parameters(), lr=0.0, weight_decay=0.01, implementation="loop")
                 if config == "spert" else make_optimizer(model, Config(lr=0.0)))
    with pooling(config):
        for step in range(steps):
            b = collate([dataset[i] for i in range(step * batch, (step + 1) * batch)]).to(extractor.device)
            with _autocast(args):
                if config == "encoder":
                    hidden = model.encoder(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state
                    loss = hidden.float().mean()
                else:
                    loss = model(b).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    model.eval()
    model.encoder = extraction_encoder


def measure(fn, args, repeats):
    times = []
    for _ in range(repeats):
        _sync(args)
        t0 = time.perf_counter()
        fn()
        _sync(args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def peak_memory(args, task: str, config: str, batch: int) -> float:
    """MiB of peak resident-set growth in a fresh process (after loading and a warm-up), or of peak
    allocated GPU memory."""
    cmd = [sys.executable, __file__, "--probe", json.dumps({"task": task, "config": config, "batch": batch}),
           "--device", args.device, "--dtype", args.dtype, "--steps", str(args.steps)]
    if args.model:
        cmd += ["--model", args.model]
    if args.onnx_dir:
        cmd += ["--onnx-dir", str(args.onnx_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _reset_peak_rss() -> int:
    """Resets the peak resident set (VmHWM) to the current one (Linux >= 4.0) and returns it in
    KiB: the growth measured after it is the configuration's, not the model loading's."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS")


def probe(args) -> None:
    spec = json.loads(args.probe)
    extractor, _, test, train = build(args)
    extractor = with_setting(extractor, extractor.model.encoder, args.dtype,
                             Path(args.onnx_dir) if args.onnx_dir else None)
    # Warm up on a few sentences: one-time costs are not the configuration's.
    if spec["task"] in ("extract",) + SCALE:
        extract_once(extractor, test[:4], spec["config"], 2, args)
    else:
        train_steps(extractor, train, spec["config"], 1, 1, args)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _reset_peak_rss()
    if spec["task"] in SCALE:
        test, spec["batch"] = scale_workload(test, spec["task"])
    if spec["task"] in ("extract",) + SCALE:
        extract_once(extractor, test, spec["config"], spec["batch"], args)
    else:
        train_steps(extractor, train, spec["config"], spec["batch"], args.steps, args)
    if args.device.startswith("cuda"):
        print((torch.cuda.max_memory_allocated() - base) / 2**20)
    else:
        print((_status_kib("VmHWM") - base) / 1024)


def measure_all(args, extractor, types, test, train) -> list[dict]:
    """Every configuration and batch size at one setting (args.dtype)."""
    extract_once(extractor, test[:8], "native", 4, args)  # warm-up
    configs = (
        args.configs if args.dtype in AUTOCAST_SETTINGS else [c for c in args.configs if c in ("encoder", "native")]
    )
    rows = []
    print(f"# device={args.device} dtype={args.dtype} threads={torch.get_num_threads()} torch={torch.__version__} "
          f"native={ops.native_available(torch.device(args.device).type)} model={args.model or 'untrained'}")
    print(f"{'task':8} {'config':9} {'batch':>5} {'sent/s':>9} {'median s':>9} {'peak MiB':>9} {'entities':>9}"
          + (f" {'NER F1':>7} {'RE+ F1':>7}" if args.model else ""))
    for batch in args.extract_batch:
        for config in configs:
            results = {}

            def run():
                results["out"] = extract_once(extractor, test, config, batch, args)

            median, times = measure(run, args, args.repeats)
            out = results["out"]
            row = {"task": "extract", "dtype": args.dtype, "config": config, "batch": batch,
                   "sentences": len(test), "median_s": median, "times_s": times,
                   "sentences_per_s": len(test) / median,
                   "entities": sum(len(r.entities) for r in out) if out else None,
                   "relations": sum(len(r.relations) for r in out) if out else None}
            if out and args.model:
                row.update(f1_of(out, test, types))
            if not args.no_memory:
                row["peak_mib"] = peak_memory(args, "extract", config, batch)
            rows.append(row)
            f1 = f" {row['ner_f1']:7.2f} {row['re_strict_f1']:7.2f}" if "ner_f1" in row else ""
            print(f"extract  {config:9} {batch:5d} {row['sentences_per_s']:9.1f} {median:9.3f} "
                  f"{row.get('peak_mib', float('nan')):9.1f} {row['entities'] if out else '-':>9}{f1}", flush=True)
    for batch in args.extract_batch if args.predict else ():
        # Pre-tokenised documents (`Extractor.predict`): the path of `spertmt eval` and of the
        # trainer's evaluation on dev.
        documents = [Document(list(d.tokens)) for d in test]
        results = {}

        def run():
            results["out"] = extractor.predict(documents, batch_size=batch)

        median, times = measure(run, args, args.repeats)
        row = {"task": "predict", "dtype": args.dtype, "config": "native", "batch": batch, "sentences": len(test),
               "median_s": median, "times_s": times, "sentences_per_s": len(test) / median}
        if args.model:
            metrics = evaluate(test, results["out"], types)
            row.update(ner_f1=metrics["ner"]["micro"]["f1"], re_strict_f1=metrics["re_strict"]["micro"]["f1"])
        rows.append(row)
        print(f"predict  {'native':9} {batch:5d} {row['sentences_per_s']:9.1f} {median:9.3f}", flush=True)
    for name in SCALE if not args.no_memory and args.dtype in AUTOCAST_SETTINGS else ():
        documents, batch = scale_workload(test, name)
        # SpERT's pooling would need ~20 GiB for the batch of 64 (its [B, S, T, H] tensors): not run.
        for config in [c for c in args.configs if c == "native" or (c == "spert" and name == "doc200")]:
            median, _ = measure(lambda: extract_once(extractor, documents, config, batch, args), args, 1)
            row = {"task": name, "dtype": args.dtype, "config": config, "batch": batch, "median_s": median,
                   "words": sum(len(d.tokens) for d in documents),
                   "peak_mib": peak_memory(args, name, config, batch)}
            rows.append(row)
            print(f"{name:8} {config:9} {batch:5d} {'':>9} {median:9.3f} {row['peak_mib']:9.1f}", flush=True)
    for batch in args.train_batch if args.dtype in AUTOCAST_SETTINGS else ():
        for config in args.configs:
            median, times = measure(lambda: train_steps(extractor, train, config, batch, args.steps, args), args,
                                    args.repeats)
            row = {"task": "train", "dtype": args.dtype, "config": config, "batch": batch, "steps": args.steps,
                   "median_s": median, "times_s": times, "sentences_per_s": args.steps * batch / median,
                   "ms_per_step": 1000 * median / args.steps}
            if not args.no_memory:
                row["peak_mib"] = peak_memory(args, "train", config, batch)
            rows.append(row)
            print(f"train    {config:9} {batch:5d} {row['sentences_per_s']:9.1f} {median:9.3f} "
                  f"{row.get('peak_mib', float('nan')):9.1f} {row['ms_per_step']:8.1f}ms", flush=True)
    return rows


def interleaved(args, dtypes, extractor, fp32_encoder, types, test, train) -> list[dict]:
    """`args.repeats` rounds, each measuring every setting once, so that the drift of a shared
    machine hits all settings alike (measured one after another, settings had differed by up to 1.5x
    between two runs); a row's median is over its rounds. Memory is probed in the first round."""
    repeats, no_memory = args.repeats, args.no_memory
    merged: dict[tuple, dict] = {}
    for round_ in range(repeats):
        print(f"## round {round_ + 1} of {repeats}")
        args.repeats, args.no_memory = 1, no_memory or round_ > 0
        for dtype in dtypes:
            args.dtype = dtype
            for row in measure_all(args, with_setting(extractor, fp32_encoder, dtype, args.onnx_dir), types, test,
                                   train):
                key = (row["task"], row["dtype"], row["config"], row["batch"])
                if key in merged and "times_s" in row:
                    merged[key]["times_s"] += row["times_s"]
                else:
                    merged[key] = row
    args.repeats, args.no_memory = repeats, no_memory
    rows = list(merged.values())
    for row in rows:
        if "times_s" in row:
            row["median_s"] = statistics.median(row["times_s"])
            if row["task"] in ("extract", "predict"):
                row["sentences_per_s"] = row["sentences"] / row["median_s"]
            else:
                row["sentences_per_s"] = row["steps"] * row["batch"] / row["median_s"]
                row["ms_per_step"] = 1000 * row["median_s"] / row["steps"]
    print(markdown_rows(rows))
    return rows


def eval_process_rows(args, settings: list[str], workdir: Path, test_path: Path, sentences: int) -> list[dict]:
    """`spertmt eval` on CoNLL04 test as a user runs it, one whole process per run, at every
    setting (medians of args.repeats runs, interleaved across settings against drift)."""
    # the exported folder, exported once at the start, is a model folder for both engines
    folder = Path(args.onnx_dir or args.model)
    batch = args.eval_batch
    times = {setting: [] for setting in settings}
    metrics = {}
    for _ in range(args.repeats):
        for setting in settings:
            runtime, precision = SETTINGS[setting]
            out = workdir / f"eval-{setting}"
            cmd = [sys.executable, "-m", "spertmt", "eval", "--model", str(folder), "--data", str(test_path),
                   "--quiet", "--device", args.device,
                   "--precision", precision, "--runtime", runtime, "--batch-size", str(batch), "--output", str(out)]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            times[setting].append(time.perf_counter() - t0)
            metrics[setting] = json.loads(RunFolder(out).metrics.read_text())  # eval --output names as a run
    rows = []
    print(f"{'task':8} {'setting':9} {'batch':>5} {'median s':>9} {'NER F1':>7} {'RE+ F1':>7}")
    for setting in settings:
        m = metrics[setting]
        row = {"task": "eval-process", "dtype": setting, "config": "spertmt eval", "batch": batch,
               "median_s": statistics.median(times[setting]), "times_s": times[setting],
               "sentences": sentences, "sentences_per_s": sentences / statistics.median(times[setting]),
               "ner_f1": m["ner"]["micro"]["f1"], "re_strict_f1": m["re_strict"]["micro"]["f1"]}
        rows.append(row)
        print(
            f"{'eval':8} {setting:9} {batch:5d} {row['median_s']:9.2f} {row['ner_f1']:7.2f} {row['re_strict_f1']:7.2f}",
            flush=True,
        )
    return rows


def markdown(path: str) -> str:
    """The rows of a JSON written by this script, as the markdown table of bench/RESULTS.md."""
    return markdown_rows(json.loads(Path(path).read_text())["rows"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", nargs="+", default=["fp32", "bf16"], choices=list(SETTINGS),
                        help="settings of the encoder, measured one after another in this process (ratios "
                             "side by side)")
    parser.add_argument("--extract-batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--train-batch", type=int, nargs="*", default=[2, 8], help="none: no training rows")
    parser.add_argument("--batch-size", type=int, nargs="+", help="the same batch sizes for extraction and training")
    parser.add_argument("--steps", type=int, default=10, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--model", help="a trained model folder (default: untrained, θ = 0)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--predict", action="store_true",
                        help="also time Extractor.predict on the test documents (the path of spertmt eval)")
    parser.add_argument("--eval-process", action="store_true",
                        help="with --model: also time whole `spertmt eval` processes on CoNLL04 test per setting")
    parser.add_argument("--eval-batch", type=int, default=32, help="batch size of the --eval-process rows")
    parser.add_argument("--onnx-dir", help=argparse.SUPPRESS)  # the exported encoder, for the probes
    parser.add_argument("--output", help="JSON file (default bench/results/throughput-<device>-<dtype>.json)")
    parser.add_argument("--markdown", metavar="JSON", help="print a JSON of this script as a markdown table")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(args.markdown))
        return 0
    if args.batch_size:
        args.extract_batch = args.train_batch = args.batch_size
    if args.probe:
        args.dtype = args.dtype[0]
        probe(args)
        return 0
    extractor, types, test, train = build(args)
    dtypes = args.dtype
    rows = []
    fp32_encoder = extractor.model.encoder
    with tempfile.TemporaryDirectory() as workdir:
        if any(SETTINGS[d][0] == "onnx" for d in dtypes):
            args.onnx_dir = Path(workdir) / "onnx"
            source = args.model
            if source is None:  # the untrained model (its θ included), as a folder to export
                source = extractor.save_pretrained(Path(workdir) / "untrained")
            export_onnx(source, args.onnx_dir)  # as `spertmt export` writes it, the int8 encoder smoothed
        rows += interleaved(args, dtypes, extractor, fp32_encoder, types, test, train)
        if args.eval_process and args.model:  # bf16-autocast is no setting of `spertmt eval`
            rows += eval_process_rows(args, [d for d in dtypes if d != "bf16-autocast"], Path(workdir),
                                      conll04("test"), len(test))
    args.dtype = dtypes
    output = Path(args.output or Path(__file__).resolve().parent / "results" /
                  f"throughput-{torch.device(args.device).type}-{'-'.join(args.dtype)}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"command": " ".join(sys.argv), "cpu": cpu_capability(), "rows": rows,
                                  "machine": {"cpu": records.cpu_name(), "commit": records.commit(),
                                              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}},
                                 indent=1))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
