#!/usr/bin/env bash
# On the GPU machine: builds ditstream, runs the VAE GPU parity test, diffusers' tiled decode
# baseline and the streaming VAE benchmark on 1 and 2 GPUs in the same run, and writes
# docs/benchmarks/vae.json (and copies under $OUT when set).
#   scripts/device/bench-vae.sh [cases]   (default 544x960x61,720x1280x129)
set -euo pipefail
cd "$(dirname "$0")/../.."
CASES=${1:-544x960x61,720x1280x129}
OUT=${OUT:-build/bench-out}
mkdir -p "$OUT" docs/benchmarks
PY=${DITSTREAM_PYTHON:-$(command -v python3)}
JOBS=${JOBS:-16} scripts/build
ctest --test-dir build -L gpu --output-on-failure | tee "$OUT/vae_gpu_test.log"
BASELINE=${DIFFUSERS_BASELINE:-}
for candidate in shared/reference/diffusers_baseline.py ../shared/reference/diffusers_baseline.py \
                 ../../shared/reference/diffusers_baseline.py; do
  if [ -z "$BASELINE" ] && [ -f "$candidate" ]; then BASELINE=$candidate; fi
done
if [ -z "$BASELINE" ]; then echo "diffusers_baseline.py not found; set DIFFUSERS_BASELINE" >&2; exit 2; fi
# Same run, same GPU: diffusers' tiled fp16 decode of the same cases.
"$PY" "$BASELINE" --cases "" --vae "$CASES" --json "$OUT/diffusers_vae.json" 2>&1 | tee "$OUT/diffusers_vae.log"
build/tests/bench/bench_vae --cases "$CASES" --dtype bf16 --gpus 1 --reference "$OUT/diffusers_vae.json" \
  --json "$OUT/vae_1gpu.json" | tee "$OUT/bench_vae_1gpu.log"
# The same with channels-last convolutions, to see which layout cuDNN runs faster here.
build/tests/bench/bench_vae --cases "$CASES" --dtype bf16 --gpus 1 --channels-last --reference "$OUT/diffusers_vae.json" \
  --json "$OUT/vae_1gpu_cl.json" | tee "$OUT/bench_vae_1gpu_cl.log"
# Caches in pinned host memory between chunks: the memory bound at the price of host copies.
build/tests/bench/bench_vae --cases "$CASES" --dtype bf16 --gpus 1 --offload-caches --reference "$OUT/diffusers_vae.json" \
  --json "$OUT/vae_1gpu_offload.json" | tee "$OUT/bench_vae_1gpu_offload.log"
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  build/tests/bench/bench_vae --cases "$CASES" --dtype bf16 --gpus 2 --reference "$OUT/diffusers_vae.json" \
    --json "$OUT/vae_2gpu.json" | tee "$OUT/bench_vae_2gpu.log"
fi
# One record: the 1-GPU rows, the channels-last rows, then the 2-GPU rows when measured.
"$PY" - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
record = json.load(open(os.path.join(out, "vae_1gpu.json")))
for extra in ("vae_1gpu_cl.json", "vae_1gpu_offload.json", "vae_2gpu.json"):
    path = os.path.join(out, extra)
    if os.path.exists(path):
        record["rows"] += json.load(open(path))["rows"]
json.dump(record, open("docs/benchmarks/vae.json", "w"), indent=1)
json.dump(record, open(os.path.join(out, "vae.json"), "w"), indent=1)
PY
cat docs/benchmarks/vae.json
