// Requests parsed into typed structs as early as possible: the JSON body of POST /v1/videos, the
// list query, the SDP of a WHEP offer. Torch-free and GStreamer-free, so the fuzzer builds it alone.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/engine/job.h"

namespace ditstream::web {

// Everything a request may ask for, and the defaults for what it leaves out.
struct ServiceLimits {
  size_t max_body_bytes = 64 * 1024;
  size_t max_prompt_bytes = 2000;
  size_t max_sdp_bytes = 32 * 1024;
  int min_size = 16;
  int max_width = 1280;
  int max_height = 1280;
  int size_multiple = 16;  // VAE (8×) times transformer patch (2×)
  int max_frames = 129;    // frames are 4k+1: the VAE compresses time by 4
  int max_steps = 100;
  int max_fps = 60;
  int max_list_limit = 100;
  engine::JobRequest defaults = {"", 64, 64, 5, 4, 0, 7.0, 6.0, 0.0, 8};

  // Throws Error(invalid_argument) naming the limit that contradicts another.
  void validate() const;
};

// Parses and validates a POST /v1/videos body. Throws Error(invalid_argument) naming the field,
// the value and what is allowed; Error(too_large) for an over-long prompt.
engine::JobRequest parse_video_request(std::string_view body, const ServiceLimits& limits);

struct ListQuery {
  int limit = 20;
  int offset = 0;
};
// Parses "limit=20&offset=40"; unknown keys and malformed numbers are errors naming the key.
ListQuery parse_list_query(std::string_view query, const ServiceLimits& limits);

// Checks that a WHEP body looks like an SDP offer with a video section: size within the limit,
// starts with "v=0", printable text only. The WebRTC stack parses it fully.
void check_sdp_offer(std::string_view sdp, const ServiceLimits& limits);

// True for ids the queue hands out ("video_" + 16 hex digits); anything else cannot name a file.
bool is_valid_job_id(std::string_view id);

}  // namespace ditstream::web
