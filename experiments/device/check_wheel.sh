#!/usr/bin/env bash
# One call on a lent GPU machine (issue 35, item 5): the CUDA wheel built on the CPU machine,
# installed beside the image's torch (2.11, CUDA 13) without compiling anything there, then its
# CUDA op tests against the fallbacks, bad input on both devices (each case a named error, never a
# crash: the November build crashed there) and bench/run_ops.py --device cuda. About 3 minutes.
#
# Prepared on the CPU machine first (.device/ is ignored by git and carried with the call):
#   python3 -m venv /tmp/t211 && /tmp/t211/bin/pip install torch==2.11.0 build setuptools wheel ninja
#   CUDA_HOME=/usr/local/cuda-13.0 TORCH_CUDA_ARCH_LIST=9.0 SPERTMT_FORCE_CUDA=1 SPERTMT_REQUIRE_NATIVE=1 \
#     /tmp/t211/bin/python -m build --wheel --no-isolation --outdir .device/wheel
#   .device/whl/*.whl   packages the image lacks (expecttest, for opcheck)
# Then: bash experiments/device/check_wheel.sh   (logs come back in $OUT/logs)
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}
LOGS=$OUT/logs
mkdir -p "$LOGS"

# --no-deps: the image has torch and the test tools; nothing is compiled (no build step at all).
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/wheel/spertmt-*.whl \
  .device/whl/*.whl > "$LOGS/install.log" 2>&1
echo "[$SECONDS s] wheel installed (exit $?)"
export PYTHONPATH=/tmp/site PYTHONSAFEPATH=1  # the installed wheel, never the checkout's spertmt/
nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
(cd /tmp && python3 -m spertmt info) > "$LOGS/info.txt" 2>&1
grep -E "torch|native" "$LOGS/info.txt"

# The bad-input probes first, each device in its own process: a crash must not hide the rest.
timeout 120 python3 -X faulthandler -m pytest tests/ops/test_build.py -k "without_a_compiler" -v -rs \
  -p no:cacheprovider > "$LOGS/bad-input.log" 2>&1
echo "[$SECONDS s] bad input (exit $?): $(grep -E 'PASSED|FAILED|SKIPPED|ERROR' "$LOGS/bad-input.log" | tr '\n' ' ')"

timeout 300 python3 -X faulthandler -m pytest tests/ops/test_pooling.py tests/ops/test_losses.py -q -rs \
  -p no:cacheprovider > "$LOGS/cuda-tests.log" 2>&1
echo "[$SECONDS s] op tests (exit $?): $(tail -n 1 "$LOGS/cuda-tests.log")"

timeout 240 python3 bench/run_ops.py --device cuda --repeats 50 --batch 1 8 32 --output "$OUT/ops-cuda.json" \
  > "$LOGS/run-ops-cuda.txt" 2>&1
echo "[$SECONDS s] bench/run_ops.py --device cuda (exit $?)"
cat "$LOGS/run-ops-cuda.txt"
