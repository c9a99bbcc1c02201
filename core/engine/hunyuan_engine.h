// The HunyuanVideo engine: prompt → LLaMA-style + CLIP text encoders → denoising, every step's x0
// latent emitted as a preview → streaming VAE decode, final frames emitted chunk by chunk (left in
// device memory on a GPU). Every
// job's status names the paths that ran ("text_path": "llama+clip", "decode_path": "vae-streaming").
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "core/engine/engine.h"

namespace ditstream::engine {

struct HunyuanEngineOptions {
  std::filesystem::path model;            // diffusers folder
  std::string device = "cpu";             // "cpu", "cuda", "cuda:1"
  std::string dtype = "float32";          // "float32" or "bfloat16"
};

class HunyuanEngine : public Engine {
 public:
  // Loads the model; throws Error naming the folder or field that is wrong.
  explicit HunyuanEngine(const HunyuanEngineOptions& options);
  ~HunyuanEngine() override;
  EnginePaths paths() const override;
  void run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditstream::engine
