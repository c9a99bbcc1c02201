"""Reference outputs of diffusers' AutoencoderKLHunyuanVideo for the VAE parity tests.

    vae_reference.py decode IN OUT [--model DIR | --weights FILE] [--tile H W SH SW] [--dtype D] [--device D]
    vae_reference.py encode IN OUT [--model DIR]

IN holds "z" (decode: what diffusers' decode takes) or "x" (encode: a video); OUT gets "sample"
(decode) or "moments" (encode: quant_conv output, mean then log-variance). Temporal (framewise)
tiling is off, as in the decoder it is compared with; --tile turns on diffusers' spatial tiling
with tile_sample_min_height/width and tile_sample_stride_height/width. --weights loads a
full-size default-config VAE from a safetensors file (random weights written by the test).
"""
import argparse

import torch
from diffusers import AutoencoderKLHunyuanVideo
from safetensors.torch import load_file, save_file


def load_vae(args):
    dtype = getattr(torch, args.dtype)
    if args.weights:
        vae = AutoencoderKLHunyuanVideo()
        vae.load_state_dict(load_file(args.weights), strict=True)
    else:
        vae = AutoencoderKLHunyuanVideo.from_pretrained(args.model, subfolder="vae")
    vae = vae.to(device=args.device, dtype=dtype).eval()
    vae.use_framewise_decoding = False
    vae.use_framewise_encoding = False
    if args.tile:
        h, w, sh, sw = args.tile
        vae.enable_tiling(tile_sample_min_height=h, tile_sample_min_width=w,
                          tile_sample_stride_height=sh, tile_sample_stride_width=sw)
        vae.use_framewise_decoding = False
        vae.use_framewise_encoding = False
    return vae


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["decode", "encode"])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--model")
    ap.add_argument("--weights")
    ap.add_argument("--tile", type=int, nargs=4)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    vae = load_vae(args)
    inputs = load_file(args.input)
    with torch.no_grad():
        if args.mode == "decode":
            z = inputs["z"].to(device=args.device, dtype=vae.dtype)
            out = {"sample": vae.decode(z, return_dict=False)[0].float().cpu().contiguous()}
        else:
            x = inputs["x"].to(device=args.device, dtype=vae.dtype)
            out = {"moments": vae._encode(x).float().cpu().contiguous()}
    save_file(out, args.output)


if __name__ == "__main__":
    main()
