#!/usr/bin/env python3
"""Writes a full-size HunyuanVideo model folder in diffusers layout with random weights, for
benchmarks where no real checkpoint can be had: the real loaders (ditstream's and diffusers'
HunyuanVideoPipeline.from_pretrained) read it as they would read the published model.

    scripts/make_random_model.py --out DIR [--device cuda] [--shard-gb 5] [--layers N] [--tiny-dims]

Components, at the published sizes unless shrunk:
  transformer      HunyuanVideoTransformer3DModel, diffusers' defaults (24 heads x 128, 20 dual-stream
                   + 40 single-stream blocks, 2 refiner layers: 12.8 B parameters)
  vae              AutoencoderKLHunyuanVideo, diffusers' defaults
  text_encoder     LlamaModel shaped like LLaMA-3-8B (hidden 4096, 32 layers, 32/8 heads, MLP 14336,
                   vocabulary 128,256)
  text_encoder_2   CLIPTextModel shaped like CLIP ViT-L/14's text tower (768 x 12, vocabulary 49,408)
  tokenizer(_2)    copied from the tiny model (--tokenizers): their ids all lie inside the full
                   vocabularies, so the full-size embeddings cover them; prompts tokenize differently
                   from the real tokenizers, the sequence lengths (template + 256, 77) do not
  scheduler        FlowMatchEulerDiscreteScheduler, shift 7

Weights are bf16, drawn on --device tensor by tensor as ditstream's Module::init_random draws
them (biases 0, other 1-D tensors 1, the rest uniform in +-1/sqrt(fan_in)), copied to host memory
and written as sharded safetensors (a writer thread saves one shard while the next is drawn).
--layers N shrinks every stack to N layers (dual and single-stream blocks, refiner, both text
encoders, at least 3 LLaMA layers since HunyuanVideo reads the third hidden state from the end);
--tiny-dims also shrinks every width to the tiny model's, for checks on a CPU.
"""
import argparse
import json
import math
import os
import queue
import shutil
import threading
import time

import torch
import diffusers
from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoTransformer3DModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel, PreTrainedTokenizerFast

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TRANSFORMER = dict(in_channels=16, out_channels=16, num_attention_heads=24, attention_head_dim=128, num_layers=20,
                   num_single_layers=40, num_refiner_layers=2, mlp_ratio=4.0, patch_size=2, patch_size_t=1,
                   qk_norm="rms_norm", guidance_embeds=True, text_embed_dim=4096, pooled_projection_dim=768,
                   rope_theta=256.0, rope_axes_dim=(16, 56, 56))
VAE = dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
           layers_per_block=2, norm_num_groups=32, scaling_factor=0.476986)
LLAMA = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rms_norm_eps=1e-5,
             rope_theta=500000.0)
CLIP = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu", layer_norm_eps=1e-5)

# --tiny-dims: the widths of models/tiny-hunyuan-video (vocabularies stay full size).
TINY_TRANSFORMER = dict(num_attention_heads=2, attention_head_dim=16, mlp_ratio=2.0, text_embed_dim=32,
                        pooled_projection_dim=24, rope_axes_dim=(4, 6, 6))
TINY_VAE = dict(block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=4)
TINY_LLAMA = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2)
TINY_CLIP = dict(hidden_size=24, intermediate_size=48, num_attention_heads=2, projection_dim=24)


def configs(layers, tiny_dims):
    t, v, l, c = dict(TRANSFORMER), dict(VAE), dict(LLAMA), dict(CLIP)
    if tiny_dims:
        t.update(TINY_TRANSFORMER)
        v.update(TINY_VAE)
        l.update(TINY_LLAMA)
        c.update(TINY_CLIP)
    if layers:
        t.update(num_layers=layers, num_single_layers=layers, num_refiner_layers=min(layers, t["num_refiner_layers"]))
        l.update(num_hidden_layers=max(3, layers))
        c.update(num_hidden_layers=layers)
    return t, v, l, c


class ShardWriter:
    """Saves shards on a thread of its own, at most one waiting, so drawing and writing overlap."""

    def __init__(self):
        self.jobs = queue.Queue(maxsize=1)
        self.error = None
        self.bytes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            path, tensors = job
            try:
                save_file(tensors, path, metadata={"format": "pt"})
                self.bytes += os.path.getsize(path)
            except Exception as e:  # reported by close()
                self.error = e

    def put(self, path, tensors):
        if self.error:
            raise self.error
        self.jobs.put((path, tensors))

    def close(self):
        self.jobs.put(None)
        self.thread.join()
        if self.error:
            raise self.error


def draw(name, shape, device, generator):
    if name.endswith("bias"):
        return torch.zeros(shape, dtype=torch.bfloat16, device=device)
    if len(shape) == 1:
        return torch.ones(shape, dtype=torch.bfloat16, device=device)  # norm scales
    bound = 1.0 / math.sqrt(math.prod(shape[1:]))
    return torch.empty(shape, dtype=torch.bfloat16, device=device).uniform_(-bound, bound, generator=generator)


def write_weights(model, folder, stem, device, generator, shard_bytes, writer):
    """Random weights for every tensor of model.state_dict() (shapes from a meta-device model),
    as <stem>.safetensors or <stem>-0000k-of-0000n.safetensors with <stem>.safetensors.index.json."""
    shapes = [(name, tuple(t.shape)) for name, t in model.state_dict().items()]
    shards, current, size = [], [], 0
    for name, shape in shapes:
        nbytes = 2 * math.prod(shape)
        if current and size + nbytes > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += nbytes
    shards.append(current)
    names = ([f"{stem}.safetensors"] if len(shards) == 1 else
             [f"{stem}-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))])
    weight_map, total = {}, 0
    for file_name, shard in zip(names, shards):
        tensors = {}
        for name, shape in shard:
            tensors[name] = draw(name, shape, device, generator).to("cpu", non_blocking=False)
            weight_map[name] = file_name
            total += 2 * math.prod(shape)
        writer.put(os.path.join(folder, file_name), tensors)
    if len(shards) > 1:
        with open(os.path.join(folder, f"{stem}.safetensors.index.json"), "w") as fh:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, fh, indent=2)
    return sum(math.prod(s) for _, s in shapes), total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="model folder to write (replaced if it exists)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="where the weights are drawn (cuda: fast; cpu for checks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-gb", type=float, default=5.0, help="largest shard, GB")
    ap.add_argument("--layers", type=int, default=0, help="shrink every stack to this many layers (0: full)")
    ap.add_argument("--tiny-dims", action="store_true", help="also shrink every width to the tiny model's")
    ap.add_argument("--tokenizers", default=os.path.join(REPO, "models", "tiny-hunyuan-video"),
                    help="folder whose tokenizer/ and tokenizer_2/ are copied")
    args = ap.parse_args()

    start = time.perf_counter()
    t_cfg, v_cfg, l_cfg, c_cfg = configs(args.layers, args.tiny_dims)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(os.path.join(args.tokenizers, "tokenizer"))
    from transformers import CLIPTokenizer
    tokenizer_2 = CLIPTokenizer.from_pretrained(os.path.join(args.tokenizers, "tokenizer_2"))
    for tok, cfg, what in ((tokenizer, l_cfg, "tokenizer"), (tokenizer_2, c_cfg, "tokenizer_2")):
        if len(tok) > cfg["vocab_size"]:
            raise SystemExit(f"{what} has {len(tok)} tokens, more than the {cfg['vocab_size']} embeddings")
    l_cfg.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                 pad_token_id=tokenizer.pad_token_id)
    c_cfg.update(bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
                 pad_token_id=tokenizer_2.pad_token_id)

    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    writer = ShardWriter()
    shard_bytes = int(args.shard_gb * 1e9)
    summary = []
    with torch.device("meta"):
        parts = [
            ("transformer", "diffusion_pytorch_model", HunyuanVideoTransformer3DModel(**t_cfg)),
            ("vae", "diffusion_pytorch_model", AutoencoderKLHunyuanVideo(**v_cfg)),
            ("text_encoder", "model", LlamaModel(LlamaConfig(**l_cfg))),
            ("text_encoder_2", "model", CLIPTextModel(CLIPTextConfig(**c_cfg))),
        ]
    for folder, stem, model in parts:
        path = os.path.join(args.out, folder)
        os.makedirs(path)
        if isinstance(model, diffusers.ModelMixin):
            model.save_config(path)
        else:
            model.config.architectures = [type(model).__name__]
            model.config.dtype = "bfloat16"
            model.config.save_pretrained(path)
        t = time.perf_counter()
        params, nbytes = write_weights(model, path, stem, args.device, generator, shard_bytes, writer)
        summary.append((folder, params, nbytes, time.perf_counter() - t))
    for name, tok in (("tokenizer", tokenizer), ("tokenizer_2", tokenizer_2)):
        shutil.copytree(os.path.join(args.tokenizers, name), os.path.join(args.out, name))
    FlowMatchEulerDiscreteScheduler(shift=7.0).save_pretrained(os.path.join(args.out, "scheduler"))
    with open(os.path.join(args.tokenizers, "model_index.json")) as fh:
        index = json.load(fh)
    index["_diffusers_version"] = diffusers.__version__
    with open(os.path.join(args.out, "model_index.json"), "w") as fh:
        json.dump(index, fh, indent=2)
    writer.close()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    for folder, params, nbytes, seconds in summary:
        print(f"{folder:15s} {params / 1e9:7.3f} B parameters {nbytes / 1e9:7.2f} GB  drawn in {seconds:6.1f} s")
    print(f"wrote {writer.bytes / 1e9:.2f} GB to {args.out} in {total:.1f} s "
          f"({writer.bytes / 1e9 / total:.2f} GB/s, drawn on {args.device})")


if __name__ == "__main__":
    main()
