"""Reference outputs of transformers' LlamaModel and CLIPTextModel, and of diffusers'
HunyuanVideoPipeline.encode_prompt, for the text-encoder parity tests.

    text_encoders.py encoders MODEL_DIR OUT.safetensors
        MODEL_DIR holds text_encoder/ and text_encoder_2/ (a diffusers folder, or one made by
        `random`). Writes the inputs it drew (llama_input_ids, llama_attention_mask, clip_input_ids)
        and hidden_states[-(k+1)] for k = 0..n (llama_hidden_skip{k}), CLIP's last_hidden_state
        and pooler_output.
    text_encoders.py random OUT_DIR
        Saves a second random configuration (llama3 rope scaling, attention/MLP biases, GQA 6/2,
        CLIP with gelu and the old eos_token_id = 2) as text_encoder/ and text_encoder_2/.
    text_encoders.py pipeline MODEL_DIR PROMPTS.json OUT.safetensors
        encode_prompt of HunyuanVideoPipeline for the prompts, with crop_start counted from the
        model's own tokenizer (the template's tokens less 2).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel


def encoders(model_dir, out):
    torch.manual_seed(1)
    llama = LlamaModel.from_pretrained(os.path.join(model_dir, "text_encoder")).eval()
    clip = CLIPTextModel.from_pretrained(os.path.join(model_dir, "text_encoder_2")).eval()
    b, length = 3, 37
    ids = torch.randint(0, llama.config.vocab_size, (b, length))
    mask = torch.ones(b, length, dtype=torch.long)
    for row, valid in enumerate([length, 20, 5]):  # right padding, as the pipeline's tokenizer pads
        mask[row, valid:] = 0
        ids[row, valid:] = llama.config.pad_token_id or 0
    cv = clip.config.vocab_size
    clip_ids = torch.randint(2, cv - 1, (b, 77))
    eos = clip.config.eos_token_id if clip.config.eos_token_id != 2 else cv - 1
    for row, end in enumerate([76, 30, 3]):
        clip_ids[row, 0] = 0
        clip_ids[row, end:] = eos
    tensors = {"llama_input_ids": ids, "llama_attention_mask": mask, "clip_input_ids": clip_ids}
    with torch.no_grad():
        hs = llama(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for k in range(llama.config.num_hidden_layers + 1):
            tensors[f"llama_hidden_skip{k}"] = hs[-(k + 1)]
        c = clip(clip_ids)
        tensors["clip_last_hidden_state"] = c.last_hidden_state
        tensors["clip_pooler_output"] = c.pooler_output
    save_file({k: v.contiguous() for k, v in tensors.items()}, out)


def random_models(out_dir):
    torch.manual_seed(2)
    llama = LlamaModel(LlamaConfig(
        vocab_size=300, hidden_size=48, intermediate_size=80, num_hidden_layers=4, num_attention_heads=6,
        num_key_value_heads=2, head_dim=10, max_position_embeddings=256, rms_norm_eps=1e-6, attention_bias=True,
        mlp_bias=True, pad_token_id=1,
        rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16}))
    clip = CLIPTextModel(CLIPTextConfig(
        vocab_size=200, hidden_size=32, intermediate_size=40, num_hidden_layers=3, num_attention_heads=4,
        max_position_embeddings=77, hidden_act="gelu", eos_token_id=2, bos_token_id=0, pad_token_id=1))
    # Non-trivial norm scales and biases, so a missing one shows.
    with torch.no_grad():
        for m in (llama, clip):
            for name, p in m.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p) * 0.1)
    llama.save_pretrained(os.path.join(out_dir, "text_encoder"), safe_serialization=True)
    clip.save_pretrained(os.path.join(out_dir, "text_encoder_2"), safe_serialization=True)


def pipeline(model_dir, prompts_file, out):
    from diffusers import HunyuanVideoPipeline
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE
    prompts = json.load(open(prompts_file, encoding="utf-8"))
    pipe = HunyuanVideoPipeline.from_pretrained(model_dir, torch_dtype=torch.float32)
    template = DEFAULT_PROMPT_TEMPLATE["template"]
    crop_start = len(pipe.tokenizer(template)["input_ids"]) - 2
    with torch.no_grad():
        embeds, pooled, mask = pipe.encode_prompt(
            prompts, prompt_template={"template": template, "crop_start": crop_start}, device="cpu",
            max_sequence_length=256)
    save_file({"prompt_embeds": embeds.contiguous(), "prompt_attention_mask": mask.contiguous(),
               "pooled_prompt_embeds": pooled.contiguous(), "crop_start": torch.tensor([crop_start])}, out)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "encoders":
        encoders(sys.argv[2], sys.argv[3])
    elif mode == "random":
        random_models(sys.argv[2])
    elif mode == "pipeline":
        pipeline(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")
