#!/usr/bin/env bash
# The one cp310-abi3 wheel on other CPython releases (docs/reliability.md): for each version, a
# throwaway venv (/tmp/python-compat-<version>, kept for reuse) of that Python gets torch 2.13.0
# (the index's CUDA wheel where this machine holds no CPU wheel for that Python), the wheel with its
# test extras, then runs this checkout's whole suite against the installed package. The CMake test
# is left out: it builds from source, and CMake's find_package(Torch) of a CUDA torch wants the
# CUDA toolkit's libraries (bench/torch_compat.sh says the same).
#
#   python -m build --wheel --no-isolation --outdir dist .
#   bash bench/python_compat.sh dist/spertmt-0.1.0-cp310-abi3-linux_x86_64.whl 3.10 3.12 3.13
set -euo pipefail
wheel=$(realpath "$1"); shift
cd "$(dirname "$0")/.."
for version in "$@"; do
  venv=/tmp/python-compat-$version
  # pyenv's shims answer only for the version pyenv has chosen: take its interpreter where it has one
  python=$(ls "$(pyenv root 2>/dev/null)"/versions/"$version"*/bin/python"$version" 2>/dev/null | tail -n 1 || true)
  [ -x "$venv/bin/python" ] || "${python:-python$version}" -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.13.0 2>&1 | { grep -v "^WARNING: Location" || true; }
  "$venv/bin/pip" uninstall -q -y spertmt 2>/dev/null || true  # a wheel of the same version would be kept
  "$venv/bin/pip" install -q "$wheel[test]" 2>&1 | { grep -v "^WARNING: Location" || true; }
  loaded=$(cd /tmp && "$venv/bin/python" -c "import sys, torch, spertmt.ops as o
print(sys.version.split()[0], torch.__version__, o.native_load_source() or o.native_load_error())")
  result=$(HF_HUB_OFFLINE=1 PYTHONSAFEPATH=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider -k "not cmake" 2>&1 |
           tail -n 1)
  echo "Python, torch, kernels $loaded: $result"
done
