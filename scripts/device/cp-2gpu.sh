#!/usr/bin/env bash
# On a machine with 2 (or more) GPUs, e.g. nvidia-h200-x2: builds ditstream, runs the NCCL and
# context-parallel GPU tests on GPUS ranks started three ways (ditstream's launcher from ctest,
# torchrun, and a world of one per test), then the context-parallel benchmark.
#   [GPUS=2] [CASES=544x960x61,720x1280x129] [MODES=ulysses,ring,mixed] [BENCH=1] scripts/device/cp-2gpu.sh
# Needs .deps from `scripts/device/fetch-debs.sh core`. SERVICE=ON (and `fetch-debs.sh core service`)
# also checks `ditstream serve --gpus GPUS`.
# Results: $OUT/cp-gpu-tests.log, $OUT/cp-torchrun.log, $OUT/bench-cp.log, $OUT/context_parallel.json
# (also docs/benchmarks/context_parallel.json), $OUT/cp-serve.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
scripts/device/build.sh
source scripts/device/env.sh
BUILD_DIR=${BUILD_DIR:-build-gpu}
GPUS=${GPUS:-2}
CASES=${CASES:-544x960x61,720x1280x129}
MODES=${MODES:-ulysses,ring,mixed}
# One host: rendezvous and NCCL's bootstrap over loopback; NVLink multicast stays off.
export MASTER_ADDR=127.0.0.1 NCCL_SOCKET_IFNAME=lo NCCL_NVLS_ENABLE=0
export DITSTREAM_GPU_TEST_RANKS=$GPUS
nvidia-smi --query-gpu=index,name,memory.total --format=csv | tee "$OUT/cp-gpus.txt"

status=0
# 1. ctest: NcclLaunch.RanksOnEveryGpu runs NcclRank.* on GPUS ranks through ditstream's launcher;
#    each NcclRank.* entry also runs alone as a world of one.
ctest --test-dir "$BUILD_DIR" -L gpu -R '^Nccl' --output-on-failure 2>&1 | tee "$OUT/cp-gpu-tests.log" || status=1
# 2. The same per-rank tests under torchrun.
"$DITSTREAM_PYTHON" -m torch.distributed.run --no-python --nproc_per_node "$GPUS" --master_addr 127.0.0.1 \
  --master_port 29533 "$BUILD_DIR/tests/parallel/parallel_gpu_tests" --gtest_filter='NcclRank.*' 2>&1 \
  | tee "$OUT/cp-torchrun.log" || status=1
# 3. The service's own launcher: GPUS ranks rendezvous, rank 0 answers /healthz.
if [ "${SERVICE:-OFF}" = ON ]; then
  "$BUILD_DIR/web/ditstream" serve --gpus "$GPUS" --port 18480 >"$OUT/cp-serve.log" 2>&1 &
  serve_pid=$!
  ok=0
  for _ in $(seq 1 120); do
    if curl -sf http://127.0.0.1:18480/healthz >>"$OUT/cp-serve.log"; then ok=1; break; fi
    sleep 1
  done
  kill -TERM "$serve_pid"
  wait "$serve_pid" || true
  [ "$ok" = 1 ] && echo "serve --gpus $GPUS: healthy" || { echo "serve --gpus $GPUS: no /healthz"; status=1; }
fi
# 4. Benchmark: 1 GPU vs GPUS per mode, speed-up, communication share, rel L2 to the 1-GPU output.
if [ "${BENCH:-1}" = 1 ]; then
  "$BUILD_DIR/tests/bench/bench_context_parallel" --gpus "$GPUS" --cases "$CASES" --modes "$MODES" \
    --json "$OUT/context_parallel.json" 2>&1 | tee "$OUT/bench-cp.log" || status=1
  if [ -f "$OUT/context_parallel.json" ]; then
    mkdir -p docs/benchmarks && cp "$OUT/context_parallel.json" docs/benchmarks/context_parallel.json
  fi
fi
exit $status
