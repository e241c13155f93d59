#!/usr/bin/env bash
# Two `pneumo train` processes (torchrun-style environment) train one model over 127.0.0.1;
# only rank 0 writes the run directory.
set -euo pipefail
PNEUMO="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PNEUMO" -q synth --out "$WORK/data" --count 16 --size 128 --seed 5 >/dev/null
FLAGS=(--data "$WORK/data/dicom" --csv "$WORK/data/train-rle.csv" --size 64 --epochs 2 --batch 2
       --max-batches 3 --workers 1 --folds 4 --cache-dir "$WORK/cache")
PORT=$((20000 + $$ % 20000))
export MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT WORLD_SIZE=2
RANK=1 LOCAL_RANK=1 "$PNEUMO" -q --threads 1 train "${FLAGS[@]}" --out "$WORK/run1" > "$WORK/rank1.log" 2>&1 &
PID=$!
RANK=0 LOCAL_RANK=0 "$PNEUMO" -q --threads 1 train "${FLAGS[@]}" --out "$WORK/run0" > "$WORK/rank0.log" 2>&1
wait "$PID"
grep -q "2 processes" "$WORK/rank0.log" || { echo "FAIL: rank 0 did not train with 2 processes"; cat "$WORK/rank0.log"; exit 1; }
test -s "$WORK/run0/model.pneumo" && test "$(wc -l < "$WORK/run0/metrics.csv")" -eq 3
if [ -e "$WORK/run1/model.pneumo" ] || [ -e "$WORK/run1/metrics.csv" ]; then
  echo "FAIL: rank 1 wrote outputs"; exit 1
fi
echo "2-process training ran; only rank 0 wrote"
