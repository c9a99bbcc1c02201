"""The end-to-end job of scripts/device/e2e.sh as a diffusers user runs it: HunyuanVideoPipeline
from the same model folder (bf16), one call from the prompt to the frames, then the frames written
to an mp4. Times the call until the mp4 exists (nothing is shown before that), with its parts:
text encoding, every step, VAE decode (tiling on, as diffusers' HunyuanVideo docs do it),
post-processing and the mp4 encode.

    python3 scripts/device/diffusers_e2e.py --model DIR --cases 544x960x61:30 --json OUT.json

--json is a dict keyed by case ("544x960x61") that bench_e2e --reference reads; an existing file
gets the new cases added. The mp4 encoder is diffusers' export_to_video (imageio + imageio-ffmpeg)
where that works, else diffusers' OpenCV fallback (mp4v, what export_to_video falls back to), else
x264 through GStreamer's gst-launch-1.0 (ditstream's own encoder, same settings as its recorder);
--encoder picks one, and the JSON says which ran. The text encoders run on the GPU when the whole
pipeline fits beside the activations; otherwise diffusers' model CPU offload moves each model to
the GPU for its turn, and the JSON says so.
"""
import argparse
import gc
import importlib.util
import json
import os
import shutil
import subprocess
import time

import numpy as np
import torch
import diffusers
from diffusers import HunyuanVideoPipeline
from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE


def parse_case(item):
    size, _, steps = item.partition(":")
    h, w, f = (int(x) for x in size.split("x"))
    return size, h, w, f, int(steps or 30)


class Clock:
    def __init__(self, device):
        self.cuda = device.startswith("cuda")

    def now(self):
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def pick_encoder(choice):
    if choice != "auto":
        return choice
    if importlib.util.find_spec("imageio") and importlib.util.find_spec("imageio_ffmpeg"):
        return "imageio"
    if importlib.util.find_spec("cv2"):
        return "opencv"
    if shutil.which("gst-launch-1.0"):
        return "gst-x264"
    raise SystemExit("no mp4 encoder: neither imageio-ffmpeg, OpenCV nor gst-launch-1.0 is there")


ENCODER_NAMES = {
    "imageio": "diffusers export_to_video (imageio-ffmpeg, libx264)",
    "opencv": "diffusers' OpenCV export (cv2.VideoWriter, mp4v)",
    "gst-x264": "x264 through gst-launch-1.0 (ditstream's encoder and settings)",
}


def write_mp4(frames, path, fps, encoder):
    """frames: [F, H, W, 3] floats in [0, 1], as output_type="np" gives them."""
    if encoder == "imageio":
        diffusers.utils.export_to_video(list(frames), path, fps=fps)
    elif encoder == "opencv":
        from diffusers.utils.export_utils import _legacy_export_to_video
        _legacy_export_to_video(list(frames), path, fps=fps)
    elif encoder == "gst-x264":
        f, h, w, _ = frames.shape
        pixels = (frames * 255).astype(np.uint8)  # as export_to_video converts them
        gop = max(1, fps)
        cmd = ["gst-launch-1.0", "-q", "fdsrc", "fd=0", f"blocksize={h * w * 3}", "!",
               "rawvideoparse", f"width={w}", f"height={h}", "format=rgb", f"framerate={fps}/1", "!",
               "videoconvert", "!", "video/x-raw,format=I420", "!",
               "x264enc", "tune=zerolatency", "speed-preset=ultrafast", f"key-int-max={gop}", "!",
               "video/x-h264,profile=constrained-baseline", "!", "h264parse", "!", "mp4mux", "!",
               "filesink", f"location={path}"]
        subprocess.run(cmd, input=pixels.tobytes(), check=True)
    else:
        raise SystemExit(f"unknown encoder {encoder!r}: imageio, opencv or gst-x264")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        raise RuntimeError(f"{encoder} wrote no mp4 at {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="diffusers folder (scripts/make_random_model.py)")
    ap.add_argument("--cases", default="544x960x61:30", help="HxWxF:steps,...")
    ap.add_argument("--json", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--prompt", default="A cat walks on the grass, realistic.")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--guidance", type=float, default=6.0)
    ap.add_argument("--warmup-steps", type=int, default=0,
                    help="first run a call of this many steps at the same size, untimed (0: none)")
    ap.add_argument("--encoder", default="auto", choices=["auto", "imageio", "opencv", "gst-x264"])
    ap.add_argument("--out-dir", default="/tmp/diffusers-e2e", help="where the mp4 files go")
    ap.add_argument("--offload", default="auto", choices=["auto", "never", "model"],
                    help="model: diffusers' enable_model_cpu_offload; auto: only if the pipeline does not fit")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    clock = Clock(args.device)
    os.makedirs(args.out_dir, exist_ok=True)
    encoder = pick_encoder(args.encoder)

    # Weights in --dtype: the folder's safetensors are bf16, 2 bytes a parameter.
    stored = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(args.model) for n in names
                 if n.endswith(".safetensors"))
    weights = stored * torch.tensor([], dtype=dtype).element_size() // 2
    cuda = args.device.startswith("cuda")
    offload = args.offload
    if offload == "auto":
        offload = "never"
        # Room for the largest case's activations beside the weights: about 12 GiB at 720x1280x129
        # (bench_dit's peak less the weights), plus the tiled decode.
        if cuda and weights + 16 * 2**30 > torch.cuda.mem_get_info()[0]:
            offload = "model"
    t = time.perf_counter()
    pipe = None
    if cuda and offload == "never":
        try:  # straight onto the GPU, as a diffusers user with accelerate loads it
            pipe = HunyuanVideoPipeline.from_pretrained(args.model, dtype=dtype, device_map=args.device)
        except Exception as e:  # older accelerate/transformers: load, then move
            print(f"device_map={args.device} failed ({e}); loading on the host, then moving", flush=True)
            gc.collect()
            torch.cuda.empty_cache()
    if pipe is None:
        pipe = HunyuanVideoPipeline.from_pretrained(args.model, dtype=dtype)
        if offload == "model":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(args.device)
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_tiling()
    load_s = time.perf_counter() - t
    placement = ("text encoders, transformer and VAE on the GPU" if offload == "never" and cuda
                 else "model CPU offload (each model on the GPU for its turn)" if offload == "model"
                 else f"everything on {args.device}")
    print(f"diffusers {diffusers.__version__}: pipeline loaded in {load_s:.1f} s ({weights / 1e9:.1f} GB of weights, "
          f"{args.dtype}, {placement}); mp4 encoder: {ENCODER_NAMES[encoder]}", flush=True)

    template = DEFAULT_PROMPT_TEMPLATE["template"]
    # The template's own token count less 2, as ditstream counts it: the model's tokenizer is not
    # the LLaMA-3 tokenizer that diffusers' crop_start of 95 is for.
    crop_start = len(pipe.tokenizer(template)["input_ids"]) - 2
    prompt_template = {"template": template, "crop_start": crop_start}

    # Timers around the parts of one call.
    marks = {}
    encode_prompt, decode = pipe.encode_prompt, pipe.vae.decode

    def timed_encode(*a, **k):
        start = clock.now()
        out = encode_prompt(*a, **k)
        marks["text_encode_s"] = clock.now() - start
        marks["text_done"] = time.perf_counter()
        return out

    def timed_decode(*a, **k):
        start = clock.now()
        marks["decode_start"] = start
        out = decode(*a, **k)
        marks["decode_s"] = clock.now() - start
        marks["decode_end"] = time.perf_counter()
        return out

    pipe.encode_prompt = timed_encode
    pipe.vae.decode = timed_decode

    def call(h, w, f, steps, seed):
        step_ends = []

        def on_step_end(pipeline, i, timestep, kwargs):
            step_ends.append(clock.now())
            return {}

        with torch.no_grad():
            out = pipe(prompt=args.prompt, height=h, width=w, num_frames=f, num_inference_steps=steps,
                       guidance_scale=args.guidance, generator=torch.Generator("cpu").manual_seed(seed),
                       prompt_template=prompt_template, max_sequence_length=256, output_type="np",
                       callback_on_step_end=on_step_end)
        return out.frames[0], step_ends

    results = {}
    if os.path.exists(args.json):
        with open(args.json) as fh:
            results = json.load(fh)
    for item in filter(None, args.cases.split(",")):
        case, h, w, f, steps = parse_case(item)
        if args.warmup_steps > 0:
            t = time.perf_counter()
            call(h, w, f, args.warmup_steps, args.seed + 1)
            print(f"diffusers warm-up call: {args.warmup_steps} steps at {case} in {time.perf_counter() - t:.1f} s",
                  flush=True)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        path = os.path.join(args.out_dir, f"diffusers-{case}.mp4")
        if os.path.exists(path):
            os.remove(path)
        marks.clear()
        t0 = clock.now()
        frames, step_ends = call(h, w, f, steps, args.seed)
        returned = time.perf_counter()
        write_mp4(frames, path, args.fps, encoder)
        done = time.perf_counter()
        steps_s = [b - a for a, b in zip([marks["text_done"]] + step_ends[:-1], step_ends)]
        r = {
            "steps": steps,
            "time_to_mp4_s": done - t0,
            "text_encode_s": marks["text_encode_s"],
            "before_first_step_s": marks["text_done"] - t0,
            "step_s": steps_s,
            "step_median_s": float(np.median(steps_s)),
            "denoise_s": step_ends[-1] - marks["text_done"],
            "decode_s": marks["decode_s"],
            "postprocess_s": returned - marks["decode_end"],
            "encode_s": done - returned,
            "frames": int(frames.shape[0]),
            "mp4_bytes": os.path.getsize(path),
            "encoder": ENCODER_NAMES[encoder],
            "placement": placement,
            "load_s": load_s,
            "dtype": args.dtype,
            "vae_tiling": True,
            "crop_start": crop_start,
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
        }
        if args.device.startswith("cuda"):
            r["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
            r["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
        results[case] = r
        print(f"diffusers {case}, {steps} steps: call → mp4 {r['time_to_mp4_s']:.2f} s = text {r['text_encode_s']:.3f} s"
              f" + denoise {r['denoise_s']:.2f} s (median step {r['step_median_s']:.3f} s) + decode {r['decode_s']:.2f} s"
              f" + post-processing {r['postprocess_s']:.2f} s + mp4 {r['encode_s']:.2f} s"
              + (f"; peak {r['peak_allocated_gib']:.1f} GiB allocated, {r['peak_reserved_gib']:.1f} GiB reserved"
                 if "peak_allocated_gib" in r else ""), flush=True)
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
