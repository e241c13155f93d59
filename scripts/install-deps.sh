#!/usr/bin/env bash
# Installs every Debian 12 package pneumo needs to build, test (the browser test: chromium, node,
# npm), benchmark and plot.
# Idempotent and quiet when everything is already present. Run as root (or with sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libtorch-dev libgloo-dev
  libdcmtk-dev dcmtk dicom3tools libjpeg-dev zlib1g-dev
  libopencv-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  libsqlite3-dev sqlite3 orthanc curl
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox
  clang libclang-rt-14-dev  # scripts/fuzz.sh: clang with libFuzzer, ASan and UBSan runtimes
  python3 python3-numpy python3-pandas python3-pydicom python3-opencv python3-torch
  chromium nodejs
)
# npm: Debian's package, unless the installed Node.js bundles its own (NodeSource's nodejs does,
# and conflicts with Debian's npm).
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (need: ${missing[*]})" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
