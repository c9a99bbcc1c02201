// The whole service behind one object: job store, queue, stream hub, metrics, routes and the HTTP
// server, wired from explicit options. main() builds the options and the engine; tests do the same
// with their own engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "core/engine/engine.h"
#include "core/engine/job_queue.h"
#include "core/engine/metrics.h"
#include "core/engine/rank_health.h"
#include "stream/gst/ice_config.h"
#include "stream/vulkan/compositor_factory.h"
#include "web/api/http_server.h"
#include "web/api/video_request.h"

namespace ditstream::web {

struct ServiceOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port
  int http_threads = 4;
  std::string api_key;  // empty: no key needed
  std::filesystem::path recordings = "recordings";
  std::filesystem::path db = "ditstream.db";
  std::filesystem::path ui_folder;
  int queue_length = 8;
  bool pipeline_jobs = true;  // the next job denoises while the previous one finishes
  ServiceLimits limits;
  stream::IceConfig ice;
  std::string cors_origin = "*";
  std::string health_json = R"({"status":"ok"})";  // /healthz, with a "compositor" object added
  // Refreshes /healthz on every request (null: the document above, fixed): `members` (a JSON
  // object's text, e.g. {"rank_group": {...}}) are merged into it and `status` replaces its
  // "status"; "failed" makes /healthz answer 503.
  struct HealthUpdate {
    std::string status = "ok";  // ok | degraded | failed
    std::string members = "{}";
  };
  std::function<HealthUpdate()> health_update;
  // The frame path's compositors (made once at start-up); null: the automatic back-end choice.
  std::shared_ptr<const stream::CompositorFactory> compositors;

  void validate() const;
};

// /healthz of rank 0 over several ranks: {"rank_group": {...}} (RankGroupStatus::to_json) and the
// status: ok, degraded while the ranks restart, failed once they are not restarted any more.
std::function<ServiceOptions::HealthUpdate()> rank_group_health(const engine::RankHealth& health);

class Service {
 public:
  Service(ServiceOptions options, engine::Engine& engine);
  ~Service();
  void start();
  void stop();
  uint16_t port() const;
  engine::JobQueue& queue();
  engine::MetricsRegistry& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditstream::web
