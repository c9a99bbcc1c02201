#!/usr/bin/env bash
# Builds ditstream on the GPU machine with the image's torch and CUDA (sm_90a). Sources env.sh
# first. SERVICE=ON also builds the streaming service (needs `fetch-debs.sh core service`, or the
# packed prefix of `e2e.sh --pack`); TARGETS (space-separated) builds only those targets.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
BUILD_DIR=${BUILD_DIR:-build-gpu}
service=(-DDITSTREAM_SERVICE="${SERVICE:-OFF}")
chartjs="$DEPS_PREFIX/usr/share/javascript/chart.js/chart.min.js"  # the dashboard's charts
[ "${SERVICE:-OFF}" = ON ] && [ -f "$chartjs" ] && service+=(-DDITSTREAM_CHARTJS="$chartjs")
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDITSTREAM_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a "${service[@]}" -DDITSTREAM_PYTHON="$DITSTREAM_PYTHON" \
  ${CMAKE_ARGS:-} >"${OUT:-/tmp}/cmake-configure.log" 2>&1 || { tail -40 "${OUT:-/tmp}/cmake-configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" ${TARGETS:+--target $TARGETS} 2>&1 | tail -${BUILD_LOG_LINES:-15}
