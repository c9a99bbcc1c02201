// Prometheus metrics and the health check.
#include "web/api/routes.h"

namespace ditstream::web {

void add_metrics_routes(Router& router, RouteContext& c) {
  router.add({"GET", "/metrics", [&c](const HttpRequest&, const PathParams&) {
                return HttpResponse::text(200, c.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
              }});
  router.add({"GET", "/healthz", [&c](const HttpRequest&, const PathParams&) {
                return HttpResponse::text(200, c.health_json, "application/json");
              }});
}

}  // namespace ditstream::web
