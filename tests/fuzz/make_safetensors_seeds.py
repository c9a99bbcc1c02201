"""Seed inputs for the safetensors header fuzzer: valid files of several dtypes and shapes, and a
few near-misses, written into the corpus folder given as the first argument."""
import json
import os
import struct
import sys

import torch
from safetensors.torch import save

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
seeds = {
    "floats": save({"a": torch.randn(2, 3), "b": torch.randn(4).to(torch.bfloat16)}, metadata={"format": "pt"}),
    "fp8": save({"w": torch.randn(3, 2).to(torch.float8_e4m3fn), "s": torch.ones(3)}),
    "ints": save({"i": torch.arange(5), "m": torch.ones(2, 2, dtype=torch.bool)}),
    "empty": save({}),
}


def raw(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


seeds["overlap"] = raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
seeds["f4"] = raw({"w": {"dtype": "F4", "shape": [2, 2], "data_offsets": [0, 2]}}, b"\0\0")
for name, blob in seeds.items():
    with open(os.path.join(out, f"seed-{name}"), "wb") as fh:
        fh.write(blob)
