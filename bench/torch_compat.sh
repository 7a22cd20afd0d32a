#!/usr/bin/env bash
# One wheel beside several torch releases, without a rebuild (issue 35): for each version, a
# throwaway venv (/tmp/torch-compat-<version>, kept for reuse: a CUDA torch is gigabytes) gets
# torch==<version>, the test tools and the wheel, then runs the op tests against the installed
# package. The CMake test is left out: it builds from source, which is not what is checked here
# (and CMake's find_package(Torch) of a CUDA torch wants the CUDA toolkit's libraries).
#
#   python -m build --wheel --no-isolation --outdir dist .      # once, against any torch >= 2.10
#   bash bench/torch_compat.sh dist/spertmt-0.1.0-cp310-abi3-linux_x86_64.whl 2.10.0 2.11.0 2.14.1
set -euo pipefail
wheel=$(realpath "$1"); shift
cd "$(dirname "$0")/.."
for version in "$@"; do
  venv=/tmp/torch-compat-$version
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==$version" pytest hypothesis expecttest numpy 2>&1 | { grep -v "^WARNING: Location" || true; }
  "$venv/bin/pip" install -q --force-reinstall --no-deps "$wheel" && "$venv/bin/pip" install -q "$wheel" 2>&1 |
    { grep -v "^WARNING: Location" || true; }
  loaded=$(cd /tmp && "$venv/bin/python" -c "import torch, spertmt.ops as o; print(torch.__version__, o.native_load_source() or o.native_load_error())")
  result=$(PYTHONSAFEPATH=1 "$venv/bin/python" -m pytest tests/ops tests/training/test_optim.py -q -p no:cacheprovider \
           -k "not cmake" 2>&1 | tail -n 1)
  echo "torch $loaded: $result"
done
