#!/usr/bin/env bash
# nvidia-h200-x2, carrying [".deps/e2e"] (scripts/device/e2e.sh --pack): what a rank failure does
# to `ditstream serve --gpus 2`. Builds ditstream and parallel_gpu_tests with CUDA and the service
# (nothing else), then runs
#   1. NcclRank.* (collectives, split, timeout, and the abort from another thread that rank 0 uses
#      when the launcher reports a dead rank) on 2 ranks under torchrun, at most 240 s;
#   2. multi_gpu_service (tests/web/multi_gpu_service_test.py): jobs on 2 ranks, a cancel, then
#      rank 1 killed with SIGKILL during a job: that job fails naming rank 1 and the signal, a job
#      queued before the kill waits, /healthz goes restarting → ok with restarts 1, the queued job
#      completes on the new world, another job after it, and SIGTERM stops every rank; at most 330 s.
# Under $OUT: build.log, nccl.log, multi-gpu-service.log. STEPS="build test" (the default) may be
# split over two calls while the machine stays warm (the build stays in $BUILD_DIR): STEPS=build,
# then STEPS=test.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
source scripts/device/env.sh
source scripts/device/vulkan-setup.sh
BUILD_DIR=${BUILD_DIR:-build-restart}
STEPS=${STEPS:-build test}
if [[ " $STEPS " == *" build "* ]]; then
BUILD_DIR="$BUILD_DIR" SERVICE=ON TARGETS="ditstream parallel_gpu_tests" BUILD_LOG_LINES=100000 \
  scripts/device/build.sh >"$OUT/build.log" 2>&1 || { grep -E -A8 "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
echo "built $BUILD_DIR/web/ditstream and parallel_gpu_tests"
fi
[[ " $STEPS " == *" test "* ]] || exit 0
# One host: rendezvous and NCCL's bootstrap over loopback; NVLink multicast stays off.
export MASTER_ADDR=127.0.0.1 NCCL_SOCKET_IFNAME=lo NCCL_NVLS_ENABLE=0 DITSTREAM_GPU_TEST_RANKS=2
nvidia-smi --query-gpu=index,name,memory.total --format=csv
status=0
timeout 240 "$DITSTREAM_PYTHON" -m torch.distributed.run --no-python --nproc_per_node 2 --master_addr 127.0.0.1 \
  --master_port 29537 "$BUILD_DIR/tests/parallel/parallel_gpu_tests" \
  --gtest_filter='NcclRank.AllReduceSum:NcclRank.SplitFormsGroups:NcclRank.ASkippedCollectiveTimesOut:NcclRank.AnAbort*' \
  >"$OUT/nccl.log" 2>&1 || status=1
grep -E "\[ +(OK|FAILED|PASSED|SKIPPED) +\]|Failure" "$OUT/nccl.log" | sort | uniq -c | tail -30
timeout 330 ctest --test-dir "$BUILD_DIR" -R '^multi_gpu_service$' --output-on-failure -V >"$OUT/multi-gpu-service.log" 2>&1 || status=1
grep -E "30-step job|rank 1 killed|2-rank service|Assertion|Error|tests passed|tests failed|Skipped" \
  "$OUT/multi-gpu-service.log" | tail -30
exit $status
