#!/usr/bin/env bash
# `pneumo pretrain` through the real CLI on phantoms (64 px, one epoch), then
# `pneumo train --encoder-weights OUT/encoder.pt` imports the file; bad input is one line + exit code.
set -euo pipefail
PNEUMO="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PNEUMO" -q synth --out "$WORK/data" --count 16 --size 128 --seed 9 >/dev/null
"$PNEUMO" -q --threads 2 pretrain --method pseudo-labels --codes autoencoder --data "$WORK/data/dicom" \
  --size 64 --epochs 1 --batch 8 --clusters 2 --pca-components 4 --workers 1 --seed 3 \
  --cache-dir "$WORK/cache" --out "$WORK/pre" > "$WORK/pre.log"
for f in encoder.pt pretrain.json pseudo_labels.csv; do
  test -s "$WORK/pre/$f" || { echo "FAIL: no $f"; cat "$WORK/pre.log"; exit 1; }
done
grep -q '"seed": 3' "$WORK/pre/pretrain.json" || { echo "FAIL: seed not in pretrain.json"; exit 1; }
grep -q "encoder weights: .*encoder.pt (312 tensors)" "$WORK/pre.log" || { echo "FAIL: summary"; cat "$WORK/pre.log"; exit 1; }
"$PNEUMO" --threads 2 train --data "$WORK/data/dicom" --csv "$WORK/data/train-rle.csv" --folds 4 \
  --arch unet --encoder mobilenet_v2 --in-channels 1 --size 64 --epochs 1 --batch 2 --max-batches 2 --workers 1 \
  --encoder-weights "$WORK/pre/encoder.pt" --cache-dir "$WORK/cache" --out "$WORK/run" > "$WORK/train.log" 2>&1 \
  || { echo "FAIL: train"; cat "$WORK/train.log"; exit 1; }
grep -q "encoder weights imported from encoder.pt" "$WORK/train.log" || { echo "FAIL: not imported"; cat "$WORK/train.log"; exit 1; }
echo "ok: pretrain -> train --encoder-weights"
# Bad input: one line on stderr, named exit codes (2 usage, 5 bad input).
set +e
"$PNEUMO" -q pretrain --method simclr --data "$WORK/data/dicom" --out "$WORK/bad" 2> "$WORK/err1"; c1=$?
"$PNEUMO" -q pretrain --method vae --clusters 1 --data "$WORK/data/dicom" --out "$WORK/bad" 2> "$WORK/err2"; c2=$?
mkdir -p "$WORK/empty"
"$PNEUMO" -q pretrain --method vae --data "$WORK/empty" --out "$WORK/bad" 2> "$WORK/err3"; c3=$?
set -e
[ "$c1" -eq 2 ] && grep -q "unknown method 'simclr'" "$WORK/err1" || { echo "FAIL: method ($c1)"; cat "$WORK/err1"; exit 1; }
[ "$c2" -eq 2 ] && grep -q "clusters must be >= 2" "$WORK/err2" || { echo "FAIL: clusters ($c2)"; cat "$WORK/err2"; exit 1; }
[ "$c3" -eq 5 ] && grep -q "no readable DICOM" "$WORK/err3" || { echo "FAIL: empty ($c3)"; cat "$WORK/err3"; exit 1; }
for e in err1 err2 err3; do [ "$(grep -c '^pneumo:' "$WORK/$e")" -eq 1 ] || { echo "FAIL: $e not one error line"; cat "$WORK/$e"; exit 1; }; done
echo "ok: bad input"
