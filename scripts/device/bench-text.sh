#!/usr/bin/env bash
# Text conditioning benchmark on the GPU machine: builds bench_text and runs it (LLaMA-3-8B-shaped
# encoder + CLIP-L with random weights, bf16 and fp8), writing docs/benchmarks/text.json.
#   scripts/device/bench-text.sh [--iters N] [--variants bf16,fp8]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python3 ] || scripts/setup
JOBS=${JOBS:-$(nproc)} scripts/build -DDITSTREAM_CUDA=ON
cmake --build build --target bench_text -j "${JOBS:-$(nproc)}"
build/tests/bench/bench_text --out docs/benchmarks/text.json "$@"
