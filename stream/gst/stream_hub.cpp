#include "stream/gst/stream_hub.h"

#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/stream_info.h"

namespace ditstream::stream {

StreamHub::StreamHub(StreamHubOptions options, engine::ServiceMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  init_streaming();
  if (!options_.compositors) options_.compositors = std::make_shared<CompositorFactory>(CompositorOptions{});
  std::error_code ec;
  std::filesystem::create_directories(options_.recordings, ec);
  if (ec || !std::filesystem::is_directory(options_.recordings)) {
    throw Error(ErrorKind::unavailable, "recordings", "recordings",
                "cannot create folder '" + options_.recordings.string() + "': " + ec.message());
  }
  options_.ice.validate();
  // Temp files of recordings that never completed (the service stopped mid-job).
  for (const auto& entry : std::filesystem::directory_iterator(options_.recordings)) {
    if (entry.path().extension() == ".part") std::filesystem::remove(entry.path(), ec);
  }
}

StreamHub::~StreamHub() {
  std::map<std::string, Job> jobs;
  {
    std::lock_guard lock(mutex_);
    jobs.swap(jobs_);
  }
  jobs.clear();
}

void StreamHub::on_submitted(const std::string& id, const engine::JobRequest& request) {
  drop_idle_streams();
  auto live = std::make_shared<LiveStream>(request.width, request.height, request.fps, options_.ice, metrics_);
  std::lock_guard lock(mutex_);
  jobs_[id] = Job{request, std::move(live)};
}

void StreamHub::on_event(const std::string& id, const engine::Event& event) {
  const auto* preview = std::get_if<engine::PreviewFrame>(&event);
  const auto* vae_preview = std::get_if<engine::PreviewChunk>(&event);
  const auto* chunk = std::get_if<engine::FrameChunk>(&event);
  std::unique_lock lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  const engine::JobRequest request = job.request;
  const std::shared_ptr<LiveStream> live = job.live;
  if (engine::is_terminal(event)) {
    const std::unique_ptr<JobCompositor> frames = std::move(job.frames);
    lock.unlock();
    live->end();
    return;
  }
  if (!preview && !vae_preview && !chunk) return;
  // Real-VAE preview pictures are the preview phase's better ones: from the first on, they are what
  // the stream shows until the final frames come.
  if (preview && job.vae_previews) return;
  if (vae_preview) {
    if (vae_preview->frames.empty()) return;
    job.vae_previews = true;
  }
  if (chunk && !job.recorder) {
    job.recorder = std::make_unique<Recorder>(options_.recordings / (id + ".mp4.part"), request.width, request.height,
                                              request.fps);
  }
  // The job's threads (denoising, real-VAE previews, finishing) take turns on its compositor; only
  // the finishing one touches its recorder.
  Recorder* recorder = job.recorder.get();
  const std::shared_ptr<std::mutex> composing = job.composing;
  lock.unlock();
  std::lock_guard compose(*composing);
  JobCompositor& frames = job_compositor(id, request.width, request.height);
  if (preview) {
    live->show_preview(frames.preview(*preview));
    return;
  }
  if (vae_preview) {
    // The chunk's last picture: the stream keeps only the newest preview anyway.
    live->show_preview(frames.preview(engine::PreviewFrame{vae_preview->step, vae_preview->steps,
                                                           vae_preview->frames.back(), nullptr}));
    return;
  }
  auto composed = frames.final_frames(*chunk, request.steps);
  for (const auto& f : composed.recorded) recorder->push(f);
  live->add_final_frames(std::move(composed.shown), std::move(composed.recorded));
}

JobCompositor& StreamHub::job_compositor(const std::string& id, int width, int height) {
  {
    std::lock_guard lock(mutex_);
    if (auto& frames = jobs_.at(id).frames) return *frames;
  }
  // Made outside the lock: it allocates the compositor's buffers.
  auto compositor = options_.compositors->make(width, height);
  auto device_input = options_.compositors->device_input(*compositor);
  auto frames = std::make_unique<JobCompositor>(std::move(compositor), std::move(device_input));
  std::lock_guard lock(mutex_);
  return *(jobs_.at(id).frames = std::move(frames));
}

std::string StreamHub::finalize(const std::string& id, engine::JobStatus status) {
  std::unique_ptr<Recorder> recorder;
  std::unique_ptr<JobCompositor> frames;
  {
    std::lock_guard lock(mutex_);
    const auto it = jobs_.find(id);
    if (it == jobs_.end()) return "";
    recorder = std::move(it->second.recorder);
    frames = std::move(it->second.frames);
  }
  frames.reset();
  if (!recorder) {
    if (status == engine::JobStatus::completed) throw Error(ErrorKind::internal, "recorder", "", "the job produced no frames");
    return "";
  }
  const auto part = recorder->file();
  if (status != engine::JobStatus::completed) {
    recorder.reset();
    std::error_code ec;
    std::filesystem::remove(part, ec);
    return "";
  }
  recorder->finish();
  recorder.reset();
  const std::string name = id + ".mp4";
  std::filesystem::rename(part, options_.recordings / name);
  return name;
}

void StreamHub::on_removed(const std::string& id) {
  std::shared_ptr<LiveStream> live;
  {
    std::lock_guard lock(mutex_);
    if (auto it = jobs_.find(id); it != jobs_.end()) {
      live = std::move(it->second.live);
      jobs_.erase(it);
    }
  }
  live.reset();
  std::error_code ec;
  std::filesystem::remove(recording_path(id), ec);
}

std::shared_ptr<LiveStream> StreamHub::live(const std::string& id) const {
  std::lock_guard lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    throw Error(ErrorKind::conflict, "WHEP", "id",
                "video '" + id + "' has no live stream any more; download its recording instead");
  }
  return it->second.live;
}

WhepAnswer StreamHub::add_viewer(const std::string& id, const std::string& offer) {
  drop_idle_streams();
  return live(id)->add_viewer(offer);
}

void StreamHub::remove_viewer(const std::string& id, const std::string& session_id) {
  std::shared_ptr<LiveStream> stream;
  {
    std::lock_guard lock(mutex_);
    const auto it = jobs_.find(id);
    if (it == jobs_.end()) throw Error(ErrorKind::not_found, "WHEP", "session", "no WHEP session '" + session_id + "'");
    stream = it->second.live;
  }
  stream->remove_viewer(session_id);
}

std::filesystem::path StreamHub::recording_path(const std::string& id) const {
  return options_.recordings / (id + ".mp4");
}

void StreamHub::drop_idle_streams() {
  std::vector<std::shared_ptr<LiveStream>> dropped;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      const auto& live = it->second.live;
      if (live->ended() && live->viewers() == 0 && now - live->last_activity() > options_.linger) {
        dropped.push_back(live);
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace ditstream::stream
