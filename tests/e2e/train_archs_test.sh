#!/usr/bin/env bash
# Every architecture trains through the real CLI (tiny: 64 px, a few batches) and writes a model
# file; the classifier is selected by AUC, the segmenters by Dice.
set -euo pipefail
PNEUMO="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PNEUMO" -q synth --out "$WORK/data" --count 16 --size 128 --seed 9 >/dev/null
for spec in "classifier resnet34 bce" "joint efficientnet_b0 focal+dice" "unetpp densenet121 lovasz" "unet vgg19_bn bce:3,dice:1,focal:4"; do
  read -r arch encoder loss <<<"$spec"
  out="$WORK/run-$arch"
  "$PNEUMO" -q --threads 2 train --data "$WORK/data/dicom" --csv "$WORK/data/train-rle.csv" --folds 4 \
    --arch "$arch" --encoder "$encoder" --loss "$loss" --size 64 --epochs 2 --batch 2 --max-batches 2 \
    --optimizer sgd --schedule cosine --accumulate 2 --freeze-encoder-epochs 1 --workers 1 \
    --cache-dir "$WORK/cache" --out "$out" > "$out.log"
  test -s "$out/model.pneumo" || { echo "FAIL: $arch/$encoder wrote no model"; exit 1; }
  [ "$(wc -l < "$out/metrics.csv")" -eq 3 ] || { echo "FAIL: $arch/$encoder metrics.csv"; cat "$out/metrics.csv"; exit 1; }
  if [ "$arch" = classifier ]; then
    grep -q "best val_auc" "$out.log" || { echo "FAIL: classifier not selected by AUC"; cat "$out.log"; exit 1; }
  else
    grep -q "best val_dice" "$out.log" || { echo "FAIL: $arch not selected by Dice"; cat "$out.log"; exit 1; }
  fi
  echo "ok: $arch / $encoder / $loss"
done
# A bad flag value is one clear line and exit code 2.
set +e
"$PNEUMO" -q train --data "$WORK/data/dicom" --csv "$WORK/data/train-rle.csv" --out "$WORK/bad" --loss hinge 2> "$WORK/err"
code=$?
set -e
[ "$code" -eq 2 ] || { echo "FAIL: exit code $code for a bad --loss"; exit 1; }
grep -q "unknown term 'hinge'" "$WORK/err" || { echo "FAIL: message"; cat "$WORK/err"; exit 1; }
