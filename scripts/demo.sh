#!/usr/bin/env bash
# The README's demo: installs what is missing, builds, generates the embedded synthetic
# SIIM-format dataset and runs the pipeline on it. Everything lands in ${PNEUMO_DEMO_DIR:-demo-out}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BIN="${PNEUMO_BUILD_DIR:-build}/apps/pneumo/pneumo"
OUT="${PNEUMO_DEMO_DIR:-demo-out}"
COUNT="${PNEUMO_DEMO_COUNT:-400}"

echo "== 1/3 synthesize $COUNT phantom chest X-rays (SIIM format: DICOM + train-rle.csv)"
"$BIN" synth --out "$OUT/data" --count "$COUNT" --seed 7 --size 1024

echo "== 2/3 index the data, 5 folds grouped by patient"
"$BIN" index --csv "$OUT/data/train-rle.csv" --dicom-dir "$OUT/data/dicom" --out "$OUT/index.csv" --folds 5 --seed 42

echo "== 3/3 exploratory statistics and plots"
"$BIN" stats --csv "$OUT/data/train-rle.csv" --dicom-dir "$OUT/data/dicom" --out "$OUT/stats"

echo
echo "Demo done. Report: $OUT/stats/report.md (plots beside it), statistics: $OUT/stats/stats.json"
