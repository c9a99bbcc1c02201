// JSON views of jobs and events, for the HTTP layer only.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>

#include "core/engine/events.h"
#include "core/engine/job.h"

namespace ditstream::web {

nlohmann::json to_json(const engine::JobRecord& record, std::optional<int> queue_position);
nlohmann::json to_json(const engine::Event& event);
// One Server-Sent Event: "event: <name>\ndata: <json>\n\n".
std::string to_sse(const engine::Event& event);

}  // namespace ditstream::web
