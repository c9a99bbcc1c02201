// The one mapping from ditstream::Error to an HTTP answer: status by kind, body
// {"error": {"code", "message", "field"}}.
#pragma once

#include <string>

#include "core/util/error.h"
#include "web/api/http_server.h"

namespace ditstream::web {

int status_for(ErrorKind kind);
HttpResponse error_response(int status, const std::string& code, const std::string& field, const std::string& message);
HttpResponse error_response(const Error& error);

}  // namespace ditstream::web
