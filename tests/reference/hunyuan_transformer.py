"""Reference outputs of diffusers' HunyuanVideoTransformer3DModel for the C++ parity tests.

    hunyuan_transformer.py --model DIR [--inputs IN.safetensors --out OUT.safetensors]
        [--make CONFIG_JSON --seed N [--default-init]] [--device cpu|cuda] [--dtype float32|bfloat16]

--make builds the model from CONFIG_JSON (a JSON object of config fields) with seeded random
weights and saves it to DIR with save_pretrained (config.json + safetensors) before running it;
without --make the model is loaded from DIR. IN holds hidden_states, timestep,
encoder_hidden_states, encoder_attention_mask, pooled_projections and optionally guidance; OUT gets
"output". Without --inputs the script only makes and saves the model.
"""
import argparse
import json
import math

import torch
from diffusers import HunyuanVideoTransformer3DModel
from safetensors.torch import load_file, save_file


def randomize(model, seed):
    # Every parameter random (diffusers zero-initialises nothing here, but norm scales of 1 and
    # biases of 0 would hide mistakes): weights ~ U(±1/sqrt(fan_in)), biases and norm scales around
    # 0 and 1.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                bound = 1.0 / math.sqrt(p[0].numel())
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs")
    ap.add_argument("--out")
    ap.add_argument("--make")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--default-init", action="store_true",
                    help="with --make: keep diffusers' own initialisation, built on --device in --dtype")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)

    if args.make and args.default_init:
        # Full size: built directly on the device in the target dtype, never in float32 on the host.
        torch.set_default_dtype(dtype)
        with torch.device(args.device):
            model = HunyuanVideoTransformer3DModel(**json.loads(args.make))
        torch.set_default_dtype(torch.float32)
        model.save_pretrained(args.model, safe_serialization=True)
    elif args.make:
        model = HunyuanVideoTransformer3DModel(**json.loads(args.make))
        randomize(model, args.seed)
        model = model.to(dtype)
        model.save_pretrained(args.model, safe_serialization=True)
    else:
        model = HunyuanVideoTransformer3DModel.from_pretrained(args.model, torch_dtype=dtype)
    if args.inputs is None:
        return
    model = model.to(args.device).eval()

    inputs = {k: v.to(args.device) for k, v in load_file(args.inputs).items()}
    for k in ("hidden_states", "encoder_hidden_states", "pooled_projections"):
        inputs[k] = inputs[k].to(dtype)
    with torch.no_grad():
        out = model(hidden_states=inputs["hidden_states"], timestep=inputs["timestep"],
                    encoder_hidden_states=inputs["encoder_hidden_states"],
                    encoder_attention_mask=inputs["encoder_attention_mask"],
                    pooled_projections=inputs["pooled_projections"], guidance=inputs.get("guidance"),
                    return_dict=False)[0]
    save_file({"output": out.float().cpu().contiguous()}, args.out)


if __name__ == "__main__":
    main()
