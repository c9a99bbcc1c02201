#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SECONDS CORPUS_DIR SEED_SCRIPT: makes seed inputs with the script, then
# fuzzes for SECONDS. A crash fails the test and leaves the input beside the corpus.
set -euo pipefail
fuzzer=$1 seconds=$2 corpus=$3 seeds=$4
mkdir -p "$corpus"
"${DITSTREAM_PYTHON:-python3}" "$seeds" "$corpus"
cd "$(dirname "$corpus")"
exec "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$corpus"
