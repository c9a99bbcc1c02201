// Reads an mp4 recording back for tests: filesrc → qtdemux → h264parse → `tail` → appsink, every
// sample handed to a callback (decoded frames when `tail` decodes, H.264 access units otherwise).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

typedef struct _GstSample GstSample;

namespace ditstream::testing {

// Throws std::runtime_error when the pipeline cannot be built.
void for_each_mp4_sample(const std::filesystem::path& file, const std::string& tail,
                         const std::function<void(GstSample*)>& on_sample);

}  // namespace ditstream::testing
