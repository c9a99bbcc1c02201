#!/usr/bin/env bash
# Overlap on the GPU machine, in stages that each fit one device command (results under $OUT):
#   check     builds engine_gpu_tests and bench_overlap only; runs the CUDA-stream tests (lanes,
#             real-VAE previews on their own stream, a final decode beside the next denoise)
#   bench     bench_overlap in one process: step time alone and with real-VAE previews, preview
#             age, $JOBS queued jobs pipelined vs one after another; writes docs/benchmarks/overlap.json
#   steps     only the step/preview part of bench (when one command must stay shorter)
#   pipeline  only the queued-jobs part of bench; steps + pipeline merge into the same record
#   scripts/device/bench-overlap.sh STAGE [STAGE ...]
# Sizes (defaults: full-size dimensions, random weights; estimated 5-6 minutes on an H200 and 7-8
# on an H100 for `bench`, less than 10 for `steps` and `pipeline` in separate commands):
# CASE=544x960x61 STEPS=12 PREVIEW_EVERY=5 (or auto) PREVIEW_DOWNSCALE=1 JOBS=4 JOB_STEPS=8.
# DRY_RUN=1 runs the same stages on the CPU with the tiny model from ./build (no GPU needed).
set -uo pipefail  # a failing test is reported and the later measurements still run
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
if [ "${DRY_RUN:-0}" = 1 ]; then
  BUILD_DIR=${BUILD_DIR:-build}
  CASE=${CASE:-64x64x17} STEPS=${STEPS:-8} PREVIEW_EVERY=${PREVIEW_EVERY:-2} JOBS=${JOBS:-3} JOB_STEPS=${JOB_STEPS:-4}
  device_flags=(--device cpu --dtype float32 --model models/tiny-hunyuan-video)
  cmake --build "$BUILD_DIR" -j "${JOBS_BUILD:-1}" --target engine_gpu_tests bench_overlap | tail -2
else
  BUILD_DIR=${BUILD_DIR:-build-gpu}
  if [ ! -x "$BUILD_DIR/tests/bench/bench_overlap" ] || [ ! -x "$BUILD_DIR/tests/engine/engine_gpu_tests" ]; then
    TARGETS="engine_gpu_tests bench_overlap" scripts/device/build.sh 2>&1 | tee "$OUT/overlap-build.log" | tail -3
  fi
  source scripts/device/env.sh
  device_flags=(--device cuda --dtype bfloat16)
fi
CASE=${CASE:-544x960x61} STEPS=${STEPS:-12} PREVIEW_EVERY=${PREVIEW_EVERY:-5} PREVIEW_DOWNSCALE=${PREVIEW_DOWNSCALE:-1}
JOBS=${JOBS:-4} JOB_STEPS=${JOB_STEPS:-8}
bench="$BUILD_DIR/tests/bench/bench_overlap"

run_bench() {  # run_bench NAME STAGES
  # Stops itself before a 10-minute command limit, so its log still comes back.
  timeout "${BENCH_TIMEOUT:-570}" "$bench" "${device_flags[@]}" --case "$CASE" --steps "$STEPS" \
    --preview-every "$PREVIEW_EVERY" --preview-downscale "$PREVIEW_DOWNSCALE" --jobs "$JOBS" --job-steps "$JOB_STEPS" \
    --stages "$2" --json "$OUT/overlap-$1.json" 2>&1 | tee "$OUT/bench-overlap-$1.log"
}

merge() {
  local records=()
  for part in all steps pipeline; do [ -f "$OUT/overlap-$part.json" ] && records+=("$OUT/overlap-$part.json"); done
  [ ${#records[@]} -gt 0 ] || return 0
  if [ "${DRY_RUN:-0}" = 1 ]; then
    python3 scripts/device/merge_records.py "$OUT/overlap.json" "${records[@]}"
  else
    mkdir -p docs/benchmarks
    python3 scripts/device/merge_records.py docs/benchmarks/overlap.json "${records[@]}"
    cp docs/benchmarks/overlap.json "$OUT/overlap.json"
  fi
}

for stage in "$@"; do
  case $stage in
    check) "$BUILD_DIR/tests/engine/engine_gpu_tests" 2>&1 | tail -20 | tee "$OUT/overlap-gpu-tests.log" ;;
    bench) run_bench all steps,pipeline; merge ;;
    steps) run_bench steps steps; merge ;;
    pipeline) run_bench pipeline pipeline; merge ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
