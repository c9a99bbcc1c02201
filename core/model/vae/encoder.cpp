#include "core/model/vae/encoder.h"

#include <ATen/ATen.h>

namespace ditstream::model::vae {

HunyuanVideoEncoder3D::HunyuanVideoEncoder3D(const AutoencoderKLHunyuanVideoConfig& c)
    : conv_in_(register_module("conv_in", std::make_unique<HunyuanVideoCausalConv3d>(
                                              c.in_channels, c.block_out_channels.front(), kCube))),
      down_blocks_(register_module("down_blocks", std::make_unique<ModuleList<HunyuanVideoDownBlock3D>>())),
      mid_block_(register_module("mid_block", std::make_unique<HunyuanVideoMidBlock3D>(
                                                  c.block_out_channels.back(), c.norm_num_groups,
                                                  c.mid_block_add_attention))),
      conv_norm_out_(register_module("conv_norm_out", std::make_unique<GroupNorm>(
                                                          c.norm_num_groups, c.block_out_channels.back(), 1e-6))),
      conv_out_(register_module("conv_out", std::make_unique<HunyuanVideoCausalConv3d>(
                                                c.block_out_channels.back(), 2 * c.latent_channels, kCube))) {
  const auto blocks = static_cast<int64_t>(c.block_out_channels.size());
  int64_t output_channel = c.block_out_channels.front();
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t input_channel = output_channel;
    output_channel = c.block_out_channels[i];
    const auto scale = c.block_scale(i);
    down_blocks_.push_back(std::make_unique<HunyuanVideoDownBlock3D>(input_channel, output_channel,
                                                                     c.layers_per_block, c.norm_num_groups,
                                                                     scale != std::array<int64_t, 3>{1, 1, 1}, scale));
  }
}

at::Tensor HunyuanVideoEncoder3D::forward(const at::Tensor& x) const {
  StreamState state;  // the whole clip at once, statistics over all of it
  at::Tensor h = conv_in_.forward(x, state);
  for (auto* block : down_blocks_) h = block->forward(h, state);
  h = mid_block_.forward(h, state);
  h = conv_norm_out_.forward(h, state);
  return conv_out_.forward(at::silu_(h), state);
}

}  // namespace ditstream::model::vae
