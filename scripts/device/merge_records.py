#!/usr/bin/env python3
"""Joins benchmark records of one benchmark (written by the benchmark programs, possibly by
several commands of one GPU run) into one docs/benchmarks/<name>.json.

    merge_records.py OUT.json IN.json [IN.json ...]
"""
import json
import sys

out, inputs = sys.argv[1], sys.argv[2:]
merged = None
for path in inputs:
    with open(path) as fh:
        doc = json.load(fh)
    if merged is None:
        merged = doc
        continue
    if doc["benchmark"] != merged["benchmark"]:
        sys.exit(f"{path}: benchmark {doc['benchmark']!r} is not {merged['benchmark']!r}")
    merged["rows"].extend(doc["rows"])
with open(out, "w") as fh:
    json.dump(merged, fh, indent=1)
    fh.write("\n")
