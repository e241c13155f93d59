#!/usr/bin/env bash
# The README's demo: installs what is missing, builds, then runs the whole job on the embedded
# default dataset (a deterministic synthetic SIIM-format phantom set):
#   synth -> index -> stats -> train -> eval -> predict.
# Everything lands in ${PNEUMO_DEMO_DIR:-demo-out}; a second run starts the training afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BIN="${PNEUMO_BUILD_DIR:-build}/apps/pneumo/pneumo"
OUT="${PNEUMO_DEMO_DIR:-demo-out}"
COUNT="${PNEUMO_DEMO_COUNT:-240}"
EPOCHS="${PNEUMO_DEMO_EPOCHS:-12}"
DATA="$OUT/data"

echo "== 1/6 synthesize $COUNT phantom chest X-rays (SIIM format: DICOM + train-rle.csv)"
"$BIN" synth --out "$DATA" --count "$COUNT" --seed 7 --size 1024

echo "== 2/6 index: match labels to DICOMs by SOPInstanceUID, 5 folds grouped by patient"
"$BIN" index --csv "$DATA/train-rle.csv" --dicom-dir "$DATA/dicom" --out "$OUT/folds.csv" --folds 5 --seed 42

echo "== 3/6 exploratory statistics and plots"
"$BIN" stats --csv "$DATA/train-rle.csv" --dicom-dir "$DATA/dicom" --out "$OUT/stats"

echo "== 4/6 train a MobileNetV2 U-Net at 256 px on the CPU (fold 0 held out)"
rm -rf "$OUT/run"
"$BIN" train --data "$DATA/dicom" --csv "$DATA/train-rle.csv" --folds-csv "$OUT/folds.csv" --fold 0 \
  --arch unet --encoder mobilenet_v2 --size 256 --epochs "$EPOCHS" --batch 8 --seed 42 --out "$OUT/run"

echo "== 5/6 evaluate on the held-out fold"
"$BIN" eval --model "$OUT/run/model.pneumo" --data "$DATA/dicom" --csv "$DATA/train-rle.csv" \
  --folds-csv "$OUT/folds.csv" --fold 0 --out "$OUT/eval"

echo "== 6/6 predict: submission CSV, masks, overlays, DICOM SEG and Secondary Capture"
mapfile -t INPUTS < <(find "$DATA/dicom" -name '*.dcm' | sort | head -n 12)
"$BIN" predict --model "$OUT/run/model.pneumo" --input "${INPUTS[@]}" --out "$OUT/predict"

echo
echo "Demo done:"
echo "  data report   $OUT/stats/report.md"
echo "  training      $OUT/run/metrics.csv, $OUT/run/curves.png, model $OUT/run/model.pneumo"
echo "  evaluation    $OUT/eval/report.md (eval.json)"
echo "  predictions   $OUT/predict/submission.csv, predictions.json, overlays/, seg/, sc/"
echo "  next: serve   $BIN serve --model $OUT/run/model.pneumo   (HTTP API and viewer on http://127.0.0.1:8080, docs/serve.md)"
