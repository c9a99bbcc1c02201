#include "core/model/vae/causal_conv3d.h"

#include <ATen/ATen.h>

namespace ditstream::model::vae {

Conv3d::Conv3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel,
               std::array<int64_t, 3> stride)
    : stride_(stride),
      weight_(register_parameter("weight", {out_channels, in_channels, kernel[0], kernel[1], kernel[2]})),
      bias_(register_parameter("bias", {out_channels})) {}

at::Tensor Conv3d::forward(const at::Tensor& x) const {
  // cuDNN runs channels-last when the input or the weight is (AutoencoderKLHunyuanVideo::to_channels_last).
  return at::conv3d(x, weight_, bias_, {stride_[0], stride_[1], stride_[2]});
}

HunyuanVideoCausalConv3d::HunyuanVideoCausalConv3d(int64_t in_channels, int64_t out_channels,
                                                   std::array<int64_t, 3> kernel, std::array<int64_t, 3> stride)
    : kernel_(kernel),
      conv_(register_module("conv", std::make_unique<Conv3d>(in_channels, out_channels, kernel, stride))) {}

at::Tensor HunyuanVideoCausalConv3d::forward(const at::Tensor& x, StreamState& state) const {
  const int64_t history = kernel_[0] - 1;
  at::Tensor padded = x;  // [B, C, history + T, H, W] once the history is in front
  if (history > 0) {
    at::Tensor& cache = state.conv_cache(this);
    at::Tensor front = cache.defined() ? cache : x.narrow(2, 0, 1).expand({-1, -1, history, -1, -1});
    padded = at::cat({front, x}, 2);
    cache = padded.narrow(2, padded.size(2) - history, history).clone();
  }
  const int64_t ph = kernel_[1] / 2, pw = kernel_[2] / 2;
  if (ph > 0 || pw > 0) padded = at::replication_pad3d(padded, {pw, pw, ph, ph, 0, 0});
  return conv_.forward(padded);
}

}  // namespace ditstream::model::vae
