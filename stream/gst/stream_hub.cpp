#include "stream/gst/stream_hub.h"

#include <fmt/format.h>

#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/stream_info.h"

namespace ditstream::stream {

StreamHub::StreamHub(StreamHubOptions options, engine::ServiceMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  init_streaming();
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
  jobs_[id] = Job{request, std::move(live), nullptr, false};
}

void StreamHub::on_event(const std::string& id, const engine::Event& event) {
  std::unique_lock lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  const int w = job.request.width, h = job.request.height;
  const std::shared_ptr<LiveStream> live = job.live;
  if (const auto* v = std::get_if<engine::PreviewChunk>(&event)) {
    // Real-VAE preview frames are the preview phase's better pictures: from the first one on, they
    // are what the stream shows until the final frames come.
    job.vae_previews = true;
    lock.unlock();
    for (const auto& f : v->frames) {
      I420Frame frame = to_i420(*f, w, h);
      draw_label(frame, fmt::format("{}/{}", v->step, v->steps));
      live->show_preview(std::move(frame));
    }
  } else if (const auto* p = std::get_if<engine::PreviewFrame>(&event)) {
    if (job.vae_previews) return;
    lock.unlock();
    I420Frame frame = to_i420(*p->frame, w, h);
    draw_label(frame, fmt::format("{}/{}", p->step, p->steps));
    live->show_preview(std::move(frame));
  } else if (const auto* c = std::get_if<engine::FrameChunk>(&event)) {
    if (!job.recorder) {
      job.recorder = std::make_unique<Recorder>(options_.recordings / (id + ".mp4.part"), w, h, job.request.fps);
    }
    // Only the job's own thread (this one) touches or ends the recorder while it runs.
    Recorder* recorder = job.recorder.get();
    lock.unlock();
    std::vector<I420Frame> frames;
    frames.reserve(c->frames.size());
    for (const auto& f : c->frames) {
      frames.push_back(to_i420(*f, w, h));
      recorder->push(frames.back());
    }
    live->add_final_frames(std::move(frames));
  } else if (engine::is_terminal(event)) {
    live->end();
  }
}

std::string StreamHub::finalize(const std::string& id, engine::JobStatus status) {
  std::unique_ptr<Recorder> recorder;
  {
    std::lock_guard lock(mutex_);
    const auto it = jobs_.find(id);
    if (it == jobs_.end()) return "";
    recorder = std::move(it->second.recorder);
  }
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
