#include "core/engine/memory_estimate.h"

#include <algorithm>

namespace ditstream::engine {

int64_t estimate_denoise_bytes(const model::hunyuan_video::HunyuanVideoTransformerConfig& config,
                               const LatentShape& latent, int64_t text_tokens, int64_t element_bytes) {
  const int64_t video_tokens = (latent.frames / config.patch_size_t) * (latent.height / config.patch_size) *
                               (latent.width / config.patch_size);
  const int64_t length = video_tokens + text_tokens;
  const int64_t activations = length * (8 * config.inner_dim() + 2 * config.mlp_dim()) * element_bytes;
  const int64_t latents = 4 * config.in_channels * latent.frames * latent.height * latent.width * 4;
  return activations + latents;
}

int64_t estimate_decode_bytes(const model::vae::AutoencoderKLHunyuanVideoConfig& config, const LatentShape& latent,
                              const model::vae::ChunkPlan& plan, int64_t element_bytes) {
  int64_t frames = 0;  // video frames of the largest chunk
  for (const auto& [start, count] : plan.split(latent.frames)) {
    frames = std::max(frames, start == 0 ? config.sample_frames(count) : count * config.temporal_compression_ratio);
  }
  const int64_t ratio = config.spatial_compression_ratio;
  const int64_t pixels = latent.height * ratio * latent.width * ratio;
  const auto& channels = config.block_out_channels;
  const int64_t activations = 5 * channels.front() * (frames + 2) * pixels * element_bytes;
  // Up block i from the top works at 1/2^i of the resolution (down to the latent resolution).
  const int64_t convs_per_block = 2 * (config.layers_per_block + 1) + 1;
  int64_t caches = 0;
  for (size_t i = 0; i < channels.size(); ++i) {
    const int64_t scale = std::min<int64_t>(int64_t{1} << i, ratio);
    caches += 2 * convs_per_block * channels[i] * (pixels / (scale * scale)) * element_bytes;
  }
  const int64_t attention = 2 * channels.back() * latent.frames * latent.height * latent.width * element_bytes;
  const int64_t output = config.out_channels * frames * pixels * 4;
  return activations + caches + attention + output;
}

}  // namespace ditstream::engine
