// The HTTP transport, hidden behind a small request/response interface. One io_context runs on a
// bounded pool of threads; handlers are plain functions from HttpRequest to HttpResponse.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ditstream::web {

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // "/v1/videos?limit=2"
  std::string path;    // "/v1/videos"
  std::string query;   // "limit=2"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;

  const std::string* header(const std::string& lower_name) const;
};

// A streamed body (Server-Sent Events): next() blocks until the next piece is ready and returns
// it; "" means nothing yet (the server checks that the client is still there and calls again);
// nullopt ends the response. The server destroys it when the client goes away.
class StreamBody {
 public:
  virtual ~StreamBody() = default;
  virtual std::optional<std::string> next() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<StreamBody> stream;  // set: the body is streamed on its own thread

  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 8080;   // 0 picks a free port (tests)
  int threads = 4;
  uint64_t max_body_bytes = 1 << 20;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();

  // Binds and starts serving on the worker threads; returns once listening.
  void start();
  // Stops accepting, closes connections and joins the workers.
  void stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditstream::web
