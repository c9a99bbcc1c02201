#!/usr/bin/env bash
# Text conditioning on the GPU machine: runs the text GPU tests (bf16 and fp8 against fp32), then
# the full-size benchmark (LLaMA-3-8B-shaped encoder + CLIP-L with random weights, bf16 and fp8),
# which writes docs/benchmarks/text.json and prints one line per variant.
#   scripts/device/bench-text.sh [--iters N] [--variants bf16,fp8]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python3 ] || scripts/setup
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDITSTREAM_CUDA=ON "${launcher[@]}"
cmake --build build --target text_gpu_tests bench_text -j "${JOBS:-$(nproc)}"
build/tests/text/text_gpu_tests
build/tests/bench/bench_text --out docs/benchmarks/text.json "$@"
