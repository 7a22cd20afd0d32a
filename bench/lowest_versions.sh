#!/usr/bin/env bash
# The lowest releases pyproject.toml admits, tried together (docs/reliability.md): a throwaway venv
# (/tmp/lowest-versions, kept for reuse) gets torch's CPU wheel, the wheel with its test extras and
# each floor below, then runs this checkout's tests against the installed wheel (build it from the
# same checkout). spaCy's floor (3.5) and Ray's (2.9) want packages of their day (numpy 1 and
# pydantic 1; pandas 2.1 and pyarrow 16) that the rest of the test extras do not take, so those two
# are tried on their own (docs/reliability.md). tests/test_cli.py holds FLOORS to pyproject.toml's
# ">=" bounds. torch is 2.13.0 unless TORCH names a release: TORCH=2.10.0 puts torch's own floor in
# too (a CUDA wheel of gigabytes, in its own venv; the CMake test, a source build that wants the
# CUDA toolkit's libraries beside a CUDA torch, is then left out). bench/torch_compat.sh tries
# torch's releases alone.
#
#   python -m build --wheel --no-isolation --outdir dist .
#   bash bench/lowest_versions.sh dist/spertmt-0.1.0-cp310-abi3-linux_x86_64.whl
#   TORCH=2.10.0 bash bench/lowest_versions.sh dist/spertmt-0.1.0-cp310-abi3-linux_x86_64.whl
set -euo pipefail
wheel=$(realpath "$1")
torch_version=${TORCH:-2.13.0}
cd "$(dirname "$0")/.."
FLOORS="transformers==4.45.2 huggingface_hub==0.25.2 onnx==1.18.0 onnxruntime==1.23.0 starlette==0.37.2 uvicorn==0.29.0
        numpy==1.24.4 safetensors==0.4.1 regex==2021.8.3"
# Not floors of ours: fastapi 0.110 is the release that takes starlette 0.37 (ray[serve] needs one;
# without it pip falls back to a fastapi of 2019), and the Ray Serve that pip then picks (2.55) fails
# inside Ray on protobuf 7; pyarrow 26 (Ray Data's) needs numpy 2 without telling pip; tqdm 4.42.1 is
# the oldest huggingface_hub 0.25 takes (ours, 4.27, is tried without torch: docs/reliability.md).
HELPERS="fastapi==0.110.3 protobuf<7 pyarrow<26 tqdm==4.42.1"
venv=/tmp/lowest-versions
deselect=()
if [ "$torch_version" != 2.13.0 ]; then venv=$venv-torch-$torch_version; deselect=(-k "not cmake"); fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "torch==$torch_version"
"$venv/bin/pip" uninstall -q -y spertmt 2>/dev/null || true  # a wheel of the same version would be kept
# shellcheck disable=SC2086  # the lists are words
"$venv/bin/pip" install -q "$wheel[test]" $FLOORS $HELPERS
"$venv/bin/pip" list 2>/dev/null | grep -iE "^(torch|transformers|huggingface.hub|onnx|onnxruntime|starlette|uvicorn|numpy|safetensors|regex|tqdm) "
HF_HUB_OFFLINE=1 PYTHONSAFEPATH=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "${deselect[@]}" | tail -n 1
