#include "web/generate.h"

#include "core/engine/job_queue.h"
#include "core/engine/job_store.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/gst/stream_hub.h"

namespace ditstream::web {

void generate_to_file(engine::Engine& engine, const engine::JobRequest& request, const std::filesystem::path& out,
                      std::shared_ptr<const stream::CompositorFactory> compositors) {
  const auto work = out.parent_path().empty() ? std::filesystem::path(".") : out.parent_path();
  const auto recordings = work / (".ditstream-" + out.filename().string() + ".d");
  engine::MetricsRegistry registry;
  engine::ServiceMetrics metrics(registry);
  engine::JobStore store(":memory:");
  stream::StreamHub hub({recordings, {}, std::chrono::seconds(0), std::move(compositors)}, &metrics);
  engine::JobQueue queue(engine, store, {1, 1}, &metrics);
  queue.add_observer(&hub);
  queue.start();
  const auto submitted = queue.submit(request);
  const auto reader = queue.subscribe(submitted.id);
  while (!reader->ended()) {
    const auto event = reader->next(std::chrono::milliseconds(500));
    if (!event) continue;
    if (const auto* p = std::get_if<engine::Progress>(&*event)) {
      log::info("step {}/{}{} {:.3f} s", p->step, p->steps, p->reused ? " (reused)" : "", p->step_seconds);
    }
  }
  queue.stop();
  const auto record = queue.get(submitted.id);
  if (record.status != engine::JobStatus::completed) {
    std::filesystem::remove_all(recordings);
    throw Error(ErrorKind::internal, "generate", "", "the job " + std::string(engine::to_string(record.status)) + ": " + record.error);
  }
  std::filesystem::rename(hub.recording_path(submitted.id), out);
  std::filesystem::remove_all(recordings);
  for (const auto& [stage, seconds] : record.timings) log::info("{}: {:.3f} s", stage, seconds);
  log::info("wrote {} ({} frames, text: {}, decode: {})", out.string(), record.frames_done, record.text_path, record.decode_path);
}

}  // namespace ditstream::web
