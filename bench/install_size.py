"""Installed size on disk: spertmt with its dependencies (torch, transformers, ...) against the install
without torch for the ONNX runtime (`pip install --no-deps spertmt` + the `portable` extra's packages).

    python bench/install_size.py --json bench/results/install-size.json

Each install goes into a fresh virtual environment (pip's own packages subtracted: an empty
environment is measured too); spertmt's own files are the installed package's (as `--no-deps`
leaves them). torch is the pinned CPU wheel of this project's machines (torch==2.13.0).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))
import records  # noqa: E402  (bench/records.py)

import spertmt

ROOT = Path(__file__).resolve().parents[1]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    full = [("torch==2.13.0" if r.startswith("torch") else r) for r in project["dependencies"]]
    portable = project["optional-dependencies"]["portable"]
    installs = {"empty": [], "full (with torch)": full, "portable (no torch)": portable}
    package = _size(Path(spertmt.__file__).parent)  # without __pycache__ it is a little smaller
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, requirements in installs.items():
            venv = Path(tmp) / name.split()[0]
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            if requirements:
                subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True)
            sizes[name] = _size(_site(venv))
    rows = [{"install": name, "mib": round((sizes[name] - sizes["empty"] + package) / 2**20, 1)}
            for name in installs if name != "empty"]
    rows.append({"install": "ratio portable / full", "ratio": round(rows[1]["mib"] / rows[0]["mib"], 3)})
    for row in rows:
        print(row)
    if args.json:
        record = {"command": "python bench/install_size.py " + " ".join(argv or sys.argv[1:]), "rows": rows,
                  "spertmt_package_mib": round(package / 2**20, 1),
                  "machine": {"python": platform.python_version(), "commit": records.commit(),
                              "date": time.strftime("%Y-%m-%d")}}
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
