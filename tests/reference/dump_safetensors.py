"""Reads safetensors files with Python's safetensors and writes what it read, for the C++ reader's
test: <out>/manifest.json (file, name, dtype, shape, offset, nbytes) and <out>/blob.bin (every
tensor's bytes, little-endian, back to back).

    dump_safetensors.py OUT FILE [FILE ...]
"""
import json
import os
import sys

import torch
from safetensors import safe_open


def main():
    out, files = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    manifest, offset = [], 0
    with open(os.path.join(out, "blob.bin"), "wb") as blob:
        for path in files:
            with safe_open(path, framework="pt") as f:
                for name in sorted(f.keys()):
                    t = f.get_tensor(name).contiguous()
                    raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
                    blob.write(raw)
                    manifest.append({"file": path, "name": name, "dtype": str(t.dtype).replace("torch.", ""),
                                     "shape": list(t.shape), "offset": offset, "nbytes": len(raw)})
                    offset += len(raw)
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh)


if __name__ == "__main__":
    main()
