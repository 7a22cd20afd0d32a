"""The tables from the benchmarks' committed JSON (bench/results/): bench/RESULTS.md's, and the
figures that README.md and docs/faster.md quote.

Each function reads the JSON that a benchmark script wrote and returns a markdown table; the
registry is `TABLES`, and `python experiments/results_tables.py --write` writes them (with the
results' tables) between their markers, where tests/experiment/test_tables.py checks them. Nothing
here imports torch: the scripts import `markdown_rows` from here to print what they measured.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_rows(rows: list[dict]) -> str:
    """bench/throughput.py's rows as a markdown table; "x fp32": the row's speed over the fp32 row of
    the same task, configuration and batch (measured in the same rounds)."""
    fp32 = {(r["task"], r["config"], r["batch"]): r["median_s"] for r in rows if r["dtype"] == "fp32"}
    out = []
    for r in rows:
        def cell(key, fmt):
            return format(r[key], fmt) if r.get(key) is not None else ""
        base = fp32.get((r["task"], r["config"], r["batch"]))
        ratio = f"{base / r['median_s']:.2f}" if base and r.get("median_s") else ""
        out.append([r["task"], r["dtype"], r["config"], str(r["batch"]), cell("sentences_per_s", ".1f"), ratio,
                    cell("ms_per_step", ".1f"), cell("median_s", ".3f"), cell("peak_mib", ".1f"),
                    cell("ner_f1", ".2f"), cell("re_strict_f1", ".2f")])
    return table(["task", "dtype", "configuration", "batch", "sentences/s", "x fp32", "ms/step", "median s",
                  "peak MiB", "NER F1", "RE+ F1"], out)


def throughput(name: str):
    """The table of one bench/throughput.py JSON."""
    return lambda: markdown_rows(load(name)["rows"])


def ops() -> str:
    """bench/run_ops.py: the pooling ops, native against our fallback and SpERT's way (ops-cpu.json)."""
    rows = []
    for r in load("ops-cpu")["rows"]:
        rows.append([r["workload"], r["mode"], str(r["batch"]), str(r["hidden"]), str(r["spans"]), str(r["pieces"]),
                     f"{r['native_ms']:.2f}", f"{r['fallback_ms']:.2f}", f"{r['spert_ms']:.2f}",
                     f"{r['spert_ms'] / r['native_ms']:.1f}x", f"{r['fallback_ms'] / r['native_ms']:.1f}x",
                     f"{r['native_peak_mib']:.1f}", f"{r['fallback_peak_mib']:.1f}", f"{r['spert_peak_mib']:.1f}"])
    return table(["workload", "mode", "B", "H", "S", "T", "native ms", "fallback ms", "SpERT ms", "SpERT / native",
                  "fallback / native", "native MiB", "fallback MiB", "SpERT MiB"], rows)


def ops_builds() -> str:
    """bench/compare_builds.py: the kernels before and on the stable ABI, side by side (ops-cpu-builds.json)."""
    data = load("ops-cpu-builds")
    baseline = Path(data["baseline"]).name.removesuffix("_C.so")
    rows = [[r["workload"], r["mode"], str(r["batch"]), str(r["hidden"]), f"{r['baseline_ms']:.3f}",
             f"{r['candidate_ms']:.3f}", f"{r['ratio']:.2f}"] for r in data["rows"]]
    ratios = [r["ratio"] for r in data["rows"]]
    return (table(["workload", "mode", "B", "H", f"{baseline} ms", "stable ABI ms", "ratio"], rows)
            + f"\nMedian ratio {statistics.median(ratios):.2f} over the {len(ratios)} cases (min {min(ratios):.2f}, "
            f"max {max(ratios):.2f}); `bench/results/ops-cpu-builds.json` holds every round.\n")


def optim() -> str:
    """bench/run_optim.py: one optimizer step over the offline encoder (optim-cpu.json)."""
    rows = load("optim-cpu")["rows"]
    native = rows[0]["median_ms"]
    return table(["optimizer", "median ms", "x native"],
                 [[r["optimizer"], f"{r['median_ms']:.2f}", f"{r['median_ms'] / native:.2f}x"] for r in rows])


def heads() -> str:
    """The rerun after the heads' change (throughput-cpu-heads.json): extraction against its encoder alone."""
    def speeds(name):
        return {(r["dtype"], r["config"], r["batch"]): r for r in load(name)["rows"] if r["task"] == "extract"}

    now = speeds("throughput-cpu-heads")
    rows = []
    for dtype, _, batch in [key for key in now if key[1] == "native"]:
        encoder, native = now[dtype, "encoder", batch], now[dtype, "native", batch]
        fp32 = now["fp32", "native", batch]["sentences_per_s"]
        rows.append([dtype, str(batch), f"{encoder['sentences_per_s']:.1f}", f"{native['sentences_per_s']:.1f}",
                     f"{native['sentences_per_s'] / encoder['sentences_per_s']:.2f}",
                     f"{native['sentences_per_s'] / fp32:.2f}",
                     f"{native['ner_f1']:.2f} / {native['re_strict_f1']:.2f}"])
    return table(["dtype", "batch", "encoder alone, sentences/s", "extraction, sentences/s",
                  "extraction / encoder alone", "x fp32", "NER / RE+ F1"], rows)


def inference_path() -> str:
    """The pooling kernels' forward without an arg-max, before and after (ops-cpu-inference-path.json)."""
    found = load("ops-cpu-inference-path")["runs"]

    def medians(side):
        runs = [found[name]["rows"] for name in sorted(found) if name.startswith(side)]
        return {(r["workload"], r["batch"], r["hidden"]): statistics.median(run[i]["native_ms"] for run in runs)
                for i, r in enumerate(runs[0]) if r["mode"] == "forward"}

    before, after = medians("before"), medians("after")
    rows = [[key[0], str(key[1]), str(key[2]), f"{before[key]:.2f}", f"{after[key]:.2f}",
             f"{before[key] / after[key]:.1f}x"] for key in before]
    return table(["workload", "B", "H", "before ms", "after ms", "before / after"], rows)


def _side_by_side(folder: str, side: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((RESULTS / folder).glob(f"{side}-*.json"))]


def predict_order() -> str:
    """Extractor.predict in input order (before) and longest first (main), two processes each (predict-order/)."""
    sides = {side: _side_by_side("predict-order", side) for side in ("before", "main")}

    def speeds(side, task, dtype, batch):
        return [next(r["sentences_per_s"] for r in run["rows"] if (r["task"], r["dtype"], r["batch"]) ==
                     (task, dtype, batch)) for run in sides[side]]

    def f1(side, dtype, batch):
        return {(round(r["ner_f1"], 2), round(r["re_strict_f1"], 2)) for run in sides[side] for r in run["rows"]
                if (r["task"], r["dtype"], r["batch"]) == ("predict", dtype, batch)}

    rows = []
    cases = [("predict", dtype, batch) for dtype in ("fp32", "bf16") for batch in (8, 32)]
    cases += [("extract", dtype, 32) for dtype in ("fp32", "bf16")]
    for task, dtype, batch in cases:
        before, after = speeds("before", task, dtype, batch), speeds("main", task, dtype, batch)
        scores = f1("before", dtype, batch) | f1("main", dtype, batch)
        same = (f"{next(iter(scores))[0]:.2f} / {next(iter(scores))[1]:.2f} both" if len(scores) == 1 else
                "differ") if task == "predict" else ""
        label = task if task == "predict" else f"{task} (unchanged: the control)"
        rows.append([label, dtype, str(batch),
                     ", ".join(f"{v:.1f}" for v in before) + f" ({statistics.fmean(before):.1f})",
                     ", ".join(f"{v:.1f}" for v in after) + f" ({statistics.fmean(after):.1f})",
                     f"{statistics.fmean(after) / statistics.fmean(before):.2f}", same])
    return table(["task", "dtype", "batch", "before", "after", "after / before", "NER / RE+ F1"], rows)


def int8_engine() -> str:
    """int8 against fp32 in each process, with x86's (before) and oneDNN's (main) packing (int8-engine/)."""
    rows = []
    for label, side in (("x86 (fbgemm), the default", "before"), ("oneDNN", "main")):
        runs = _side_by_side("int8-engine", side)
        cells = []
        for config in ("encoder", "native"):
            for batch in (8, 32):
                ratios = []
                for run in runs:
                    speed = {(r["dtype"], r["config"], r["batch"]): r["sentences_per_s"] for r in run["rows"]}
                    ratios.append(speed["int8", config, batch] / speed["fp32", config, batch])
                cells.append(", ".join(f"{x:.2f}" for x in ratios) + f" ({statistics.median(ratios):.2f})")
        for batch in (8, 32):
            found = {(round(r["ner_f1"], 2), round(r["re_strict_f1"], 2)) for run in runs for r in run["rows"]
                     if (r["dtype"], r["config"], r["batch"]) == ("int8", "native", batch)}
            cells.append(" or ".join(f"{n:.2f} / {s:.2f}" for n, s in sorted(found)))
        rows.append([label] + cells)
    return table(["int8 weights", "encoder alone, batch 8", "batch 32", "whole extraction, batch 8", "batch 32",
                  "NER / RE+ F1, batch 8", "batch 32"], rows)


def parity() -> str:
    """bench/portable_parity.py: the runtime without torch against PyTorch (portable-parity-conll04-dev.json)."""
    names = {"torch fp32": "PyTorch fp32", "onnx fp32": "ONNX Runtime fp32, no torch",
             "onnx int8": "ONNX Runtime int8 encoder, no torch"}
    rows = []
    for r in load("portable-parity-conll04-dev")["rows"]:
        difference = r["max_score_difference"]
        rows.append([names[r["runtime"]], f"{r['same_as_torch']} / {r['texts']}",
                     "-" if difference is None else "0" if difference == 0 else f"{difference:.1e}",
                     f"{r['ner_f1']:.2f}", f"{r['re_f1']:.2f}", f"{r['re_strict_f1']:.2f}"])
    return table(["runtime", "sentences with the same entities and relations as PyTorch",
                  "largest score difference on those",
                  "NER F1", "RE F1", "RE+ F1"], rows)


def cold_start() -> str:
    """bench/cold_start.py: whole processes, start-up included (cold-start.json)."""
    found = {(r["input"], r["runtime"]): r["median_s"] for r in load("cold-start")["rows"]}
    inputs = list(dict.fromkeys(i for i, _ in found))
    rows = []
    for name in inputs:
        torch, fp32, int8 = (found[name, runtime] for runtime in
                             ("torch fp32", "onnx fp32 (no torch)", "onnx int8 (no torch)"))
        rows.append([name if name == "one line" else f"the {name}", f"{torch:.2f} s",
                     f"**{fp32:.2f} s** ({fp32 / torch:.2f}x)", f"{int8:.2f} s ({int8 / torch:.2f}x)"])
    return table(["input", "PyTorch fp32", "ONNX Runtime fp32, no torch", "ONNX Runtime int8 encoder, no torch"], rows)


def long_line() -> str:
    """bench/long_line.py: 20,000 words with and without full stops (long-line.json)."""
    rows = []
    for r in load("long-line")["rows"]:
        runs = ", ".join(f"{s:.2f}" for s in r["all_seconds"])
        rows.append(["with full stops" if r["stops"] else "no sentence punctuation", str(r["words"]),
                     f"{r['seconds']:.1f} ({runs})", str(r["entities"]), str(r["relations"]),
                     f"{r['peak_rss_mb']:.0f}"])
    return table(["text", "words", "seconds (each run)", "entities", "relations", "peak RSS MB"], rows)


def profiles() -> str:
    """bench/profile_step.py: where one extraction batch and one training step go (profile-*.json)."""
    columns = [("extract b8 fp32", "profile-cpu-fp32-extract8", "extract"),
               ("extract b8 bf16", "profile-cpu-bf16-extract8", "extract"),
               ("extract b32 fp32", "profile-cpu-fp32-extract32", "extract"),
               ("train b2 fp32", "profile-cpu-fp32-extract8", "train"),
               ("train b2 bf16", "profile-cpu-bf16-extract8", "train")]
    tasks = [load(name)["tasks"][task] for _, name, task in columns]
    scopes = [("encoder", "encoder (forward)", True), ("spans", "span pooling (enumeration / sampled spans)", False),
              ("entity head", "entity head", False), ("pairs", "building pairs", False),
              ("relation head", "relation head (incl. context pooling)", False), ("losses", "losses", False),
              ("decode", "decode (tensors to documents)", False), ("backward", "backward (everything)", True),
              ("optimizer", "optimizer (clipping + step)", True)]

    def cell(value, whole, share):
        if value == 0:
            return ""
        return f"{value:.1f}" + (f" ({100 * value / whole:.0f} %)" if share else "")

    rows = [["whole"] + [f"{t['wall_ms']:.1f}" for t in tasks]]
    for key, label, share in scopes:
        rows.append([label] + [cell(t["scopes_ms"][key], t["wall_ms"], share) for t in tasks])
    rests = [t["wall_ms"] - sum(t["scopes_ms"].values()) for t in tasks]
    rows.append(["rest (tokenising, collating, Python)"] + [
        cell(rest, t["wall_ms"], "train" not in name) for rest, t, (name, _, _) in zip(rests, tasks, columns)])
    return table(["scope (ms)"] + [name for name, _, _ in columns], rows)


def train_threads() -> str:
    """bench/train_threads.py: one training process with 2 threads, 1 thread, and two side by side."""
    rows = load("train-threads-cpu")["rows"]
    base = rows[0]["steps_per_second_in_all"]
    return table(["setting", "s / step (each process)", "steps / s in all", f"vs {rows[0]['setting']}"],
                 [[r["setting"], ", ".join(f"{s:.3f}" for s in r["seconds_per_step"]),
                   f"{r['steps_per_second_in_all']:.2f}", f"{r['steps_per_second_in_all'] / base:.2f}x"] for r in rows])


# --- the figures quoted by README.md and docs/faster.md ----------------------------------------

def readme() -> str:
    """README's figures, from the benchmarks' committed JSON (bench/results/)."""
    def source(name, data):
        machine = data.get("machine") or data.get("environment") or {}
        when = str(machine.get("date", ""))[:10]
        details = [when] + [f"{key} {machine[key]}" for key in ("device", "cpu", "commit") if machine.get(key)]
        return f"`bench/results/{name}.json` ({', '.join(details)})"

    ops = load("ops-cpu")
    pooling = [r["spert_ms"] / r["native_ms"] for r in ops["rows"] if r["workload"] == "spans"
               and r["mode"] == "forward+backward"]
    cold = load("cold-start")
    start = {(r["input"], r["runtime"]): r["median_s"] for r in cold["rows"]}
    one, many = sorted({i for i, _ in start}, key=lambda i: i != "one line")
    size = {r["install"]: r.get("mib") for r in load("install-size")["rows"]}
    parity = {r["runtime"]: r for r in load("portable-parity-conll04-dev")["rows"]}["onnx fp32"]
    onnx, torch = "onnx fp32 (no torch)", "torch fp32"
    rows = [["span pooling, forward and backward, against SpERT's way of pooling (B = 2-8, H = 384-768)",
             f"{min(pooling):.1f}x to {max(pooling):.1f}x faster", source("ops-cpu", ops)],
            ["extract from a one-line file, a whole process: ONNX Runtime without torch / PyTorch",
             f"{start[one, onnx]:.2f} s / {start[one, torch]:.2f} s", source("cold-start", cold)],
            [f"extract the {many}, a whole process: the same",
             f"{start[many, onnx]:.2f} s / {start[many, torch]:.2f} s ({start[many, onnx] / start[many, torch]:.2f}x)",
             source("cold-start", cold)],
            ["the install: without torch / with torch",
             f"{size['portable (no torch)']:,.0f} MiB / {size['full (with torch)']:,.0f} MiB",
             source("install-size", load("install-size"))],
            ["ONNX Runtime against PyTorch, CoNLL04 dev, a 20-epoch model",
             f"{parity['same_as_torch']} of {parity['texts']} sentences the same, their scores within "
             f"{parity['max_score_difference']:.1e}", source("portable-parity-conll04-dev",
                                                              load("portable-parity-conll04-dev"))]]
    return table(["on 2 CPU cores", "measured (median)", "record"], rows)


def portable() -> str:
    """docs/faster.md's extraction without torch: parity, whole-process time and install size."""
    parity, start, size = load("portable-parity-conll04-dev"), load("cold-start"), load("install-size")
    torch = {r["runtime"]: r for r in parity["rows"]}["torch fp32"]
    rows = []
    for r in parity["rows"][1:]:
        difference = (f", their scores within {r['max_score_difference']:.1e}"  # int8 moves scores by design
                      if r["max_score_difference"] is not None and r["runtime"].endswith("fp32") else "")
        rows.append([f"{r['runtime']}: predictions against PyTorch fp32, CoNLL04 dev (20-epoch model)",
                     f"{r['same_as_torch']} of {r['texts']} sentences the same{difference}; NER "
                     f"{r['ner_f1'] - torch['ner_f1']:+.2f}, RE+ {r['re_strict_f1'] - torch['re_strict_f1']:+.2f}",
                     f"`bench/portable_parity.py` ({parity['machine']['date']}, commit {parity['machine']['commit']})"])
    for r in start["rows"]:
        rows.append([f"{r['runtime']}: {r['input']}, a whole process", f"{r['median_s']:.2f} s",
                     f"`bench/cold_start.py`, median of {start['rounds']} ({start['machine']['date'][:10]}, "
                     f"commit {start['machine']['commit']})"])
    for r in size["rows"]:
        value = f"{r['mib']:,.1f} MiB" if "mib" in r else f"{r['ratio']:.3f}"
        rows.append([f"installed: {r['install']}", value,
                     f"`bench/install_size.py` ({size['machine']['date']}, commit {size['machine']['commit']})"])
    return table(["what, on 2 CPU cores", "measured", "command (record in bench/results/)"], rows)


def faster() -> str:
    """docs/faster.md's settings: extraction speed against fp32 and the F1 change, CoNLL04 test."""
    data = load("throughput-cpu-runtimes")
    runs_ = {(r["dtype"], r["batch"]): r for r in data["rows"] if r["task"] == "extract" and r["config"] == "native"}
    batches = sorted({b for _, b in runs_})
    settings = (("fp32", "(default)", "fp32"), ("bf16", "`--precision bf16`", "bf16"),
                ("int8 (PyTorch)", "`--precision int8`", "int8"),
                ("ONNX Runtime fp32", "`--runtime onnx --precision fp32`", "onnx-fp32"),
                ("ONNX Runtime int8", "`--runtime onnx --precision int8`", "onnx-int8"))
    rows = []
    for name, flag, dtype in settings:
        speed = " / ".join(f"{runs_[dtype, b]['sentences_per_s'] / runs_['fp32', b]['sentences_per_s']:.2f}x"
                           for b in batches)
        if dtype == "fp32":
            speed += " (" + " / ".join(f"{runs_[dtype, b]['sentences_per_s']:.0f}" for b in batches) + " sentences/s)"
        changes = []
        for key, label in (("ner_f1", "NER"), ("re_strict_f1", "RE+")):
            moves = [runs_[dtype, b][key] - runs_["fp32", b][key] for b in batches]
            changes.append(f"{label} " + (" / ".join(f"{m:+.2f}" for m in moves) if any(abs(m) >= 0.005 for m in moves)
                                          else "unchanged"))
        rows.append([name, flag, speed, "" if dtype == "fp32" else ", ".join(changes)])
    header = f"CoNLL04 test, 2-core CPU ({data['cpu']}), batch {' / '.join(map(str, batches))}"
    return table(["setting", "command", header, "F1 against fp32"], rows)


def serve_load() -> str:
    """bench/serve_load.py: the service against `spertmt predict`, per runtime (serve-load-*.json)."""
    rows = []
    for path in sorted(RESULTS.glob("serve-load-*.json")):
        record = json.loads(path.read_text())
        baseline = record["predict_sentences_per_s"]
        rows.append([record["runtime"], "`spertmt predict` on the file", f"{baseline:.1f}", "1.00x", "", "", ""])
        for level in record["levels"]:
            ratio = level.get("x_predict", level["sentences_per_s"] / baseline)  # older records: of the medians
            rows.append([record["runtime"], str(level["concurrency"]), f"{level['sentences_per_s']:.1f}",
                         f"{ratio:.2f}x", f"{level['p50_ms']:.1f}",
                         f"{level['p99_ms']:.1f}", str(level["non_200"])])
        burst = record["burst"]
        rows.append([record["runtime"], f"burst of {burst['requests']}", "", "", "", "",
                     f"{burst['ok']} 200, {burst['busy_503']} 503, {burst['unanswered']} unanswered; healthy after: "
                     f"{burst['healthy_after']}; peak {burst['peak_memory_mib']:.0f} MiB"])
    if not rows:
        rows.append(["not yet measured", "", "", "", "", "", ""])
    return table(["runtime", "concurrency", "sentences/s", "x predict", "p50 ms", "p99 ms", "not 200"], rows)


def serve_knobs() -> str:
    """bench/serve_load.py --knobs: throughput and p99 at concurrency 32 per batching setting."""
    rows = []
    for path in sorted(RESULTS.glob("serve-load-*.json")):
        record = json.loads(path.read_text())
        rows += [[record["runtime"], str(k["max_batch"]), str(k["max_wait_ms"]), f"{k['sentences_per_s']:.1f}",
                  f"{k['p99_ms']:.1f}"] for k in record.get("knobs", [])]
    if not rows:
        rows.append(["not yet measured", "", "", "", ""])
    return table(["runtime", "--max-batch", "--max-wait-ms", "sentences/s at concurrency 32", "p99 ms"], rows)


def extract_batching() -> str:
    """bench/extract_batching.py: extraction throughput per batching rule, a whole file against the
    service's 32-text calls, per runtime (extract-batching-*.json)."""
    rows = []
    for path in sorted(RESULTS.glob("extract-batching-*.json")):
        record = json.loads(path.read_text())
        rows += [[record["runtime"], rule["name"], f"{rule['file_sentences_per_s']:.1f}",
                  f"{rule['service_sentences_per_s']:.1f}", f"{rule['service_over_file']:.2f}"]
                 for rule in record["rules"]]
    if not rows:
        rows.append(["not yet measured", "", "", "", ""])
    return table(["runtime", "a batch at most", "whole file, sentences/s", "32 texts a call, sentences/s",
                  "32 a call / file"], rows)


def packed_encoding() -> str:
    """bench/packed_encoding.py: extraction with the encoder packed against padded, per runtime and
    precision (packed-encoding-*.json)."""
    rows = []
    for path in sorted(RESULTS.glob("packed-encoding-*.json")):
        record = json.loads(path.read_text())
        same = f"{record['same_decisions']} of {record['sentences']}"
        rows += [[f"{record['runtime']} {record['precision']}", row["workload"], str(row["texts_per_call"]),
                  f"{row['padded_sentences_per_s']:.1f}", f"{row['packed_sentences_per_s']:.1f}",
                  f"{row['packed_over_padded']:.2f}x", same] for row in record["rows"]]
    return table(["engine", "workload", "texts a call", "padded, sentences/s", "packed, sentences/s",
                  "packed / padded", "same decisions"], rows)


def model_thread() -> str:
    """bench/model_thread.py: a PyTorch model run on the thread it loaded on, on another, and with
    OpenMP's workers waiting passively (model-thread.json)."""
    record = load("model-thread")
    first = record["rows"][0]["way"]
    return table(["way", "sentences/s", f"x {first}"],
                 [[row["way"], f"{row['sentences_per_s']:.1f}", f"{row['x_first']:.2f}x"] for row in record["rows"]])


def ort_spinning() -> str:
    """bench/ort_spinning.py: ONNX Runtime's workers spinning while a run lasts, never, and on after
    a run, per precision of the runtime without torch (ort-spinning.json)."""
    record = load("ort-spinning")
    return table(["precision", "how the workers wait", "sentences/s", "x spinning while a run lasts"],
                 [[row["precision"], row["way"], f"{row['sentences_per_s']:.1f}", f"{row['x_spertmt']:.2f}x"]
                  for row in record["rows"]])


TABLES = {
    "bench-ort-spinning": ort_spinning,
    "bench-ops": ops, "bench-ops-builds": ops_builds, "bench-optim": optim,
    "bench-end-to-end": throughput("throughput-cpu-fp32-bf16"), "bench-heads": heads,
    "bench-runtimes": throughput("throughput-cpu-runtimes"), "bench-bf16-cast": throughput("throughput-cpu-bf16-cast"),
    "bench-inference-path": inference_path, "bench-predict-order": predict_order, "bench-int8-engine": int8_engine,
    "bench-avx2": throughput("throughput-cpu-avx2"), "bench-parity": parity, "bench-cold-start": cold_start,
    "bench-long-line": long_line, "bench-profiles": profiles, "bench-train-threads": train_threads,
    "readme": readme, "faster": faster, "portable": portable, "bench-serve": serve_load,
    "bench-serve-knobs": serve_knobs, "bench-extract-batching": extract_batching,
    "bench-packed-encoding": packed_encoding, "bench-model-thread": model_thread,
}
