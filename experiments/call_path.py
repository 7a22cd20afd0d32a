"""Which of spertmt's files a call to `predict_file` runs through, and how often control climbs back
up into a file it had left for a deeper one (a callback), for one engine (issue 46's measure).

    python experiments/call_path.py --model runs/demo/best
    python experiments/call_path.py --model runs/demo/onnx --runtime onnx

The model is loaded first (not counted); then two short texts are extracted to a temporary JSON
lines file under a profiler that notes every call into a file of the installed spertmt package.
Prints the files in the order first entered (with the function that entered each), their count,
and each climb back up: a call into a file that is already on the stack below a different one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def trace(model: str, runtime: str) -> tuple[list[tuple[str, str]], list[str]]:
    import spertmt
    from spertmt.inference.streaming import predict_file

    extractor = spertmt.load(model, runtime=runtime)
    root = str(Path(spertmt.__file__).parent) + "/"
    entered: dict[str, str] = {}
    climbs: list[str] = []

    def package_file(frame) -> str | None:
        name = frame.f_code.co_filename
        return name[len(root):] if name.startswith(root) else None

    def profile(frame, event, arg):
        if event != "call":
            return
        here = package_file(frame)
        if here is None:
            return
        entered.setdefault(here, frame.f_code.co_name)
        below, caller = [], frame.f_back
        while caller is not None:
            found = package_file(caller)
            if found is not None:
                below.append(found)
            caller = caller.f_back
        if below and below[0] != here and here in below[1:]:
            climbs.append(f"{below[0]} -> {here}:{frame.f_code.co_name}")

    with tempfile.TemporaryDirectory() as folder:
        texts = Path(folder) / "in.txt"
        texts.write_text("John Smith works for Acme Corp in Berlin.\nMary lives in Paris.\n")
        sys.setprofile(profile)
        try:
            predict_file(extractor, texts, Path(folder) / "out.jsonl", progress=False)
        finally:
            sys.setprofile(None)
    return list(entered.items()), list(dict.fromkeys(climbs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a model folder (or an exported one with --runtime onnx)")
    parser.add_argument("--runtime", default="torch")
    args = parser.parse_args()
    files, climbs = trace(args.model, args.runtime)
    for name, function in files:
        print(f"  {name:40} {function}")
    print(f"{len(files)} files; {len(climbs)} climbs back up" + "".join(f"\n  {c}" for c in climbs))


if __name__ == "__main__":
    main()
