// Follows every job for the stream side: a live stream per job (previews, final frames, loop) that
// viewers join over WHEP, and the mp4 recording of the final frames, renamed into the recordings
// folder when the job completes. Every frame goes through a compositor of the job's size (made by
// the process's CompositorFactory at the job's first frame, released when it ends). Knows frames
// and events, never the model.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "core/engine/job_queue.h"
#include "stream/gst/ice_config.h"
#include "stream/gst/live_stream.h"
#include "stream/gst/recorder.h"
#include "stream/job_compositor.h"
#include "stream/vulkan/compositor_factory.h"

namespace ditstream::stream {

struct StreamHubOptions {
  std::filesystem::path recordings;  // finished mp4 files, "<id>.mp4"
  IceConfig ice;
  // A finished job's live stream (the clip on a loop) is dropped after this long without viewers.
  std::chrono::seconds linger{300};
  // The process's compositors; null: one with the automatic back-end choice is made.
  std::shared_ptr<const CompositorFactory> compositors;
};

class StreamHub : public engine::JobObserver {
 public:
  StreamHub(StreamHubOptions options, engine::ServiceMetrics* metrics);
  ~StreamHub() override;

  void on_submitted(const std::string& id, const engine::JobRequest& request) override;
  void on_event(const std::string& id, const engine::Event& event) override;
  std::string finalize(const std::string& id, engine::JobStatus status) override;
  void on_removed(const std::string& id) override;

  // Throws Error(conflict) when the job has no live stream any more (finished long ago or before a
  // restart: its recording is what is left).
  WhepAnswer add_viewer(const std::string& id, const std::string& offer);
  void remove_viewer(const std::string& id, const std::string& session_id);
  // The recording of a completed job, inside the recordings folder.
  std::filesystem::path recording_path(const std::string& id) const;
  const CompositorFactory& compositors() const { return *options_.compositors; }

 private:
  struct Job {
    engine::JobRequest request;
    std::shared_ptr<LiveStream> live;
    std::unique_ptr<Recorder> recorder;
    std::unique_ptr<JobCompositor> frames;  // from the first frame to the end of the job
    // Real-VAE previews come from a thread of their own while the denoising thread sends the cheap
    // ones: the compositor takes one job thread at a time.
    std::shared_ptr<std::mutex> composing = std::make_shared<std::mutex>();
    bool vae_previews = false;  // a real-VAE preview arrived: cheap previews no longer replace it
  };
  std::shared_ptr<LiveStream> live(const std::string& id) const;
  JobCompositor& job_compositor(const std::string& id, int width, int height);
  void drop_idle_streams();

  StreamHubOptions options_;
  engine::ServiceMetrics* metrics_;
  mutable std::mutex mutex_;
  std::map<std::string, Job> jobs_;
};

}  // namespace ditstream::stream
