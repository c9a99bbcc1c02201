#!/usr/bin/env bash
# On the GPU machine: builds ditstream, runs diffusers' baseline (path given, so the project does
# not depend on where it lives), the full-size transformer benchmark beside it, and the
# full-size bf16 parity test against diffusers.
#   [CASES=HxWxF,...] scripts/device/bench-dit.sh BASELINE_PY [--compile] [--fbcache]
# CASES defaults to 320x512x33,544x960x61,720x1280x129; flags after the path go to the baseline.
# Results: $OUT/diffusers.json,
# $OUT/dit.json (also docs/benchmarks/dit.json), $OUT/bench-dit.log, $OUT/gpu-parity.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=${1:?usage: [CASES=...] bench-dit.sh BASELINE_PY [--compile] [--fbcache]}
shift
cases=${CASES:-320x512x33,544x960x61,720x1280x129}
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
scripts/device/build.sh
source scripts/device/env.sh
BUILD_DIR=${BUILD_DIR:-build-gpu}

"$DITSTREAM_PYTHON" "$baseline" --cases "$cases" --vae "" --json "$OUT/diffusers.json" "$@" 2>&1 | tee "$OUT/diffusers.log"
"$BUILD_DIR/tests/bench/bench_dit" --cases "$cases" --reference "$OUT/diffusers.json" --json "$OUT/dit.json" \
  2>&1 | tee "$OUT/bench-dit.log"
mkdir -p docs/benchmarks && cp "$OUT/dit.json" docs/benchmarks/dit.json
"$BUILD_DIR/tests/model/model_gpu_tests" 2>&1 | tee "$OUT/gpu-parity.log"
