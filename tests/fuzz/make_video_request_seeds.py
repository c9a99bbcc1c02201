"""Seed inputs for the request parser fuzzer: valid and near-miss bodies for each parser (the first
byte picks it), written into the corpus folder given as the first argument."""
import json
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
bodies = [
    {"prompt": "a cat", "width": 64, "height": 64, "frames": 9, "steps": 4, "seed": 1, "shift": 7.0,
     "guidance": 6.0, "cache_threshold": 0.1, "fps": 8},
    {"prompt": "x"},
    {"prompt": "x", "width": 100},
    {"prompt": "x", "frames": 4, "seed": -1},
    {"prompt": "", "model": "hunyuan"},
]
seeds = [b"\x00" + json.dumps(b).encode() for b in bodies]
seeds += [b"\x00{", b"\x00[]", b"\x00{\"prompt\":\"\\u0000\"}"]
seeds += [b"\x01limit=5&offset=10", b"\x01limit=0", b"\x01sort=desc&limit="]
sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
       "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n")
seeds += [b"\x02" + sdp.encode(), b"\x02v=0\r\nm=audio 9 RTP/AVP 0\r\n", b"\x02hello"]
seeds += [b"\x03video_0123456789abcdef", b"\x03video_../../etc"]
for i, blob in enumerate(seeds):
    with open(os.path.join(out, f"seed-{i:02d}"), "wb") as fh:
        fh.write(blob)
