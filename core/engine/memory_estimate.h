// Estimated peak memory of a job's work beside the loaded weights, from the model configs and the
// video size: what the engine budgets real-VAE previews with and what the queue admits overlapping
// stages by. Estimates from the sizes of the largest live activations (documented below), not
// measurements; benchmarks print them beside the measured peaks.
#pragma once

#include <cstdint>

#include "core/model/hunyuan_video/config.h"
#include "core/model/vae/config.h"
#include "core/model/vae/streaming_decoder.h"

namespace ditstream::engine {

// Latent video size: frames, height and width in latent pixels.
struct LatentShape {
  int64_t frames = 1, height = 1, width = 1;
};

// One denoising step: the joint sequence L = video tokens + text tokens, in the largest block about
// eight [L, inner_dim] tensors (input, modulated norm, q, k, v, attention output, projections) and
// two [L, mlp_dim] ones, plus the float32 latents, x0 and velocity.
int64_t estimate_denoise_bytes(const model::hunyuan_video::HunyuanVideoTransformerConfig& config,
                               const LatentShape& latent, int64_t text_tokens, int64_t element_bytes);

// A streaming decode with `plan` (no spatial tiles): the largest chunk's activations at the output
// resolution (about five tensors of block_out_channels[0] × its frames + 2 cached frames), every
// causal convolution's two cached frames at its resolution, the mid-block attention's keys and
// values of all latent frames, and the float32 frames handed out.
int64_t estimate_decode_bytes(const model::vae::AutoencoderKLHunyuanVideoConfig& config, const LatentShape& latent,
                              const model::vae::ChunkPlan& plan, int64_t element_bytes);

}  // namespace ditstream::engine
