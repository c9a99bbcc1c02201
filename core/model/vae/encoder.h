// HunyuanVideoEncoder3D of diffusers' autoencoder_kl_hunyuan_video.py: conv_in, down blocks (two of
// them halve the frame rate), the mid block, norm, SiLU, conv_out to 2 × latent channels.
#pragma once

#include <ATen/Tensor.h>

#include "core/model/module.h"
#include "core/model/vae/blocks.h"
#include "core/model/vae/config.h"

namespace ditstream::model::vae {

class HunyuanVideoEncoder3D : public Module {
 public:
  explicit HunyuanVideoEncoder3D(const AutoencoderKLHunyuanVideoConfig& config);

  // x [B, in_channels, 1 + 4k, H, W] → [B, 2·latent_channels, 1 + k, H/8, W/8] (moments).
  at::Tensor forward(const at::Tensor& x) const;

 private:
  HunyuanVideoCausalConv3d& conv_in_;
  ModuleList<HunyuanVideoDownBlock3D>& down_blocks_;
  HunyuanVideoMidBlock3D& mid_block_;
  GroupNorm& conv_norm_out_;
  HunyuanVideoCausalConv3d& conv_out_;
};

}  // namespace ditstream::model::vae
