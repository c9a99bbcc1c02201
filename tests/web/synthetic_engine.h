// A test fixture engine: no model, just the event rhythm of one (steps with previews, real-VAE
// preview chunks decoded on a thread of their own every k steps, then decode chunks of final
// frames), with colours a receiver can tell apart: previews are latent frames whose latent→RGB
// projection is blue, real-VAE previews green pictures, final frames red pictures. Everything is
// in host memory. It records the same kind of timeline as a real engine, and can run out of memory
// on request.
#pragma once

#include <cstdint>
#include <chrono>
#include <string>

#include "core/engine/engine.h"
#include "core/engine/rank_health.h"

namespace ditstream::testing {

struct SyntheticEngineOptions {
  std::chrono::milliseconds step_time{20};
  std::chrono::milliseconds chunk_time{20};
  std::chrono::milliseconds preview_chunk_time{5};  // one real-VAE preview chunk
  // What every job's stages need and what the engine has: the queue overlaps two jobs' stages only
  // when finish + denoise fit the budget.
  engine::StageMemory stage_memory{};
  int64_t memory_budget = engine::kUnlimitedMemory;
  bool overlaps_stages = true;  // false: like an engine over several ranks
  // Like rank 0 over several ranks: jobs wait while the ranks restart, none are taken once they
  // failed, and a running job fails at its next step when the ranks break (with the health's
  // error). Null: always ready.
  engine::RankHealth* rank_health = nullptr;
};

// A job whose prompt contains one of these runs out of memory (std::bad_alloc) at its second step
// or at its first final chunk.
inline constexpr const char* kOutOfMemoryWhileDenoising = "[oom-denoise]";
inline constexpr const char* kOutOfMemoryWhileFinishing = "[oom-finish]";

class SyntheticEngine : public engine::Engine {
 public:
  explicit SyntheticEngine(SyntheticEngineOptions options = {}) : options_(options) {}
  engine::EnginePaths paths() const override { return {"synthetic", "synthetic"}; }
  std::unique_ptr<engine::Finisher> denoise(const engine::JobRequest& request, const engine::EventSink& emit,
                                            const engine::CancelToken& cancel, engine::Timeline& timeline) override;
  engine::StageMemory stage_memory(const engine::JobRequest&) const override { return options_.stage_memory; }
  int64_t memory_budget() const override { return options_.memory_budget; }
  bool overlaps_stages() const override { return options_.overlaps_stages; }
  engine::EngineReadiness readiness() const override {
    return options_.rank_health ? engine::readiness_of(*options_.rank_health) : engine::EngineReadiness{};
  }
  void on_readiness_change(std::function<void()> changed) override {
    if (options_.rank_health) {
      options_.rank_health->add_listener([changed](const engine::RankGroupStatus&, engine::RankGroupState) { changed(); });
    }
  }

  // The colour of a frame: previews (0, 0, 200), real-VAE previews (0, 200, 0), final frames (200, 0, 0).
  static engine::FramePtr solid(int width, int height, uint8_t r, uint8_t g, uint8_t b);
  // A latent frame [16, height, width] that the HunyuanVideo latent→RGB factors project to
  // (r, g, b) everywhere (the least-norm solution).
  static engine::LatentPtr solid_latent(int width, int height, uint8_t r, uint8_t g, uint8_t b);

 private:
  SyntheticEngineOptions options_;
};

}  // namespace ditstream::testing
