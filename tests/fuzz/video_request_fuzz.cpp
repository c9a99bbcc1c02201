// libFuzzer target for the service's request parsers: the POST /v1/videos body, the list query,
// the WHEP offer check and the id check. The first byte picks the parser; every input must end in a
// parsed request or a ditstream::Error, never a crash, hang or other exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/util/error.h"
#include "web/api/video_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  ditstream::web::ServiceLimits limits;
  limits.max_body_bytes = 4096;
  limits.max_sdp_bytes = 4096;
  try {
    switch (data[0] % 4) {
      case 0: {
        const auto r = ditstream::web::parse_video_request(text, limits);
        // What the parser lets through is within the limits.
        if (r.width < limits.min_size || r.width > limits.max_width || r.width % limits.size_multiple != 0 ||
            r.height < limits.min_size || r.height > limits.max_height || (r.frames - 1) % 4 != 0 ||
            r.steps < 1 || r.steps > limits.max_steps || r.fps < 1 || r.fps > limits.max_fps || r.prompt.empty() ||
            r.prompt.size() > limits.max_prompt_bytes) {
          __builtin_trap();
        }
        break;
      }
      case 1: {
        const auto q = ditstream::web::parse_list_query(text, limits);
        if (q.limit < 1 || q.limit > limits.max_list_limit || q.offset < 0) __builtin_trap();
        break;
      }
      case 2: ditstream::web::check_sdp_offer(text, limits); break;
      case 3: (void)ditstream::web::is_valid_job_id(text); break;
    }
  } catch (const ditstream::Error&) {
  }
  return 0;
}
