#!/usr/bin/env bash
# On the GPU machine: the text GPU tests (bf16 and fp8 encoders against fp32, the tiny conditioning
# in bf16), then the full-size benchmark (LLaMA-3-8B-shaped encoder + CLIP-L with random weights,
# bf16 and fp8), which writes $OUT/text.json (copy it to docs/benchmarks/text.json) and one line
# per variant. Needs `scripts/device/fetch-debs.sh core` carried (.deps) for the build.
#   scripts/device/bench-text.sh [--iters N] [--variants bf16,fp8]
set -uo pipefail  # a failing test is reported and the measurement still runs
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
BUILD_DIR=${BUILD_DIR:-build-gpu}
[ -x "$BUILD_DIR/tests/bench/bench_text" ] || scripts/device/build.sh
source scripts/device/env.sh
"$BUILD_DIR/tests/text/text_gpu_tests" 2>&1 | tail -20 | tee "$OUT/text-gpu-tests.log"
"$BUILD_DIR/tests/bench/bench_text" --out "$OUT/text.json" "$@" | tee "$OUT/bench-text.log"
