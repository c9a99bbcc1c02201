#!/usr/bin/env bash
# On the GPU machine: builds ditstream, times a step that diffusers' FirstBlockCache hook reuses,
# and runs the First Block Cache benchmark beside it.
#   scripts/device/bench-fbcache.sh
# Results: $OUT/diffusers-fbcache.json, $OUT/fbcache.json (also docs/benchmarks/fbcache.json),
# $OUT/bench-fbcache.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
[ -x "${BUILD_DIR:-build-gpu}/tests/bench/bench_fbcache" ] || scripts/device/build.sh
source scripts/device/env.sh
BUILD_DIR=${BUILD_DIR:-build-gpu}
cases=544x960x61,720x1280x129

python3 scripts/device/diffusers_baseline.py --cases "$cases" --vae "" --fbcache --skip-plain --json "$OUT/diffusers-fbcache.json" \
  2>&1 | tee "$OUT/diffusers-fbcache.log"
"$BUILD_DIR/tests/bench/bench_fbcache" --case 544x960x61 --steps 30 --thresholds 0.05,0.1 --reused-cases "$cases" \
  --reference "$OUT/diffusers-fbcache.json" --json "$OUT/fbcache.json" 2>&1 | tee "$OUT/bench-fbcache.log"
mkdir -p docs/benchmarks && cp "$OUT/fbcache.json" docs/benchmarks/fbcache.json
