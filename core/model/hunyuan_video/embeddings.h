// Conditioning embeddings of HunyuanVideo (diffusers embeddings.py and
// transformer_hunyuan_video.py): sinusoidal timestep projection, the timestep/guidance MLPs, the
// pooled-text projection, and the 3D patch embedding of the latent video.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <optional>

#include "core/model/layers.h"
#include "core/model/module.h"

namespace ditstream::model::hunyuan_video {

// diffusers Timesteps(num_channels, flip_sin_to_cos=True, downscale_freq_shift=0): [N] -> [N, dim]
// float32, cos half first.
at::Tensor timestep_projection(const at::Tensor& timesteps, int64_t dim);

// diffusers TimestepEmbedding: linear_1 -> SiLU -> linear_2.
class TimestepEmbedding : public Module {
 public:
  TimestepEmbedding(int64_t in_channels, int64_t dim);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Linear& linear_1_;
  Linear& linear_2_;
};

// diffusers PixArtAlphaTextProjection(act_fn="silu"): linear_1 -> SiLU -> linear_2.
class PixArtAlphaTextProjection : public Module {
 public:
  PixArtAlphaTextProjection(int64_t in_features, int64_t hidden);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  Linear& linear_1_;
  Linear& linear_2_;
};

// diffusers CombinedTimestepTextProjEmbeddings (the token refiner's conditioning).
class CombinedTimestepTextProjEmbeddings : public Module {
 public:
  CombinedTimestepTextProjEmbeddings(int64_t dim, int64_t pooled_dim);
  at::Tensor forward(const at::Tensor& timestep, const at::Tensor& pooled) const;  // [B, dim]

 private:
  TimestepEmbedding& timestep_embedder_;
  PixArtAlphaTextProjection& text_embedder_;
};

// HunyuanVideoConditionEmbedding (`time_text_embed`): timestep + optional guidance + pooled text.
class HunyuanVideoConditionEmbedding : public Module {
 public:
  HunyuanVideoConditionEmbedding(int64_t dim, int64_t pooled_dim, bool guidance_embeds);
  at::Tensor forward(const at::Tensor& timestep, const at::Tensor& pooled,
                     const std::optional<at::Tensor>& guidance) const;  // [B, dim]

 private:
  TimestepEmbedding& timestep_embedder_;
  PixArtAlphaTextProjection& text_embedder_;
  TimestepEmbedding* guidance_embedder_ = nullptr;
};

// HunyuanVideoPatchEmbed (`x_embedder`): [B, C, T, H, W] -> [B, T'·H'·W', dim].
class HunyuanVideoPatchEmbed : public Module {
 public:
  HunyuanVideoPatchEmbed(std::array<int64_t, 3> patch, int64_t in_channels, int64_t dim);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  PatchConv3d& proj_;
};

}  // namespace ditstream::model::hunyuan_video
