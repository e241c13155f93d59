#!/usr/bin/env bash
# The encoder pre-training comparison of docs/pretraining.md: the same MobileNetV2 U-Net (joint),
# the same split and the same training budget, five ways of initialising its encoder.
#   bash scripts/pretrain-compare.sh [ROW...]     rows: random imagenet classifier ae-pl vae-pl (default all)
#   PNEUMO_COMPARE_BUDGET=long bash scripts/pretrain-compare.sh ...   the same rows with the longer segmentation
#                                                budget (configs/pretrain-compare-mobilenet-128-long.json)
# Outputs under $PNEUMO_PRETRAIN_RUNS (default runs/pretrain): pre-<method>/, seg-<row>/, eval-<row>/, logs
# (seg-long-<row>/, eval-long-<row>/ for the long budget; the pre-trained encoders are shared).
# Data: ../shared/data/siim (dicom-1k folds by `pneumo train`'s rule; fold 0 = test, fold 1 = validation,
# folds 2-4 + jpg-positive = training). Pre-training sees only the training images (--holdout-fold 0 1).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${PNEUMO_BIN:-build/apps/pneumo/pneumo}
D=${PNEUMO_SIIM:-../shared/data/siim}
R=${PNEUMO_PRETRAIN_RUNS:-runs/pretrain}
W=${PNEUMO_IMAGENET:-../shared/data/weights/mobilenet_v2_imagenet.pt}
T=${PNEUMO_THREADS:-2}
PRE_IMAGES=${PNEUMO_PRETRAIN_IMAGES:-0}     # 0 = all 1,439 training images; else a seeded subset
PRE_EPOCHS=${PNEUMO_PRETRAIN_EPOCHS:-2}
CONFIG=configs/pretrain-compare-mobilenet-128.json
TAG=
if [ "${PNEUMO_COMPARE_BUDGET:-short}" = long ]; then
  CONFIG=configs/pretrain-compare-mobilenet-128-long.json
  TAG=long-
fi
mkdir -p "$R"

pretrain() {  # pretrain NAME METHOD [extra flags]
  local name=$1 method=$2; shift 2
  [ -f "$R/pre-$name/encoder.pt" ] && return 0
  echo "== pretrain $name start $(date -u +%T)"
  "$BIN" --threads "$T" pretrain --method "$method" "$@" \
    --data "$D/dicom-1k" --train-only "$D/jpg-positive" --csv "$D/train-rle.csv" --holdout-fold 0 --holdout-fold 1 \
    --encoder mobilenet_v2 --size 128 --batch 16 --epochs "$PRE_EPOCHS" --max-images "$PRE_IMAGES" \
    --norm-mean 0.5 --norm-std 0.5 --cache-dir "$R/cache" --seed 42 --out "$R/pre-$name" > "$R/pre-$name.log" 2>&1
  echo "== pretrain $name rc=$? $(date -u +%T)"
}

segment() {  # segment ROW [ENCODER_WEIGHTS]
  local row=$1 w=${2:-}
  local extra=()
  [ -n "$w" ] && extra=(--encoder-weights "$w")
  local seg="$R/seg-$TAG$row" ev="$R/eval-$TAG$row"
  [ -f "$ev/eval.json" ] && return 0
  echo "== $TAG$row start $(date -u +%T)"
  "$BIN" --threads "$T" train --config "$CONFIG" \
    --data "$D/dicom-1k" --train-only "$D/jpg-positive" --csv "$D/train-rle.csv" \
    --cache-dir "$R/cache" "${extra[@]}" --out "$seg" > "$seg.log" 2>&1
  echo "== $TAG$row train rc=$? $(date -u +%T)"
  "$BIN" --threads "$T" --quiet eval --model "$seg/last.pneumo" --data "$D/dicom-1k" --csv "$D/train-rle.csv" \
    --fold 0 --cache-dir "$R/cache" --out "$ev" > "$ev.log" 2>&1
  echo "== $TAG$row eval rc=$? $(date -u +%T)"
}

rows=("$@")
[ ${#rows[@]} -eq 0 ] && rows=(random imagenet classifier ae-pl vae-pl)
for row in "${rows[@]}"; do
  case $row in
    random) segment random ;;
    imagenet) segment imagenet "$W" ;;
    classifier) pretrain classifier classifier && segment classifier "$R/pre-classifier/encoder.pt" ;;
    ae-pl) pretrain ae-pl pseudo-labels --codes autoencoder && segment ae-pl "$R/pre-ae-pl/encoder.pt" ;;
    vae-pl) pretrain vae-pl pseudo-labels --codes vae && segment vae-pl "$R/pre-vae-pl/encoder.pt" ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
  esac
done
