#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with Debian's clang (-fsanitize=fuzzer,address,undefined)
# into ${PNEUMO_FUZZ_BUILD_DIR:-build-fuzz} and runs a campaign, one target after the other.
# serve_request (the HTTP handler) links LibTorch through the infer module: with libtorch-dev
# installed the fuzz build compiles those modules with clang too (several minutes the first time).
#
#   bash scripts/fuzz.sh                    # every target
#   bash scripts/fuzz.sh dicom label_csv    # some of them
#   FUZZ_RUNS=50000 FUZZ_SECONDS=900 bash scripts/fuzz.sh dicom
#
# Each target runs with -rss_limit_mb=2048 -timeout=10 until FUZZ_RUNS executions (default
# 20000) or FUZZ_SECONDS seconds (default 600), whichever comes first. Seeds: the committed
# fuzz/corpus/<target>/ plus real files from ../shared/data copied into $BUILD_DIR/seeds/<target>/
# at run time (never committed). What libFuzzer adds goes to $BUILD_DIR/corpus/<target>/, crashes,
# OOMs and timeouts to $BUILD_DIR/artifacts/<target>/. A table of executions, time, coverage
# (libFuzzer's cov/ft), corpus size and peak RSS is printed and written to
# $BUILD_DIR/fuzz-summary.md. Exit status 1 when any target found anything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR="${PNEUMO_FUZZ_BUILD_DIR:-build-fuzz}"
SHARED="${PNEUMO_SHARED_DATA:-../shared/data}"
RUNS="${FUZZ_RUNS:-20000}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-600}"
ALL_TARGETS=(dicom rle label_csv model_config train_config serve_request)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")

SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPNEUMO_BUILD_FUZZERS=ON -DPNEUMO_BUILD_TESTS=OFF -DPNEUMO_BUILD_BENCH=OFF -DPNEUMO_WITH_TORCH=AUTO \
    -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target pneumo_fuzzers

# Real inputs as extra seeds, copied fresh each run (read-only data, never into the repository).
seed_dir() {
  local t=$1 dir="$BUILD_DIR/seeds/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  [ -d "$SHARED" ] || { echo "fuzz: $SHARED not found, committed seeds only" >&2; echo "$dir"; return; }
  case "$t" in
    dicom)
      find "$SHARED/siim/dicom" -name '*.dcm' 2>/dev/null | sort | head -n 4 | xargs -r cp -t "$dir"
      find "$SHARED/other_dicom" -name '*.dcm' 2>/dev/null | xargs -r cp -t "$dir" ;;
    serve_request)
      # Real SIIM DICOMs as POST /v1/predict requests (the harness's format: method, path, query,
      # headers, blank line, body).
      for f in $(find "$SHARED/siim/dicom" -name '*.dcm' 2>/dev/null | sort | head -n 2); do
        { printf 'POST\n/v1/predict\noutputs=mask,overlay,seg,sc\ncontent-type: application/dicom\n\n'; cat "$f"; } \
          > "$dir/$(basename "$f" .dcm).req"
      done ;;
    label_csv)
      find "$SHARED/siim/csv-variants" -type f 2>/dev/null | xargs -r cp -t "$dir"
      [ -f "$SHARED/siim/train-rle.csv" ] && head -n 200 "$SHARED/siim/train-rle.csv" > "$dir/train-rle-head.csv" ;;
  esac
  echo "$dir"
}

summary="$BUILD_DIR/fuzz-summary.md"
{
  echo "| target | executions | time (s) | exec/s | cov | ft | corpus | peak RSS (MB) | crashes/OOM/timeouts |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$summary"
status=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD_DIR/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin not built" >&2; exit 1; }
  corpus="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t"
  log="$BUILD_DIR/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=$(seed_dir "$t")
  echo "fuzz: $t (up to $RUNS runs or ${SECONDS_PER_TARGET}s)" >&2
  start=$(date +%s.%N)
  rc=0
  "$bin" -rss_limit_mb=2048 -timeout=10 -runs="$RUNS" -max_total_time="$SECONDS_PER_TARGET" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "fuzz/corpus/$t" "$seeds" > "$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
  execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$log" | tail -n 1)
  rss=$(awk '/stat::peak_rss_mb/ { print $NF }' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<< "$last")
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  echo "| $t | ${execs:-?} | $secs | $rate | ${cov:-?} | ${ft:-?} | ${corp:-?} | ${rss:-?} | $found |" >> "$summary"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $rc, $found artifact(s) in $artifacts); see $log" >&2
    status=1
  fi
done
cat "$summary"
exit $status
