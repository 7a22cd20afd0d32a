"""Load on `spertmt serve`: throughput and latency at several concurrencies, against `spertmt
predict`'s throughput on the same texts with the same runtime, and a burst past the queue.

    python bench/serve_load.py --model runs/c04/onnx --runtime onnx
    python bench/serve_load.py --model runs/c04/best --runtime torch

For each concurrency C (default 1, 8, 32, 128), C clients each hold one keep-alive connection and
send one sentence per request (CoNLL04 test sentences, in order, `--sentences` of them) until every
sentence is answered; throughput is sentences over wall time, latency each request's from send to
last byte (p50, p99). The baseline is `predict_file` on the same sentences as a .txt file in a
process of its own, timed after the model has loaded and run the file once. `--repeats` rounds each
run the baseline and then every level on one server, so that each level's ratio to the baseline
("x predict": the median of the rounds' ratios) is measured side by side, not minutes apart on a
machine whose speed drifts; the median of each figure is kept, every run is in the record. The
server, too, answers every sentence once before it is timed: PyTorch's CPU kernels are slow on the
first batch of each new shape.
The burst sends `--burst` times the queue's length of requests at once to a server with a short
queue (`--burst-queue`): each must be answered (200 or 503) within the timeout, the server must be
healthy afterwards, and its peak memory (VmHWM) is read from /proc. `--knobs` then measures the
batching knobs at concurrency 32: a server per pair of `--max-batch` and `--max-wait-ms` values, the
figures that chose `spertmt serve`'s defaults. The client is our own asyncio
one (no dependency, exact per-request times, a body per request); on 2 cores it shares the machine
with the server, as a client on the same host would. Prints a table and writes JSON. Measure on a
quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)

HERE = Path(__file__).resolve().parent


def sentences(count: int) -> list[str]:
    """The first `count` CoNLL04 test sentences, as text (the data root as everywhere: SPERTMT_DATA, ...)."""
    from spertmt.config import Config
    from spertmt.data.documents import read_documents

    return [" ".join(d.tokens) for d in read_documents(Config().data_path("test_path"))][:count]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, runtime: str, threads: int, *extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "spertmt", "serve", "--model", model, "--runtime", runtime,
                                "--port", str(port), "--quiet", "--threads", str(threads), *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                if response.status == 200:
                    return process, port
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the server ended with {process.returncode}") from None
            time.sleep(0.2)
    raise SystemExit("the server did not become ready")


async def _post(reader, writer, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    writer.write(b"POST /v1/extract HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status, time.perf_counter() - started


async def run_level(port: int, texts: list[str], concurrency: int, timeout: float = 120.0) -> dict:
    queue = list(reversed(texts))
    latencies, statuses = [], []

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                body = json.dumps({"texts": [queue.pop()]}).encode()
                status, seconds = await asyncio.wait_for(_post(reader, writer, body), timeout)
                statuses.append(status)
                latencies.append(seconds)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {"concurrency": concurrency, "sentences": len(texts), "wall_s": wall,
            "sentences_per_s": len(texts) / wall, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "non_200": sum(s != 200 for s in statuses)}


async def burst(port: int, text: str, requests: int, timeout: float) -> dict:
    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return (await asyncio.wait_for(_post(reader, writer, json.dumps({"texts": [text]}).encode()), timeout))[0]
        except (asyncio.TimeoutError, OSError):
            return None
        finally:
            writer.close()

    started = time.perf_counter()
    statuses = await asyncio.gather(*(one() for _ in range(requests)))
    return {"requests": requests, "ok": statuses.count(200), "busy_503": statuses.count(503),
            "unanswered": statuses.count(None), "other": sum(s not in (200, 503, None) for s in statuses),
            "wall_s": time.perf_counter() - started}


def summary(runs: list[dict], baselines: list[float] | None = None) -> dict:
    """Runs of one level: the median of each figure, and every run's throughput; with `baselines`
    (predict's throughput in the same rounds), the median of the rounds' ratios to it."""
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("wall_s", "sentences_per_s", "p50_ms", "p99_ms")}
    out = {"concurrency": runs[0]["concurrency"], "sentences": runs[0]["sentences"], **median,
           "non_200": sum(run["non_200"] for run in runs),
           "runs_sentences_per_s": [run["sentences_per_s"] for run in runs]}
    if baselines is not None:
        out["runs_x_predict"] = [run["sentences_per_s"] / base for run, base in zip(runs, baselines)]
        out["x_predict"] = statistics.median(out["runs_x_predict"])
    return out


def http_stack() -> str:
    """What uvicorn runs the server on here: its C parser and loop when importable (as in the extra)."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http}, {loop}"


def peak_memory_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


PREDICT = """
import sys, time
from spertmt.inference.loading import load_extractor
from spertmt.inference.streaming import predict_file
model = load_extractor(sys.argv[1], runtime=sys.argv[2], threads=int(sys.argv[3]))
predict_file(model, sys.argv[4], sys.argv[5], progress=False)  # warm-up: every shape once, as the server's
started = time.perf_counter()
count = predict_file(model, sys.argv[4], sys.argv[5], progress=False)
print(count / (time.perf_counter() - started))
"""


def predict_throughput(model: str, runtime: str, threads: int, texts: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.txt"
        source.write_text("\n".join(texts) + "\n")
        out = subprocess.run([sys.executable, "-c", PREDICT, model, runtime, str(threads), str(source),
                              str(Path(tmp) / "out.jsonl")], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model folder (--runtime torch) or an exported one (onnx)")
    parser.add_argument("--runtime", default="onnx", choices=["onnx", "torch"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--sentences", type=int, default=288, help="CoNLL04 test sentences per level (all: 288)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="the model's threads")
    parser.add_argument("--burst", type=int, default=10, help="the burst, in queue lengths")
    parser.add_argument("--burst-queue", type=int, default=64, help="the queue of the burst's server, in texts")
    parser.add_argument("--knobs", action="store_true",
                        help="also measure --max-batch 8, 16, 32, 64 against --max-wait-ms 1, 5, 20 at concurrency 32")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement; the median is kept")
    parser.add_argument("--output", help="the JSON record (default: bench/results/serve-load-RUNTIME.json)")
    args = parser.parse_args(argv)
    texts = sentences(args.sentences)

    output = args.output or HERE / "results" / f"serve-load-{args.runtime}.json"
    process, port = start_server(args.model, args.runtime, args.threads)
    baseline_runs, level_runs = [], {c: [] for c in args.concurrency}
    try:
        asyncio.run(run_level(port, texts, 32))  # warm-up
        for _ in range(args.repeats):  # rounds: predict, then every level, so each ratio is side by side
            baseline_runs.append(predict_throughput(args.model, args.runtime, args.threads, texts))
            for c in args.concurrency:
                level_runs[c].append(asyncio.run(run_level(port, texts, c)))
    finally:
        process.terminate()
        process.wait()
    baseline = statistics.median(baseline_runs)
    levels = [summary(level_runs[c], baseline_runs) for c in args.concurrency]
    process, port = start_server(args.model, args.runtime, args.threads, "--max-queue", str(args.burst_queue))
    try:
        burst_result = asyncio.run(burst(port, texts[0], args.burst * args.burst_queue, 120.0))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            burst_result["healthy_after"] = response.status == 200
        burst_result["peak_memory_mib"] = peak_memory_mib(process.pid)
    finally:
        process.terminate()
        burst_result["exit_code"] = process.wait()

    knobs = []
    for max_batch in (8, 16, 32, 64) if args.knobs else ():
        for max_wait in (1, 5, 20):
            process, port = start_server(args.model, args.runtime, args.threads, "--max-batch", str(max_batch),
                                         "--max-wait-ms", str(max_wait))
            try:
                asyncio.run(run_level(port, texts, 32))  # warm-up
                runs = [asyncio.run(run_level(port, texts, 32)) for _ in range(args.repeats)]
                knobs.append({"max_batch": max_batch, "max_wait_ms": max_wait, **summary(runs)})
            finally:
                process.terminate()
                process.wait()

    print(f"{args.runtime}: spertmt predict {baseline:.1f} sentences/s on the same {len(texts)} sentences\n")
    print("| concurrency | sentences/s | x predict | p50 ms | p99 ms | not 200 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level in levels:
        print(f"| {level['concurrency']} | {level['sentences_per_s']:.1f} | {level['x_predict']:.2f}x"
              f" | {level['p50_ms']:.1f} | {level['p99_ms']:.1f} | {level['non_200']} |")
    print(f"\nburst of {burst_result['requests']} requests on a queue of {args.burst_queue}: "
          f"{burst_result['ok']} answered 200, {burst_result['busy_503']} 503, {burst_result['unanswered']} "
          f"unanswered; healthy after: {burst_result['healthy_after']}; peak memory "
          f"{burst_result['peak_memory_mib']} MiB")
    record = {"command": " ".join(["python", "bench/serve_load.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d"), "commit": records.commit(), "runtime": args.runtime,
              "model": Path(args.model).name, "threads": args.threads, "cpus": os.cpu_count(),
              "http_stack": http_stack(),
              "repeats": args.repeats, "predict_sentences_per_s": baseline,
              "predict_runs_sentences_per_s": baseline_runs, "levels": levels, "burst": burst_result, "knobs": knobs}
    for row in knobs:
        print(f"--max-batch {row['max_batch']:3} --max-wait-ms {row['max_wait_ms']:3}: {row['sentences_per_s']:.1f} "
              f"sentences/s, p99 {row['p99_ms']:.1f} ms")
    records.write(output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
