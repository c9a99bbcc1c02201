// Building blocks of the HunyuanVideo VAE, mirroring diffusers' autoencoder_kl_hunyuan_video.py
// (HunyuanVideoResnetBlockCausal3D, HunyuanVideoMidBlock3D with its frame-causal attention,
// HunyuanVideoUpsampleCausal3D, HunyuanVideoDownsampleCausal3D, the up and down blocks).
// Every forward takes the StreamState of the region being decoded.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>

#include "core/model/layers.h"
#include "core/model/module.h"
#include "core/model/vae/causal_conv3d.h"
#include "core/model/vae/stream_state.h"

namespace ditstream::model::vae {

// torch.nn.GroupNorm with affine "weight"/"bias"; statistics follow the state's policy.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;  // x [B, C, T, H, W]

 private:
  int64_t groups_;
  double eps_;
  at::Tensor& weight_;
  at::Tensor& bias_;
};

class HunyuanVideoResnetBlockCausal3D : public Module {
 public:
  HunyuanVideoResnetBlockCausal3D(int64_t in_channels, int64_t out_channels, int64_t groups, double eps);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;

 private:
  GroupNorm& norm1_;
  HunyuanVideoCausalConv3d& conv1_;
  GroupNorm& norm2_;
  HunyuanVideoCausalConv3d& conv2_;
  HunyuanVideoCausalConv3d* conv_shortcut_ = nullptr;
};

// diffusers' Attention(_from_deprecated_attn_block=True) as the VAE mid block builds it: one head
// of width C, group norm in front, residual connection. The mask prepare_causal_attention_mask
// makes lets a token see every token of its own frame and of earlier frames; keys and values of
// earlier chunks stay in the state so a streamed chunk sees exactly what the whole clip would.
class MidBlockAttention : public Module {
 public:
  MidBlockAttention(int64_t channels, int64_t groups, double eps);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;  // x [B, C, T, H, W]

 private:
  GroupNorm& group_norm_;
  Linear& to_q_;
  Linear& to_k_;
  Linear& to_v_;
  Linear& to_out_;
};

class HunyuanVideoMidBlock3D : public Module {
 public:
  HunyuanVideoMidBlock3D(int64_t channels, int64_t groups, bool add_attention);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;

 private:
  ModuleList<MidBlockAttention>* attentions_ = nullptr;
  ModuleList<HunyuanVideoResnetBlockCausal3D>& resnets_;
};

// Nearest upsampling by (t, h, w), then a causal conv. The clip's first frame is only upsampled
// in space (it stays one frame), every later frame is repeated in time.
class HunyuanVideoUpsampleCausal3D : public Module {
 public:
  HunyuanVideoUpsampleCausal3D(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> factor);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;

 private:
  std::array<int64_t, 3> factor_;
  HunyuanVideoCausalConv3d& conv_;
};

class HunyuanVideoDownsampleCausal3D : public Module {
 public:
  HunyuanVideoDownsampleCausal3D(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> stride);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;

 private:
  HunyuanVideoCausalConv3d& conv_;
};

class HunyuanVideoUpBlock3D : public Module {
 public:
  HunyuanVideoUpBlock3D(int64_t in_channels, int64_t out_channels, int64_t num_layers, int64_t groups,
                        bool add_upsample, std::array<int64_t, 3> upsample_factor);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;
  // (t, h, w) factor of this block's upsampler, {1, 1, 1} without one.
  std::array<int64_t, 3> upsample_factor() const { return upsamplers_ ? factor_ : std::array<int64_t, 3>{1, 1, 1}; }

 private:
  std::array<int64_t, 3> factor_;
  ModuleList<HunyuanVideoResnetBlockCausal3D>& resnets_;
  ModuleList<HunyuanVideoUpsampleCausal3D>* upsamplers_ = nullptr;
};

class HunyuanVideoDownBlock3D : public Module {
 public:
  HunyuanVideoDownBlock3D(int64_t in_channels, int64_t out_channels, int64_t num_layers, int64_t groups,
                          bool add_downsample, std::array<int64_t, 3> downsample_stride);
  at::Tensor forward(const at::Tensor& x, StreamState& state) const;

 private:
  ModuleList<HunyuanVideoResnetBlockCausal3D>& resnets_;
  ModuleList<HunyuanVideoDownsampleCausal3D>* downsamplers_ = nullptr;
};

}  // namespace ditstream::model::vae
