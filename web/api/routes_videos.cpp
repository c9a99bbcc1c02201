// /v1/videos: submit, list, get, cancel/delete, download (with Range) and follow (SSE).
#include <fstream>

#include "core/util/error.h"
#include "web/api/job_json.h"
#include "web/api/routes.h"

namespace ditstream::web {
namespace {

using nlohmann::json;

HttpResponse json_response(int status, const json& body) {
  return HttpResponse::text(status, body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// Server-Sent Events of one job; destroying it (client gone) unsubscribes.
class EventStream : public StreamBody {
 public:
  explicit EventStream(std::unique_ptr<engine::EventReader> reader) : reader_(std::move(reader)) {}
  std::optional<std::string> next() override {
    if (reader_->ended()) return std::nullopt;
    const auto event = reader_->next(std::chrono::milliseconds(500));
    if (!event) return std::string();
    return to_sse(*event);
  }

 private:
  std::unique_ptr<engine::EventReader> reader_;
};

struct ByteRange {
  uint64_t first = 0, last = 0;  // inclusive
};

// "bytes=a-b", "bytes=a-", "bytes=-n"; nullopt for a header to ignore (several ranges).
// Throws Error(invalid_argument) for one that cannot be satisfied (the caller answers 416).
std::optional<ByteRange> parse_range(const std::string& header, uint64_t size) {
  constexpr std::string_view unit = "bytes=";
  if (header.compare(0, unit.size(), unit) != 0) throw_invalid("content", "range", "only byte ranges are supported");
  const std::string spec = header.substr(unit.size());
  if (spec.find(',') != std::string::npos) return std::nullopt;
  const auto dash = spec.find('-');
  if (dash == std::string::npos) throw_invalid("content", "range", "malformed range '" + spec + "'");
  auto number = [&](const std::string& s) -> uint64_t {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
      throw_invalid("content", "range", "malformed range '" + spec + "'");
    }
    return std::stoull(s);
  };
  const std::string a = spec.substr(0, dash), b = spec.substr(dash + 1);
  ByteRange r;
  if (a.empty()) {
    const uint64_t n = number(b);
    if (n == 0 || size == 0) throw_invalid("content", "range", "empty suffix range");
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
  } else {
    r.first = number(a);
    r.last = b.empty() ? size - 1 : std::min(number(b), size - 1);
    if (r.first >= size || r.first > r.last) throw_invalid("content", "range", "range starts beyond the end");
  }
  return r;
}

HttpResponse get_video_content(RouteContext& c, const std::string& id, const HttpRequest& req) {
  const auto record = c.queue.get(id);
  if (record.status != engine::JobStatus::completed || record.recording.empty()) {
    throw Error(ErrorKind::conflict, "content", "id",
                "video '" + id + "' is " + std::string(engine::to_string(record.status)) + "; content exists once it completed");
  }
  const auto path = c.hub.recording_path(id);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::not_found, "content", "id", "the recording of video '" + id + "' is gone");
  const uint64_t size = std::filesystem::file_size(path);
  HttpResponse r;
  r.content_type = "video/mp4";
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.headers.emplace_back("Content-Disposition", "inline; filename=\"" + id + ".mp4\"");
  ByteRange range{0, size == 0 ? 0 : size - 1};
  if (const auto* header = req.header("range")) {
    std::optional<ByteRange> asked;
    try {
      asked = parse_range(*header, size);
    } catch (const Error& e) {
      auto bad = HttpResponse::text(416, json{{"error", {{"code", "range_not_satisfiable"}, {"field", "range"}, {"message", e.what()}}}}.dump(),
                                    "application/json");
      bad.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
      return bad;
    }
    if (asked) {
      range = *asked;
      r.status = 206;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                                  "/" + std::to_string(size));
    }
  }
  const uint64_t length = size == 0 ? 0 : range.last - range.first + 1;
  r.body.resize(length);
  in.seekg(static_cast<std::streamoff>(range.first));
  in.read(r.body.data(), static_cast<std::streamsize>(length));
  return r;
}

}  // namespace

const std::string& checked_id(const std::string& segment) {
  if (!is_valid_job_id(segment)) {
    throw Error(ErrorKind::not_found, "videos", "id", "'" + segment.substr(0, 64) + "' is not a video id");
  }
  return segment;
}

void add_video_routes(Router& router, RouteContext& c) {
  router.add({"POST", "/v1/videos",
              [&c](const HttpRequest& req, const PathParams&) {
                const auto request = parse_video_request(req.body, c.limits);
                const auto submitted = c.queue.submit(request);
                auto r = json_response(202, to_json(submitted.record, submitted.position));
                r.headers.emplace_back("Location", "/v1/videos/" + submitted.id);
                return r;
              },
              true, "application/json"});
  router.add({"GET", "/v1/videos", [&c](const HttpRequest& req, const PathParams&) {
                const auto q = parse_list_query(req.query, c.limits);
                json data = json::array();
                for (const auto& r : c.queue.list(q.offset, q.limit)) data.push_back(to_json(r, c.queue.queue_position(r.id)));
                const int total = c.queue.count();
                return json_response(200, {{"object", "list"}, {"data", data}, {"total", total},
                                           {"has_more", q.offset + static_cast<int>(data.size()) < total}});
              }});
  router.add({"GET", "/v1/videos/{id}", [&c](const HttpRequest&, const PathParams& p) {
                const auto& id = checked_id(p[0]);
                return json_response(200, to_json(c.queue.get(id), c.queue.queue_position(id)));
              }});
  router.add({"DELETE", "/v1/videos/{id}",
              [&c](const HttpRequest&, const PathParams& p) {
                const auto& id = checked_id(p[0]);
                const auto record = c.queue.get(id);
                if (!engine::is_terminal(record.status)) {
                  return json_response(200, to_json(c.queue.cancel(id), c.queue.queue_position(id)));
                }
                c.queue.remove(id);
                return json_response(200, {{"id", id}, {"object", "video.deleted"}, {"deleted", true}});
              },
              true});
  router.add({"GET", "/v1/videos/{id}/content", [&c](const HttpRequest& req, const PathParams& p) {
                return get_video_content(c, checked_id(p[0]), req);
              }});
  router.add({"GET", "/v1/videos/{id}/events", [&c](const HttpRequest&, const PathParams& p) {
                HttpResponse r;
                r.content_type = "text/event-stream";
                r.stream = std::make_shared<EventStream>(c.queue.subscribe(checked_id(p[0])));
                r.headers.emplace_back("X-Accel-Buffering", "no");
                return r;
              }});
}

}  // namespace ditstream::web
