// `ditstream generate`: one job without HTTP — the same queue, engine and recorder as the service,
// the recording moved to the requested file.
#pragma once

#include <filesystem>

#include "core/engine/engine.h"
#include "stream/vulkan/compositor_factory.h"

namespace ditstream::web {

// Runs `request` on `engine` and writes the mp4 to `out`, its frames composed by `compositors`
// (null: the automatic back-end choice); throws Error when the job fails.
void generate_to_file(engine::Engine& engine, const engine::JobRequest& request, const std::filesystem::path& out,
                      std::shared_ptr<const stream::CompositorFactory> compositors = nullptr);

}  // namespace ditstream::web
