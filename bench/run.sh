#!/usr/bin/env bash
# Side-by-side benchmarks: each case runs a pneumo binary and its Python peer in one run and
# prints a table (case, pneumo time, python time, speed-up = python/pneumo, goal).
#
#   bench/run.sh [--quick] [--only NAME]      NAME: a case group (rle, dicom, csv-index, forward,
#                                             train-step, loader, predict) or one case (rle/numpy)
#
# Builds nothing: it runs the binaries in $PNEUMO_BUILD_DIR/bench (default build/bench; build
# them with `cmake --build build --target bench_all`; forward, train-step and predict need a
# PNEUMO_WITH_TORCH build, predict also the pneumo binary). Data from $PNEUMO_SHARED_DATA (default
# ../shared/data next to the checkout); a case whose data or binary is missing prints a skip
# line. Python peers run with $PNEUMO_PYTHON (default /usr/bin/python3, Debian's packages).
# Results: $PNEUMO_BUILD_DIR/bench-results.json. Exit status 1 when a side failed or the two
# sides disagree on what they computed; a missed goal is reported, not an error.
#
# Adding a case: write case_<name>() with one `pair` call per table line, add <name> to CASES.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

QUICK=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) [ $# -ge 2 ] || { echo "run.sh: --only needs a case name" >&2; exit 2; }; ONLY="$2"; shift ;;
    --only=*) ONLY="${1#--only=}" ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

BUILD_DIR="${PNEUMO_BUILD_DIR:-build}"
BIN="$BUILD_DIR/bench"
DATA="${PNEUMO_SHARED_DATA:-$ROOT/../shared/data}"
PY="${PNEUMO_PYTHON:-/usr/bin/python3}"
PEERS="$ROOT/bench/python"
NPROC="$(nproc)"
RESULTS="$BUILD_DIR/bench-results.json"
RECORDS="$(mktemp)"
STDERR_LOG="$(mktemp)"
WORK="$(mktemp -d)"  # model files and reference tensors the torch cases hand to their peers
trap 'rm -rf "$RECORDS" "$STDERR_LOG" "$WORK"' EXIT

CASES=(rle dicom csv-index forward train-step loader predict)

# --- plumbing ---------------------------------------------------------------------------------
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RECORDS"; }
skip() { echo "skip $1: $2" >&2; record "$1" skip "" "$2"; }
wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ] || [ "$ONLY" = "${1%%/*}" ]; }

# run_side CASE SIDE GOAL cmd...: records the JSON object the command prints, or its error.
run_side() {
  local name="$1" side="$2" goal="$3"; shift 3
  echo "  $name: $side ..." >&2
  local out rc=0 last why
  out="$("$@" 2>"$STDERR_LOG")" || rc=$?
  last="$(tail -n 1 <<<"$out" | tr '\t' ' ')"
  if [ "${last:0:1}" = "{" ]; then
    record "$name" "$side" "$goal" "$last"  # a failed check still reports its figures
  else
    # shellcheck disable=SC1003  # the quote in the tr set is literal
    why="$(tail -n 1 "$STDERR_LOG" | tr '\t"\\' " '/")"
    record "$name" "$side" "$goal" "{\"error\": \"exit $rc: ${why:-no output}\"}"
  fi
  [ $rc -eq 0 ] || sed 's/^/    /' "$STDERR_LOG" >&2
}

# pair CASE GOAL NOTE -- pneumo command... -- python command...
pair() {
  local name="$1" goal="$2" note="$3"; shift 3
  wanted "$name" || return 0
  [ "$1" = "--" ] || { echo "run.sh: pair $name: expected --" >&2; exit 2; }; shift
  local cpp=() python=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cpp+=("$1"); shift; done
  shift
  python=("$@")
  if [ ! -x "${cpp[0]}" ]; then
    skip "$name" "${cpp[0]} not built (cmake --build $BUILD_DIR --target $(basename "${cpp[0]}"))"
    return 0
  fi
  echo "== $name" >&2
  [ -n "$note" ] && record "$name" note "" "$note"
  run_side "$name" pneumo "$goal" "${cpp[@]}"
  run_side "$name" python "$goal" "${python[@]}"
}

need_data() {  # need_data GROUP PATH
  [ -e "$2" ] && return 0
  skip "$1" "data not found: $2 (set PNEUMO_SHARED_DATA)"; return 1
}
need_python() {  # need_python GROUP module...
  local mod
  for mod in "${@:2}"; do
    "$PY" -c "import $mod" 2>/dev/null || { skip "$1" "$PY cannot import $mod (apt-get install python3-$mod)"; return 1; }
  done
}
quick() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }  # quick FULL QUICK

# --- cases ------------------------------------------------------------------------------------
case_rle() {
  local csv="$DATA/siim/train-rle.csv"
  need_data rle "$csv" && need_python rle numpy || return 0
  local ref_rows numpy_rows
  ref_rows="$(quick 200 20)"
  numpy_rows="$(quick 0 2000)"
  pair rle/reference 100 "first $ref_rows positive rows on both sides (mask_functions.py's mask2rle is a per-pixel Python loop)" \
    -- "$BIN/bench_rle" --csv "$csv" --select positive --limit "$ref_rows" --reps 3 \
    -- "$PY" "$PEERS/rle_peer.py" --csv "$csv" --peer reference --select positive --limit "$ref_rows" --reps 1
  pair rle/numpy "" "$( [ "$numpy_rows" = 0 ] && echo "every row of train-rle.csv" || echo "first $numpy_rows rows") on both sides" \
    -- "$BIN/bench_rle" --csv "$csv" --select all --limit "$numpy_rows" --reps 3 \
    -- "$PY" "$PEERS/rle_peer.py" --csv "$csv" --peer numpy --select all --limit "$numpy_rows" --reps "$(quick 2 1)"
}

case_dicom() {
  local dir="$DATA/siim/dicom"
  need_data dicom "$dir" && need_python dicom numpy cv2 pydicom || return 0
  local repeat reps common
  repeat="$(quick 5 1)"
  reps="$(quick 3 1)"
  common=(--dir "$dir" --repeat "$repeat" --reps "$reps")
  # pneumo's preprocessing (read_dicom_resized: JPEG decoded at 1/2 in the DCT domain) against the
  # Kaggle-style loader that decodes the full 1024^2 frame, then area-resizes: the issue's goal.
  pair dicom/resized 3 "files x $repeat to 512x512, one thread each side: pneumo read_dicom_resized (DCT 1/2 decode) vs full decode + INTER_AREA; outputs differ slightly, so mean_pixel is compared within 0.5 %" \
    -- "$BIN/bench_dicom" --mode resized "${common[@]}" --threads 1 \
    -- "$PY" "$PEERS/dicom_peer.py" --decode full "${common[@]}" --processes 1
  # Like with like: the peer also lets libjpeg decode at 1/2 (cv2.IMREAD_REDUCED_GRAYSCALE_2).
  pair dicom/resized-vs-reduced "" "both sides decode at 1/2 in the DCT domain (same libjpeg-turbo): identical pixels, exact pixel sum" \
    -- "$BIN/bench_dicom" --mode resized "${common[@]}" --threads 1 \
    -- "$PY" "$PEERS/dicom_peer.py" --decode reduced "${common[@]}" --processes 1
  # Both sides decode the full frame (pneumo read_dicom + resize_image): identical pixels.
  pair dicom/full-decode 3 "both sides decode the full 1024^2 frame, then INTER_AREA to 512x512: identical pixels, exact pixel sum" \
    -- "$BIN/bench_dicom" --mode full "${common[@]}" --threads 1 \
    -- "$PY" "$PEERS/dicom_peer.py" --decode full "${common[@]}" --processes 1
  pair "dicom/resized-$NPROC-cores" 3 "as dicom/resized, pneumo parallel_for($NPROC threads) vs multiprocessing.Pool($NPROC), pool started before the clock" \
    -- "$BIN/bench_dicom" --mode resized "${common[@]}" --threads "$NPROC" \
    -- "$PY" "$PEERS/dicom_peer.py" --decode full "${common[@]}" --processes "$NPROC"
}

case_csv_index() {
  local csv="$DATA/siim/train-rle.csv"
  need_data csv-index "$csv" && need_python csv-index pandas || return 0
  local reps
  reps="$(quick 5 2)"
  pair csv-index "" "read + group by ImageId + count duplicates/positives; neither side decodes RLE" \
    -- "$BIN/bench_csv_index" --csv "$csv" --reps "$reps" \
    -- "$PY" "$PEERS/csv_index_peer.py" --csv "$csv" --reps "$reps"
  pair csv-index/validate "" "pneumo also decodes and checks every RLE; pandas does the same as above" \
    -- "$BIN/bench_csv_index" --csv "$csv" --validate --reps "$reps" \
    -- "$PY" "$PEERS/csv_index_peer.py" --csv "$csv" --reps "$reps"
}

# The torch cases: bench_torch writes a seeded pneumo model file and its inputs (+ outputs) to
# $WORK; the peer rebuilds the same network in PyTorch from that file (torch_unet.py) and fails
# its check unless its outputs / losses match pneumo's. Threads: all cores on both sides.
case_forward() {
  need_python forward torch || return 0
  local reps warmup
  reps="$(quick 20 5)"
  warmup="$(quick 3 1)"
  pair forward/512px 1.25 "MobileNetV2 U-Net (unet, mobilenet_v2, 1 channel, default decoder), 512x512 batch 1, eval + InferenceMode, $NPROC threads each; speed-up goal 1.25x = pneumo time <= 0.8x python" \
    -- "$BIN/bench_torch" forward --size 512 --batch 1 --in-channels 1 --reps "$reps" --warmup "$warmup" --threads "$NPROC" \
       --model-out "$WORK/forward.pneumo" --reference-out "$WORK/forward-ref.pt" \
    -- "$PY" "$PEERS/torch_peer.py" forward --model "$WORK/forward.pneumo" --reference "$WORK/forward-ref.pt" \
       --reps "$reps" --warmup "$warmup" --threads "$NPROC"
  # One thread each: immune to OpenMP barrier stalls when other jobs share the cores (then the
  # N-thread line mostly measures the machine's load), and the kernel choice differs (1x1 convs
  # of batch 1 leave mkldnn for im2col + BLAS at one thread; see docs/benchmarks.md).
  pair forward/512px-1-thread 1.25 "the same, one torch thread each side" \
    -- "$BIN/bench_torch" forward --size 512 --batch 1 --in-channels 1 --reps "$(quick 10 3)" --warmup 1 --threads 1 \
       --model-out "$WORK/forward1.pneumo" --reference-out "$WORK/forward1-ref.pt" \
    -- "$PY" "$PEERS/torch_peer.py" forward --model "$WORK/forward1.pneumo" --reference "$WORK/forward1-ref.pt" \
       --reps "$(quick 10 3)" --warmup 1 --threads 1
}

case_train_step() {
  need_python train-step torch || return 0
  local reps warmup
  reps="$(quick 6 2)"
  warmup="$(quick 2 1)"
  pair train-step/256px 1 "same network, 256x256 batch 4, train mode: forward + BCE + Dice + backward + AdamW(1e-3, wd 1e-4); every step's loss must match" \
    -- "$BIN/bench_torch" train-step --size 256 --batch 4 --in-channels 1 --reps "$reps" --warmup "$warmup" --threads "$NPROC" \
       --model-out "$WORK/train.pneumo" --reference-out "$WORK/train-ref.pt" \
    -- "$PY" "$PEERS/torch_peer.py" train-step --model "$WORK/train.pneumo" --reference "$WORK/train-ref.pt" \
       --reps "$reps" --warmup "$warmup" --threads "$NPROC"
}

case_loader() {
  need_python loader numpy cv2 torch || return 0
  local batches reps
  batches="$(quick 40 10)"
  reps="$(quick 3 1)"
  pair loader/synthetic 2 "64 synthetic 256x256 samples in RAM, heavy augmentation, batch 16 x $batches, $NPROC loader threads vs DataLoader($NPROC workers)" \
    -- "$BIN/bench_loader" --synthetic 64 --size 256 --batch 16 --batches "$batches" --workers "$NPROC" --reps "$reps" \
       --list-out "$WORK/loader-synthetic.tsv" \
    -- "$PY" "$PEERS/loader_peer.py" --list "$WORK/loader-synthetic.tsv" --batch 16 --batches "$batches" \
       --workers "$NPROC" --reps "$reps"
  local dir="$DATA/siim/dicom-1k" csv="$DATA/siim/train-rle.csv"
  need_data loader/dicom-1k "$dir" || return 0
  pair loader/dicom-1k 2 "the 1,000 real SIIM images via pneumo's preprocess cache at 256 px (built once, untimed, in $BUILD_DIR/bench-cache), same settings" \
    -- "$BIN/bench_loader" --dicom-dir "$dir" --csv "$csv" --cache-dir "$BUILD_DIR/bench-cache" --size 256 --batch 16 \
       --batches "$batches" --workers "$NPROC" --reps "$reps" --list-out "$WORK/loader-dicom.tsv" \
    -- "$PY" "$PEERS/loader_peer.py" --list "$WORK/loader-dicom.tsv" --batch 16 --batches "$batches" \
       --workers "$NPROC" --reps "$reps"
}

# End to end: both whole processes timed by bench_cli (start-up, model load, DICOM decode,
# inference, masks, CSV); peak RSS is the process's.
case_predict() {
  local dir="$DATA/siim/dicom" pneumo="$BUILD_DIR/apps/pneumo/pneumo"
  need_data predict "$dir" && need_python predict numpy cv2 pydicom torch || return 0
  if [ ! -x "$pneumo" ] || ! "$pneumo" predict --help 2>/dev/null | grep -q -- "--no-seg"; then
    skip predict "$pneumo has no 'predict' command with --no-seg (cmake --build $BUILD_DIR --target pneumo)"
    return 0
  fi
  if wanted predict/512px; then
    if [ ! -x "$BIN/bench_torch" ]; then
      skip predict/512px "$BIN/bench_torch not built (it writes the model file)"
    # Threshold 0.68: this random network's per-image maximum probability is ~0.66-0.69 on these
    # files, so some images come out positive and some empty (a sharper check than "all positive").
    elif "$BIN/bench_torch" save-model --size 512 --in-channels 1 --pixel-threshold 0.68 \
           --model-out "$WORK/predict.pneumo" >/dev/null; then
      predict_pair predict/512px "$WORK/predict.pneumo" "512 px U-Net"
    else
      skip predict/512px "bench_torch save-model failed"
    fi
  fi
  # The shipped real-data model at its own size and post-processing: the per-image inference
  # time docs/model-card.md quotes.
  if wanted predict/shipped; then
    local shipped="$ROOT/models/pneumo-siim.pneumo"
    if [ -s "$shipped" ]; then
      predict_pair predict/shipped "$shipped" "the shipped model (its size, threshold, min area)"
    else
      skip predict/shipped "$shipped not found"
    fi
  fi
}

# predict_pair CASE MODEL WHAT: pneumo predict and predict_peer.py on siim/dicom with one model.
predict_pair() {
  local name="$1" model="$2" what="$3" dir="$DATA/siim/dicom" pneumo="$BUILD_DIR/apps/pneumo/pneumo"
  local files reps tag="${1#predict/}"
  files="$(find "$dir" -name '*.dcm' | wc -l)"
  reps="$(quick 2 1)"  # one run of either side takes minutes on 2 busy cores
  pair "$name" 1.25 "$files DICOMs -> $what -> masks at 1024 + submission.csv, whole process (start-up and model load included), $NPROC threads" \
    -- "$BIN/bench_cli" --side pneumo --items "$files" --csv "$WORK/$tag-pneumo/submission.csv" --clean "$WORK/$tag-pneumo" \
       --reps "$reps" --warmup 0 \
       "$pneumo" --quiet --threads "$NPROC" predict --model "$model" --input "$dir" \
          --out "$WORK/$tag-pneumo" --no-seg --no-sc \
    -- "$BIN/bench_cli" --side python --items "$files" --csv "$WORK/$tag-python/submission.csv" --clean "$WORK/$tag-python" \
       --reps "$reps" --warmup 0 \
       --peer "predict_peer.py: pydicom + cv2.imdecode + cv2.resize + torch_unet.py (same model file) + post-processing + masks + RLE CSV" \
       "$PY" "$PEERS/predict_peer.py" --model "$model" --input "$dir" --out "$WORK/$tag-python" \
          --threads "$NPROC"
}

# --- main -------------------------------------------------------------------------------------
[ -x "$PY" ] || { echo "run.sh: $PY not found (set PNEUMO_PYTHON)" >&2; exit 2; }
[ -d "$BIN" ] || echo "run.sh: $BIN does not exist; build with: cmake --build $BUILD_DIR --target bench_all" >&2
matched=0
for group in "${CASES[@]}"; do
  if [ -z "$ONLY" ] || [ "$ONLY" = "$group" ] || [ "${ONLY%%/*}" = "$group" ]; then
    matched=1
    "case_${group//-/_}"
  fi
done
[ "$matched" = 1 ] || { echo "run.sh: no case named '$ONLY' (cases: ${CASES[*]})" >&2; exit 2; }

echo >&2
echo "pneumo benchmarks ($([ "$QUICK" = 1 ] && echo quick || echo full), $NPROC cores, build $BUILD_DIR)"
quick_flag=()
[ "$QUICK" = 1 ] && quick_flag=(--quick)
"$PY" "$PEERS/report.py" "$RECORDS" --out "$RESULTS" --root "$ROOT" "${quick_flag[@]}"
