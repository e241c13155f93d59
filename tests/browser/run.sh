#!/usr/bin/env bash
# ctest browser.viewer: the web viewer in headless Chromium against a real `pneumo serve`.
#   run.sh PNEUMO_BINARY SOURCE_DIR WORK_DIR
# Skips (exit 77) only when Chromium is absent ($PNEUMO_CHROMIUM, default /usr/bin/chromium;
# scripts/install-deps.sh installs it). Installs playwright-core and pngjs from the npm registry
# into WORK_DIR (npm ci against package-lock.json, once per lock file), so the source tree stays
# clean; no browser is downloaded (`playwright install` is never run: Debian's chromium is used).
set -euo pipefail
PNEUMO="$1"
SRC="$2"
WORK="$3"
CHROMIUM="${PNEUMO_CHROMIUM:-/usr/bin/chromium}"
HERE="$SRC/tests/browser"

if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: no Chromium at $CHROMIUM (Debian package 'chromium'; bash scripts/install-deps.sh installs it," \
       "or set PNEUMO_CHROMIUM)"
  exit 77
fi
command -v node >/dev/null || { echo "FAIL: node is not installed (bash scripts/install-deps.sh)"; exit 1; }
command -v npm >/dev/null || { echo "FAIL: npm is not installed (bash scripts/install-deps.sh)"; exit 1; }

mkdir -p "$WORK"
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/viewer.test.mjs" "$WORK/"
if ! cmp -s "$HERE/package-lock.json" "$WORK/node_modules/.pneumo-lock" 2>/dev/null; then
  (cd "$WORK" && npm ci --no-audit --no-fund --loglevel=error) || {
    echo "FAIL: npm ci could not install playwright-core/pngjs from the npm registry into $WORK"; exit 1; }
  cp "$HERE/package-lock.json" "$WORK/node_modules/.pneumo-lock"
fi
cd "$WORK"
# The shipped model's gate is tuned for Kaggle Dice on real X-rays (threshold 0.90) and calls the
# synthetic phantoms negative, which leaves no mask to check the overlay against. The test serves a
# copy of it whose gate is open (classifier_threshold 0): an open gate always yields a mask (see
# docs/evaluation.md), so the viewer is tested on the shipped network's own masks.
MODEL="$WORK/open-gate.pneumo"
/usr/bin/python3 - "$SRC/models/pneumo-siim.pneumo" "$MODEL" <<'PY' || { echo "FAIL: could not write $MODEL (python3-torch)"; exit 1; }
import json, sys, torch
d = torch.load(sys.argv[1])
config = json.loads(d["config"])
config["thresholds"]["classifier_threshold"] = 0.0
d["config"] = json.dumps(config)
torch.save(d, sys.argv[2])
PY
exec node viewer.test.mjs --pneumo "$PNEUMO" --chromium "$CHROMIUM" --source "$SRC" --model "$MODEL"
