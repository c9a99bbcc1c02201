#include "core/model/vae/blocks.h"

#include <ATen/ATen.h>

#include <cmath>

namespace ditstream::model::vae {

namespace {
constexpr double kEps = 1e-6;  // resnet_eps of every block in diffusers' HunyuanVideo VAE
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps)
    : groups_(groups),
      eps_(eps),
      weight_(register_parameter("weight", {channels})),
      bias_(register_parameter("bias", {channels})) {}

at::Tensor GroupNorm::forward(const at::Tensor& x, StreamState& state) const {
  return state.group_norm(this, x, groups_, weight_, bias_, eps_);
}

HunyuanVideoResnetBlockCausal3D::HunyuanVideoResnetBlockCausal3D(int64_t in_channels, int64_t out_channels,
                                                                 int64_t groups, double eps)
    : norm1_(register_module("norm1", std::make_unique<GroupNorm>(groups, in_channels, eps))),
      conv1_(register_module("conv1", std::make_unique<HunyuanVideoCausalConv3d>(in_channels, out_channels,
                                                                                kCube))),
      norm2_(register_module("norm2", std::make_unique<GroupNorm>(groups, out_channels, eps))),
      conv2_(register_module("conv2", std::make_unique<HunyuanVideoCausalConv3d>(out_channels, out_channels,
                                                                                kCube))) {
  if (in_channels != out_channels) {
    conv_shortcut_ = &register_module(
        "conv_shortcut",
        std::make_unique<HunyuanVideoCausalConv3d>(in_channels, out_channels, std::array<int64_t, 3>{1, 1, 1}));
  }
}

at::Tensor HunyuanVideoResnetBlockCausal3D::forward(const at::Tensor& x, StreamState& state) const {
  at::Tensor h = norm1_.forward(x, state);
  h = conv1_.forward(at::silu_(h), state);
  h = norm2_.forward(h, state);
  h = conv2_.forward(at::silu_(h), state);
  const at::Tensor residual = conv_shortcut_ ? conv_shortcut_->forward(x, state) : x;
  return h.add_(residual);
}

MidBlockAttention::MidBlockAttention(int64_t channels, int64_t groups, double eps)
    : group_norm_(register_module("group_norm", std::make_unique<GroupNorm>(groups, channels, eps))),
      to_q_(register_module("to_q", std::make_unique<Linear>(channels, channels))),
      to_k_(register_module("to_k", std::make_unique<Linear>(channels, channels))),
      to_v_(register_module("to_v", std::make_unique<Linear>(channels, channels))),
      to_out_([this, channels]() -> Linear& {
        auto out = std::make_unique<ModuleList<Linear>>();
        out->push_back(std::make_unique<Linear>(channels, channels));
        return register_module("to_out", std::move(out))[0];
      }()) {}

at::Tensor MidBlockAttention::forward(const at::Tensor& x, StreamState& state) const {
  const int64_t batch = x.size(0), channels = x.size(1), frames = x.size(2), height = x.size(3), width = x.size(4);
  const int64_t hw = height * width;
  const at::Tensor normed = group_norm_.forward(x, state);
  // [B, C, T, H, W] → [B, T*H*W, C]
  const at::Tensor tokens = normed.permute({0, 2, 3, 4, 1}).reshape({batch, frames * hw, channels});
  const at::Tensor q = to_q_.forward(tokens).unsqueeze(1);  // [B, 1, T*H*W, C]
  at::Tensor k = to_k_.forward(tokens).unsqueeze(1);
  at::Tensor v = to_v_.forward(tokens).unsqueeze(1);
  auto& [k_cache, v_cache] = state.kv_cache(this);
  const int64_t earlier = k_cache.defined() ? k_cache.size(2) : 0;  // tokens of earlier chunks
  if (earlier > 0) {
    k = at::cat({k_cache, k}, 2);  // [B, 1, earlier + T*H*W, C]
    v = at::cat({v_cache, v}, 2);
  }
  k_cache = k;
  v_cache = v;
  // Frame f sees every token up to the end of frame f: one unmasked attention per frame.
  std::vector<at::Tensor> outs;
  outs.reserve(frames);
  for (int64_t f = 0; f < frames; ++f) {
    const int64_t visible = earlier + (f + 1) * hw;
    outs.push_back(at::scaled_dot_product_attention(q.narrow(2, f * hw, hw), k.narrow(2, 0, visible),
                                                    v.narrow(2, 0, visible)));
  }
  const at::Tensor attended = at::cat(outs, 2).squeeze(1);  // [B, T*H*W, C]
  const at::Tensor projected = to_out_.forward(attended);
  // [B, T*H*W, C] → [B, C, T, H, W]
  const at::Tensor back = projected.reshape({batch, frames, height, width, channels}).permute({0, 4, 1, 2, 3});
  return back + x;
}

HunyuanVideoMidBlock3D::HunyuanVideoMidBlock3D(int64_t channels, int64_t groups, bool add_attention)
    : resnets_(register_module("resnets", std::make_unique<ModuleList<HunyuanVideoResnetBlockCausal3D>>())) {
  resnets_.push_back(std::make_unique<HunyuanVideoResnetBlockCausal3D>(channels, channels, groups, kEps));
  if (add_attention) {
    attentions_ = &register_module("attentions", std::make_unique<ModuleList<MidBlockAttention>>());
    attentions_->push_back(std::make_unique<MidBlockAttention>(channels, groups, kEps));
  }
  resnets_.push_back(std::make_unique<HunyuanVideoResnetBlockCausal3D>(channels, channels, groups, kEps));
}

at::Tensor HunyuanVideoMidBlock3D::forward(const at::Tensor& x, StreamState& state) const {
  at::Tensor h = resnets_[0].forward(x, state);
  if (attentions_) h = (*attentions_)[0].forward(h, state);
  return resnets_[1].forward(h, state);
}

HunyuanVideoUpsampleCausal3D::HunyuanVideoUpsampleCausal3D(int64_t in_channels, int64_t out_channels,
                                                           std::array<int64_t, 3> factor)
    : factor_(factor),
      conv_(register_module("conv", std::make_unique<HunyuanVideoCausalConv3d>(in_channels, out_channels,
                                                                              kCube))) {}

at::Tensor HunyuanVideoUpsampleCausal3D::forward(const at::Tensor& x, StreamState& state) const {
  // Nearest upsampling by integer factors is a broadcast copy: [B, C, T, 1, H, 1, W, 1] expanded.
  auto repeat = [](const at::Tensor& t, int64_t ft, int64_t fh, int64_t fw) {
    const int64_t b = t.size(0), c = t.size(1), f = t.size(2), h = t.size(3), w = t.size(4);
    return t.reshape({b, c, f, 1, h, 1, w, 1})
        .expand({b, c, f, ft, h, fh, w, fw})
        .reshape({b, c, f * ft, h * fh, w * fw});
  };
  const auto [ft, fh, fw] = factor_;
  at::Tensor up;
  if (state.first_chunk()) {
    const at::Tensor first = repeat(x.narrow(2, 0, 1), 1, fh, fw);
    up = x.size(2) > 1 ? at::cat({first, repeat(x.narrow(2, 1, x.size(2) - 1), ft, fh, fw)}, 2) : first;
  } else {
    up = repeat(x, ft, fh, fw);
  }
  return conv_.forward(up, state);
}

HunyuanVideoDownsampleCausal3D::HunyuanVideoDownsampleCausal3D(int64_t in_channels, int64_t out_channels,
                                                               std::array<int64_t, 3> stride)
    : conv_(register_module("conv", std::make_unique<HunyuanVideoCausalConv3d>(
                                        in_channels, out_channels, kCube, stride))) {}

at::Tensor HunyuanVideoDownsampleCausal3D::forward(const at::Tensor& x, StreamState& state) const {
  return conv_.forward(x, state);
}

HunyuanVideoUpBlock3D::HunyuanVideoUpBlock3D(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                                             int64_t groups, bool add_upsample,
                                             std::array<int64_t, 3> upsample_factor)
    : factor_(upsample_factor),
      resnets_(register_module("resnets", std::make_unique<ModuleList<HunyuanVideoResnetBlockCausal3D>>())) {
  for (int64_t i = 0; i < num_layers; ++i) {
    resnets_.push_back(std::make_unique<HunyuanVideoResnetBlockCausal3D>(i == 0 ? in_channels : out_channels,
                                                                         out_channels, groups, kEps));
  }
  if (add_upsample) {
    upsamplers_ = &register_module("upsamplers", std::make_unique<ModuleList<HunyuanVideoUpsampleCausal3D>>());
    upsamplers_->push_back(std::make_unique<HunyuanVideoUpsampleCausal3D>(out_channels, out_channels, upsample_factor));
  }
}

at::Tensor HunyuanVideoUpBlock3D::forward(const at::Tensor& x, StreamState& state) const {
  at::Tensor h = x;
  for (auto* resnet : resnets_) h = resnet->forward(h, state);
  if (upsamplers_) h = (*upsamplers_)[0].forward(h, state);
  return h;
}

HunyuanVideoDownBlock3D::HunyuanVideoDownBlock3D(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                                                 int64_t groups, bool add_downsample,
                                                 std::array<int64_t, 3> downsample_stride)
    : resnets_(register_module("resnets", std::make_unique<ModuleList<HunyuanVideoResnetBlockCausal3D>>())) {
  for (int64_t i = 0; i < num_layers; ++i) {
    resnets_.push_back(std::make_unique<HunyuanVideoResnetBlockCausal3D>(i == 0 ? in_channels : out_channels,
                                                                         out_channels, groups, kEps));
  }
  if (add_downsample) {
    downsamplers_ =
        &register_module("downsamplers", std::make_unique<ModuleList<HunyuanVideoDownsampleCausal3D>>());
    downsamplers_->push_back(
        std::make_unique<HunyuanVideoDownsampleCausal3D>(out_channels, out_channels, downsample_stride));
  }
}

at::Tensor HunyuanVideoDownBlock3D::forward(const at::Tensor& x, StreamState& state) const {
  at::Tensor h = x;
  for (auto* resnet : resnets_) h = resnet->forward(h, state);
  if (downsamplers_) h = (*downsamplers_)[0].forward(h, state);
  return h;
}

}  // namespace ditstream::model::vae
