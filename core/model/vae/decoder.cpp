#include "core/model/vae/decoder.h"

#include <ATen/ATen.h>

namespace ditstream::model::vae {

HunyuanVideoDecoder3D::HunyuanVideoDecoder3D(const AutoencoderKLHunyuanVideoConfig& c)
    : conv_in_(register_module("conv_in", std::make_unique<HunyuanVideoCausalConv3d>(
                                              c.latent_channels, c.block_out_channels.back(), kCube))),
      mid_block_(register_module("mid_block", std::make_unique<HunyuanVideoMidBlock3D>(
                                                  c.block_out_channels.back(), c.norm_num_groups,
                                                  c.mid_block_add_attention))),
      up_blocks_(register_module("up_blocks", std::make_unique<ModuleList<HunyuanVideoUpBlock3D>>())),
      conv_norm_out_(register_module("conv_norm_out", std::make_unique<GroupNorm>(
                                                          c.norm_num_groups, c.block_out_channels.front(), 1e-6))),
      conv_out_(register_module("conv_out", std::make_unique<HunyuanVideoCausalConv3d>(
                                                c.block_out_channels.front(), c.out_channels, kCube))) {
  const auto blocks = static_cast<int64_t>(c.block_out_channels.size());
  int64_t output_channel = c.block_out_channels.back();
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t prev_output_channel = output_channel;
    output_channel = c.block_out_channels[blocks - 1 - i];
    const auto scale = c.block_scale(i);
    up_blocks_.push_back(std::make_unique<HunyuanVideoUpBlock3D>(prev_output_channel, output_channel,
                                                                 c.layers_per_block + 1, c.norm_num_groups,
                                                                 scale != std::array<int64_t, 3>{1, 1, 1}, scale));
  }
}

at::Tensor HunyuanVideoDecoder3D::forward(const at::Tensor& z, StreamState& state) const {
  at::Tensor h = conv_in_.forward(z, state);
  h = mid_block_.forward(h, state);
  for (auto* block : up_blocks_) h = block->forward(h, state);
  h = conv_norm_out_.forward(h, state);
  return conv_out_.forward(at::silu_(h), state);
}

}  // namespace ditstream::model::vae
