#!/usr/bin/env bash
# One call on a lent GPU machine (no network, one command of at most 10 minutes): runs grids with
# several training runs at once on the GPU, and beside them builds the CUDA kernels in a copy of
# the tree and runs their tests. Everything comes back in $OUT.
#
# Prepared here first (the folder .device/ is ignored by git and carried with the call):
#   python experiments/device/pack_encoder.py pack <the grids' data files> --output .device/encoder
#   .device/datasets/<dataset>/...   the data files (SPERTMT_DATA points there)
#   .device/whl/*.whl                Python packages the machine lacks (expecttest, for opcheck)
# Then: GRIDS="experiments/conll04-negatives.toml:8 experiments/conll04-ablations.toml:3" \
#       BUDGET_S=560 bash experiments/device/run_grids.sh
# (each grid with its --jobs). The grids train on the fallbacks (the kernels built in the copy
# are still unverified on a GPU when the call starts); at BUDGET_S the runners are stopped and
# the records of the finished runs are packed into $OUT/results.tgz.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
REPO=$PWD
BUDGET_S=${BUDGET_S:-560}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT/logs"
touch /tmp/started

python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/whl/*.whl
python3 experiments/device/pack_encoder.py unpack .device/encoder --site /tmp/site
export PYTHONPATH=$REPO:/tmp/site SPERTMT_DATA=$REPO/.device/datasets
nvidia-smi > "$OUT/logs/nvidia-smi.txt" 2>&1
python3 -m spertmt info > "$OUT/logs/info.txt" 2>&1

pids=()
for entry in ${GRIDS:-}; do
  grid=${entry%%:*}; jobs=${entry##*:}
  python3 -m spertmt experiment "$grid" --jobs "$jobs" --threads 1 --results results --runs /tmp/runs \
    > "$OUT/logs/$(basename "$grid" .toml).log" 2>&1 &
  pids+=($!)
done
echo "[$SECONDS s] grids started: ${GRIDS:-none}"

# The CUDA kernels: build in a copy (the grids keep the fallbacks), then the op tests on the GPU.
(
  mkdir -p /tmp/build && tar --exclude=.device --exclude=results -cf - . | tar -xf - -C /tmp/build
  cd /tmp/build
  TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=4 SPERTMT_REQUIRE_NATIVE=1 python3 setup.py build_ext --inplace \
    > "$OUT/logs/build.log" 2>&1 || { echo "build failed" >> "$OUT/logs/build.log"; exit 1; }
  echo "[$SECONDS s] kernels built"
  PYTHONPATH=/tmp/build:/tmp/site python3 -m spertmt info > "$OUT/logs/info-native.txt" 2>&1
  PYTHONPATH=/tmp/build:/tmp/site timeout 300 python3 -m pytest tests/ops/test_pooling.py tests/ops/test_losses.py \
    "tests/ops/test_build.py::test_native_kernels_built_where_a_compiler_is" -q -rs -p no:cacheprovider \
    > "$OUT/logs/cuda-tests.log" 2>&1
  echo "[$SECONDS s] CUDA tests exit $?: $(tail -n 1 "$OUT/logs/cuda-tests.log")"
) &
build=$!

while [ "$SECONDS" -lt "$BUDGET_S" ]; do
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$OUT/logs/gpu-use.txt" 2>&1
  alive=0; for p in "${pids[@]}" "$build"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 15
done
echo "[$SECONDS s] stopping"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
kill -TERM "$build" 2>/dev/null
sleep 5
for f in /tmp/runs/*/*/*/log.jsonl; do  # unfinished runs: how far they got (not results)
  [ -f "$f" ] && echo "$f $(grep -c '"dev"' "$f") epochs" >> "$OUT/logs/progress.txt"
done
tar -czf "$OUT/results.tgz" results
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$OUT/logs"
tar -xzOf "$OUT/logs.tgz" logs/progress.txt 2>/dev/null
echo "records written in this call:"; find results -newer /tmp/started -name "seed*.json" | sort
echo "[$SECONDS s] done"
