#!/usr/bin/env bash
# The model shipped in models/ runs on real SIIM chest X-rays with no training: predict writes
# well-formed outputs, and on the held-out validation fold its image-level AUC is above chance.
# Exit 77 (CTest SKIP_RETURN_CODE) when the real data is absent.
set -euo pipefail
PNEUMO="$1"
REPO="$2"
DATA="${3:-$REPO/../shared/data}"
MODEL="$REPO/models/pneumo-siim.pneumo"
if [ ! -d "$DATA/siim/dicom-1k" ]; then
  echo "SKIP: real SIIM data not found at $DATA (expected ../shared/data next to the checkout)"; exit 77
fi
[ -s "$MODEL" ] || { echo "FAIL: $MODEL is missing"; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 1. predict on a few real DICOMs, with no --model: the shipped model is the default.
mapfile -t INPUTS < <(find "$DATA/siim/dicom" -name '1.2.*.dcm' | sort | head -n 6)
"$PNEUMO" -q predict --input "${INPUTS[@]}" --out "$WORK/predict"
[ "$(($(wc -l < "$WORK/predict/submission.csv") - 1))" -eq 6 ] || { echo "FAIL: submission rows"; exit 1; }
/usr/bin/env python3 - "$WORK/predict/predictions.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
preds = d["predictions"]
assert len(preds) == 6, len(preds)
for p in preds:
    assert 0.0 <= p["probability"] <= 1.0, p
    assert p["rows"] == 1024 and p["cols"] == 1024, p
    assert p["positive"] == (p["mask_area_px"] > 0), p
print("predictions.json: 6 well-formed records")
PY
ls "$WORK/predict/seg/"*.dcm "$WORK/predict/sc/"*.dcm "$WORK/predict/overlays/"*.png >/dev/null

# 2. the held-out fold (the split training used: 5 folds, seed 42, fold 0) scores above chance.
"$PNEUMO" -q eval --model "$MODEL" --data "$DATA/siim/dicom-1k" --csv "$DATA/siim/train-rle.csv" \
  --fold 0 --cache-dir "$WORK/cache" --gallery 2 --out "$WORK/eval" >/dev/null
/usr/bin/env python3 - "$WORK/eval/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
n, auc = e["n_images"], e["auc"]
assert n >= 100, n
assert auc is not None and auc > 0.5, f"AUC {auc} is not above chance"
print(f"held-out fold: {n} images, AUC {auc:.3f}, mean Dice {e['mean_dice']:.3f}")
PY
