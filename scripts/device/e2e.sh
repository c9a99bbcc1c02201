#!/usr/bin/env bash
# The whole service end to end on the GPU machine at full HunyuanVideo size (random weights), side
# by side with diffusers, in one command (issue: end to end against diffusers):
#   build      ditstream, its client bench_e2e and the GPU memory gauge test, with CUDA (sm_90a),
#              service on; nothing else
#   model      a full-size random-weight diffusers folder (scripts/make_random_model.py, ~42 GB)
#   diffusers  the same job in diffusers' HunyuanVideoPipeline, call → mp4 (diffusers_e2e.py)
#   ditstream  per entry of GPUS (a GPU count, `:fp8` for the transformer's fp8 linears and fp8
#              attention): `ditstream serve` on 127.0.0.1 (ICE on 127.0.0.1, NCCL
#              bootstrap on lo), bench_e2e submits over REST, joins a WHEP viewer right after the
#              POST, timestamps every frame, follows SSE, downloads the recording
#   report     the side-by-side table, the e2e record (docs/benchmarks/e2e.json format)
#   clean      deletes the model folder and the videos (the disk holds 64 GB)
# Phases run in that order, those named in PHASES. Results that later phases need (the diffusers
# numbers, the model, the build) stay in $STATE and build-e2e/ while the machine stays warm, so a
# run may be split over calls, e.g. PHASES="build model diffusers" then PHASES="ditstream report clean"
# (a phase that finds no model or build makes them first; an earlier call's $OUT/diffusers.json,
# copied to .deps/e2e/diffusers.json, gives the diffusers numbers to a call on a fresh machine).
#
# Before the GPU run, on the Debian 12 development machine, after a full build with the service:
#   scripts/device/e2e.sh --pack          # → .deps/e2e/prefix.tar.xz (~26 MiB)
# The GPU run (`run` tool), carrying exactly these two ignored paths (~33 MiB with the tree):
#   carry: [".deps/e2e", ".whl"]          (.whl: diffusers 0.42.1 and importlib_metadata wheels)
#   command: PHASES="build model diffusers ditstream report clean" GPUS=1 scripts/device/e2e.sh
#   on nvidia-h200-x2: GPUS="1 1:fp8 2:fp8" (one GPU in bf16, then fp8, then `serve --gpus 2` in fp8)
# Nothing else from .deps is needed: the archive holds the build and run dependencies of the
# service (GStreamer and its plugins, libnice, x264, OpenH264, Boost headers, Vulkan loader and
# glslc, ICU, ...), see scripts/device/pack_deps.py.
#
# Settings (environment): GPUS ("1"; e.g. "1 1:fp8 2 2:fp8"), CASES ("544x960x61:30"; HxWxF:steps, comma-separated),
# WARMUP_STEPS (2: a job of that many steps at the same size first, untimed, on both sides),
# MODEL_DIR (/dev/shm when it has room, else $STATE/model), BUILD_DIR (build-e2e), PORT (18480),
# STATE (/tmp/ditstream-e2e), OUT (/tmp/ditstream-e2e-out), CPU=1 (a dry run on a machine without
# a GPU: tiny shapes on the CPU, the model shrunk to one layer of tiny widths), PYTHON.
# Under $OUT (at most 8 files): e2e.log (everything printed), build.log, diffusers.json (its numbers),
# serve.log (every service's log in turn), e2e.json (the record), e2e-report.md (table and timelines), timelines.json.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = "--pack" ]; then
  exec python3 scripts/device/pack_deps.py --build-dir "${BUILD_DIR:-build}" --out .deps/e2e/prefix.tar.xz
fi

OUT=${OUT:-/tmp/ditstream-e2e-out}
STATE=${STATE:-/tmp/ditstream-e2e}
mkdir -p "$OUT" "$STATE/results"
exec > >(tee -a "$OUT/e2e.log") 2>&1
tee_pid=$!
# On the way out, let tee write the log's last lines before the run's files are collected.
trap 'exec >&- 2>&-; wait "$tee_pid" 2>/dev/null' EXIT
PHASES=${PHASES:-"build model diffusers ditstream report clean"}
GPUS=${GPUS:-1}
CPU=${CPU:-0}
WARMUP_STEPS=${WARMUP_STEPS:-2}
BUILD_DIR=${BUILD_DIR:-build-e2e}
PORT=${PORT:-18480}
if [ "$CPU" = 1 ]; then
  CASES=${CASES:-256x256x5:30}
  DEVICE=cpu DTYPE=float32 MODEL_ARGS=${MODEL_ARGS:-"--device cpu --layers 1 --tiny-dims"}
else
  CASES=${CASES:-544x960x61:30}
  DEVICE=cuda DTYPE=bfloat16 MODEL_ARGS=${MODEL_ARGS:-"--device cuda"}
fi
COMMAND=${COMMAND:-"PHASES=\"$PHASES\" GPUS=\"$GPUS\" CASES=$CASES WARMUP_STEPS=$WARMUP_STEPS scripts/device/e2e.sh"}
START=$(date +%s)
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
elapsed() { echo "$(($(date +%s) - START)) s"; }
say() { echo "== e2e [$(elapsed)] $*"; }
fail() { say "FAILED: $*"; exit 1; }

# One host: the service, its viewer and the ranks talk over loopback only.
export MASTER_ADDR=127.0.0.1 NCCL_SOCKET_IFNAME=lo GLOO_SOCKET_IFNAME=lo
export GST_REGISTRY="$STATE/gst-registry.bin" PYTHONUNBUFFERED=1
source scripts/device/env.sh
[ "$CPU" = 1 ] || source scripts/device/vulkan-setup.sh
PYTHON=${PYTHON:-$DITSTREAM_PYTHON}
say "phases: $PHASES; GPUS=$GPUS CASES=$CASES WARMUP_STEPS=$WARMUP_STEPS device=$DEVICE"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader

if [ -z "${MODEL_DIR:-}" ]; then  # a folder an earlier call made, else memory when it has room
  shm_free=$(df -B1 --output=avail /dev/shm 2>/dev/null | tail -1 || echo 0)
  if [ -f /dev/shm/ditstream-e2e-model/.complete ]; then MODEL_DIR=/dev/shm/ditstream-e2e-model
  elif [ -f "$STATE/model/.complete" ]; then MODEL_DIR=$STATE/model
  elif [ "$CPU" != 1 ] && [ "${shm_free:-0}" -gt 50000000000 ]; then MODEL_DIR=/dev/shm/ditstream-e2e-model
  else MODEL_DIR=$STATE/model; fi
fi
# The diffusers numbers of an earlier call on a machine since given back, carried in .deps/e2e/.
if [ ! -f "$STATE/diffusers.json" ] && [ -f .deps/e2e/diffusers.json ]; then cp .deps/e2e/diffusers.json "$STATE/"; fi

# GPU memory as nvidia-smi sees it (the whole process: context, allocator reserve), sampled every
# 0.5 s while a job runs; the peak per GPU goes to $STATE/results/smi-<name>.txt.
smi_pid=
smi_start() {
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 500 >"$STATE/smi-$1.csv" 2>/dev/null &
  smi_pid=$!
}
smi_stop() {
  [ -n "$smi_pid" ] || return 0
  kill "$smi_pid" 2>/dev/null; wait "$smi_pid" 2>/dev/null; smi_pid=
  awk -F', *' '{ if ($2 > m[$1]) m[$1] = $2 } END { for (g in m) printf "GPU%s %d MiB\n", g, m[g] }' \
    "$STATE/smi-$1.csv" | sort >"$STATE/results/smi-$1.txt"
  echo "nvidia-smi peak ($1): $(tr '\n' ' ' <"$STATE/results/smi-$1.txt")"
}

build() {
  local t=$(date +%s) cuda_flags=(-DDITSTREAM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a)
  [ "$CPU" = 1 ] && cuda_flags=()
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_flags[@]}" -DDITSTREAM_SERVICE=ON \
    -DDITSTREAM_PYTHON="$PYTHON" -DDITSTREAM_CHARTJS="$DEPS_PREFIX/usr/share/javascript/chart.js/chart.min.js" \
    ${CMAKE_ARGS:-} >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; return 1; }
  cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target ditstream bench_e2e device_memory_tests >>"$OUT/build.log" 2>&1 ||
    { grep -E -B2 -A12 "error|FAILED" "$OUT/build.log" | head -80; return 1; }
  echo "built ditstream and bench_e2e in $(($(date +%s) - t)) s"
}

# What the run needs at run time, checked before anything long starts.
check_runtime() {
  local missing
  missing=$(ldd "$BUILD_DIR/web/ditstream" "$BUILD_DIR/tests/bench/bench_e2e" | grep "not found" | sort -u)
  [ -z "$missing" ] || { echo "$missing"; return 1; }
  for e in appsrc x264enc tee queue rtph264pay webrtcbin rtpbin nicesrc nicesink dtlssrtpenc srtpenc sctpenc \
           rtph264depay h264parse mp4mux filesink videoconvert appsink fdsrc rawvideoparse; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 || missing="$missing $e"
  done
  gst-inspect-1.0 avdec_h264 >/dev/null 2>&1 || gst-inspect-1.0 openh264dec >/dev/null 2>&1 || missing="$missing openh264dec"
  [ -z "$missing" ] || { echo "GStreamer elements missing:$missing"; return 1; }
  echo "runtime check: libraries resolve, GStreamer elements present"
  # The GPU memory gauges the report reads (skips without a GPU).
  # A failure is reported, not fatal: the timings do not depend on it.
  "$BUILD_DIR/tests/engine/device_memory_tests" 2>&1 | grep -E "Failure|Expected|Which is|actual|^\[  (PASSED|FAILED|SKIPPED) " ||
    true
}

make_model() {
  if [ -f "$MODEL_DIR/.complete" ] && [ "$(cat "$MODEL_DIR/.complete")" = "$MODEL_ARGS" ]; then
    echo "model: reusing $MODEL_DIR"
    return 0
  fi
  local need=0
  [ "$CPU" = 1 ] || need=44000000000
  mkdir -p "$(dirname "$MODEL_DIR")"
  local free=$(df -B1 --output=avail "$(dirname "$MODEL_DIR")" | tail -1)
  [ "$free" -gt "$need" ] || { echo "model: $free bytes free at $(dirname "$MODEL_DIR"), $need needed"; return 1; }
  "$PYTHON" scripts/make_random_model.py --out "$MODEL_DIR" $MODEL_ARGS || return 1
  echo "$MODEL_ARGS" >"$MODEL_DIR/.complete"
}

healthy() {
  "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=2)" 2>/dev/null
}

serve_and_measure() {  # serve_and_measure N[:fp8]
  local gpus=${1%%:*} precision=bf16 flags=() t=$(date +%s) pid status=0
  [[ $1 == *:fp8 ]] && precision=fp8 flags=(--fp8-linears --fp8-attention)
  local name="${gpus}gpu$([ $precision = fp8 ] && echo -fp8)"
  local log="$STATE/serve-$name.log"
  rm -rf "$STATE/recordings-$name" "$STATE/jobs-$name.db"
  "$BUILD_DIR/web/ditstream" serve --model "$MODEL_DIR" --device "$DEVICE" --dtype "$DTYPE" --gpus "$gpus" "${flags[@]}" \
    --bind 127.0.0.1 --port "$PORT" --ice-interface 127.0.0.1 --recordings "$STATE/recordings-$name" \
    --db "$STATE/jobs-$name.db" --rank-timeout 900 >"$log" 2>&1 &
  pid=$!
  until healthy; do
    if ! kill -0 "$pid" 2>/dev/null; then tail -30 "$log"; echo "serve ($name) exited"; return 1; fi
    if [ $(($(date +%s) - t)) -gt 900 ]; then tail -30 "$log"; kill -KILL "$pid"; echo "serve: not healthy after 900 s"; return 1; fi
    sleep 1
  done
  say "serve --gpus $gpus ${flags[*]}: healthy after $(($(date +%s) - t)) s (model load)"
  for item in ${CASES//,/ }; do
    local size=${item%%:*} steps=${item#*:} tag="$name-${item%%:*}"
    smi_start "ditstream-$tag"
    "$BUILD_DIR/tests/bench/bench_e2e" --port "$PORT" --case "$size" --steps "$steps" --gpus "$gpus" \
      --warmup-steps "$WARMUP_STEPS" --reference "$STATE/diffusers.json" --json "$STATE/results/e2e-$tag.json" \
      --report "$STATE/results/report-$tag.txt" --timeline "$STATE/results/timeline-$tag.json" \
      --recording "$STATE/ditstream-$tag.mp4" --command "$COMMAND" || status=1
    smi_stop "ditstream-$tag"
  done
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then pkill -KILL -P "$pid"; kill -KILL "$pid"; fi
  wait "$pid" 2>/dev/null
  { echo "==== serve --gpus $gpus ${flags[*]}"; cat "$log"; } >>"$OUT/serve.log"  # one file for all ($OUT holds 8)
  return $status
}

report() {
  "$PYTHON" - "$STATE" "$OUT" "$COMMAND" "$CPU" <<'EOF'
import glob, json, os, re, sys
state, out, command, cpu = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
diffusers = json.load(open(f"{state}/diffusers.json")) if os.path.exists(f"{state}/diffusers.json") else {}
records = [json.load(open(p)) for p in sorted(glob.glob(f"{state}/results/e2e-*.json"))]
if not records:
    sys.exit("report: no ditstream results in " + state)
merged = dict(records[0], rows=[r for doc in records for r in doc["rows"]], command=command)
rows = {}
for r in merged["rows"]:
    ref = diffusers.get(r["case"], {})
    timeline_steps = next((x["steps"] for x in merged["rows"] if x["case"] == r["case"] and x["variant"].endswith("timeline")), None)
    if "ours_s" in r and "reference" not in r and ref.get("steps") == timeline_steps and ref.get("time_to_mp4_s"):
        r.update(reference=ref["time_to_mp4_s"], ratio=r["ours_s"] / ref["time_to_mp4_s"],
                 reference_name=f"diffusers {ref['diffusers']} HunyuanVideoPipeline, call → mp4, same run")
        if r["variant"].endswith("first-final-frame"):
            r["met"] = 0 < r["ours_s"] <= 0.25 * r["reference"]
        if re.fullmatch(r"1gpu-(fp8-)?end-to-end", r["variant"]):
            r["met"] = 0 < r["ours_s"] <= 0.6 * r["reference"]
    gpus, precision, what = re.fullmatch(r"(\d+)gpu-(fp8-)?(.*)", r["variant"]).groups()
    rows.setdefault((r["case"], int(gpus), "fp8" if precision else "bf16"), {})[what] = r
with open(f"{out}/e2e.json", "w") as fh:
    json.dump(merged, fh, indent=1)
    fh.write("\n")
if not cpu:
    os.makedirs("docs/benchmarks", exist_ok=True)
    with open("docs/benchmarks/e2e.json", "w") as fh:
        json.dump(merged, fh, indent=1)
        fh.write("\n")

def s(v): return "n/a" if v is None or v < 0 else f"{v:.2f} s"
def met(r): return "" if "met" not in r else (" ✓" if r["met"] else " ✗")
lines = [f"# End to end, {merged['device']}, {merged['date']}", "", f"`{command}`", "",
         "| video | steps | GPUs | transformer | first visible frame | first final frame | end to end (mp4 on the server) | diffusers: call → mp4 | first final / diffusers | end to end / diffusers |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for (case, gpus, precision), v in sorted(rows.items()):
    t, p, f, e = v["timeline"], v["first-preview"], v["first-final-frame"], v["end-to-end"]
    ref = p.get("reference") or f.get("reference")
    lines.append(f"| {case} | {t['steps']} | {gpus} | {precision} | {s(p['ours_s'])}{met(p)} (step {t['step_median_s']:.2f} s) | {s(f['ours_s'])}{met(f)} | "
                 f"{s(e['ours_s'])}{met(e)} | {s(ref)} | {f['ratio']:.3f} | {e['ratio']:.3f} |" if ref else
                 f"| {case} | {t['steps']} | {gpus} | {precision} | {s(p['ours_s'])}{met(p)} | {s(f['ours_s'])} | {s(e['ours_s'])} | n/a | | |")
lines += ["", "Targets: first visible frame ≤ one step + 0.5 s after submission; first final frame ≤ 0.25× diffusers' "
          "end to end; end to end ≤ 0.6× diffusers on 1 GPU (✓ met, ✗ missed).", ""]
for case, r in sorted(diffusers.items()):
    lines.append(f"diffusers {r['diffusers']} {case}, {r['steps']} steps ({r['placement']}; VAE tiling on; mp4 by {r['encoder']}): "
                 f"call → mp4 {r['time_to_mp4_s']:.2f} s = text {r['text_encode_s']:.3f} s + denoise {r['denoise_s']:.2f} s "
                 f"(median step {r['step_median_s']:.3f} s) + decode {r['decode_s']:.2f} s + post-processing "
                 f"{r['postprocess_s']:.2f} s + mp4 {r['encode_s']:.2f} s; peak {r.get('peak_allocated_gib', 0):.1f} GiB "
                 f"allocated / {r.get('peak_reserved_gib', 0):.1f} GiB reserved; pipeline load {r['load_s']:.1f} s")
for path in sorted(glob.glob(f"{state}/results/smi-*.txt")):
    lines.append(f"nvidia-smi peak, {os.path.basename(path)[4:-4]}: " + ", ".join(open(path).read().split("\n")).strip(", "))
lines.append("")
for path in sorted(glob.glob(f"{state}/results/report-*.txt")):
    lines += ["```", open(path).read().rstrip(), "```", ""]
with open(f"{out}/e2e-report.md", "w") as fh:
    fh.write("\n".join(lines) + "\n")
print("\n".join(lines))
timelines = [json.load(open(p)) for p in sorted(glob.glob(f"{state}/results/timeline-*.json"))]
with open(f"{out}/timelines.json", "w") as fh:
    json.dump(timelines, fh)
EOF
}

status=0
build_pid=
if has_phase build; then
  if has_phase model; then  # the build runs on the CPUs while the model is drawn on the GPU
    say "build (in the background, log: build.log)"
    build >"$STATE/build.out" 2>&1 &
    build_pid=$!
  else
    say "build"
    build || fail "build (see build.log)"
  fi
fi
if has_phase model; then
  say "model → $MODEL_DIR ($MODEL_ARGS)"
  make_model || status=1
fi
if [ -n "$build_pid" ]; then
  wait "$build_pid" || { cat "$STATE/build.out"; fail "build (see build.log)"; }
  cat "$STATE/build.out"
fi
[ $status = 0 ] || fail "model"
if has_phase ditstream || has_phase diffusers; then
  [ -f "$MODEL_DIR/.complete" ] || { say "model → $MODEL_DIR (needed, not there)"; make_model || fail "model"; }
fi
if has_phase ditstream; then
  [ -x "$BUILD_DIR/web/ditstream" ] && [ -x "$BUILD_DIR/tests/bench/bench_e2e" ] && [ -x "$BUILD_DIR/tests/engine/device_memory_tests" ] ||
    { say "build (needed)"; build || fail "build"; }
  check_runtime || fail "runtime check"
fi
if has_phase diffusers; then
  say "diffusers"
  smi_start diffusers
  "$PYTHON" scripts/device/diffusers_e2e.py --model "$MODEL_DIR" --cases "$CASES" --json "$STATE/diffusers.json" \
    --device "$DEVICE" --dtype "$DTYPE" --warmup-steps "$WARMUP_STEPS" --out-dir "$STATE/diffusers-mp4" 2>&1 |
    grep --line-buffered -v -E "Warning|deprecat|it/s\]|^\s*$"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  [ -f "$STATE/diffusers.json" ] && cp "$STATE/diffusers.json" "$OUT/"
  smi_stop diffusers
fi
if has_phase ditstream; then
  for g in $GPUS; do
    say "ditstream, $g (GPUs[:precision])"
    serve_and_measure "$g" || status=1
  done
fi
if has_phase report; then
  say "report"
  report || status=1
fi
if has_phase clean; then
  say "clean: $MODEL_DIR and the videos"
  rm -rf "$MODEL_DIR" "$STATE/diffusers-mp4" "$STATE"/ditstream-*.mp4 "$STATE"/recordings-* "$STATE"/jobs-*.db "$STATE"/smi-*.csv
fi
say "done (status $status)"
exit $status
