#!/usr/bin/env bash
# Reproduces every table of bench/RESULTS.md on this machine, in one command (and rewrites them):
#
#   bash bench/reproduce.sh [RUN]      # RUN: a training run folder (default runs/conll04-offline-seed0)
#
# The end-to-end tables use a trained model (realistic entity and relation counts, and F1 columns
# for the bf16 comparison): RUN/best. When RUN/best does not exist, the paper preset is trained into
# RUN first (configs/conll04-offline.toml, about 30 minutes on 2 CPU cores). Run it on a quiet
# machine: the numbers are medians, but other work on the same cores still moves them.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/conll04-offline-seed0}
DEVICE=${DEVICE:-cpu}
if [ ! -d "$RUN/best" ]; then
  echo "== training $RUN (no model yet)"
  spertmt train --config configs/conll04-offline.toml --output "$RUN" --quiet
fi
echo "== ops";        python bench/run_ops.py --repeats 20 --device "$DEVICE"
echo "== optimizer";  python bench/run_optim.py --repeats 20 --device "$DEVICE"
echo "== end to end"; python bench/throughput.py --repeats 3 --steps 10 --model "$RUN/best" --device "$DEVICE"
if [ "$DEVICE" = cpu ]; then
  echo "== runtimes (bf16, int8, ONNX Runtime)"
  python bench/throughput.py --dtype fp32 bf16 int8 onnx-fp32 onnx-int8 --configs encoder native \
    --extract-batch 8 32 --train-batch --repeats 3 --model "$RUN/best" --eval-process \
    --output bench/results/throughput-cpu-runtimes.json
fi
echo "== profiles"
python bench/profile_step.py --model "$RUN/best" --device "$DEVICE"
python bench/profile_step.py --model "$RUN/best" --device "$DEVICE" --dtype bf16
python bench/profile_step.py --model "$RUN/best" --device "$DEVICE" --extract-batch 32
if [ "$DEVICE" = cpu ]; then echo "== threads"; python bench/train_threads.py; fi
echo "== tables";     python experiments/results_tables.py --write   # RESULTS.md, README and docs from the new JSON
