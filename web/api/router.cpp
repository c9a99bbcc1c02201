#include "web/api/router.h"

#include <optional>

#include "core/util/error.h"
#include "core/util/log.h"
#include "web/api/auth.h"
#include "web/api/http_error.h"

namespace ditstream::web {
namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;
  while (start <= path.size()) {
    const size_t end = path.find('/', start);
    out.push_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::optional<PathParams> match(const std::string& pattern, const std::string& path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  const auto want = split(pattern);
  const auto got = split(path);
  if (want.size() != got.size()) return std::nullopt;
  PathParams params;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].size() > 1 && want[i].front() == '{' && want[i].back() == '}') {
      if (got[i].empty()) return std::nullopt;
      params.emplace_back(got[i]);
    } else if (want[i] != got[i]) {
      return std::nullopt;
    }
  }
  return params;
}

std::string media_type(const std::string* header) {
  if (!header) return "";
  std::string t = header->substr(0, header->find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

}  // namespace

Router::Router(RouterOptions options) : options_(std::move(options)) {}

void Router::add(Route route) { routes_.push_back(std::move(route)); }

void Router::add_cors(HttpResponse& r) const {
  r.headers.emplace_back("Access-Control-Allow-Origin", options_.cors_origin);
  r.headers.emplace_back("Access-Control-Allow-Methods", "OPTIONS, POST, DELETE, PATCH");
  r.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match");
  r.headers.emplace_back("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Post, Accept-Patch");
}

HttpResponse Router::run(const Route& route, const HttpRequest& request, const PathParams& params) const {
  HttpResponse response;
  try {
    if (route.needs_key) require_api_key(request, options_.api_key);
    if (!route.content_type.empty() && media_type(request.header("content-type")) != route.content_type) {
      response = error_response(415, "unsupported_media_type", "content-type",
                                "content-type: expected " + route.content_type);
    } else {
      response = route.handler(request, params);
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::internal || e.kind() == ErrorKind::bad_file) {
      log::error("{} {}: {}", request.method, request.path, e.what());
    }
    response = error_response(e);
    if (e.kind() == ErrorKind::too_many_requests && options_.retry_after_seconds) {
      response.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds()));
    }
    if (e.kind() == ErrorKind::unauthorized) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  if (route.cors) add_cors(response);
  return response;
}

HttpResponse Router::dispatch(const HttpRequest& request) const {
  std::string allowed;
  for (const auto& route : routes_) {
    const auto params = match(route.pattern, request.path);
    if (!params) continue;
    if (route.method == request.method) return run(route, request, *params);
    allowed += (allowed.empty() ? "" : ", ") + route.method;
  }
  if (!allowed.empty()) {
    auto r = error_response(405, "method_not_allowed", "method", "method: " + request.method + " is not allowed here (" + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  return error_response(404, "not_found", "path", "path: no route for '" + request.path.substr(0, 100) + "'");
}

}  // namespace ditstream::web
