#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole CTest suite.
# Tests that need ../shared/data skip with a message when it is absent.
#
# With CI=true (what .ci/run sees on its clean Debian 12 machine) nothing install-deps.sh installs
# may be skipped:
#  - the build requires LibTorch (-DPNEUMO_WITH_TORCH=ON: configure fails instead of dropping the
#    model/train/infer suites and the e2e tests), and PNEUMO_STRICT_TESTS makes a test that lacks
#    dciodvfy or the pneumo binary fail instead of skipping;
#  - a second build directory (${PNEUMO_ASAN_BUILD_DIR:-build-asan}: gcc with
#    -fsanitize=address,undefined, without LibTorch and benchmarks, to fit CI's time) builds and
#    runs the `unit` label, which includes the replay of every committed fuzz corpus (fuzz/).
# PNEUMO_ASAN=1 runs that sanitizer pass outside CI too; PNEUMO_ASAN=0 leaves it out in CI.
# Arguments are passed to the first ctest run, e.g. `bash scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
ci=0
[ "${CI:-}" = "true" ] && ci=1
if [ "$ci" = 1 ]; then
  bash scripts/build.sh -DPNEUMO_WITH_TORCH=ON -DPNEUMO_STRICT_TESTS=ON
else
  bash scripts/build.sh
fi
(cd "${PNEUMO_BUILD_DIR:-build}" && ctest --output-on-failure -j "$(nproc)" --timeout 1500 "$@")

if [ "${PNEUMO_ASAN:-$ci}" = "1" ]; then
  ASAN_DIR="${PNEUMO_ASAN_BUILD_DIR:-build-asan}"
  SAN="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  if [ ! -f "$ASAN_DIR/build.ninja" ]; then
    cmake -S . -B "$ASAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPNEUMO_WITH_TORCH=OFF -DPNEUMO_BUILD_BENCH=OFF \
      -DPNEUMO_STRICT_TESTS="$([ "$ci" = 1 ] && echo ON || echo OFF)" \
      -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  fi
  cmake --build "$ASAN_DIR" -j "$(nproc)"
  # Leak checking is off: DCMTK and OpenCV keep process-lifetime singletons that LeakSanitizer
  # would report at exit; out-of-bounds, use-after-free and undefined behaviour all abort.
  (cd "$ASAN_DIR" && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$(nproc)" --timeout 900 -L unit)
fi
