"""Reference latents of diffusers' HunyuanVideoPipeline (output_type="latent") for the C++
sampling tests, optionally with diffusers' FirstBlockCache hook on the transformer.

    hunyuan_pipeline.py --model DIR --prompt IN.safetensors --out OUT.safetensors --runs JSON

IN holds prompt_embeds, prompt_attention_mask and pooled_prompt_embeds. JSON is a list of runs,
each {"steps", "shift", "seed", "guidance", "height", "width", "frames", "threshold"?}; run k writes
latents_k (final latents), noise_k (the seeded starting noise) and, with a threshold, computed_k
(1 where the step ran the transformer's remaining blocks, 0 where the cache reused them).
"""
import argparse
import json

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline
from diffusers.hooks import FirstBlockCacheConfig
from safetensors.torch import load_file, save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", required=True)
    args = ap.parse_args()

    pipe = HunyuanVideoPipeline.from_pretrained(args.model, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    base_scheduler_config = pipe.scheduler.config
    prompt = load_file(args.prompt)
    transformer = pipe.transformer
    tail_called = []
    # The tail block's output projection runs only when the cache lets the remaining blocks run.
    transformer.single_transformer_blocks[-1].proj_out.register_forward_hook(lambda *_: tail_called.append(1))

    out = {}
    for k, run in enumerate(json.loads(args.runs)):
        pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(base_scheduler_config, shift=run["shift"])
        threshold = run.get("threshold")
        if threshold is not None:
            transformer.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        computed = []

        def on_step_end(pipeline, i, t, kwargs):
            computed.append(1 if tail_called else 0)
            tail_called.clear()
            return {}

        tail_called.clear()
        shape = (1, 16, (run["frames"] - 1) // 4 + 1, run["height"] // 8, run["width"] // 8)
        out[f"noise_{k}"] = torch.randn(shape, generator=torch.Generator().manual_seed(run["seed"]))
        with torch.no_grad():
            latents = pipe(prompt_embeds=prompt["prompt_embeds"], pooled_prompt_embeds=prompt["pooled_prompt_embeds"],
                           prompt_attention_mask=prompt["prompt_attention_mask"], height=run["height"],
                           width=run["width"], num_frames=run["frames"], num_inference_steps=run["steps"],
                           guidance_scale=run["guidance"], generator=torch.Generator().manual_seed(run["seed"]),
                           output_type="latent", return_dict=False, callback_on_step_end=on_step_end)[0]
        if threshold is not None:
            transformer.disable_cache()
            out[f"computed_{k}"] = torch.tensor(computed, dtype=torch.int64)
        out[f"latents_{k}"] = latents.float().contiguous()
    save_file(out, args.out)


if __name__ == "__main__":
    main()
