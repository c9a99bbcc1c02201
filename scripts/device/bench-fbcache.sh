#!/usr/bin/env bash
# On the GPU machine: builds ditstream, runs diffusers' baseline with its FirstBlockCache hook
# (path given, so the project does not depend on where it lives) and the First Block Cache
# benchmark beside it.
#   scripts/device/bench-fbcache.sh BASELINE_PY
# Results: $OUT/diffusers-fbcache.json, $OUT/fbcache.json (also docs/benchmarks/fbcache.json),
# $OUT/bench-fbcache.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=${1:?usage: bench-fbcache.sh BASELINE_PY}
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
scripts/device/build.sh
source scripts/device/env.sh
BUILD_DIR=${BUILD_DIR:-build-gpu}
cases=544x960x61,720x1280x129

"$DITSTREAM_PYTHON" "$baseline" --cases "$cases" --vae "" --fbcache --json "$OUT/diffusers-fbcache.json" \
  2>&1 | tee "$OUT/diffusers-fbcache.log"
"$BUILD_DIR/tests/bench/bench_fbcache" --case 544x960x61 --steps 30 --thresholds 0.05,0.1 --reused-cases "$cases" \
  --reference "$OUT/diffusers-fbcache.json" --json "$OUT/fbcache.json" 2>&1 | tee "$OUT/bench-fbcache.log"
mkdir -p docs/benchmarks && cp "$OUT/fbcache.json" docs/benchmarks/fbcache.json
