#!/usr/bin/env python3
"""Writes models/tiny-hunyuan-video: a complete diffusers-layout HunyuanVideo folder with tiny
dimensions and random weights, saved by diffusers/transformers/tokenizers themselves so that it is
exactly what those libraries load.

    scripts/make_tiny_model.py [--out models/tiny-hunyuan-video] [--seed 0]

The two tokenizers are trained here on a small corpus (with the prompt template in it), in the
LLaMA-3 byte-level BPE style and the CLIP style, so no download is needed.
"""
import argparse
import json
import os
import shutil
import tempfile

import torch
from diffusers import (AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline,
                       HunyuanVideoTransformer3DModel)
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, LlamaConfig, LlamaModel, PreTrainedTokenizerFast

# The LLaMA-3 pre-tokenizer split pattern (tokenizer.json of Meta-Llama-3).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the video by detailing the following aspects: "
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
)

CORPUS = [
    TEMPLATE.format(""),
    "A cat walks on the grass, realistic.",
    "A red panda climbs a snowy tree at dawn, cinematic lighting, 35mm film.",
    "Waves crash against black volcanic rocks under a stormy sky.",
    "A timelapse of a city at night with neon signs and rain on the streets.",
    "An astronaut rides a horse across the surface of the moon, 4k, highly detailed.",
    "Close-up of coffee being poured into a white cup, slow motion, steam rising.",
    "A paper boat floats down a stream in the forest; sunlight flickers through leaves.",
    "Drone shot over mountains covered in autumn colours, camera slowly moving forward.",
    "The quick brown fox jumps over the lazy dog 1234567890 times!",
    "一只猫在草地上行走，电影感。 東京の夜景。 서울의 거리.",
    "Emoji 🐱🚀🌊 and accents: café, naïve, façade, Ångström.",
]


def train_llama_tokenizer(out_dir):
    tok = Tokenizer(models.BPE(byte_fallback=False, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=LLAMA3_SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
        special_tokens=[("<|begin_of_text|>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                   eos_token="<|end_of_text|>", pad_token="<|end_of_text|>",
                                   model_max_length=1 << 20, padding_side="right")
    fast.save_pretrained(out_dir)
    return fast


def train_clip_tokenizer(out_dir):
    # CLIP's vocab.json/merges.txt: word-level BPE with </w> suffixes over lower-cased text.
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
                                   r"|[^\s\p{L}\p{N}]+"), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  end_of_word_suffix="</w>", show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([c.lower() for c in CORPUS] * 4, trainer)
    with tempfile.TemporaryDirectory() as tmp:
        tok.model.save(tmp)
        vocab = json.load(open(os.path.join(tmp, "vocab.json"), encoding="utf-8"))
        merges = open(os.path.join(tmp, "merges.txt"), encoding="utf-8").read().splitlines()
    # CLIP's vocab holds every byte symbol both bare and with </w>.
    for symbol in pre_tokenizers.ByteLevel.alphabet():
        for s in (symbol, symbol + "</w>"):
            if s not in vocab:
                vocab[s] = len(vocab)
    merges = [m for m in merges if m and not m.startswith("#")]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as fh:
        json.dump(vocab, fh, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as fh:
        fh.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt"),
                         model_max_length=77)


def build(out, seed):
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = train_llama_tokenizer(os.path.join(tmp, "tokenizer"))
        tokenizer_2 = train_clip_tokenizer(os.path.join(tmp, "tokenizer_2"))

        text_encoder = LlamaModel(LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
            rope_theta=500000.0, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id)).eval()
        text_encoder_2 = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer_2), hidden_size=24, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, projection_dim=24,
            bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
            pad_token_id=tokenizer_2.pad_token_id)).eval()
        transformer = HunyuanVideoTransformer3DModel(
            in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=16, num_layers=2,
            num_single_layers=2, num_refiner_layers=1, mlp_ratio=2.0, patch_size=2, patch_size_t=1,
            guidance_embeds=True, text_embed_dim=32, pooled_projection_dim=24, rope_theta=256.0,
            rope_axes_dim=(4, 6, 6)).eval()
        vae = AutoencoderKLHunyuanVideo(
            in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 16, 16, 16),
            layers_per_block=1, norm_num_groups=4, scaling_factor=0.476986).eval()
        scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
        pipe = HunyuanVideoPipeline(text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
                                    vae=vae, scheduler=scheduler, text_encoder_2=text_encoder_2,
                                    tokenizer_2=tokenizer_2)
        if os.path.exists(out):
            shutil.rmtree(out)
        pipe.save_pretrained(out, safe_serialization=True)
        # transformers saves only tokenizer.json; real checkpoints also carry CLIP's own two files.
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(tmp, "tokenizer_2", name), os.path.join(out, "tokenizer_2", name))
    print(f"wrote {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models", "tiny-hunyuan-video"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    build(os.path.normpath(args.out), args.seed)
