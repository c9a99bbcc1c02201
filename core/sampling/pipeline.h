// The denoising loop of HunyuanVideoPipeline (diffusers pipeline_hunyuan_video.py) from prompt
// embeddings to final latents: seeded initial noise, the flow-matching Euler schedule, embedded
// guidance, an optional step cache, a per-step callback with the x0 prediction, cancellation
// between steps, NaN detection and per-step timings.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "core/model/hunyuan_video/transformer.h"
#include "core/sampling/cache/step_cache_policy.h"
#include "core/sampling/scheduler.h"

namespace ditstream::parallel {
class ContextParallelTransformer;
}

namespace ditstream::sampling {

struct PromptEmbeddings {
  at::Tensor embeds;  // [B, L, text_embed_dim], any float dtype and device (converted as diffusers does)
  at::Tensor mask;    // [B, L], 1 = valid; keep it on the CPU (read on the host every step)
  at::Tensor pooled;  // [B, pooled_projection_dim]
};

struct GenerationRequest {
  int64_t num_frames = 33;  // pixel frames, 4k + 1
  int64_t height = 320;     // pixels, multiple of 16
  int64_t width = 512;      // pixels, multiple of 16
  int64_t steps = 50;
  double shift = 7.0;
  double guidance_scale = 6.0;  // embedded guidance; the transformer sees it ×1000
  uint64_t seed = 0;
};

struct PipelineOptions {
  int64_t vae_scale_factor_temporal = 4;
  int64_t vae_scale_factor_spatial = 8;
  int64_t max_steps = 200;
  // Check the latents for NaN after every step (one host sync per step); otherwise once at the end.
  // Either way the error names the first step that produced a NaN.
  bool check_nan_every_step = true;
  // Synchronize the device around each transformer call so step timings are device time.
  bool synchronize_timings = false;
  // Runs every step's transformer over the ranks of a context-parallel job (it must wrap the
  // pipeline's transformer). Every rank then runs the same loop and ends with the same latents.
  parallel::ContextParallelTransformer* context_parallel = nullptr;
};

struct StepEvent {
  int64_t index;       // 0-based
  int64_t num_steps;
  float timestep;      // σ·1000 of this step
  float sigma;
  at::Tensor latents;  // after the step (float32)
  at::Tensor x0;       // the step's clean-video prediction: latents_in − σ·velocity (float32)
  bool reused;         // the step cache skipped the remaining blocks
};

struct StepHooks {
  std::function<void(const StepEvent&)> on_step;  // after every step
  std::function<bool()> should_cancel;            // polled before every step
};

struct StepRecord {
  int64_t index = 0;
  float timestep = 0;
  double transformer_s = 0;  // host time of the transformer call (device time with synchronize_timings)
  double step_s = 0;         // the whole step, callback included
  bool reused = false;
  std::optional<double> cache_metric;
};

struct GenerationResult {
  at::Tensor latents;  // [B, C, T', H', W'] float32 on the transformer's device
  std::vector<StepRecord> steps;
  int64_t reused_steps() const;
};

class GenerationPipeline {
 public:
  GenerationPipeline(model::hunyuan_video::HunyuanVideoTransformer3DModel& transformer,
                     FlowMatchEulerDiscreteSchedulerConfig scheduler, PipelineOptions options = {});

  // Throws ditstream::Error naming the field for requests the model cannot take.
  void validate(const GenerationRequest& request, const PromptEmbeddings& prompt) const;

  // The starting noise: torch.randn(shape, generator=torch.Generator().manual_seed(seed)) in
  // float32 on the CPU, moved to the transformer's device, as diffusers draws it.
  at::Tensor initial_latents(const GenerationRequest& request, int64_t batch) const;

  // Runs the loop. `cache` may be null (every step in full); it is reset first. Throws
  // Error(canceled) when should_cancel says so, Error(internal) naming the step for NaN latents.
  GenerationResult generate(const GenerationRequest& request, const PromptEmbeddings& prompt,
                            const StepHooks& hooks = {}, StepCachePolicy* cache = nullptr);

 private:
  model::hunyuan_video::HunyuanVideoTransformer3DModel& transformer_;
  FlowMatchEulerDiscreteSchedulerConfig scheduler_config_;
  PipelineOptions options_;
};

}  // namespace ditstream::sampling
