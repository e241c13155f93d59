#!/usr/bin/env bash
# kill -9 during `pneumo train`, then `--resume`: the finished run must report exactly the same
# per-epoch metrics as an uninterrupted run with the same flags.
set -euo pipefail
PNEUMO="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PNEUMO" -q synth --out "$WORK/data" --count 24 --size 128 --seed 3 >/dev/null
FLAGS=(--data "$WORK/data/dicom" --csv "$WORK/data/train-rle.csv" --size 64 --epochs 4 --batch 4
       --max-batches 6 --workers 1 --folds 4 --augment heavy --cache-dir "$WORK/cache")

"$PNEUMO" -q --threads 1 train "${FLAGS[@]}" --out "$WORK/straight" >/dev/null

"$PNEUMO" -q --threads 1 train "${FLAGS[@]}" --out "$WORK/killed" >/dev/null 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  if [ -f "$WORK/killed/metrics.csv" ] && [ "$(wc -l < "$WORK/killed/metrics.csv")" -ge 2 ]; then break; fi
  sleep 0.05
done
kill -9 "$PID" 2>/dev/null || true
wait "$PID" 2>/dev/null || true
rows_at_kill=$(($(wc -l < "$WORK/killed/metrics.csv") - 1))
if [ "$rows_at_kill" -ge 4 ]; then
  echo "FAIL: the run finished before it could be killed (test is too fast to be meaningful)"; exit 1
fi
echo "killed after $rows_at_kill epoch(s)"

"$PNEUMO" -q --threads 1 train --resume "$WORK/killed" >/dev/null

# Compare everything except the wall-clock column.
strip() { cut -d, -f1-11 "$1"; }
if ! diff <(strip "$WORK/straight/metrics.csv") <(strip "$WORK/killed/metrics.csv"); then
  echo "FAIL: resumed run differs from the uninterrupted run"; exit 1
fi
[ "$(wc -l < "$WORK/killed/metrics.csv")" -eq 5 ] || { echo "FAIL: expected 4 epochs"; exit 1; }
test -s "$WORK/killed/model.pneumo" && test -s "$WORK/killed/checkpoints/best.pt" && test -s "$WORK/killed/curves.png"
echo "resume after kill -9 reproduces the uninterrupted run"
