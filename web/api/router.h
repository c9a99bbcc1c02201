// The routes table: method + path pattern ("/v1/videos/{id}") → handler. Dispatch checks the API
// key and the content type a route asks for, adds its CORS headers, and maps every ditstream::Error
// to a JSON answer in one place, so handlers do not catch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "web/api/http_server.h"

namespace ditstream::web {

using PathParams = std::vector<std::string>;  // the {…} segments, in order
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

struct Route {
  std::string method;
  std::string pattern;
  RouteHandler handler;
  bool needs_key = false;         // mutating routes and WHEP
  std::string content_type;       // required request content type ("" for any)
  bool cors = false;              // WHEP: browsers on other origins may call it
};

struct RouterOptions {
  std::string api_key;
  std::string cors_origin = "*";
  std::function<int()> retry_after_seconds;  // for 429 answers
};

class Router {
 public:
  explicit Router(RouterOptions options);
  void add(Route route);
  HttpResponse dispatch(const HttpRequest& request) const;

 private:
  HttpResponse run(const Route& route, const HttpRequest& request, const PathParams& params) const;
  void add_cors(HttpResponse& response) const;

  RouterOptions options_;
  std::vector<Route> routes_;
};

}  // namespace ditstream::web
