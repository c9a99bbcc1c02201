#!/usr/bin/env bash
# On the GPU machine: builds ditstream, runs diffusers' baseline (path given, so the project does
# not depend on where it lives), the full-size transformer benchmark beside it, and the
# full-size bf16 parity test against diffusers.
#   [CASES=HxWxF,...] scripts/device/bench-dit.sh BASELINE_PY [--compile] [--fbcache]
# CASES defaults to 320x512x33,544x960x61,720x1280x129; flags after the path go to the baseline.
# Then the cold start (process start to the first finished 544x960x61 step, full-size bf16 weights
# written by diffusers, in the page cache after writing) and the full-size bf16 parity test.
# STAGES (default build,baseline,bench,cold,parity) picks stages, so a run can be split to fit a
# time limit; later stages read earlier results from $OUT.
# Results: $OUT/diffusers.json, $OUT/dit.json (also docs/benchmarks/dit.json), $OUT/*.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
baseline=${1:?usage: [CASES=...] bench-dit.sh BASELINE_PY [--compile] [--fbcache]}
shift
cases=${CASES:-320x512x33,544x960x61,720x1280x129}
OUT=${OUT:-/tmp/ditstream-out}
mkdir -p "$OUT"
export OUT
stages=,${STAGES:-build,baseline,bench,cold,parity},
stage() { [[ $stages == *",$1,"* ]]; }
stage build && scripts/device/build.sh
source scripts/device/env.sh
BUILD_DIR=${BUILD_DIR:-build-gpu}

if stage baseline; then
  "$DITSTREAM_PYTHON" "$baseline" --cases "$cases" --vae "" --json "$OUT/diffusers.json" "$@" 2>&1 | tee "$OUT/diffusers.log"
fi
if stage bench; then
  # Without the baseline stage in this run, a reference JSON can be passed in REFERENCE_JSON.
  "$BUILD_DIR/tests/bench/bench_dit" --cases "$cases" --reference "${REFERENCE_JSON:-$OUT/diffusers.json}" \
    --json "$OUT/dit.json" 2>&1 | tee "$OUT/bench-dit.log"
fi
if ! stage cold; then
  if stage parity; then "$BUILD_DIR/tests/model/model_gpu_tests" 2>&1 | tee "$OUT/gpu-parity.log"; fi
  if [ -f "$OUT/dit.json" ]; then mkdir -p docs/benchmarks && cp "$OUT/dit.json" docs/benchmarks/dit.json; fi
  exit 0
fi

weights=${WEIGHTS_DIR:-/tmp/ditstream-hunyuan-transformer}
"$DITSTREAM_PYTHON" tests/reference/hunyuan_transformer.py --model "$weights" --make '{}' --default-init \
  --device cuda --dtype bfloat16
"$BUILD_DIR/tests/bench/bench_dit" --cases 544x960x61 --cold-start "$weights" --json "$OUT/dit-cold.json" \
  2>&1 | tee "$OUT/cold-start.log"
rm -rf "$weights"
"$DITSTREAM_PYTHON" - "$OUT/dit.json" "$OUT/dit-cold.json" <<'PY'
import json, os, sys
dit, cold = sys.argv[1:3]
doc = json.load(open(dit)) if os.path.exists(dit) else {**json.load(open(cold)), "rows": []}
doc["rows"] += json.load(open(cold))["rows"]
json.dump(doc, open(dit, "w"), indent=1)
PY
mkdir -p docs/benchmarks && cp "$OUT/dit.json" docs/benchmarks/dit.json
if stage parity; then
  "$BUILD_DIR/tests/model/model_gpu_tests" 2>&1 | tee "$OUT/gpu-parity.log"
fi
