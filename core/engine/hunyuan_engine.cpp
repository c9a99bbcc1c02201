#include "core/engine/hunyuan_engine.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "core/engine/aten_device_tensor.h"
#include "core/io/config_reader.h"
#include "core/io/diffusers_folder.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/model/text/prompt_cache.h"
#include "core/model/text/prompt_encoder.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/model/vae/streaming_decoder.h"
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

// Decoded frames [B, 3, n, H, W] in [-1, 1] → n frames: [3, H, W] views left on the device, or
// [H, W, 3] uint8 on the host.
std::vector<FramePtr> final_frames(const at::Tensor& frames) {
  const at::Tensor video = frames.select(0, 0);  // [3, n, H, W]
  std::vector<FramePtr> out;
  if (!video.is_cpu()) {
    for (int64_t i = 0; i < video.size(1); ++i) {
      auto f = std::make_shared<RgbFrame>();
      f->height = static_cast<int>(video.size(2));
      f->width = static_cast<int>(video.size(3));
      f->device = std::make_shared<AtenDeviceTensor>(video.select(1, i));  // [3, H, W]
      out.push_back(std::move(f));
    }
    return out;
  }
  const at::Tensor rgb = ((video.to(at::kFloat) + 1.0) * 127.5)
                             .clamp(0, 255).round().to(at::kByte).permute({1, 2, 3, 0}).contiguous();  // [n, H, W, 3]
  for (int64_t i = 0; i < rgb.size(0); ++i) {
    auto f = std::make_shared<RgbFrame>();
    f->height = static_cast<int>(rgb.size(1));
    f->width = static_cast<int>(rgb.size(2));
    const at::Tensor one = rgb.select(0, i);
    f->rgb.assign(one.data_ptr<uint8_t>(), one.data_ptr<uint8_t>() + one.numel());
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

struct HunyuanEngine::Impl {
  HunyuanEngineOptions options;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;
  std::unique_ptr<model::hunyuan_video::HunyuanVideoTransformer3DModel> transformer;
  sampling::FlowMatchEulerDiscreteSchedulerConfig scheduler;
  std::unique_ptr<text::PromptEncoder> text_encoder;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> vae;
  std::unique_ptr<parallel::ContextParallelTransformer> context_parallel;  // several ranks only

  bool distributed() const { return options.world != nullptr && options.world->world_size() > 1; }
  parallel::Communicator* world() const { return distributed() ? options.world : nullptr; }

  // Every rank must stop at the same step or chunk, or the others wait in a collective: the ranks
  // add up their wishes to stop and all stop when any rank wants to.
  bool agreed_stop(bool mine) const {
    if (!distributed()) return mine;
    at::Tensor flag = at::full({1}, mine ? 1.0f : 0.0f, at::TensorOptions().dtype(at::kFloat).device(device));
    options.world->all_reduce_sum(flag);
    return flag.item<float>() > 0;
  }

  void run_job(const JobRequest& request, const EventSink* emit, const std::function<bool()>& stop_wanted);

  sampling::PromptEmbeddings embeddings(const std::string& prompt) const {
    const auto e = text_encoder->encode(prompt);
    return {e.prompt_embeds.to(device, dtype), e.prompt_attention_mask.to(device), e.pooled_prompt_embeds.to(device, dtype)};
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
  s.text_encoder = text::PromptEncoder::load(folder, {s.device, s.dtype});
  s.vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(options.model, {s.device, s.dtype, true});
  if (s.distributed()) {
    require(options.commands != nullptr, "engine", "commands", "several ranks need the command channel");
    s.context_parallel = std::make_unique<parallel::ContextParallelTransformer>(*s.transformer, *options.world, options.mesh);
  }
  log::info("engine: HunyuanVideo transformer from {} on {} ({}), {}", options.model.string(), options.device,
            options.dtype, parallelism());
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

bool HunyuanEngine::follow(const std::atomic<bool>& stopping) {
  auto& s = *impl_;
  require(s.distributed() && s.options.world->rank() != 0, "engine", "rank",
          "only ranks other than 0 of a context-parallel engine follow");
  while (true) {
    const auto command = s.options.commands->next(stopping);
    if (!command) return false;
    if (command->kind == RankCommand::Kind::stop) return true;
    try {
      s.run_job(command->request, nullptr, [&] { return stopping.load(); });
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::canceled) log::warn("engine: rank {}: job failed: {}", s.options.world->rank(), e.what());
    } catch (const std::exception& e) {
      log::warn("engine: rank {}: job failed: {}", s.options.world->rank(), e.what());
    }
  }
}

EnginePaths HunyuanEngine::paths() const { return {"llama+clip", "vae-streaming"}; }

void HunyuanEngine::run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel) {
  auto& s = *impl_;
  if (s.distributed()) {
    require(s.options.world->rank() == 0, "engine", "rank", "only rank 0 runs jobs; the others follow()");
    s.options.commands->publish({RankCommand::Kind::run, request});
  }
  s.run_job(request, &emit, [&] { return cancel.canceled(); });
  cancel.throw_if_canceled();
}

void HunyuanEngine::Impl::run_job(const JobRequest& request, const EventSink* emit,
                                  const std::function<bool()>& stop_wanted) {
  auto& s = *this;
  c10::InferenceMode guard;
  const auto prompt = s.embeddings(request.prompt);
  sampling::GenerationRequest g;
  g.num_frames = request.frames;
  g.height = request.height;
  g.width = request.width;
  g.steps = request.steps;
  g.shift = request.shift;
  g.guidance_scale = request.guidance;
  g.seed = static_cast<uint64_t>(request.seed);
  sampling::PipelineOptions pipeline_options;
  pipeline_options.context_parallel = s.context_parallel.get();
  sampling::GenerationPipeline pipeline(*s.transformer, s.scheduler, pipeline_options);
  pipeline.validate(g, prompt);

  std::unique_ptr<sampling::FirstBlockCache> cache;
  if (request.cache_threshold > 0) cache = std::make_unique<sampling::FirstBlockCache>(request.cache_threshold, s.world());
  auto step_start = Clock::now();
  sampling::StepHooks hooks;
  hooks.should_cancel = [&] { return s.agreed_stop(stop_wanted()); };
  // Only rank 0 reports; the others skip the preview work.
  if (emit != nullptr) hooks.on_step = [&](const sampling::StepEvent& e) {
    const int step = static_cast<int>(e.index + 1);
    const int steps = static_cast<int>(e.num_steps);
    (*emit)(Progress{step, steps, e.reused, seconds_since(step_start)});
    (*emit)(PreviewFrame{step, steps, nullptr, preview_latent(e.x0)});
    step_start = Clock::now();
  };
  const auto result = pipeline.generate(g, prompt, hooks, cache.get());

  // Final frames chunk by chunk from the streaming VAE: the first latent frame gives one video
  // frame, every later one four; each chunk is emitted as soon as it is decoded.
  model::vae::StreamingOptions streaming;
  streaming.unscale_latents = true;
  auto chunk_start = Clock::now();
  const bool done = model::vae::decode_streaming(
      // In the VAE's dtype, as diffusers hands them over.
      *s.vae, result.latents.to(s.dtype), model::vae::ChunkPlan{}, streaming,
      [&](const at::Tensor& frames, int64_t first_frame) {
        (*emit)(FrameChunk{static_cast<int>(first_frame), request.frames, seconds_since(chunk_start),
                           final_frames(frames)});
        chunk_start = Clock::now();
      },
      [&] { return s.agreed_stop(stop_wanted()); }, s.world());
  if (!done) throw Error(ErrorKind::canceled, "engine", "", "the job was canceled");
}

}  // namespace ditstream::engine
