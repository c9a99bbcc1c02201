// HunyuanVideoDecoder3D of diffusers' autoencoder_kl_hunyuan_video.py: conv_in, the mid block with
// frame-causal attention, up blocks (two of them upsample in time), norm, SiLU, conv_out.
#pragma once

#include <ATen/Tensor.h>

#include "core/model/module.h"
#include "core/model/vae/blocks.h"
#include "core/model/vae/config.h"
#include "core/model/vae/stream_state.h"

namespace ditstream::model::vae {

class HunyuanVideoDecoder3D : public Module {
 public:
  explicit HunyuanVideoDecoder3D(const AutoencoderKLHunyuanVideoConfig& config);

  // z [B, latent_channels, T, h, w] (after post_quant_conv) → [B, out_channels, T', 8h, 8w], where
  // T' = 1 + 4(T − 1) for the clip's first chunk and 4T for later chunks of the same state.
  at::Tensor forward(const at::Tensor& z, StreamState& state) const;

 private:
  HunyuanVideoCausalConv3d& conv_in_;
  HunyuanVideoMidBlock3D& mid_block_;
  ModuleList<HunyuanVideoUpBlock3D>& up_blocks_;
  GroupNorm& conv_norm_out_;
  HunyuanVideoCausalConv3d& conv_out_;
};

}  // namespace ditstream::model::vae
