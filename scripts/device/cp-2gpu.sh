#!/usr/bin/env bash
# On a machine with 2 (or more) GPUs, e.g. nvidia-h200-x2: builds the parallel GPU tests and the
# context-parallel benchmark, runs the NCCL and context-parallel GPU tests on GPUS ranks, then the
# benchmark: seconds per step on 1 GPU and on GPUS for each mode, speed-up, communication share,
# relative L2 to the 1-GPU output.
#   [GPUS=2] [CASES=720x1280x129] [MODES=ulysses,ulysses-pipelined] [ULYSSES_GROUPS=3] [TESTS=launch]
#   [BENCH=1] [SERVICE=OFF] scripts/device/cp-2gpu.sh
# MODES: ulysses (all-to-alls on the compute stream), ulysses-pipelined (ULYSSES_GROUPS head groups,
# default the library's: 3 for 24 heads on 2 ranks, all-to-alls beside attention), ring, mixed, auto.
# TESTS: launch (NcclRank.* on GPUS ranks through ditstream's launcher), all (also each NcclRank.*
# alone as a world of one, and again on GPUS ranks under torchrun), none.
# The defaults fit one 10-minute command on nvidia-h200-x2 (build, the tests, then 1 GPU, Ulysses and
# pipelined Ulysses at 720x1280x129). The whole table (CASES=544x960x61,720x1280x129
# MODES=ulysses,ulysses-pipelined,ring TESTS=all) needs a second command: run it with TESTS=none
# after a first one on the same machine (the build is kept).
# Device run: carry [".deps/core", ".whl"] (`scripts/device/fetch-debs.sh core wheels`: the Debian
# packages and the cuDNN frontend headers for FP8 attention). SERVICE=ON (and `fetch-debs.sh core
# service`) also checks `ditstream serve --gpus GPUS`.
# DRY_RUN=1 (no GPU): builds the same targets in ./build, runs the CPU tests of the parallel code
# and checks the benchmark's arguments.
# Results (at most 8 files): $OUT/cmake-configure.log, cp-build.log, cp-gpus.txt, cp-gpu-tests.log,
# cp-torchrun.log (TESTS=all), bench-cp.log, context_parallel.json (also copied to
# docs/benchmarks/context_parallel.json), cp-serve.log (SERVICE=ON).
set -uo pipefail  # a failing test is reported and the benchmark still runs
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
GPUS=${GPUS:-2}
CASES=${CASES:-720x1280x129}
MODES=${MODES:-ulysses,ulysses-pipelined}
TESTS=${TESTS:-launch}
groups_flag=()
[ -n "${ULYSSES_GROUPS:-}" ] && groups_flag=(--ulysses-groups "$ULYSSES_GROUPS")
targets=(parallel_gpu_tests bench_context_parallel)
[ "${SERVICE:-OFF}" = ON ] && targets+=(ditstream)

if [ "${DRY_RUN:-0}" = 1 ]; then
  BUILD_DIR=${BUILD_DIR:-build}
  cmake --build "$BUILD_DIR" -j "${JOBS:-1}" --target parallel_tests "${targets[@]}" >"$OUT/cp-build.log" 2>&1 \
    || { tail -30 "$OUT/cp-build.log"; exit 1; }
  status=0
  ctest --test-dir "$BUILD_DIR" -R 'UlyssesPipeline|AllToAllAsync|ContextParallel|UlyssesLayout|RingExchange|Nccl' \
    --output-on-failure >"$OUT/cp-gpu-tests.log" 2>&1 || status=1
  grep -E 'tests passed|\*\*\*|Failed' "$OUT/cp-gpu-tests.log"
  "$BUILD_DIR/tests/bench/bench_context_parallel" --gpus "$GPUS" --cases "$CASES" --modes "$MODES" \
    "${groups_flag[@]}" --json "$OUT/context_parallel.json" >"$OUT/bench-cp.log" 2>&1
  rc=$?
  cat "$OUT/bench-cp.log"
  # 3: the arguments passed and only the GPU is missing.
  [ "$rc" = 3 ] || { echo "bench_context_parallel: exit $rc, expected 3 without a GPU"; status=1; }
  exit $status
fi

BUILD_DIR=${BUILD_DIR:-build-gpu}
TARGETS="${targets[*]}" BUILD_LOG_LINES=40 scripts/device/build.sh >"$OUT/cp-build.log" 2>&1 \
  || { tail -40 "$OUT/cp-build.log"; exit 1; }
tail -3 "$OUT/cp-build.log"
source scripts/device/env.sh
# One host: rendezvous and NCCL's bootstrap over loopback; NVLink multicast stays off.
export MASTER_ADDR=127.0.0.1 NCCL_SOCKET_IFNAME=lo NCCL_NVLS_ENABLE=0
export DITSTREAM_GPU_TEST_RANKS=$GPUS
nvidia-smi --query-gpu=index,name,memory.total --format=csv | tee "$OUT/cp-gpus.txt"

status=0
# 1. NcclLaunch.RanksOnEveryGpu runs NcclRank.* on GPUS ranks through ditstream's launcher; with
#    TESTS=all each NcclRank.* entry also runs alone as a world of one, and all of them again under
#    torchrun.
case $TESTS in
  launch) ctest --test-dir "$BUILD_DIR" -L gpu -R '^NcclLaunch' --output-on-failure 2>&1 \
            | tee "$OUT/cp-gpu-tests.log" || status=1 ;;
  all)
    ctest --test-dir "$BUILD_DIR" -L gpu -R '^Nccl|^Fp8ContextParallel' --output-on-failure 2>&1 \
      | tee "$OUT/cp-gpu-tests.log" || status=1
    "$DITSTREAM_PYTHON" -m torch.distributed.run --no-python --nproc_per_node "$GPUS" --master_addr 127.0.0.1 \
      --master_port 29533 "$BUILD_DIR/tests/parallel/parallel_gpu_tests" --gtest_filter='NcclRank.*' 2>&1 \
      | tee "$OUT/cp-torchrun.log" || status=1 ;;
  none) ;;
  *) echo "TESTS=$TESTS is not launch|all|none"; exit 2 ;;
esac
# 2. The service's own launcher: GPUS ranks rendezvous, rank 0 answers /healthz.
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
  if [ "$ok" = 1 ]; then echo "serve --gpus $GPUS: healthy"; else echo "serve --gpus $GPUS: no /healthz"; status=1; fi
fi
# 3. Benchmark: 1 GPU vs GPUS per mode. The record is rewritten after every row, so a run stopped
#    by the command's time limit still returns what it measured.
if [ "${BENCH:-1}" = 1 ]; then
  "$BUILD_DIR/tests/bench/bench_context_parallel" --gpus "$GPUS" --cases "$CASES" --modes "$MODES" \
    "${groups_flag[@]}" --json "$OUT/context_parallel.json" 2>&1 | tee "$OUT/bench-cp.log" || status=1
  if [ -f "$OUT/context_parallel.json" ]; then
    mkdir -p docs/benchmarks && cp "$OUT/context_parallel.json" docs/benchmarks/context_parallel.json
  fi
fi
exit $status
