#!/usr/bin/env bash
# GPU machine, carrying [".deps/e2e", ".whl"]: builds the service's GPU tests with CUDA and runs
# them: a tiny-model job on a CUDA engine through the CUDA → Vulkan frame path (no host copy
# before conversion), and the WHEP viewer tests with SRTP/DTLS debug output (the WebRTC media
# path on that machine). Logs under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
source scripts/device/env.sh
source scripts/device/vulkan-setup.sh
BUILD_DIR=${BUILD_DIR:-build-e2e}
BUILD_DIR="$BUILD_DIR" SERVICE=ON TARGETS="compositor_cuda_service_tests whep_tests" BUILD_LOG_LINES=100000 \
  scripts/device/build.sh >"$OUT/build.log" 2>&1 || { grep -E -A8 "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
"$BUILD_DIR/tests/stream/gst/compositor_cuda_service_tests" 2>&1 | tee "$OUT/cuda-frame-path.log" | tail -15
GST_DEBUG="srtpenc:6,srtpdec:5,dtlsenc:4,dtlsdec:4,dtlssrtpenc:4" timeout 120 "$BUILD_DIR/tests/stream/gst/whep_tests" \
  --gtest_filter='*OpenH264*:*Late*' >"$OUT/whep-srtp.log" 2>&1
grep -E "OK \]|FAILED|srtp_create|srtp_init|Could not|error|cipher|key" "$OUT/whep-srtp.log" | head -40
