#include "core/model/hunyuan_video/embeddings.h"

#include <ATen/ATen.h>

#include <cmath>

namespace ditstream::model::hunyuan_video {

// Timestep projections in diffusers are 256 wide everywhere HunyuanVideo uses them.
constexpr int64_t kTimestepChannels = 256;

at::Tensor timestep_projection(const at::Tensor& timesteps, int64_t dim) {
  const int64_t half = dim / 2;
  at::Tensor exponent = at::arange(0, half, timesteps.options().dtype(at::kFloat)) * (-std::log(10000.0));
  exponent = exponent / static_cast<double>(half);
  const at::Tensor freqs = at::exp(exponent);                                // [half]
  const at::Tensor args = timesteps.unsqueeze(1).to(at::kFloat) * freqs.unsqueeze(0);  // [N, half]
  at::Tensor emb = at::cat({at::cos(args), at::sin(args)}, -1);              // [N, 2·half]
  if (dim % 2 == 1) emb = at::constant_pad_nd(emb, {0, 1, 0, 0});
  return emb;
}

TimestepEmbedding::TimestepEmbedding(int64_t in_channels, int64_t dim)
    : linear_1_(register_module("linear_1", std::make_unique<Linear>(in_channels, dim))),
      linear_2_(register_module("linear_2", std::make_unique<Linear>(dim, dim))) {}

at::Tensor TimestepEmbedding::forward(const at::Tensor& x) const {
  return linear_2_.forward(at::silu(linear_1_.forward(x)));
}

PixArtAlphaTextProjection::PixArtAlphaTextProjection(int64_t in_features, int64_t hidden)
    : linear_1_(register_module("linear_1", std::make_unique<Linear>(in_features, hidden))),
      linear_2_(register_module("linear_2", std::make_unique<Linear>(hidden, hidden))) {}

at::Tensor PixArtAlphaTextProjection::forward(const at::Tensor& x) const {
  return linear_2_.forward(at::silu(linear_1_.forward(x)));
}

CombinedTimestepTextProjEmbeddings::CombinedTimestepTextProjEmbeddings(int64_t dim, int64_t pooled_dim)
    : timestep_embedder_(register_module("timestep_embedder", std::make_unique<TimestepEmbedding>(kTimestepChannels, dim))),
      text_embedder_(register_module("text_embedder", std::make_unique<PixArtAlphaTextProjection>(pooled_dim, dim))) {}

at::Tensor CombinedTimestepTextProjEmbeddings::forward(const at::Tensor& timestep, const at::Tensor& pooled) const {
  const at::Tensor t = timestep_projection(timestep, kTimestepChannels).to(pooled.scalar_type());
  return timestep_embedder_.forward(t) + text_embedder_.forward(pooled);
}

HunyuanVideoConditionEmbedding::HunyuanVideoConditionEmbedding(int64_t dim, int64_t pooled_dim, bool guidance_embeds)
    : timestep_embedder_(register_module("timestep_embedder", std::make_unique<TimestepEmbedding>(kTimestepChannels, dim))),
      text_embedder_(register_module("text_embedder", std::make_unique<PixArtAlphaTextProjection>(pooled_dim, dim))) {
  if (guidance_embeds) {
    guidance_embedder_ =
        &register_module("guidance_embedder", std::make_unique<TimestepEmbedding>(kTimestepChannels, dim));
  }
}

at::Tensor HunyuanVideoConditionEmbedding::forward(const at::Tensor& timestep, const at::Tensor& pooled,
                                                   const std::optional<at::Tensor>& guidance) const {
  const auto dtype = pooled.scalar_type();
  at::Tensor conditioning = timestep_embedder_.forward(timestep_projection(timestep, kTimestepChannels).to(dtype));
  if (guidance_embedder_ != nullptr) {
    conditioning = conditioning + guidance_embedder_->forward(timestep_projection(*guidance, kTimestepChannels).to(dtype));
  }
  return conditioning + text_embedder_.forward(pooled);
}

HunyuanVideoPatchEmbed::HunyuanVideoPatchEmbed(std::array<int64_t, 3> patch, int64_t in_channels, int64_t dim)
    : proj_(register_module("proj", std::make_unique<PatchConv3d>(in_channels, dim, patch))) {}

at::Tensor HunyuanVideoPatchEmbed::forward(const at::Tensor& x) const {
  const at::Tensor y = proj_.forward(x);   // [B, dim, T', H', W']
  return y.flatten(2).transpose(1, 2);     // [B, T'·H'·W', dim]
}

}  // namespace ditstream::model::hunyuan_video
