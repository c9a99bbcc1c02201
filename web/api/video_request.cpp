#include "web/api/video_request.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <set>

#include "core/util/error.h"

namespace ditstream::web {
namespace {

constexpr const char* kContext = "POST /v1/videos";
using json = nlohmann::json;

std::string quoted(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return s;
}

int64_t integer_field(const json& body, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    throw_invalid(kContext, name, "must be an integer, got " + quoted(*it));
  }
  const bool is_unsigned = it->is_number_unsigned();
  if (is_unsigned && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    throw_invalid(kContext, name, quoted(*it) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    throw_invalid(kContext, name, std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

double number_field(const json& body, const char* name, double fallback, double lo, double hi) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw_invalid(kContext, name, "must be a number, got " + quoted(*it));
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    throw_invalid(kContext, name, quoted(*it) + " is out of range [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  }
  return v;
}

// "preview_vae_every": 0 (off), k in [1, steps − 1], or "auto".
int preview_interval(const json& body, int fallback, int steps) {
  constexpr const char* name = "preview_vae_every";
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback > 0 && fallback >= steps ? 0 : fallback;
  if (it->is_string()) {
    if (it->get<std::string>() == "auto") return engine::kPreviewVaeAuto;
    throw_invalid(kContext, name, quoted(*it) + " is not a step interval; give 0 (off), 1.." +
                                      std::to_string(steps - 1) + " or \"auto\"");
  }
  if (!it->is_number_integer()) throw_invalid(kContext, name, "must be an integer or \"auto\", got " + quoted(*it));
  const int64_t every = it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX ? INT64_MAX : it->get<int64_t>();
  if (every == 0) return 0;
  if (every < 0) throw_invalid(kContext, name, std::to_string(every) + " is negative; give 0 (off), a step interval or \"auto\"");
  if (every >= steps) {
    throw_invalid(kContext, name,
                  std::to_string(every) + " is not below steps (" + std::to_string(steps) +
                      "): previews come after steps k, 2k, ... before the last step, whose x0 the final decode shows; " +
                      (steps > 1 ? "give 1.." + std::to_string(steps - 1) : std::string("with 1 step there is none")) +
                      ", 0 (off) or \"auto\"");
  }
  return static_cast<int>(every);
}

void check_prompt(const std::string& prompt, const ServiceLimits& limits) {
  if (prompt.size() > limits.max_prompt_bytes) {
    throw Error(ErrorKind::too_large, kContext, "prompt",
                std::to_string(prompt.size()) + " bytes is over the limit of " + std::to_string(limits.max_prompt_bytes));
  }
  bool has_text = false;
  for (unsigned char c : prompt) {
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      throw_invalid(kContext, "prompt", "must not contain control characters");
    }
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') has_text = true;
  }
  if (!has_text) throw_invalid(kContext, "prompt", "must not be empty");
}

}  // namespace

void ServiceLimits::validate() const {
  require(max_body_bytes >= 256, "limits", "max_body_bytes", "must be at least 256");
  require(size_multiple >= 1, "limits", "size_multiple", "must be at least 1");
  require(min_size >= size_multiple && min_size <= std::min(max_width, max_height), "limits", "min_size",
          "must be between the size multiple and the maximum width/height");
  require(max_frames >= 1 && max_steps >= 1 && max_fps >= 1, "limits", "max_frames",
          "frames, steps and fps limits must be at least 1");
  require(max_list_limit >= 1, "limits", "max_list_limit", "must be at least 1");
  require(defaults.preview_vae_every >= engine::kPreviewVaeAuto, "limits", "preview_vae_every",
          "must be 0 (off), a step interval or auto");
}

engine::JobRequest parse_video_request(std::string_view text, const ServiceLimits& limits) {
  if (text.size() > limits.max_body_bytes) {
    throw Error(ErrorKind::too_large, kContext, "body",
                std::to_string(text.size()) + " bytes is over the limit of " + std::to_string(limits.max_body_bytes));
  }
  const json body = json::parse(text.begin(), text.end(), nullptr, false);
  if (body.is_discarded()) throw_invalid(kContext, "body", "is not valid JSON");
  if (!body.is_object()) throw_invalid(kContext, "body", "must be a JSON object");
  static const std::set<std::string> known = {"prompt", "width", "height", "frames", "steps", "seed", "shift",
                                              "guidance", "cache_threshold", "fps", "preview_vae_every", "model"};
  for (const auto& [key, value] : body.items()) {
    if (!known.count(key)) {
      std::string shown = key.size() > 40 ? key.substr(0, 40) + "..." : key;
      throw_invalid(kContext, shown,
                    "is not a known field (prompt, width, height, frames, steps, seed, shift, guidance, "
                    "cache_threshold, fps, preview_vae_every)");
    }
  }
  if (const auto it = body.find("model"); it != body.end() && !it->is_string()) {
    throw_invalid(kContext, "model", "must be a string, got " + quoted(*it));
  }
  engine::JobRequest r = limits.defaults;
  const auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) throw_invalid(kContext, "prompt", "is required");
  if (!prompt->is_string()) throw_invalid(kContext, "prompt", "must be a string, got " + quoted(*prompt));
  r.prompt = prompt->get<std::string>();
  check_prompt(r.prompt, limits);

  r.width = static_cast<int>(integer_field(body, "width", r.width, limits.min_size, limits.max_width));
  r.height = static_cast<int>(integer_field(body, "height", r.height, limits.min_size, limits.max_height));
  for (const auto& [name, v] : {std::pair{"width", r.width}, std::pair{"height", r.height}}) {
    if (v % limits.size_multiple != 0) {
      throw_invalid(kContext, name, std::to_string(v) + " is not a multiple of " + std::to_string(limits.size_multiple));
    }
  }
  r.frames = static_cast<int>(integer_field(body, "frames", r.frames, 1, limits.max_frames));
  if ((r.frames - 1) % 4 != 0) {
    throw_invalid(kContext, "frames", std::to_string(r.frames) + " is not of the form 4k+1 (1, 5, 9, ..., 129)");
  }
  r.steps = static_cast<int>(integer_field(body, "steps", r.steps, 1, limits.max_steps));
  r.seed = integer_field(body, "seed", r.seed, 0, INT64_MAX);
  r.shift = number_field(body, "shift", r.shift, 0.01, 100.0);
  r.guidance = number_field(body, "guidance", r.guidance, 0.0, 30.0);
  r.cache_threshold = number_field(body, "cache_threshold", r.cache_threshold, 0.0, 1.0);
  r.fps = static_cast<int>(integer_field(body, "fps", r.fps, 1, limits.max_fps));
  r.preview_vae_every = preview_interval(body, r.preview_vae_every, r.steps);
  return r;
}

ListQuery parse_list_query(std::string_view query, const ServiceLimits& limits) {
  ListQuery q;
  q.limit = std::min(q.limit, limits.max_list_limit);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string key(pair.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    int* target = key == "limit" ? &q.limit : key == "offset" ? &q.offset : nullptr;
    const std::string shown = key.substr(0, 40);
    if (!target) throw_invalid("GET /v1/videos", shown, "is not a known query parameter (limit, offset)");
    int v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
      throw_invalid("GET /v1/videos", key, "must be a non-negative integer");
    }
    *target = v;
  }
  if (q.limit < 1 || q.limit > limits.max_list_limit) {
    throw_invalid("GET /v1/videos", "limit", std::to_string(q.limit) + " is out of range [1, " +
                                                 std::to_string(limits.max_list_limit) + "]");
  }
  if (q.offset < 0) throw_invalid("GET /v1/videos", "offset", "must be a non-negative integer");
  return q;
}

void check_sdp_offer(std::string_view sdp, const ServiceLimits& limits) {
  constexpr const char* ctx = "WHEP";
  if (sdp.size() > limits.max_sdp_bytes) {
    throw Error(ErrorKind::too_large, ctx, "sdp",
                std::to_string(sdp.size()) + " bytes is over the limit of " + std::to_string(limits.max_sdp_bytes));
  }
  if (sdp.substr(0, 3) != "v=0") throw_invalid(ctx, "sdp", "an SDP offer must start with 'v=0'");
  for (unsigned char c : sdp) {
    if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c >= 0x7f) {
      throw_invalid(ctx, "sdp", "must be printable ASCII text");
    }
  }
  if (sdp.find("\nm=video ") == std::string_view::npos) {
    throw_invalid(ctx, "sdp", "the offer has no video media section (m=video)");
  }
}

bool is_valid_job_id(std::string_view id) {
  constexpr std::string_view prefix = "video_";
  if (id.size() != prefix.size() + 16 || id.substr(0, prefix.size()) != prefix) return false;
  for (char c : id.substr(prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace ditstream::web
