// Prometheus metrics and the health check.
#include "web/api/routes.h"

#include <nlohmann/json.hpp>

namespace ditstream::web {

void add_metrics_routes(Router& router, RouteContext& c) {
  router.add({"GET", "/metrics", [&c](const HttpRequest&, const PathParams&) {
                return HttpResponse::text(200, c.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
              }});
  router.add({"GET", "/healthz", [&c](const HttpRequest&, const PathParams&) {
                if (!c.health_update) return HttpResponse::text(200, c.health_json, "application/json");
                const auto update = c.health_update();
                auto health = nlohmann::json::parse(c.health_json);
                health.update(nlohmann::json::parse(update.members));
                health["status"] = update.status;
                return HttpResponse::text(update.status == "failed" ? 503 : 200, health.dump(), "application/json");
              }});
}

}  // namespace ditstream::web
