#include "web/api/service.h"

#include <nlohmann/json.hpp>

#include "core/engine/job_store.h"
#include "core/util/error.h"
#include "stream/gst/stream_hub.h"
#include "web/api/router.h"
#include "web/api/routes.h"

namespace ditstream::web {

namespace {

// /healthz: the caller's document with the compositor's back-end, device, reason and interop.
std::string health_with_compositor(const std::string& health_json, const stream::CompositorInfo& info) {
  nlohmann::json health = nlohmann::json::parse(health_json);
  health["compositor"] = {{"backend", stream::to_string(info.backend)},
                          {"device", info.device},
                          {"reason", info.reason},
                          {"cuda_interop", info.cuda_interop}};
  return health.dump();
}

}  // namespace

std::function<ServiceOptions::HealthUpdate()> rank_group_health(const engine::RankHealth& health) {
  return [&health] {
    const auto status = health.status();
    const char* overall = status.state == engine::RankGroupState::ok           ? "ok"
                          : status.state == engine::RankGroupState::restarting ? "degraded"
                                                                               : "failed";
    return ServiceOptions::HealthUpdate{overall, R"({"rank_group":)" + status.to_json() + "}"};
  };
}

void ServiceOptions::validate() const {
  limits.validate();
  require(queue_length >= 1 && queue_length <= 10000, "service", "queue_length", "must be in [1, 10000]");
  require(http_threads >= 1 && http_threads <= 64, "service", "http_threads", "must be in [1, 64]");
  ice.validate();
  require(nlohmann::json::accept(health_json), "service", "health_json", "is not a JSON document");
}

struct Service::Impl {
  ServiceOptions options;
  engine::MetricsRegistry registry;
  engine::ServiceMetrics metrics{registry};
  engine::JobStore store;
  stream::StreamHub hub;
  engine::JobQueue queue;
  RouteContext context;
  Router router;
  HttpServer server;

  Impl(ServiceOptions o, engine::Engine& engine)
      : options(std::move(o)),
        store(options.db),
        hub({options.recordings, options.ice, std::chrono::seconds(300), options.compositors}, &metrics),
        queue(engine, store, {options.queue_length, 64, options.pipeline_jobs}, &metrics),
        context{queue, hub, registry, options.limits, options.ui_folder,
                health_with_compositor(options.health_json, hub.compositors().info()), options.health_update},
        router({options.api_key, options.cors_origin, [this] { return queue.retry_after_seconds(); }}),
        server({options.bind, options.port, options.http_threads, options.limits.max_body_bytes},
               [this](const HttpRequest& request) { return router.dispatch(request); }) {
    queue.add_observer(&hub);
    add_video_routes(router, context);
    add_whep_routes(router, context);
    add_metrics_routes(router, context);
    add_ui_routes(router, context);
  }
};

Service::Service(ServiceOptions options, engine::Engine& engine) {
  options.validate();
  impl_ = std::make_unique<Impl>(std::move(options), engine);
}

Service::~Service() { stop(); }

void Service::start() {
  impl_->queue.start();
  impl_->server.start();
}

void Service::stop() {
  if (!impl_) return;
  impl_->server.stop();
  impl_->queue.stop();
}

uint16_t Service::port() const { return impl_->server.port(); }
engine::JobQueue& Service::queue() { return impl_->queue; }
engine::MetricsRegistry& Service::metrics() { return impl_->registry; }

}  // namespace ditstream::web
