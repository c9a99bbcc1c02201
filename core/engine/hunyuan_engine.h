// The HunyuanVideo engine: prompt → LLaMA-style + CLIP text encoders → denoising, every step's x0
// latent emitted as a preview (and, when asked, real-VAE previews of x0 decoded on a lane of their
// own while the next steps run) → streaming VAE decode, final frames emitted chunk by chunk (left
// in device memory on a GPU). Every job's status names the paths that ran ("text_path":
// "llama+clip", "decode_path": "vae-streaming").
//
// Lanes: denoising runs on a high-priority CUDA stream, real-VAE previews and final decodes on
// low-priority streams of their own (or the previews on another GPU), so the queue can denoise one
// job while the previous one's final decode runs. On the CPU each lane is its caller's thread.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/engine/engine.h"
#include "core/engine/rank_commands.h"
#include "core/engine/rank_health.h"
#include "core/parallel/communicator.h"
#include "core/parallel/mesh.h"
#include "core/sampling/pipeline.h"
#include "core/sampling/scheduler.h"

namespace ditstream::model::hunyuan_video {
class HunyuanVideoTransformer3DModel;
}
namespace ditstream::model::vae {
class AutoencoderKLHunyuanVideo;
}
namespace ditstream::text {
class PromptEncoder;
}

namespace ditstream::engine {

struct HunyuanEngineOptions {
  std::filesystem::path model;            // diffusers folder
  std::string device = "cpu";             // "cpu", "cuda", "cuda:1"
  std::string dtype = "float32";          // "float32" or "bfloat16"
  // A context-parallel engine: every rank builds one with the world communicator (size > 1) and
  // the command channel; rank 0 runs the jobs it is given (run()) and tells the others, which
  // follow(). The transformer then runs sequence-parallel over `mesh`, the VAE decodes its tiles
  // over all ranks. Both must outlive the engine. Its stages do not overlap across jobs (every
  // rank must meet the collectives in one order); real-VAE previews decode on rank 0 alone.
  parallel::Communicator* world = nullptr;
  RankCommands* commands = nullptr;
  parallel::MeshConfig mesh;
  // Rank 0 of several: the ranks' state (rank_health.h). While they restart, queued jobs wait;
  // once failed, new jobs are refused; a job that fails because the world broke fails with the
  // failure the health names. `world_failed` is told of a world that broke inside a job (an NCCL
  // error or timeout) before the health heard of it. Both optional; they must outlive the engine.
  RankHealth* rank_health = nullptr;
  std::function<void(const std::string&)> world_failed;
  // Real-VAE previews decode here: "" on `device` (a CUDA stream of their own there), or another
  // GPU ("cuda:1"), which then holds a copy of the VAE.
  std::string preview_device;
  // Real-VAE previews decode x0 average-pooled by this factor (1, 2 or 4): 1/factor² of the work;
  // the decoded pictures are scaled back up to the output size.
  int preview_vae_downscale = 1;
  // Memory (GiB) that jobs' work may use beside the loaded weights: real-VAE previews run only when
  // a job's denoising and one preview decode fit in it, and the queue overlaps two jobs only when
  // one's denoising and the other's final decode fit. 0: 90% of the device memory free after
  // loading (CUDA: free plus the allocator's unused cache; CPU: MemAvailable).
  double memory_budget_gib = 0;
  // The transformer's big linears in e4m3 with per-channel scales (model::Linear::quantize_fp8),
  // and its attention with FP8 operands (kernels::fp8_attention: CUDA, Hopper, bfloat16). Both
  // trade a measured error against bf16 for speed (docs/BENCHMARKS.md); the text encoders and the
  // VAE stay in `dtype`.
  bool fp8_linears = false;
  bool fp8_attention = false;
  // The final decode in this many horizontal bands of the frame (model::vae::row_bands), spread
  // over the ranks: 0 is one band per rank (the whole frame on one rank), 1 the whole frame.
  int decode_row_bands = 0;

  // Throws Error(invalid_argument) naming the option.
  void validate() const;
};

// What the denoising loop is asked for a job.
sampling::GenerationRequest generation_request(const JobRequest& request);

// The models an engine runs, already made: benchmarks with random full-size weights build them
// in place of a model folder (options.model is then not read).
struct HunyuanEngineParts {
  std::unique_ptr<model::hunyuan_video::HunyuanVideoTransformer3DModel> transformer;
  sampling::FlowMatchEulerDiscreteSchedulerConfig scheduler;
  std::unique_ptr<text::PromptEncoder> text_encoder;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> vae;
  std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> preview_vae;  // on options.preview_device when it differs

  HunyuanEngineParts();
  HunyuanEngineParts(HunyuanEngineParts&&) noexcept;
  ~HunyuanEngineParts();
};

class HunyuanEngine : public Engine {
 public:
  // Loads the model; throws Error naming the folder or field that is wrong.
  explicit HunyuanEngine(const HunyuanEngineOptions& options);
  // Runs `parts` on options.device in options.dtype (they must be there already).
  HunyuanEngine(const HunyuanEngineOptions& options, HunyuanEngineParts parts);
  ~HunyuanEngine() override;
  EnginePaths paths() const override;
  std::unique_ptr<Finisher> denoise(const JobRequest& request, const EventSink& emit, const CancelToken& cancel,
                                    Timeline& timeline) override;
  StageMemory stage_memory(const JobRequest& request) const override;
  int64_t memory_budget() const override;
  bool overlaps_stages() const override;
  EngineReadiness readiness() const override;
  void on_readiness_change(std::function<void()> changed) override;

  // Rank 0, after the other ranks were restarted: runs on `world` and `commands` (a new world of
  // the same size) from now on. Waits for a job still using the old world to end, then forms the
  // mesh's groups on the new one (a collective: the new ranks do it while building their
  // engines). A job denoised on the old world fails instead of finishing on the new one.
  void rebind_world(parallel::Communicator* world, RankCommands* commands);

  // Ranks other than 0: runs every job rank 0 publishes, until rank 0 says stop (returns true)
  // or `stopping` is set while waiting for a job (returns false). A job that fails here is logged;
  // rank 0 reports it (the collectives it waits on fail or time out). A job that broke the world
  // communicator throws ditstream::Error (unavailable): this rank cannot run another job, and its
  // process exits so that the launcher starts the ranks again.
  bool follow(const std::atomic<bool>& stopping);
  // "1 GPU" or e.g. "2 ranks, ulysses 2 x ring 1".
  std::string parallelism() const;
  // The transformer's arithmetic: "bfloat16", "bfloat16, fp8 linears, fp8 attention", ...
  std::string precision() const;

 private:
  struct Impl;
  class HunyuanFinisher;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditstream::engine
