// What runs a job: an Engine takes a request and emits typed events until the job is done.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "core/engine/events.h"
#include "core/engine/job.h"

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

using EventSink = std::function<void(Event)>;

// Which implementation paths an engine runs; reported in every job's status.
struct EnginePaths {
  std::string text_path;    // e.g. "llama+clip"
  std::string decode_path;  // e.g. "vae-streaming"
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual EnginePaths paths() const = 0;
  // Runs one job to the end: emits Progress, PreviewFrame and FrameChunk events, returns when all
  // frames were emitted. Throws Error(canceled) when `cancel` was set, any Error on failure.
  virtual void run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel) = 0;
};

}  // namespace ditstream::engine
