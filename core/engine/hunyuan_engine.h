// The HunyuanVideo engine: prompt → embeddings → denoising with a preview of every step's x0 →
// final frames. Paths that are not in the build yet stand in visibly: without the text encoders the
// prompt embeddings come from a deterministic hash of the prompt ("text_path": "prompt-hash"),
// without the VAE the final frames are the latent→RGB map of the final latents, upscaled by the
// stream ("decode_path": "latent-rgb"). Every job's status names the paths that ran.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "core/engine/engine.h"

namespace ditstream::engine {

struct HunyuanEngineOptions {
  std::filesystem::path model;            // diffusers folder
  std::filesystem::path preview_factors;  // latent→RGB factors (models/hunyuan_video_latent_rgb.json)
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
