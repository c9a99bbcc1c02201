// What runs a job: an Engine takes a request and emits typed events until the job is done. A job
// has two stages, so the queue can overlap them across jobs: denoise (text encoding, denoising,
// previews) returns a Finisher, and the Finisher's finish (final decode) emits the final frames
// while the engine may already denoise the next job.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/engine/events.h"
#include "core/engine/job.h"
#include "core/engine/timeline.h"

namespace ditstream::engine {

// Set by the queue when the job's owner cancels it; engines check it between steps and chunks.
class CancelToken {
 public:
  void cancel() { canceled_.store(true); }
  bool canceled() const { return canceled_.load(); }
  // Throws Error(canceled) when set: engines call it at every point where stopping is safe.
  void throw_if_canceled() const;

 private:
  std::atomic<bool> canceled_{false};
};

// Receives a job's events. An engine may call it from more than one thread of the same job (real-VAE
// previews are emitted by the thread that decodes them), so a sink must be thread-safe.
using EventSink = std::function<void(Event)>;

// Which implementation paths an engine runs; reported in every job's status.
struct EnginePaths {
  std::string text_path;    // e.g. "llama+clip"
  std::string decode_path;  // e.g. "vae-streaming"
};

// Memory the stages of one job need beside the engine's loaded weights (bytes, estimated).
struct StageMemory {
  int64_t denoise = 0;  // text encoding and denoising, with the job's real-VAE previews
  int64_t finish = 0;   // the final decode
};
inline constexpr int64_t kUnlimitedMemory = INT64_MAX;

// The rest of a job after denoising. It owns what it needs (the final latents), so the engine can
// start the next job's denoise while it runs.
class Finisher {
 public:
  virtual ~Finisher() = default;
  // Emits FrameChunk events until every frame was emitted. Throws Error(canceled) when `cancel`
  // was set, any Error on failure.
  virtual void finish(const EventSink& emit, const CancelToken& cancel, Timeline& timeline) = 0;
};

// Whether an engine can run jobs now (see Engine::readiness).
struct EngineReadiness {
  bool starts = true;   // queued jobs may start; false while the engine recovers (they wait)
  bool accepts = true;  // new jobs are taken; false when it cannot run any more (submit: 503)
  std::string reason;   // why not, for the job's note or the 503
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual EnginePaths paths() const = 0;

  // Stage one: emits Progress and PreviewFrame events (and PreviewPlan/PreviewChunk for real-VAE
  // previews), records its spans on `timeline`, returns the job's Finisher. Throws Error(canceled)
  // when `cancel` was set, any Error on failure. One denoise runs at a time; it may run while an
  // earlier job's Finisher does. `timeline` must outlive the Finisher (work the denoise started may
  // end beside the final decode and still records its span).
  virtual std::unique_ptr<Finisher> denoise(const JobRequest& request, const EventSink& emit,
                                            const CancelToken& cancel, Timeline& timeline) = 0;

  // What each stage of `request` needs, for the queue's admission of overlapping stages.
  virtual StageMemory stage_memory(const JobRequest& request) const { return {}; }
  // Memory available to job stages beside the weights; kUnlimitedMemory when not limited.
  virtual int64_t memory_budget() const { return kUnlimitedMemory; }
  // Whether one job's denoise may run while another's Finisher does at all (an engine whose stages
  // share collectives with other processes cannot interleave them).
  virtual bool overlaps_stages() const { return true; }
  // Asked by the queue before it starts a job and when one is submitted; thread-safe.
  virtual EngineReadiness readiness() const { return {}; }
  // Subscribes `changed` to every change of readiness() (it runs on whichever thread made the
  // change), so the queue waits for one instead of asking again and again. The subscription lasts
  // as long as the engine. Engines whose readiness never changes ignore it.
  virtual void on_readiness_change(std::function<void()> changed) {}

  // Both stages one after the other.
  void run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel);
  void run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel, Timeline& timeline);
};

}  // namespace ditstream::engine
