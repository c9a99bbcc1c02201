#!/usr/bin/env bash
# GPU machine: builds the compositor's GPU tests and benchmark, runs the CUDA→Vulkan interop tests
# (ctest -L gpu), the service's frame path on a CUDA engine (a tiny-model job whose frames reach
# Vulkan without a host copy) and the 720p benchmark, and writes docs/benchmarks/compositor.json
# (copied to $OUT when set). Needs the carried packages: `scripts/device/fetch-debs.sh core service` and
# `scripts/device/vulkan-setup.sh --download` on a Debian 12 machine, then carry .deps.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
source scripts/device/vulkan-setup.sh
set -euo pipefail
BUILD_DIR=${BUILD_DIR:-build-gpu}
OUT_DIR=${OUT:-/tmp}
nvidia-smi --query-gpu=name,uuid,driver_version --format=csv,noheader || true
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDITSTREAM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DDITSTREAM_SERVICE=ON -DDITSTREAM_PYTHON="$DITSTREAM_PYTHON" ${CMAKE_ARGS:-} \
  >"$OUT_DIR/cmake-configure.log" 2>&1 || { tail -40 "$OUT_DIR/cmake-configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" --target compositor_tests compositor_cuda_tests bench_compositor \
  compositor_cuda_service_tests 2>&1 | tail -15

# The Vulkan shaders on the NVIDIA device against the CPU path, then the CUDA interop.
ctest --test-dir "$BUILD_DIR" -R "VulkanCompositor|CompositorErrors|CudaInterop" --output-on-failure 2>&1 |
  tee "$OUT_DIR/compositor-tests.log" | tail -30
"$BUILD_DIR/tests/stream/vulkan/compositor_cuda_tests" --gtest_filter='CudaInterop.Rgb*' 2>&1 | grep "samples differ" || true
# The service on a CUDA engine: previews and final frames go CUDA → Vulkan, none through the host.
"$BUILD_DIR/tests/stream/gst/compositor_cuda_service_tests" 2>&1 | tee "$OUT_DIR/compositor-cuda-service.log" | tail -20 ||
  echo "compositor_cuda_service_tests FAILED (log: compositor-cuda-service.log)"

mkdir -p docs/benchmarks
"$BUILD_DIR/tests/bench/bench_compositor" --width 1280 --height 720 --frames ${FRAMES:-500} \
  --out docs/benchmarks/compositor.json --command scripts/device/bench-compositor.sh 2>&1 | tee "$OUT_DIR/bench-compositor.log"
cp docs/benchmarks/compositor.json "$OUT_DIR/compositor.json"
