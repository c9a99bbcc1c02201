// What the streaming side found at start-up, for /healthz and the log.
#pragma once

#include <string>

namespace ditstream::stream {

struct StreamInfo {
  std::string gstreamer_version;
};

// Initialises GStreamer once (idempotent) and reports its version.
StreamInfo init_streaming();

}  // namespace ditstream::stream
