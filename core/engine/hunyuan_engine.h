// The HunyuanVideo engine: prompt → LLaMA-style + CLIP text encoders → denoising with a latent→RGB
// preview of every step's x0 → streaming VAE decode, final frames emitted chunk by chunk. Every
// job's status names the paths that ran ("text_path": "llama+clip", "decode_path": "vae-streaming").
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "core/engine/engine.h"
#include "core/engine/rank_commands.h"
#include "core/parallel/communicator.h"
#include "core/parallel/mesh.h"

namespace ditstream::engine {

struct HunyuanEngineOptions {
  std::filesystem::path model;            // diffusers folder
  std::filesystem::path preview_factors;  // latent→RGB factors (models/hunyuan_video_latent_rgb.json)
  std::string device = "cpu";             // "cpu", "cuda", "cuda:1"
  std::string dtype = "float32";          // "float32" or "bfloat16"
  // A context-parallel engine: every rank builds one with the world communicator (size > 1) and
  // the command channel; rank 0 runs the jobs it is given (run()) and tells the others, which
  // follow(). The transformer then runs sequence-parallel over `mesh`, the VAE decodes its tiles
  // over all ranks. Both must outlive the engine.
  parallel::Communicator* world = nullptr;
  RankCommands* commands = nullptr;
  parallel::MeshConfig mesh;
};

class HunyuanEngine : public Engine {
 public:
  // Loads the model; throws Error naming the folder or field that is wrong.
  explicit HunyuanEngine(const HunyuanEngineOptions& options);
  ~HunyuanEngine() override;
  EnginePaths paths() const override;
  void run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel) override;

  // Ranks other than 0: runs every job rank 0 publishes, until rank 0 says stop (returns true)
  // or `stopping` is set while waiting for a job (returns false). A job that fails here is logged;
  // rank 0 reports it (the collectives it waits on fail or time out).
  bool follow(const std::atomic<bool>& stopping);
  // "1 GPU" or e.g. "2 ranks, ulysses 2 x ring 1".
  std::string parallelism() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditstream::engine
