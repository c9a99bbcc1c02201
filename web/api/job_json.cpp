#include "web/api/job_json.h"

namespace ditstream::web {
namespace {
using nlohmann::json;
using engine::Overloaded;

json preview_every_json(int every) { return every == engine::kPreviewVaeAuto ? json("auto") : json(every); }

// Spans with start/end in seconds after the job was created, so a chart needs no clock.
json timeline_json(const engine::JobRecord& r) {
  json spans = json::array();
  for (const auto& s : r.timeline) {
    spans.push_back({{"what", s.what}, {"lane", s.lane}, {"start", s.start - r.created_at}, {"end", s.end - r.created_at}});
  }
  return spans;
}
}  // namespace

json to_json(const engine::JobRecord& r, std::optional<int> queue_position) {
  const auto& q = r.request;
  const std::string base = "/v1/videos/" + r.id;
  json j = {
      {"id", r.id},
      {"object", "video"},
      {"status", std::string(engine::to_string(r.status))},
      {"created_at", r.created_at},
      {"started_at", r.started_at > 0 ? json(r.started_at) : json(nullptr)},
      {"completed_at", r.finished_at > 0 ? json(r.finished_at) : json(nullptr)},
      {"prompt", q.prompt},
      {"width", q.width},
      {"height", q.height},
      {"size", std::to_string(q.width) + "x" + std::to_string(q.height)},
      {"frames", q.frames},
      {"steps", q.steps},
      {"seed", q.seed},
      {"shift", q.shift},
      {"guidance", q.guidance},
      {"cache_threshold", q.cache_threshold},
      {"fps", q.fps},
      {"preview_vae_every", preview_every_json(q.preview_vae_every)},
      {"step", r.step},
      {"progress", q.steps > 0 ? 100 * r.step / q.steps : 0},
      {"computed_steps", r.computed_steps},
      {"reused_steps", r.reused_steps},
      {"frames_done", r.frames_done},
      {"text_path", r.text_path},
      {"decode_path", r.decode_path},
      {"preview_path", r.preview_path},
      {"timings", r.timings},
      {"timeline", timeline_json(r)},
      {"events_url", base + "/events"},
      {"whep_url", base + "/whep"},
  };
  if (r.status == engine::JobStatus::completed) j["progress"] = 100;
  if (queue_position) j["queue_position"] = *queue_position;
  if (!r.error.empty()) j["error"] = {{"code", std::string(engine::to_string(r.status))}, {"message", r.error}};
  if (!r.recording.empty()) j["content_url"] = base + "/content";
  if (!r.notes.empty()) j["notes"] = r.notes;
  return j;
}

json to_json(const engine::Event& event) {
  using namespace engine;
  return std::visit(Overloaded{
                        [](const Queued& e) { return json{{"position", e.position}}; },
                        [](const Started& e) { return json{{"text_path", e.text_path}, {"decode_path", e.decode_path}}; },
                        [](const Progress& e) {
                          return json{{"step", e.step}, {"steps", e.steps}, {"reused", e.reused}, {"step_seconds", e.step_seconds}};
                        },
                        [](const PreviewFrame& e) { return json{{"step", e.step}, {"steps", e.steps}}; },
                        [](const FrameChunk& e) {
                          return json{{"first_frame", e.first_frame},
                                      {"frames", e.frames.size()},
                                      {"frames_total", e.frames_total},
                                      {"decode_seconds", e.decode_seconds}};
                        },
                        [](const Finished& e) { return json{{"frames", e.frames}}; },
                        [](const Failed& e) { return json{{"error", e.reason}}; },
                        [](const Canceled&) { return json::object(); },
                        [](const PreviewPlan& e) {
                          json j{{"path", e.path}, {"vae_every", preview_every_json(e.vae_every)}, {"lane", e.lane}};
                          if (!e.note.empty()) j["note"] = e.note;
                          return j;
                        },
                        [](const PreviewChunk& e) {
                          return json{{"step", e.step},
                                      {"steps", e.steps},
                                      {"first_frame", e.first_frame},
                                      {"frames", e.frames.size()},
                                      {"frames_total", e.frames_total},
                                      {"decode_seconds", e.decode_seconds},
                                      {"age_seconds", e.age_seconds}};
                        },
                    },
                    event);
}

std::string to_sse(const engine::Event& event) {
  return "event: " + std::string(engine::event_name(event)) + "\ndata: " +
         to_json(event).dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace ditstream::web
