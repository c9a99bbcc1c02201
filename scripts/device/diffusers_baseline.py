"""diffusers HunyuanVideo baseline at full size with random weights, for side-by-side timing.

Run on the GPU machine with diffusers importable (scripts/device/env.sh installs the carried wheel):
    python3 scripts/device/diffusers_baseline.py --cases 320x512x33,544x960x61 --vae 544x960x61 --json $OUT/diffusers.json
Prints one line per case: seconds per denoising step (one transformer forward) and VAE decode time.
--compile also times the transformer under torch.compile (first call and steady step);
--fbcache also times a step that diffusers' FirstBlockCache hook reuses (threshold so high that
every step after the first is reused).
"""
import argparse, json, time
import torch
from diffusers import HunyuanVideoTransformer3DModel, AutoencoderKLHunyuanVideo


def timed(fn, repeat):
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def parse(case):
    h, w, f = (int(x) for x in case.split("x"))
    return h, w, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="320x512x33,544x960x61,720x1280x129")
    ap.add_argument("--vae", default="544x960x61,720x1280x129")
    ap.add_argument("--text-tokens", type=int, default=32)
    ap.add_argument("--json", default="diffusers_baseline.json")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--fbcache", action="store_true")
    ap.add_argument("--skip-plain", action="store_true",
                    help="do not time the plain model's step (only --compile/--fbcache timings)")
    args = ap.parse_args()
    dev, results = "cuda", {}

    torch.set_default_dtype(torch.bfloat16)
    with torch.device(dev):
        model = HunyuanVideoTransformer3DModel().eval()
    torch.set_default_dtype(torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    compiled = torch.compile(model) if args.compile else None
    cached = None

    def reused_step(inputs, case):
        # A second model instance carries the hook, so the plain model above stays untouched.
        nonlocal cached
        from diffusers.hooks import FirstBlockCacheConfig, apply_first_block_cache
        if cached is None:
            torch.set_default_dtype(torch.bfloat16)
            with torch.device(dev):
                cached = HunyuanVideoTransformer3DModel().eval()
            torch.set_default_dtype(torch.float32)
            apply_first_block_cache(cached, FirstBlockCacheConfig(threshold=1e9))
        with cached.cache_context(f"case-{case}"):
            cached(**inputs)
            return min(timed(lambda: cached(**inputs), 1) for _ in range(3))
    with torch.no_grad():
        for case in filter(None, args.cases.split(",")):
            h, w, f = parse(case)
            t = (f - 1) // 4 + 1
            tokens = t * (h // 16) * (w // 16)
            inputs = dict(
                hidden_states=torch.randn(1, 16, t, h // 8, w // 8, device=dev, dtype=torch.bfloat16),
                timestep=torch.tensor([500.0], device=dev, dtype=torch.bfloat16),
                encoder_hidden_states=torch.randn(1, args.text_tokens, 4096, device=dev, dtype=torch.bfloat16),
                encoder_attention_mask=torch.ones(1, args.text_tokens, device=dev, dtype=torch.int64),
                pooled_projections=torch.randn(1, 768, device=dev, dtype=torch.bfloat16),
                guidance=torch.tensor([6000.0], device=dev, dtype=torch.bfloat16),
                return_dict=False,
            )
            if not args.skip_plain:
                timed(lambda: model(**inputs), 1)
                torch.cuda.reset_peak_memory_stats()
                step = timed(lambda: model(**inputs), 1 if tokens > 50000 else 3)
                peak = torch.cuda.max_memory_allocated() / 2**30
                length = tokens + args.text_tokens
                flops = 2 * n_params * length + 4 * length * length * 3072 * 60
                results[f"dit_{case}"] = {"tokens": tokens, "step_s": step, "tflops": flops / step / 1e12,
                                          "peak_gib": peak}
                print(f"diffusers dit {case}: {step:.3f} s/step, {flops / step / 1e12:.0f} TFLOP/s, "
                      f"peak {peak:.1f} GiB", flush=True)
            if args.fbcache:
                results[f"fbcache_{case}"] = {"reused_step_s": reused_step(inputs, case)}
                print(f"diffusers FirstBlockCache {case}: reused step {results[f'fbcache_{case}']['reused_step_s']:.3f} s", flush=True)
            if args.compile:
                first = timed(lambda: compiled(**inputs), 1)
                step_c = timed(lambda: compiled(**inputs), 1)
                results[f"compiled_{case}"] = {"first_call_s": first, "step_s": step_c}
                print(f"diffusers torch.compile {case}: first call {first:.1f} s, {step_c:.3f} s/step", flush=True)
            torch.cuda.empty_cache()
    del model
    torch.cuda.empty_cache()

    if not args.vae:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
        return
    with torch.device(dev):
        vae = AutoencoderKLHunyuanVideo().to(torch.float16).eval()
    vae.enable_tiling()
    with torch.no_grad():
        for case in filter(None, args.vae.split(",")):
            h, w, f = parse(case)
            z = torch.randn(1, 16, (f - 1) // 4 + 1, h // 8, w // 8, device=dev, dtype=torch.float16)
            torch.cuda.reset_peak_memory_stats()
            decode = timed(lambda: vae.decode(z, return_dict=False), 1)
            results[f"vae_{case}"] = {"decode_s": decode, "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
            print(f"diffusers vae {case}: {decode:.2f} s (tiled, fp16)", flush=True)
            torch.cuda.empty_cache()
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
