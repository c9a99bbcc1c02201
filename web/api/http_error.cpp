#include "web/api/http_error.h"

#include <nlohmann/json.hpp>

namespace ditstream::web {

int status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return 400;
    case ErrorKind::unauthorized: return 401;
    case ErrorKind::not_found: return 404;
    case ErrorKind::conflict: return 409;
    case ErrorKind::too_large: return 413;
    case ErrorKind::too_many_requests: return 429;
    case ErrorKind::unavailable: return 503;
    case ErrorKind::canceled: return 409;
    case ErrorKind::bad_file:
    case ErrorKind::internal: return 500;
  }
  return 500;
}

HttpResponse error_response(int status, const std::string& code, const std::string& field, const std::string& message) {
  nlohmann::json error = {{"code", code}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  return HttpResponse::text(status, nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                            "application/json");
}

HttpResponse error_response(const Error& error) {
  const int status = status_for(error.kind());
  // Internal details stay in the log; the caller learns that it was not their fault.
  const std::string message = status >= 500 && status != 503 ? "internal error" : error.what();
  return error_response(status, std::string(to_string(error.kind())), error.field(), message);
}

}  // namespace ditstream::web
