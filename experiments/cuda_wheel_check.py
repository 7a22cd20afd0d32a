"""What a CUDA wheel of spertmt carries and which torch it loads beside, without a GPU (issue 48, item 2).

    # a throwaway venv per torch (large CUDA wheels: not for CI)
    python -m venv /tmp/cu13 && /tmp/cu13/bin/pip install torch==2.14.1 build wheel ninja   # CUDA 13.0
    python -m venv /tmp/cu12 && /tmp/cu12/bin/pip install torch==2.10.0                     # CUDA 12.8
    git worktree add /tmp/release HEAD && cd /tmp/release && \\
        CUDA_HOME=/usr/local/cuda-13.0 SPERTMT_FORCE_CUDA=1 /tmp/cu13/bin/python -m build --wheel --no-isolation
    python experiments/cuda_wheel_check.py --wheel /tmp/release/dist/spertmt-*.whl \\
        --python /tmp/cu13/bin/python /tmp/cu12/bin/python --output results/diagnostics/cuda-wheel.json

The wheel's library is read with spertmt.ops.device_code (SASS and PTX per architecture, the CUDA
runtime it needs). Then the wheel is installed (without its dependencies) beside each torch and
imported in a fresh process: did the prebuilt library load, from where came the CUDA runtime, and
are the CUDA kernels registered. Where the machine has a CUDA toolkit of its own in the loader's
cache (/usr/local/cuda-*/lib), a CUDA 13 library finds its runtime there even beside a torch for
CUDA 12; `--hide-system-cuda DIR` runs each import in a private mount namespace with DIR covered
(root only), as on a machine without that toolkit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import records  # noqa: E402  (bench/records.py: the commit)

from spertmt.ops import device_code  # noqa: E402  (reads the library's ELF sections)

PROBE = """
import json, warnings
warnings.simplefilter("ignore")
import torch
import spertmt.ops._native as native
maps = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libcudart" in line})
print(json.dumps({"torch": torch.__version__, "torch_cuda": torch.version.cuda, "loaded": native._loaded,
                  "error": native.load_error(), "cudart": maps,
                  "cuda_kernels": native._loaded and native.has_kernel("span_max_pool", "cuda")}))
"""


def probe(python: str, hide: str | None) -> dict:
    command = [python, "-c", PROBE]
    if hide:
        empty = tempfile.mkdtemp(prefix="empty-")
        command = ["unshare", "-m", "sh", "-c", f'mount --bind {empty} {hide} && exec "$@"', "sh", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return {"failed": done.stderr.strip().splitlines()[-1:]}
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # a venv's runtime by its place in the venv; the system's by its own path
    found["cudart"] = ["<venv>/" + p.split("site-packages/", 1)[1] if "site-packages/" in p else p
                       for p in found["cudart"]]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", required=True, type=Path)
    parser.add_argument("--python", nargs="+", default=[], help="interpreters of venvs with a torch each")
    parser.add_argument("--hide-system-cuda", help="a folder to cover while importing, e.g. /usr/local/cuda-13.0/lib")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(args.wheel) as wheel:
        library = next(n for n in wheel.namelist() if n.startswith("spertmt/_C") and n.endswith(".so"))
        path = Path(wheel.extract(library, tmp))
        held, missing = device_code.architectures(path), device_code.missing(path)
        runtime = device_code.cuda_runtime_needed(path)
    print(f"{args.wheel.name}: SASS {', '.join(held['sass']) or 'none'}; PTX {', '.join(held['ptx']) or 'none'}; "
          f"CUDA runtime {', '.join(runtime) or 'none named'}; lacks {', '.join(missing) or 'nothing'} of the "
          f"release's {device_code.RELEASE_ARCH_LIST}")
    beside = []
    for python in args.python:
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(args.wheel)],
                       check=True, capture_output=True)
        for hide in [None] + ([args.hide_system_cuda] if args.hide_system_cuda else []):
            found = {"system_cuda_hidden": hide, **probe(python, hide)}
            print(json.dumps(found))
            beside.append(found)
    if args.output:
        records.write(args.output, {
            # the venvs' interpreters by the torch they hold (their paths are this machine's)
            "command": (f"python experiments/cuda_wheel_check.py --wheel {args.wheel.name} --python "
                        + " ".join(f"<venv with torch {b['torch']}>" for b in beside if not b["system_cuda_hidden"])
                        + (f" --hide-system-cuda {args.hide_system_cuda}" if args.hide_system_cuda else "")
                        + f" --output {args.output}"),
            "wheel": args.wheel.name, "wheel_bytes": args.wheel.stat().st_size, "library": library,
            "device_code": held, "cuda_runtime": runtime, "missing": missing, "beside": beside,
            "commit": records.commit(), "date": time.strftime("%Y-%m-%d")})


if __name__ == "__main__":
    main()
