#include "core/engine/hunyuan_engine.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "core/engine/latent_preview.h"
#include "core/io/config_reader.h"
#include "core/io/diffusers_folder.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/sampling/cache/first_block_cache.h"
#include "core/sampling/pipeline.h"
#include "core/sampling/scheduler.h"
#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kStandInTextTokens = 16;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  throw_invalid("engine", "dtype", "'" + name + "' is not float32 or bfloat16");
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

struct HunyuanEngine::Impl {
  HunyuanEngineOptions options;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;
  std::unique_ptr<model::hunyuan_video::HunyuanVideoTransformer3DModel> transformer;
  sampling::FlowMatchEulerDiscreteSchedulerConfig scheduler;
  LatentPreview preview = LatentPreview(at::zeros({16, 3}), at::zeros({3}));

  // The stand-in for the text encoders: embeddings drawn from the prompt's hash, so the same
  // prompt always conditions the same way and different prompts differently.
  sampling::PromptEmbeddings stand_in_embeddings(const std::string& prompt) const {
    const auto& config = transformer->config();
    auto generator = at::make_generator<at::CPUGeneratorImpl>(fnv1a(prompt));
    sampling::PromptEmbeddings p;
    p.embeds = at::randn({1, kStandInTextTokens, config.text_embed_dim}, generator, at::kFloat).to(device, dtype);
    p.mask = at::ones({1, kStandInTextTokens}, at::TensorOptions().dtype(at::kLong)).to(device);
    p.pooled = at::randn({1, config.pooled_projection_dim}, generator, at::kFloat).to(device, dtype);
    return p;
  }
};

HunyuanEngine::HunyuanEngine(const HunyuanEngineOptions& options) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.options = options;
  s.device = at::Device(options.device);
  if (s.device.is_cuda() && !at::hasCUDA()) {
    throw Error(ErrorKind::unavailable, "engine", "device", "'" + options.device + "' asked for, but no CUDA device is present");
  }
  s.dtype = parse_dtype(options.dtype);
  const auto folder = io::DiffusersFolder::open(options.model);
  c10::InferenceMode guard;
  s.transformer = model::hunyuan_video::HunyuanVideoTransformer3DModel::from_folder(folder, {s.device, s.dtype, true});
  s.scheduler = sampling::FlowMatchEulerDiscreteSchedulerConfig::from_config(
      io::ConfigReader::from_file(options.model / "scheduler" / "scheduler_config.json"));
  s.preview = LatentPreview::from_file(options.preview_factors);
  require(s.preview.channels() == s.transformer->config().in_channels, "engine", "preview_factors",
          "the factors are for " + std::to_string(s.preview.channels()) + " latent channels, the model has " +
              std::to_string(s.transformer->config().in_channels));
  log::info("engine: HunyuanVideo transformer from {} on {} ({})", options.model.string(), options.device, options.dtype);
}

HunyuanEngine::~HunyuanEngine() = default;

EnginePaths HunyuanEngine::paths() const { return {"prompt-hash", "latent-rgb"}; }

void HunyuanEngine::run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel) {
  auto& s = *impl_;
  c10::InferenceMode guard;
  const auto prompt = s.stand_in_embeddings(request.prompt);
  sampling::GenerationRequest g;
  g.num_frames = request.frames;
  g.height = request.height;
  g.width = request.width;
  g.steps = request.steps;
  g.shift = request.shift;
  g.guidance_scale = request.guidance;
  g.seed = static_cast<uint64_t>(request.seed);
  sampling::GenerationPipeline pipeline(*s.transformer, s.scheduler);
  pipeline.validate(g, prompt);

  std::unique_ptr<sampling::FirstBlockCache> cache;
  if (request.cache_threshold > 0) cache = std::make_unique<sampling::FirstBlockCache>(request.cache_threshold);
  auto step_start = Clock::now();
  sampling::StepHooks hooks;
  hooks.should_cancel = [&] { return cancel.canceled(); };
  hooks.on_step = [&](const sampling::StepEvent& e) {
    const int step = static_cast<int>(e.index + 1);
    const int steps = static_cast<int>(e.num_steps);
    emit(Progress{step, steps, e.reused, seconds_since(step_start)});
    // The first latent frame of the x0 prediction: [B, C, T', H', W'] → [C, H', W'].
    emit(PreviewFrame{step, steps, s.preview.to_rgb(e.x0.select(0, 0).select(1, 0))});
    step_start = Clock::now();
  };
  const auto result = pipeline.generate(g, prompt, hooks, cache.get());
  cancel.throw_if_canceled();

  // Final frames without a VAE: each latent frame's RGB map stands for the pixel frames it covers
  // (the first latent frame one pixel frame, every later one four, as the causal VAE decodes).
  const auto decode_start = Clock::now();
  const auto latent_frames = s.preview.to_rgb_frames(result.latents.select(0, 0));  // [C, T', H', W']
  FrameChunk chunk{0, request.frames, 0, {}};
  for (int f = 0; f < request.frames; ++f) {
    const size_t t = f == 0 ? 0 : static_cast<size_t>((f - 1) / 4 + 1);
    chunk.frames.push_back(latent_frames.at(std::min(t, latent_frames.size() - 1)));
  }
  chunk.decode_seconds = seconds_since(decode_start);
  emit(std::move(chunk));
}

}  // namespace ditstream::engine
