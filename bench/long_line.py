"""Extraction time and peak memory of one long line with and without sentence punctuation (issue 25:
a 20,000-word unpunctuated line should take at most twice the time of the same words with stops).

    python bench/long_line.py --model runs/conll04-short/best --words 20000

The text repeats CoNLL04-like sentences; "stops" keeps their full stops, "no stops" removes them,
so the splitter finds one sentence of --words words (Extractor.extract cuts it into pieces of
max_sentence_words). Each case runs in a fresh process (peak RSS per case), --repeats times with the
two cases alternating (a shared machine's noise falls on both); prints the medians and writes
bench/results/long-line.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SENTENCE = "John Smith , who lives in Berlin , works for Acme Corp and met Mary Jones in Paris last year ."


def text_of(words: int, stops: bool) -> str:
    base = SENTENCE.split()
    tokens = (base * (words // len(base) + 1))[:words]
    if not stops:
        tokens = [t for t in tokens if t != "."] + ["and"] * tokens.count(".")
    return " ".join(tokens)


def probe(model: str, words: int, stops: bool, threads: int, max_sentence_words: int) -> dict:
    import torch

    import spertmt

    torch.set_num_threads(threads)
    extractor = spertmt.load(model, device="cpu")
    text = text_of(words, stops)
    start = time.perf_counter()
    result = extractor.extract(text, max_sentence_words=max_sentence_words)[0]
    seconds = time.perf_counter() - start
    return {
        "words": words,
        "stops": stops,
        "max_sentence_words": max_sentence_words,
        "seconds": seconds,
        "entities": len(result.entities),
        "relations": len(result.relations),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--words", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-sentence-words", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "long-line.json"))
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.model, args.words, args.probe == "stops", args.threads, args.max_sentence_words)))
        return 0
    runs: dict[str, list[dict]] = {"stops": [], "no-stops": []}
    for _ in range(args.repeats):
        for case in runs:
            out = subprocess.run([sys.executable, __file__, "--model", args.model, "--words", str(args.words),
                                  "--threads", str(args.threads), "--max-sentence-words", str(args.max_sentence_words),
                                  "--probe", case],
                                 capture_output=True, text=True, check=True).stdout
            runs[case].append(json.loads(out.strip().splitlines()[-1]))
    rows = [{**measured[0], "seconds": statistics.median(r["seconds"] for r in measured),
             "all_seconds": [round(r["seconds"], 2) for r in measured],
             "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in measured)} for measured in runs.values()]
    print(f"medians of {args.repeats} runs each, {args.threads} thread(s)")
    print("| text | words | seconds | entities | relations | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {'with full stops' if r['stops'] else 'no sentence punctuation'} | {r['words']} | "
              f"{r['seconds']:.1f} | {r['entities']} | {r['relations']} | {r['peak_rss_mb']:.0f} |")
    ratio = rows[1]["seconds"] / rows[0]["seconds"]
    print(f"no stops / stops: {ratio:.2f}x (target: at most 2x)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    import platform

    Path(args.output).write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "rows": rows,
                                             "ratio": ratio, "machine": {"processor": platform.processor(),
                                                                         "cpus": __import__("os").cpu_count()}},
                                            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
