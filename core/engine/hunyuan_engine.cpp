#include "core/engine/hunyuan_engine.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <new>

#include "core/engine/aten_device_tensor.h"
#include "core/engine/compute_lane.h"
#include "core/engine/memory_estimate.h"
#include "core/engine/preview_decoder.h"
#include "core/io/config_reader.h"
#include "core/io/diffusers_folder.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/model/text/prompt_cache.h"
#include "core/model/text/prompt_encoder.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/model/vae/streaming_decoder.h"
#include "core/model/vae/tiling.h"
#include "core/parallel/context_parallel_transformer.h"
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

// The preview of one step for the stream: the first latent frame of the x0 prediction,
// [B, C, T', H', W'] → [C, H', W'], left on the device when the engine runs on one.
LatentPtr preview_latent(const at::Tensor& x0) {
  const at::Tensor frame = x0.select(0, 0).select(1, 0);  // [C, H', W']
  auto latent = std::make_shared<LatentFrame>();
  latent->channels = static_cast<int>(frame.size(0));
  latent->height = static_cast<int>(frame.size(1));
  latent->width = static_cast<int>(frame.size(2));
  if (frame.is_cpu()) {
    const at::Tensor host = frame.to(at::kFloat).contiguous();
    latent->host.assign(host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
  } else {
    latent->device = std::make_shared<AtenDeviceTensor>(frame);
  }
  return latent;
}

}  // namespace

void HunyuanEngineOptions::validate() const {
  parse_dtype(dtype);
  const at::Device main(device), previews(preview_device.empty() ? device : preview_device);
  for (const auto& [field, d] : {std::pair{"device", main}, std::pair{"preview_device", previews}}) {
    if (d.is_cuda() && !at::hasCUDA()) {
      throw Error(ErrorKind::unavailable, "engine", field, "'" + d.str() + "' asked for, but no CUDA device is present");
    }
  }
  require(previews.type() == main.type(), "engine", "preview_device",
          "'" + previews.str() + "' is not a " + main.str() + " device like the transformer's");
  require(preview_vae_downscale == 1 || preview_vae_downscale == 2 || preview_vae_downscale == 4, "engine",
          "preview_vae_downscale", "is " + std::to_string(preview_vae_downscale) + "; must be 1, 2 or 4");
  require(std::isfinite(memory_budget_gib) && memory_budget_gib >= 0, "engine", "memory_budget_gib",
          fmt::format("is {}; must be a number of GiB ≥ 0 (0: from the free memory after loading)", memory_budget_gib));
  require(decode_row_bands >= 0, "engine", "decode_row_bands",
          fmt::format("is {}; must be ≥ 0 (0: one band per rank)", decode_row_bands));
  require(!fp8_attention || (main.is_cuda() && dtype == "bfloat16"), "engine", "fp8_attention",
          "runs on a CUDA device in bfloat16; asked for on " + main.str() + " in " + dtype);
}

struct HunyuanEngine::Impl {
  HunyuanEngineOptions options;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;
  std::unique_ptr<model::hunyuan_video::HunyuanVideoTransformer3DModel> transformer;
  sampling::FlowMatchEulerDiscreteSchedulerConfig scheduler;
  std::unique_ptr<text::PromptEncoder> text_encoder;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> vae;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> preview_vae_copy;  // on options.preview_device
  std::unique_ptr<ComputeLane> denoise_lane, preview_lane, finish_lane;
  model::vae::ChunkPlan chunk_plan;  // final decode and previews
  int64_t budget = 0;          // for job work on `device`
  int64_t preview_budget = 0;  // for a preview decode: `budget`, or what a preview GPU of its own has
  // Seconds one real-VAE preview decode takes per latent voxel decoded, measured (0: not yet).
  std::atomic<double> preview_seconds_per_voxel{0};
  std::unique_ptr<parallel::ContextParallelTransformer> context_parallel;  // several ranks only
  // Held by a job's stage while it uses the world; rebind_world takes it to change worlds.
  mutable std::mutex world_mutex;
  uint64_t world_epoch = 0;  // one more per rebind_world (under world_mutex)

  bool distributed() const { return options.world != nullptr && options.world->world_size() > 1; }

  // A job failed: when the world broke (its communicator failed, or the health heard of a failed
  // rank) the job fails with an Error naming that failure instead of the collective's error, and
  // a world broken inside the job is reported. Returns normally for an ordinary job failure.
  // `canceled`: the job's owner asked to stop it (a collective ended by an abort can look like an
  // agreed stop too).
  void rethrow_rank_failure(bool canceled) const {
    if (!distributed()) return;
    const std::string broken = options.world->failure();
    if (!broken.empty() && options.world_failed) options.world_failed(broken);
    if (canceled) return;
    if (options.rank_health == nullptr) {
      if (broken.empty()) return;
      throw Error(ErrorKind::unavailable, "ranks", "", "the ranks' communicator failed: " + broken);
    }
    auto& health = *options.rank_health;
    if (health.status().state == RankGroupState::ok) {
      if (broken.empty()) return;
      health.report_failure(broken);
    }
    // The communicator noticed first: the launcher, which saw a rank die, names it in a moment.
    if (const auto status = health.status(); status.restartable && status.last_failure == broken) {
      health.wait_explained(broken, std::chrono::seconds(2));
    }
    throw Error(ErrorKind::unavailable, "ranks", "", health.job_error());
  }

  template <class Fn>
  auto failing_job_on_rank_failure(const CancelToken& cancel, Fn&& fn) const -> decltype(fn()) {
    try {
      return fn();
    } catch (const std::exception&) {
      rethrow_rank_failure(cancel.canceled());
      throw;
    }
  }
  parallel::Communicator* world() const { return distributed() ? options.world : nullptr; }

  // Every rank must stop at the same step or chunk, or the others wait in a collective: the ranks
  // add up their wishes to stop and all stop when any rank wants to.
  bool agreed_stop(bool mine) const {
    if (!distributed()) return mine;
    at::Tensor flag = at::full({1}, mine ? 1.0f : 0.0f, at::TensorOptions().dtype(at::kFloat).device(device));
    options.world->all_reduce_sum(flag);
    return flag.item<float>() > 0;
  }

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

  // The two stages on any rank. Rank 0 passes `emit` and `timeline`; followers pass null and
  // neither report nor preview. `stop_wanted` is this rank's wish to stop (cancel).
  struct Denoised {
    at::Tensor latents;                        // [B, C, T', H', W'] float32
    std::unique_ptr<PreviewDecoder> previews;  // still running, or null
  };
  Denoised denoise(const JobRequest& request, const EventSink* emit, const std::function<bool()>& stop_wanted,
                   Timeline* timeline);
  // Every rank decodes its share of the tiles; frames come out on rank 0. `previews` (may be null)
  // are superseded by the first final frames.
  void decode(const JobRequest& request, const at::Tensor& latents, const EventSink* emit,
              const std::function<bool()>& stop_wanted, Timeline* timeline, PreviewDecoder* previews) const;
  // A follower's whole job.
  void run_job(const JobRequest& request, const std::function<bool()>& stop_wanted) {
    const auto denoised = denoise(request, nullptr, stop_wanted, nullptr);
    decode(request, denoised.latents, nullptr, stop_wanted, nullptr, nullptr);
  }
};

// The final decode of one job on rank 0: the streaming VAE on the finish lane, frames emitted per
// chunk.
class HunyuanEngine::HunyuanFinisher : public Finisher {
 public:
  HunyuanFinisher(const Impl& engine, JobRequest request, Impl::Denoised denoised, LaneMark ready, uint64_t epoch)
      : engine_(engine),
        request_(std::move(request)),
        denoised_(std::move(denoised)),
        ready_(std::move(ready)),
        epoch_(epoch) {}
  ~HunyuanFinisher() override {
    std::unique_lock world_lock(engine_.world_mutex, std::defer_lock);
    if (engine_.distributed()) world_lock.lock();
    if (!ran_ && engine_.distributed() && engine_.world_epoch == epoch_ && engine_.options.world->failure().empty()) {
      // The other ranks are in this job's decode: they stop with rank 0 at its first chunk.
      try {
        finish_on_lane(nullptr, [] { return true; }, nullptr);
      } catch (const std::exception& e) {
        if (!is_canceled(e)) log::warn("engine: ending an unfinished decode: {}", e.what());
      }
    }
    denoised_.previews.reset();
    // Latents made on the denoise lane may still be read by queued work on the finish lane.
    engine_.finish_lane->synchronize();
  }

  void finish(const EventSink& emit, const CancelToken& cancel, Timeline& timeline) override {
    ran_ = true;
    c10::InferenceMode guard;
    std::unique_lock world_lock(engine_.world_mutex, std::defer_lock);
    if (engine_.distributed()) world_lock.lock();
    if (engine_.world_epoch != epoch_) {
      throw Error(ErrorKind::unavailable, "ranks", "",
                  "the ranks were restarted after this job was denoised; its frames cannot be decoded on the new ranks");
    }
    engine_.failing_job_on_rank_failure(cancel, [&] {
      failing_job_on_oom(engine_.device, "decoding the final frames",
                         [&] { finish_on_lane(&emit, [&] { return cancel.canceled(); }, &timeline); });
    });
    denoised_.previews.reset();  // the job ends with nothing of it left running
  }

 private:
  static bool is_canceled(const std::exception& e) {
    const auto* error = dynamic_cast<const Error*>(&e);
    return error && error->kind() == ErrorKind::canceled;
  }
  void finish_on_lane(const EventSink* emit, const std::function<bool()>& stop_wanted, Timeline* timeline) {
    const ComputeLane& lane = *engine_.finish_lane;
    ComputeLane::Use on_lane(lane);
    lane.wait(ready_, denoised_.latents);
    engine_.decode(request_, denoised_.latents, emit, stop_wanted, timeline, denoised_.previews.get());
  }

  const Impl& engine_;
  JobRequest request_;
  Impl::Denoised denoised_;
  LaneMark ready_;
  uint64_t epoch_;
  bool ran_ = false;
};

void HunyuanEngine::Impl::decode(const JobRequest& request, const at::Tensor& latents, const EventSink* emit,
                                 const std::function<bool()>& stop_wanted, Timeline* timeline,
                                 PreviewDecoder* previews) const {
  // Final frames chunk by chunk from the streaming VAE: the first latent frame gives one video
  // frame, every later one four; each chunk is emitted as soon as it is decoded.
  model::vae::StreamingOptions streaming;
  streaming.unscale_latents = true;
  // With several ranks each decodes one band of the frame; rank 0 blends and streams them.
  const int bands = options.decode_row_bands > 0 ? options.decode_row_bands
                                                 : (distributed() ? options.world->world_size() : 1);
  streaming.tiling =
      model::vae::row_bands(latents.size(3), latents.size(4), bands, vae->config().spatial_compression_ratio);
  auto chunk_start = Clock::now();
  double chunk_unix = unix_seconds();
  const bool done = model::vae::decode_streaming(
      *vae, latents.to(vae->dtype()), chunk_plan, streaming,
      [&](const at::Tensor& frames, int64_t first_frame) {
        if (emit == nullptr) return;
        // The frames stay on the device; waiting for them here makes the chunk's span and time
        // the device's.
        finish_lane->synchronize();
        if (previews) previews->supersede();
        FrameChunk chunk{static_cast<int>(first_frame), request.frames, 0, decoded_frames(frames)};
        chunk.decode_seconds = seconds_since(chunk_start);
        timeline->add_until_now(fmt::format("decode frames {}-{}", first_frame, first_frame + chunk.frames.size() - 1),
                                finish_lane->name(), chunk_unix);
        (*emit)(std::move(chunk));
        chunk_start = Clock::now();
        chunk_unix = unix_seconds();
      },
      [&] { return agreed_stop(stop_wanted()); }, world());
  if (!done) throw Error(ErrorKind::canceled, "engine", "", "the job was canceled");
}

sampling::GenerationRequest generation_request(const JobRequest& request) {
  sampling::GenerationRequest g;
  g.num_frames = request.frames;
  g.height = request.height;
  g.width = request.width;
  g.steps = request.steps;
  g.shift = request.shift;
  g.guidance_scale = request.guidance;
  g.seed = static_cast<uint64_t>(request.seed);
  return g;
}

HunyuanEngineParts::HunyuanEngineParts() = default;
HunyuanEngineParts::HunyuanEngineParts(HunyuanEngineParts&&) noexcept = default;
HunyuanEngineParts::~HunyuanEngineParts() = default;

namespace {

at::Device preview_device_of(const HunyuanEngineOptions& options) {
  return at::Device(options.preview_device.empty() ? options.device : options.preview_device);
}

HunyuanEngineParts load_parts(const HunyuanEngineOptions& options) {
  options.validate();
  const at::Device device(options.device), preview_device = preview_device_of(options);
  const at::ScalarType dtype = parse_dtype(options.dtype);
  const auto folder = io::DiffusersFolder::open(options.model);
  c10::InferenceMode guard;
  HunyuanEngineParts parts;
  parts.transformer = model::hunyuan_video::HunyuanVideoTransformer3DModel::from_folder(folder, {device, dtype, true});
  parts.scheduler = sampling::FlowMatchEulerDiscreteSchedulerConfig::from_config(
      io::ConfigReader::from_file(options.model / "scheduler" / "scheduler_config.json"));
  parts.text_encoder = text::PromptEncoder::load(folder, {device, dtype});
  parts.vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(options.model, {device, dtype, true});
  if (preview_device != device) {
    parts.preview_vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(options.model, {preview_device, dtype, true});
  }
  return parts;
}

}  // namespace

HunyuanEngine::HunyuanEngine(const HunyuanEngineOptions& options) : HunyuanEngine(options, load_parts(options)) {}

HunyuanEngine::HunyuanEngine(const HunyuanEngineOptions& options, HunyuanEngineParts parts)
    : impl_(std::make_unique<Impl>()) {
  options.validate();
  auto& s = *impl_;
  s.options = options;
  s.device = at::Device(options.device);
  s.dtype = parse_dtype(options.dtype);
  const at::Device preview_device = preview_device_of(options);
  require(parts.transformer && parts.text_encoder && parts.vae, "engine", "parts",
          "a transformer, a text encoder and a VAE are needed");
  require(preview_device == s.device || parts.preview_vae != nullptr, "engine", "preview_device",
          "'" + preview_device.str() + "' needs a VAE of its own there");
  s.transformer = std::move(parts.transformer);
  s.scheduler = parts.scheduler;
  s.text_encoder = std::move(parts.text_encoder);
  s.vae = std::move(parts.vae);
  s.preview_vae_copy = std::move(parts.preview_vae);
  if (options.fp8_linears) s.transformer->quantize_fp8();
  if (options.fp8_attention) s.transformer->set_fp8_attention(true);  // throws when the kernel cannot run here
  if (s.distributed()) {
    require(options.commands != nullptr, "engine", "commands", "several ranks need the command channel");
    s.context_parallel = std::make_unique<parallel::ContextParallelTransformer>(*s.transformer, *options.world, options.mesh);
  }
  s.denoise_lane = std::make_unique<ComputeLane>(s.device, "denoise", ComputeLane::Priority::high);
  s.preview_lane = std::make_unique<ComputeLane>(preview_device, "preview-vae", ComputeLane::Priority::low);
  s.finish_lane = std::make_unique<ComputeLane>(s.device, "finish", ComputeLane::Priority::low);
  const auto budget_of = [&](at::Device d) {
    return options.memory_budget_gib > 0 ? static_cast<int64_t>(options.memory_budget_gib * kGiB)
                                         : static_cast<int64_t>(0.9 * static_cast<double>(available_memory(d).free));
  };
  s.budget = budget_of(s.device);
  s.preview_budget = s.preview_vae_copy ? budget_of(preview_device) : s.budget;
  log::info("engine: HunyuanVideo transformer on {} ({}), {}, memory budget for jobs {}", options.device, precision(),
            parallelism(), gib(s.budget));
}

HunyuanEngine::~HunyuanEngine() {
  if (impl_->distributed() && impl_->options.world->rank() == 0) {
    try {
      impl_->options.commands->publish({RankCommand::Kind::stop, {}});
    } catch (const std::exception& e) {
      log::warn("engine: could not tell the other ranks to stop: {}", e.what());
    }
  }
}

std::string HunyuanEngine::parallelism() const {
  if (!impl_->distributed()) return "1 rank";
  return std::to_string(impl_->options.world->world_size()) + " ranks, " + impl_->context_parallel->mesh().to_string();
}

std::string HunyuanEngine::precision() const {
  const auto& o = impl_->options;
  std::string text = o.dtype;
  if (o.fp8_linears) text += ", fp8 linears";
  if (o.fp8_attention) {
    const bool ring = impl_->distributed() && impl_->context_parallel->mesh().ring > 1;
    text += ring ? ", fp8 attention within a rank (ring hops in " + o.dtype + ")" : ", fp8 attention";
  }
  return text;
}

bool HunyuanEngine::follow(const std::atomic<bool>& stopping) {
  auto& s = *impl_;
  require(s.distributed() && s.options.world->rank() != 0, "engine", "rank",
          "only ranks other than 0 of a context-parallel engine follow");
  c10::InferenceMode guard;
  while (true) {
    const auto command = s.options.commands->next(stopping);
    if (!command) return false;
    if (command->kind == RankCommand::Kind::stop) return true;
    try {
      s.run_job(command->request, [&] { return stopping.load(); });
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::canceled) log::warn("engine: rank {}: job failed: {}", s.options.world->rank(), e.what());
    } catch (const std::exception& e) {
      log::warn("engine: rank {}: job failed: {}", s.options.world->rank(), e.what());
    }
    if (const std::string broken = s.options.world->failure(); !broken.empty()) {
      throw Error(ErrorKind::unavailable, "engine", "world",
                  "rank " + std::to_string(s.options.world->rank()) +
                      ": the world communicator failed, this rank cannot run more jobs: " + broken);
    }
  }
}

EngineReadiness HunyuanEngine::readiness() const {
  return impl_->options.rank_health ? readiness_of(*impl_->options.rank_health) : EngineReadiness{};
}

void HunyuanEngine::on_readiness_change(std::function<void()> changed) {
  if (impl_->options.rank_health == nullptr) return;
  impl_->options.rank_health->add_listener(
      [changed = std::move(changed)](const RankGroupStatus&, RankGroupState) { changed(); });
}

void HunyuanEngine::rebind_world(parallel::Communicator* world, RankCommands* commands) {
  auto& s = *impl_;
  require(s.distributed() && s.options.world->rank() == 0, "engine", "rank",
          "only rank 0 of a context-parallel engine changes worlds");
  require(world != nullptr && commands != nullptr && world->world_size() == s.options.world->world_size() &&
              world->rank() == 0,
          "engine", "world", "a new world must have the old one's size, with this process as rank 0");
  std::lock_guard lock(s.world_mutex);
  s.context_parallel.reset();  // its groups were split from the old world
  s.options.world = world;
  s.options.commands = commands;
  ++s.world_epoch;
  s.context_parallel = std::make_unique<parallel::ContextParallelTransformer>(*s.transformer, *world, s.options.mesh);
  log::info("engine: running on a new world of {} ranks, {}", world->world_size(), s.context_parallel->mesh().to_string());
}

EnginePaths HunyuanEngine::paths() const { return {"llama+clip", "vae-streaming"}; }

StageMemory HunyuanEngine::stage_memory(const JobRequest& request) const {
  const auto& s = *impl_;
  const bool previews = request.preview_vae_every != 0 && s.preview_budget_note(request).empty() && !s.preview_vae_copy;
  const int64_t preview = previews ? s.preview_bytes(request) : 0;
  return {s.denoise_bytes(request) + preview, s.decode_bytes(request) + preview};
}

int64_t HunyuanEngine::memory_budget() const { return impl_->budget; }

bool HunyuanEngine::overlaps_stages() const { return !impl_->distributed(); }

std::unique_ptr<Finisher> HunyuanEngine::denoise(const JobRequest& request, const EventSink& emit,
                                                 const CancelToken& cancel, Timeline& timeline) {
  auto& s = *impl_;
  // Checked before the other ranks hear of the job: they cannot fail it on their own.
  require(request.preview_vae_every == 0 || request.preview_vae_every == kPreviewVaeAuto ||
              (request.preview_vae_every >= 1 && request.preview_vae_every < request.steps),
          "engine", "preview_vae_every",
          fmt::format("is {}; must be 0 (off), 1..{} (below steps) or auto", request.preview_vae_every, request.steps - 1));
  std::unique_lock world_lock(s.world_mutex, std::defer_lock);
  if (s.distributed()) {
    require(s.options.world->rank() == 0, "engine", "rank", "only rank 0 runs jobs; the others follow()");
    world_lock.lock();
    if (const auto ready = readiness(); !ready.starts || !ready.accepts) {
      throw Error(ErrorKind::unavailable, "ranks", "", s.options.rank_health->job_error());
    }
    s.options.commands->publish({RankCommand::Kind::run, request});
  }
  c10::InferenceMode guard;
  auto denoised = s.failing_job_on_rank_failure(cancel, [&] {
    return failing_job_on_oom(s.device, "denoising", [&] {
      return s.denoise(request, &emit, [&] { return cancel.canceled(); }, &timeline);
    });
  });
  return std::make_unique<HunyuanFinisher>(s, request, std::move(denoised), s.denoise_lane->mark(), s.world_epoch);
}

HunyuanEngine::Impl::Denoised HunyuanEngine::Impl::denoise(const JobRequest& request, const EventSink* emit,
                                                           const std::function<bool()>& stop_wanted,
                                                           Timeline* timeline) {
  const ComputeLane& lane = *denoise_lane;
  ComputeLane::Use on_lane(lane);
  const double text_start = unix_seconds();
  const auto prompt = embeddings(request.prompt);
  if (timeline) timeline->add_until_now("text", lane.name(), text_start);
  const sampling::GenerationRequest g = generation_request(request);
  sampling::PipelineOptions pipeline_options;
  pipeline_options.context_parallel = context_parallel.get();
  sampling::GenerationPipeline pipeline(*transformer, scheduler, pipeline_options);
  pipeline.validate(g, prompt);

  // Real-VAE previews (rank 0) when asked for and when the budget has room for them. They run on
  // until the job's first final frames, so the finish stage budgets one preview decode too.
  Denoised out;
  PreviewSchedule schedule(request.preview_vae_every, request.steps);
  const LatentShape preview_shape = latent_shape(request, options.preview_vae_downscale);
  const double preview_voxels = static_cast<double>(preview_shape.frames * preview_shape.height * preview_shape.width);
  if (emit != nullptr) {
    const std::string budget_note = request.preview_vae_every != 0 ? preview_budget_note(request) : "";
    const bool vae_previews = request.preview_vae_every != 0 && budget_note.empty() && request.steps > 1;
    (*emit)(PreviewPlan{vae_previews ? "latent-rgb+vae" : "latent-rgb", request.preview_vae_every,
                        vae_previews ? preview_lane->name() : "", budget_note});
    if (vae_previews) {
      PreviewDecodeSettings settings;
      settings.plan = chunk_plan;
      settings.streaming.unscale_latents = true;
      settings.downscale = options.preview_vae_downscale;
      out.previews = std::make_unique<PreviewDecoder>(preview_vae(), *preview_lane, device, settings, request.steps,
                                                      request.frames, *emit, *timeline);
    }
  }

  std::unique_ptr<sampling::FirstBlockCache> cache;
  if (request.cache_threshold > 0) cache = std::make_unique<sampling::FirstBlockCache>(request.cache_threshold, world());
  auto step_start = Clock::now();
  double step_unix = unix_seconds();
  double denoise_seconds = 0;
  sampling::StepHooks hooks;
  hooks.should_cancel = [&] { return agreed_stop(stop_wanted()); };
  // Only rank 0 reports; the others skip the preview work.
  if (emit != nullptr) hooks.on_step = [&](const sampling::StepEvent& e) {
    const int step = static_cast<int>(e.index + 1);
    const int steps = static_cast<int>(e.num_steps);
    const double step_seconds = seconds_since(step_start);
    denoise_seconds += step_seconds;
    timeline->add_until_now("step " + std::to_string(step), lane.name(), step_unix);
    (*emit)(Progress{step, steps, e.reused, step_seconds});
    // The step is announced before its preview can be; the decode then runs while this thread makes
    // the cheap preview and the next step runs.
    if (out.previews) {
      const PreviewDecoder::Stats stats = out.previews->stats();
      if (stats.last_decode_seconds > 0) preview_seconds_per_voxel = stats.last_decode_seconds / preview_voxels;
      if (schedule.due(step, denoise_seconds / step, preview_seconds_per_voxel.load() * preview_voxels)) {
        out.previews->submit(step, e.x0, lane.mark());
      }
    }
    // The first latent frame of the x0 prediction: [B, C, T', H', W'] → [C, H', W'].
    (*emit)(PreviewFrame{step, steps, nullptr, preview_latent(e.x0)});
    step_start = Clock::now();
    step_unix = unix_seconds();
  };
  // On a throw, `out.previews` stops (and joins its thread) before the exception leaves.
  out.latents = pipeline.generate(g, prompt, hooks, cache.get()).latents;
  if (out.previews) {
    const auto stats = out.previews->stats();
    log::debug("real-VAE previews: {} asked, {} started, {} complete, {} superseded (interval {})", stats.submitted,
               stats.started, stats.completed, stats.superseded, schedule.interval());
  }
  return out;
}

}  // namespace ditstream::engine
