#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs the whole CTest suite.
# Tests that need ../shared/data skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd "${PNEUMO_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 1500 "$@"
