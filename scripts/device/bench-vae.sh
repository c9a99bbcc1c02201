#!/usr/bin/env bash
# On the GPU machine, in stages that each fit one device command (results under $OUT):
#   check   build; the full-size fp16/bf16 decoder against diffusers on the same random weights
#   bench   diffusers' tiled fp16 decode and ditstream's streaming decode at $CASES, side by side,
#           for each of $VARIANTS (default "tiles whole bands"):
#             tiles        1 GPU, diffusers' 256/192 tiles
#             whole        1 GPU, whole frames (how the service decodes on one GPU)
#             bands        one row band per GPU, on every GPU of the machine (the service's decode
#                          with --gpus N)
#             tiles-cl, tiles-offload, whole-offload   the same with channels-last weights or the
#                          caches offloaded to pinned host memory between chunks
#           writes docs/benchmarks/vae.json
#   scripts/device/bench-vae.sh STAGE [STAGE ...]
# Extra bench_vae flags (--chunk-frames, ...) go in $VAE_FLAGS.
set -uo pipefail  # a failing test is reported and the later measurements still run
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
CASES=${CASES:-544x960x61,720x1280x129}
VARIANTS=${VARIANTS:-tiles whole bands}
VAE_FLAGS=${VAE_FLAGS:-}
mkdir -p "$OUT"
export OUT
BUILD_DIR=${BUILD_DIR:-build-gpu}
[ -x "$BUILD_DIR/tests/bench/bench_vae" ] || scripts/device/build.sh
source scripts/device/env.sh
bench="$BUILD_DIR/tests/bench/bench_vae"

for stage in "$@"; do
  case $stage in
    check)
      "$BUILD_DIR/tests/model/vae/vae_gpu_tests" 2>&1 | tail -12 | tee "$OUT/vae-parity.log" ;;
    bench)
      python3 scripts/device/diffusers_baseline.py --cases "" --vae "$CASES" --json "$OUT/diffusers-vae.json" \
        2>&1 | grep -v Warning
      records=()
      run() {  # run NAME FLAGS...
        local name=$1; shift
        "$bench" --cases "$CASES" --dtype bf16 --reference "$OUT/diffusers-vae.json" --json "$OUT/vae-$name.json" \
          $VAE_FLAGS "$@" && records+=("$OUT/vae-$name.json")
      }
      gpus=$(nvidia-smi -L | wc -l)
      for variant in $VARIANTS; do
        case $variant in
          tiles) run 1gpu --gpus 1 ;;
          tiles-cl) run 1gpu-cl --gpus 1 --channels-last ;;
          tiles-offload) run 1gpu-offload --gpus 1 --offload-caches ;;
          whole) run 1gpu-whole --gpus 1 --no-tiling ;;
          whole-offload) run 1gpu-whole-offload --gpus 1 --no-tiling --offload-caches ;;
          bands) [ "$gpus" -ge 2 ] && run "${gpus}gpu-bands" --gpus "$gpus" --row-bands 0 ;;
          *) echo "unknown variant $variant" >&2 ;;
        esac
      done
      mkdir -p docs/benchmarks
      python3 scripts/device/merge_records.py docs/benchmarks/vae.json "${records[@]}"
      cp docs/benchmarks/vae.json "$OUT/vae.json" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
