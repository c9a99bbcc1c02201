#include "core/sampling/pipeline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <chrono>
#include <cmath>
#include <string>

#include "core/parallel/context_parallel_transformer.h"
#include "core/util/error.h"

namespace ditstream::sampling {
namespace {

constexpr std::string_view kContext = "sampling";
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void synchronize(const at::Device& device) {
  if (device.is_cpu()) return;
  c10::impl::getDeviceGuardImpl(device.type())->synchronizeDevice(device.index() < 0 ? 0 : device.index());
}

}  // namespace

int64_t GenerationResult::reused_steps() const {
  int64_t n = 0;
  for (const auto& s : steps) n += s.reused ? 1 : 0;
  return n;
}

GenerationPipeline::GenerationPipeline(model::hunyuan_video::HunyuanVideoTransformer3DModel& transformer,
                                       FlowMatchEulerDiscreteSchedulerConfig scheduler, PipelineOptions options)
    : transformer_(transformer), scheduler_config_(scheduler), options_(options) {
  scheduler_config_.validate();
}

void GenerationPipeline::validate(const GenerationRequest& r, const PromptEmbeddings& prompt) const {
  require(r.steps >= 1 && r.steps <= options_.max_steps, kContext, "steps",
          "is " + std::to_string(r.steps) + ", must be in 1.." + std::to_string(options_.max_steps));
  require(std::isfinite(r.shift) && r.shift > 0, kContext, "shift",
          "is " + std::to_string(r.shift) + ", must be a finite number > 0");
  require(std::isfinite(r.guidance_scale) && r.guidance_scale >= 0, kContext, "guidance_scale",
          "is " + std::to_string(r.guidance_scale) + ", must be a finite number >= 0");
  const int64_t ft = options_.vae_scale_factor_temporal;
  require(r.num_frames >= 1 && (r.num_frames - 1) % ft == 0, kContext, "num_frames",
          "is " + std::to_string(r.num_frames) + ", must be " + std::to_string(ft) + "k+1 (1, " +
              std::to_string(ft + 1) + ", " + std::to_string(2 * ft + 1) + ", ...)");
  const auto& config = transformer_.config();
  const int64_t spatial = options_.vae_scale_factor_spatial * config.patch_size;
  require(r.height >= spatial && r.height % spatial == 0, kContext, "height",
          "is " + std::to_string(r.height) + ", must be a positive multiple of " + std::to_string(spatial));
  require(r.width >= spatial && r.width % spatial == 0, kContext, "width",
          "is " + std::to_string(r.width) + ", must be a positive multiple of " + std::to_string(spatial));
  const int64_t latent_frames = (r.num_frames - 1) / ft + 1;
  require(latent_frames % config.patch_size_t == 0, kContext, "num_frames",
          "gives " + std::to_string(latent_frames) + " latent frames, not a multiple of patch_size_t " +
              std::to_string(config.patch_size_t));
  require(prompt.embeds.defined() && prompt.embeds.dim() == 3 && prompt.embeds.size(0) >= 1, kContext,
          "prompt_embeds", "must be a [B, L, text_embed_dim] tensor");
}

at::Tensor GenerationPipeline::initial_latents(const GenerationRequest& r, int64_t batch) const {
  const auto& config = transformer_.config();
  auto generator = at::detail::createCPUGenerator(r.seed);
  const at::Tensor noise = at::randn({batch, config.in_channels, (r.num_frames - 1) / options_.vae_scale_factor_temporal + 1,
                                      r.height / options_.vae_scale_factor_spatial,
                                      r.width / options_.vae_scale_factor_spatial},
                                     generator, at::kFloat);  // [B, C, T', H', W']
  return noise.to(transformer_.parameter_device());
}

GenerationResult GenerationPipeline::generate(const GenerationRequest& request, const PromptEmbeddings& prompt,
                                              const StepHooks& hooks, StepCachePolicy* cache) {
  validate(request, prompt);
  FlowMatchEulerDiscreteScheduler scheduler(scheduler_config_);
  scheduler.set_timesteps(request.steps, request.shift);
  const int64_t batch = prompt.embeds.size(0);
  const at::Device device = transformer_.parameter_device();
  const at::ScalarType model_dtype = transformer_.parameter_dtype();

  model::hunyuan_video::TransformerInputs in;
  // As the diffusers pipeline does: prompt embeddings in the transformer's dtype (and on its device).
  in.encoder_hidden_states = prompt.embeds.to(device, model_dtype);
  in.encoder_attention_mask = prompt.mask;
  in.pooled_projections = prompt.pooled.defined() ? prompt.pooled.to(device, model_dtype) : prompt.pooled;
  if (transformer_.config().guidance_embeds) {
    in.guidance = at::full({batch}, request.guidance_scale, at::TensorOptions().dtype(model_dtype).device(device)) * 1000.0;
  }
  // Validate everything (shapes, dtypes, text lengths) before the first step's work.
  in.hidden_states = initial_latents(request, batch);
  in.timestep = at::full({batch}, scheduler.timestep(0), at::TensorOptions().dtype(at::kFloat).device(device));
  {
    auto probe = in;
    probe.hidden_states = probe.hidden_states.to(model_dtype);
    transformer_.validate(probe);
  }
  if (cache != nullptr) cache->reset();

  GenerationResult result;
  at::Tensor latents = in.hidden_states;  // float32, becomes the velocity's dtype after a step (as diffusers)
  at::Tensor nan_flags = at::zeros({request.steps}, at::TensorOptions().dtype(at::kBool).device(device));
  for (int64_t i = 0; i < request.steps; ++i) {
    if (hooks.should_cancel && hooks.should_cancel()) {
      throw Error(ErrorKind::canceled, std::string(kContext), "", "canceled before step " + std::to_string(i));
    }
    const auto step_start = Clock::now();
    StepRecord record;
    record.index = i;
    record.timestep = scheduler.timestep(i);
    in.hidden_states = latents.to(model_dtype);
    in.timestep = at::full({batch}, scheduler.timestep(i), at::TensorOptions().dtype(at::kFloat).device(device))
                      .to(latents.scalar_type());

    if (options_.synchronize_timings) synchronize(device);
    const auto transformer_start = Clock::now();
    // A context-parallel state holds this rank's shard in its model state; the cache works on that.
    std::optional<parallel::ContextParallelTransformer::State> sharded;
    model::hunyuan_video::HunyuanVideoTransformer3DModel::State whole;
    auto& state = options_.context_parallel ? sharded.emplace(options_.context_parallel->begin(in)).model
                                            : (whole = transformer_.begin(in));
    StepCacheDecision decision;
    if (cache != nullptr) {
      decision = cache->run_blocks(transformer_, state, i);
    } else {
      transformer_.run_first_block(state);
      transformer_.run_remaining_blocks(state);
    }
    const at::Tensor velocity =
        options_.context_parallel ? options_.context_parallel->finish(*sharded) : transformer_.finish(state);
    if (options_.synchronize_timings) synchronize(device);
    record.transformer_s = seconds_since(transformer_start);
    record.reused = decision.reused;
    record.cache_metric = decision.metric;

    const float sigma = scheduler.sigma(i);
    at::Tensor x0;
    if (hooks.on_step) x0 = latents.to(at::kFloat) - sigma * velocity.to(at::kFloat);
    latents = scheduler.step(velocity, i, latents);
    nan_flags.select(0, i).copy_(at::isnan(latents).any());
    if (options_.check_nan_every_step && nan_flags[i].item<bool>()) {
      throw Error(ErrorKind::internal, std::string(kContext), "latents",
                  "NaN in the latents after step " + std::to_string(i) + " of " + std::to_string(request.steps));
    }
    if (hooks.on_step) {
      hooks.on_step(StepEvent{i, request.steps, record.timestep, sigma, latents.to(at::kFloat), x0, decision.reused});
    }
    record.step_s = seconds_since(step_start);
    result.steps.push_back(record);
  }
  const at::Tensor nan_steps = nan_flags.nonzero();
  if (nan_steps.numel() > 0) {
    const int64_t first = nan_steps[0][0].item<int64_t>();
    throw Error(ErrorKind::internal, std::string(kContext), "latents",
                "NaN in the latents after step " + std::to_string(first) + " of " + std::to_string(request.steps));
  }
  result.latents = latents.to(at::kFloat);
  return result;
}

}  // namespace ditstream::sampling
