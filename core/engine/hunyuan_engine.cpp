#include "core/engine/hunyuan_engine.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <new>

#include "core/engine/compute_lane.h"
#include "core/engine/latent_preview.h"
#include "core/engine/memory_estimate.h"
#include "core/engine/preview_decoder.h"
#include "core/io/config_reader.h"
#include "core/io/diffusers_folder.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/model/text/prompt_cache.h"
#include "core/model/text/prompt_encoder.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/model/vae/streaming_decoder.h"
#include "core/sampling/cache/first_block_cache.h"
#include "core/sampling/pipeline.h"
#include "core/sampling/scheduler.h"
#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  throw_invalid("engine", "dtype", "'" + name + "' is not float32 or bfloat16");
}

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string gib(int64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / kGiB); }

// Runs `fn`; an out-of-memory failure in it fails the job with an Error naming the stage, after
// the allocator handed its cached blocks back (the job's tensors are gone once the stack unwound).
template <class Fn>
auto failing_job_on_oom(at::Device device, const char* stage, Fn&& fn) -> decltype(fn()) {
  std::string what;
  try {
    return fn();
  } catch (const c10::OutOfMemoryError& e) {
    what = std::string(e.what_without_backtrace()).substr(0, 300);
  } catch (const std::bad_alloc& e) {
    what = e.what();
  }
  release_cached_memory(device);
  throw Error(ErrorKind::unavailable, "engine", "memory",
              std::string("out of memory while ") + stage + " (" + what + "); the job's memory was freed");
}

}  // namespace

void HunyuanEngineOptions::validate() const {
  require(preview_vae_downscale == 1 || preview_vae_downscale == 2 || preview_vae_downscale == 4, "engine",
          "preview_vae_downscale", "is " + std::to_string(preview_vae_downscale) + "; must be 1, 2 or 4");
  require(std::isfinite(memory_budget_gib) && memory_budget_gib >= 0, "engine", "memory_budget_gib",
          fmt::format("is {}; must be a number of GiB ≥ 0 (0: from the free memory after loading)", memory_budget_gib));
}

struct HunyuanEngine::Impl {
  HunyuanEngineOptions options;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;
  std::unique_ptr<model::hunyuan_video::HunyuanVideoTransformer3DModel> transformer;
  sampling::FlowMatchEulerDiscreteSchedulerConfig scheduler;
  LatentPreview preview = LatentPreview(at::zeros({16, 3}), at::zeros({3}));
  std::unique_ptr<text::PromptEncoder> text_encoder;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> vae;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> preview_vae_copy;  // on options.preview_device
  std::unique_ptr<ComputeLane> denoise_lane, preview_lane, finish_lane;
  model::vae::ChunkPlan chunk_plan;  // final decode and previews
  int64_t budget = 0;          // for job work on `device`
  int64_t preview_budget = 0;  // for a preview decode: `budget`, or what a preview GPU of its own has
  // Seconds one real-VAE preview decode takes per latent voxel decoded, measured (0: not yet).
  std::atomic<double> preview_seconds_per_voxel{0};

  const model::vae::AutoencoderKLHunyuanVideo& preview_vae() const { return preview_vae_copy ? *preview_vae_copy : *vae; }

  sampling::PromptEmbeddings embeddings(const std::string& prompt) const {
    const auto e = text_encoder->encode(prompt);
    return {e.prompt_embeds.to(device, dtype), e.prompt_attention_mask.to(device), e.pooled_prompt_embeds.to(device, dtype)};
  }

  LatentShape latent_shape(const JobRequest& r, int64_t downscale = 1) const {
    return {(r.frames - 1) / 4 + 1, r.height / 8 / downscale, r.width / 8 / downscale};
  }
  int64_t element_bytes() const { return static_cast<int64_t>(c10::elementSize(dtype)); }
  int64_t denoise_bytes(const JobRequest& r) const {
    return estimate_denoise_bytes(transformer->config(), latent_shape(r), text::PromptEncoderOptions{}.max_sequence_length,
                                  element_bytes());
  }
  int64_t preview_bytes(const JobRequest& r) const {
    return estimate_decode_bytes(preview_vae().config(), latent_shape(r, options.preview_vae_downscale), chunk_plan,
                                 element_bytes());
  }
  int64_t decode_bytes(const JobRequest& r) const {
    return estimate_decode_bytes(vae->config(), latent_shape(r), chunk_plan, element_bytes());
  }
  // Whether `r`'s real-VAE previews fit beside its denoising: on another GPU only the preview
  // decode counts against the budget.
  std::string preview_budget_note(const JobRequest& r) const {
    const int64_t preview = preview_bytes(r);
    const int64_t beside = preview_vae_copy ? 0 : denoise_bytes(r);
    if (preview + beside <= preview_budget) return "";
    return "Real-VAE previews off (cheap latent previews only): a preview decode needs about " + gib(preview) +
           (beside > 0 ? " beside denoising's " + gib(beside) : std::string()) + ", the memory budget " +
           (preview_vae_copy ? "of " + preview_lane->device().str() + " " : std::string()) + "is " + gib(preview_budget) + ".";
  }

  std::unique_ptr<Finisher> denoise(const JobRequest& request, const EventSink& emit, const CancelToken& cancel,
                                    Timeline& timeline);
};

// The final decode of one job: the streaming VAE on the finish lane, frames emitted per chunk.
class HunyuanEngine::HunyuanFinisher : public Finisher {
 public:
  // `previews` (may be null) go on until the first final frames supersede them.
  HunyuanFinisher(const Impl& engine, JobRequest request, at::Tensor latents, LaneMark ready,
                  std::unique_ptr<PreviewDecoder> previews)
      : engine_(engine),
        request_(std::move(request)),
        latents_(std::move(latents)),
        ready_(std::move(ready)),
        previews_(std::move(previews)) {}
  ~HunyuanFinisher() override {
    previews_.reset();
    // Latents made on the denoise lane may still be read by queued work on the finish lane.
    engine_.finish_lane->synchronize();
  }

  void finish(const EventSink& emit, const CancelToken& cancel, Timeline& timeline) override {
    c10::InferenceMode guard;
    failing_job_on_oom(engine_.device, "decoding the final frames", [&] { decode(emit, cancel, timeline); });
    previews_.reset();  // the job ends with nothing of it left running
  }

 private:
  void decode(const EventSink& emit, const CancelToken& cancel, Timeline& timeline) {
    const ComputeLane& lane = *engine_.finish_lane;
    ComputeLane::Use on_lane(lane);
    lane.wait(ready_, latents_);
    // Final frames chunk by chunk from the streaming VAE: the first latent frame gives one video
    // frame, every later one four; each chunk is emitted as soon as it is decoded.
    model::vae::StreamingOptions streaming;
    streaming.unscale_latents = true;
    auto chunk_start = Clock::now();
    double chunk_unix = unix_seconds();
    const bool done = model::vae::decode_streaming(
        *engine_.vae, latents_.to(engine_.vae->dtype()), engine_.chunk_plan, streaming,
        [&](const at::Tensor& frames, int64_t first_frame) {
          if (previews_) previews_->supersede();
          FrameChunk chunk{static_cast<int>(first_frame), request_.frames, 0, decoded_to_rgb_frames(frames)};
          chunk.decode_seconds = seconds_since(chunk_start);
          timeline.add_until_now(fmt::format("decode frames {}-{}", first_frame, first_frame + chunk.frames.size() - 1),
                                 lane.name(), chunk_unix);
          emit(std::move(chunk));
          chunk_start = Clock::now();
          chunk_unix = unix_seconds();
        },
        [&] { return cancel.canceled(); });
    if (!done) cancel.throw_if_canceled();
  }

  const Impl& engine_;
  JobRequest request_;
  at::Tensor latents_;
  LaneMark ready_;
  std::unique_ptr<PreviewDecoder> previews_;
};

HunyuanEngine::HunyuanEngine(const HunyuanEngineOptions& options) : impl_(std::make_unique<Impl>()) {
  options.validate();
  auto& s = *impl_;
  s.options = options;
  s.device = at::Device(options.device);
  const at::Device preview_device = options.preview_device.empty() ? s.device : at::Device(options.preview_device);
  for (const auto& [field, d] : {std::pair{"device", s.device}, std::pair{"preview_device", preview_device}}) {
    if (d.is_cuda() && !at::hasCUDA()) {
      throw Error(ErrorKind::unavailable, "engine", field, "'" + d.str() + "' asked for, but no CUDA device is present");
    }
  }
  require(preview_device.type() == s.device.type(), "engine", "preview_device",
          "'" + preview_device.str() + "' is not a " + s.device.str() + " device like the transformer's");
  s.dtype = parse_dtype(options.dtype);
  const auto folder = io::DiffusersFolder::open(options.model);
  c10::InferenceMode guard;
  s.transformer = model::hunyuan_video::HunyuanVideoTransformer3DModel::from_folder(folder, {s.device, s.dtype, true});
  s.scheduler = sampling::FlowMatchEulerDiscreteSchedulerConfig::from_config(
      io::ConfigReader::from_file(options.model / "scheduler" / "scheduler_config.json"));
  s.text_encoder = text::PromptEncoder::load(folder, {s.device, s.dtype});
  s.vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(options.model, {s.device, s.dtype, true});
  if (preview_device != s.device) {
    s.preview_vae_copy = model::vae::AutoencoderKLHunyuanVideo::from_folder(options.model, {preview_device, s.dtype, true});
  }
  s.preview = LatentPreview::from_file(options.preview_factors);
  require(s.preview.channels() == s.transformer->config().in_channels, "engine", "preview_factors",
          "the factors are for " + std::to_string(s.preview.channels()) + " latent channels, the model has " +
              std::to_string(s.transformer->config().in_channels));
  s.denoise_lane = std::make_unique<ComputeLane>(s.device, "denoise", ComputeLane::Priority::high);
  s.preview_lane = std::make_unique<ComputeLane>(preview_device, "preview-vae", ComputeLane::Priority::low);
  s.finish_lane = std::make_unique<ComputeLane>(s.device, "finish", ComputeLane::Priority::low);
  const auto budget_of = [&](at::Device d) {
    return options.memory_budget_gib > 0 ? static_cast<int64_t>(options.memory_budget_gib * kGiB)
                                         : static_cast<int64_t>(0.9 * static_cast<double>(device_memory(d).free));
  };
  s.budget = budget_of(s.device);
  s.preview_budget = s.preview_vae_copy ? budget_of(preview_device) : s.budget;
  log::info("engine: HunyuanVideo transformer from {} on {} ({}), memory budget for jobs {}", options.model.string(),
            options.device, options.dtype, gib(s.budget));
}

HunyuanEngine::~HunyuanEngine() = default;

EnginePaths HunyuanEngine::paths() const { return {"llama+clip", "vae-streaming"}; }

StageMemory HunyuanEngine::stage_memory(const JobRequest& request) const {
  const auto& s = *impl_;
  const bool previews = request.preview_vae_every != 0 && s.preview_budget_note(request).empty() && !s.preview_vae_copy;
  const int64_t preview = previews ? s.preview_bytes(request) : 0;
  return {s.denoise_bytes(request) + preview, s.decode_bytes(request) + preview};
}

int64_t HunyuanEngine::memory_budget() const { return impl_->budget; }

std::unique_ptr<Finisher> HunyuanEngine::denoise(const JobRequest& request, const EventSink& emit,
                                                 const CancelToken& cancel, Timeline& timeline) {
  c10::InferenceMode guard;
  return failing_job_on_oom(impl_->device, "denoising", [&] { return impl_->denoise(request, emit, cancel, timeline); });
}

std::unique_ptr<Finisher> HunyuanEngine::Impl::denoise(const JobRequest& request, const EventSink& emit,
                                                       const CancelToken& cancel, Timeline& timeline) {
  const ComputeLane& lane = *denoise_lane;
  ComputeLane::Use on_lane(lane);
  const double text_start = unix_seconds();
  const auto prompt = embeddings(request.prompt);
  timeline.add_until_now("text", lane.name(), text_start);
  sampling::GenerationRequest g;
  g.num_frames = request.frames;
  g.height = request.height;
  g.width = request.width;
  g.steps = request.steps;
  g.shift = request.shift;
  g.guidance_scale = request.guidance;
  g.seed = static_cast<uint64_t>(request.seed);
  sampling::GenerationPipeline pipeline(*transformer, scheduler);
  pipeline.validate(g, prompt);
  require(request.preview_vae_every == 0 || request.preview_vae_every == kPreviewVaeAuto ||
              (request.preview_vae_every >= 1 && request.preview_vae_every < request.steps),
          "engine", "preview_vae_every",
          fmt::format("is {}; must be 0 (off), 1..{} (below steps) or auto", request.preview_vae_every, request.steps - 1));

  // Real-VAE previews when asked for and when the budget has room for them. They run on until the
  // job's first final frames, so the finish stage budgets one preview decode too.
  const std::string budget_note = request.preview_vae_every != 0 ? preview_budget_note(request) : "";
  const bool vae_previews = request.preview_vae_every != 0 && budget_note.empty() && request.steps > 1;
  emit(PreviewPlan{vae_previews ? "latent-rgb+vae" : "latent-rgb", request.preview_vae_every,
                   vae_previews ? preview_lane->name() : "", budget_note});
  std::unique_ptr<PreviewDecoder> previews;
  PreviewSchedule schedule(request.preview_vae_every, request.steps);
  const LatentShape preview_shape = latent_shape(request, options.preview_vae_downscale);
  const double preview_voxels = static_cast<double>(preview_shape.frames * preview_shape.height * preview_shape.width);
  if (vae_previews) {
    PreviewDecodeSettings settings;
    settings.plan = chunk_plan;
    settings.streaming.unscale_latents = true;
    settings.downscale = options.preview_vae_downscale;
    previews = std::make_unique<PreviewDecoder>(preview_vae(), *preview_lane, device, settings, request.steps,
                                                request.frames, emit, timeline);
  }

  std::unique_ptr<sampling::FirstBlockCache> cache;
  if (request.cache_threshold > 0) cache = std::make_unique<sampling::FirstBlockCache>(request.cache_threshold);
  auto step_start = Clock::now();
  double step_unix = unix_seconds();
  double denoise_seconds = 0;
  sampling::StepHooks hooks;
  hooks.should_cancel = [&] { return cancel.canceled(); };
  hooks.on_step = [&](const sampling::StepEvent& e) {
    const int step = static_cast<int>(e.index + 1);
    const int steps = static_cast<int>(e.num_steps);
    const double step_seconds = seconds_since(step_start);
    denoise_seconds += step_seconds;
    timeline.add_until_now("step " + std::to_string(step), lane.name(), step_unix);
    // The preview decode starts first, so it runs while this thread emits and the next step runs.
    if (previews) {
      const PreviewDecoder::Stats stats = previews->stats();
      if (stats.last_decode_seconds > 0) preview_seconds_per_voxel = stats.last_decode_seconds / preview_voxels;
      if (schedule.due(step, denoise_seconds / step, preview_seconds_per_voxel.load() * preview_voxels)) {
        previews->submit(step, e.x0, lane.mark());
      }
    }
    emit(Progress{step, steps, e.reused, step_seconds});
    // The first latent frame of the x0 prediction: [B, C, T', H', W'] → [C, H', W'].
    emit(PreviewFrame{step, steps, preview.to_rgb(e.x0.select(0, 0).select(1, 0))});
    step_start = Clock::now();
    step_unix = unix_seconds();
  };
  // On a throw, `previews` stops (and joins its thread) before the exception leaves.
  const auto result = pipeline.generate(g, prompt, hooks, cache.get());
  if (previews) {
    const auto stats = previews->stats();
    log::debug("real-VAE previews: {} asked, {} started, {} complete, {} superseded (interval {})", stats.submitted,
               stats.started, stats.completed, stats.superseded, schedule.interval());
  }
  cancel.throw_if_canceled();
  return std::make_unique<HunyuanFinisher>(*this, request, result.latents, lane.mark(), std::move(previews));
}

}  // namespace ditstream::engine
