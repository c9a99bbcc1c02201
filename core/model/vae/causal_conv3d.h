// The 3D convolutions of the HunyuanVideo VAE. Mirrors HunyuanVideoCausalConv3d in diffusers'
// autoencoder_kl_hunyuan_video.py: replicate padding, kernel−1 frames in front of the clip (so a
// frame sees only itself and earlier ones), half a kernel on each side in height and width.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>

#include "core/model/module.h"
#include "core/model/vae/stream_state.h"

namespace ditstream::model::vae {

// The 3×3×3 kernel of every causal convolution of the VAE but the 1×1×1 shortcuts.
inline constexpr std::array<int64_t, 3> kCube{3, 3, 3};

// torch.nn.Conv3d without padding: "weight" [out, in, kt, kh, kw], "bias" [out].
class Conv3d : public Module {
 public:
  Conv3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel,
         std::array<int64_t, 3> stride = {1, 1, 1});
  at::Tensor forward(const at::Tensor& x) const;  // x [B, C, T, H, W]
  const at::Tensor& weight() const { return weight_; }

 private:
  std::array<int64_t, 3> stride_;
  at::Tensor& weight_;
  at::Tensor& bias_;
};

class HunyuanVideoCausalConv3d : public Module {
 public:
  HunyuanVideoCausalConv3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel,
                           std::array<int64_t, 3> stride = {1, 1, 1});

  // x [B, C, T, H, W] → [B, out, T', H', W']. The first chunk of a stream pads with copies of its
  // first frame; later chunks are preceded by the cached last input frames of the previous one, so
  // chunked outputs concatenate to the output of the whole clip.
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;

  int64_t kernel_t() const { return kernel_[0]; }

 private:
  std::array<int64_t, 3> kernel_;
  Conv3d& conv_;
};

}  // namespace ditstream::model::vae
