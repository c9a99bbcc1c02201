// A blocking HTTP/1.1 client for the service tests, plus a Server-Sent Events reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ditstream::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const;
};

HttpResult http_request(uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
                        const std::map<std::string, std::string>& headers = {});
// Sends raw bytes and returns the raw answer (for malformed requests the client cannot build).
std::string raw_request(uint16_t port, const std::string& bytes);

struct SseEvent {
  std::string name;
  std::string data;
  std::chrono::steady_clock::time_point at;  // when the client read it
};
// Reads events from GET `target` until `stop(event)` returns true or `timeout` passes.
std::vector<SseEvent> read_events(uint16_t port, const std::string& target, const std::function<bool(const SseEvent&)>& stop,
                                  std::chrono::milliseconds timeout);

}  // namespace ditstream::testing
