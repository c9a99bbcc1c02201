// A test fixture engine: no model, just the event rhythm of one (steps with previews, then decode
// chunks of final frames), with colours a receiver can tell apart: previews are latent frames whose
// latent→RGB projection is blue, final frames are red pictures. Everything is in host memory.
#pragma once

#include <cstdint>
#include <chrono>

#include "core/engine/engine.h"

namespace ditstream::testing {

struct SyntheticEngineOptions {
  std::chrono::milliseconds step_time{20};
  std::chrono::milliseconds chunk_time{20};
};

class SyntheticEngine : public engine::Engine {
 public:
  explicit SyntheticEngine(SyntheticEngineOptions options = {}) : options_(options) {}
  engine::EnginePaths paths() const override { return {"synthetic", "synthetic"}; }
  void run(const engine::JobRequest& request, const engine::EventSink& emit, const engine::CancelToken& cancel) override;

  // The colour of a frame: previews (0, 0, 200), final frames (200, 0, 0).
  static engine::FramePtr solid(int width, int height, uint8_t r, uint8_t g, uint8_t b);
  // A latent frame [16, height, width] that the HunyuanVideo latent→RGB factors project to
  // (r, g, b) everywhere (the least-norm solution).
  static engine::LatentPtr solid_latent(int width, int height, uint8_t r, uint8_t g, uint8_t b);

 private:
  SyntheticEngineOptions options_;
};

}  // namespace ditstream::testing
