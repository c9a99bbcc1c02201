// Route groups of the service; each adds its `<verb>_<resource>` handlers to the table.
#pragma once

#include <filesystem>
#include <functional>

#include "core/engine/job_queue.h"
#include "core/engine/metrics.h"
#include "stream/gst/stream_hub.h"
#include "web/api/router.h"
#include "web/api/service.h"
#include "web/api/video_request.h"

namespace ditstream::web {

struct RouteContext {
  engine::JobQueue& queue;
  stream::StreamHub& hub;
  const engine::MetricsRegistry& metrics;
  const ServiceLimits& limits;
  std::filesystem::path ui_folder;
  std::string health_json;
  std::function<ServiceOptions::HealthUpdate()> health_update;  // may be null
};

void add_video_routes(Router& router, RouteContext& context);
void add_whep_routes(Router& router, RouteContext& context);
void add_metrics_routes(Router& router, RouteContext& context);
void add_ui_routes(Router& router, RouteContext& context);

// The id segment of a path, checked: anything but a queue-issued id is a 404 naming "id".
const std::string& checked_id(const std::string& segment);

}  // namespace ditstream::web
