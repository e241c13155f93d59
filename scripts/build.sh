#!/usr/bin/env bash
# Configures and builds pneumo into ${PNEUMO_BUILD_DIR:-build} (Release, Ninja).
# Extra CMake flags can be passed as arguments, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch-cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR="${PNEUMO_BUILD_DIR:-build}"
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
