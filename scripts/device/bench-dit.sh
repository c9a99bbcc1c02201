#!/usr/bin/env bash
# On the GPU machine, in stages that each fit one device command (results under $OUT):
#   check     build; kernel GPU tests; full-size bf16 parity against diffusers (it writes the
#             diffusers model folder); cold start from that folder; measured GEMM/SDPA ceilings
#   eager     diffusers eager (peak memory too) and ditstream bf16, fp8 linears, and fp8 linears +
#             fp8 attention at $CASES, side by side; writes docs/benchmarks/dit.json
#   compiled  diffusers under torch.compile at $CASES; merged into docs/benchmarks/dit.json
#   scripts/device/bench-dit.sh STAGE [STAGE ...]
set -uo pipefail  # a failing test is reported and the later measurements still run
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
CASES=${CASES:-320x512x33,544x960x61,720x1280x129}
mkdir -p "$OUT"
export OUT
BUILD_DIR=${BUILD_DIR:-build-gpu}
[ -x "$BUILD_DIR/tests/bench/bench_dit" ] || scripts/device/build.sh
source scripts/device/env.sh
parity_model="$BUILD_DIR/test-tmp/HunyuanTransformerGpu.FullSizeBf16MatchesDiffusers/model"

for stage in "$@"; do
  case $stage in
    check)
      "$BUILD_DIR/tests/kernels/kernel_gpu_tests" 2>&1 | tail -40 | tee "$OUT/kernels.log"
      "$BUILD_DIR/tests/model/model_gpu_tests" 2>&1 | tail -8 | tee "$OUT/dit-parity.log"
      "$BUILD_DIR/tests/bench/bench_dit" --model "$parity_model" --cold-start 1 --cases 544x960x61 \
        --json "$OUT/dit-cold.json" | tee "$OUT/dit-cold.log"
      "$BUILD_DIR/tests/bench/bench_ceilings" --json "$OUT/ceilings.json" | tee "$OUT/ceilings.log" ;;
    eager)
      python3 scripts/device/diffusers_baseline.py --cases "$CASES" --vae "" --json "$OUT/diffusers-dit.json" \
        2>&1 | grep -v Warning | tee "$OUT/diffusers-dit.log"
      "$BUILD_DIR/tests/bench/bench_dit" --cases "$CASES" --fp8 1 --fp8-attention 1 --reference "$OUT/diffusers-dit.json" \
        --json "$OUT/dit.json" | tee "$OUT/bench-dit.log" ;;
    compiled)
      python3 scripts/device/diffusers_baseline.py --cases "$CASES" --vae "" --compile \
        --json "$OUT/diffusers-compiled.json" 2>&1 | grep -v Warning | tee "$OUT/diffusers-compiled.log" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
