// Optional API key: when configured, mutating routes and WHEP need "Authorization: Bearer <key>".
#pragma once

#include <string>
#include <string_view>

#include "web/api/http_server.h"

namespace ditstream::web {

// Compares in time that depends only on the lengths, not on where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// Throws Error(unauthorized, field "authorization") unless `key` is empty or the request carries it.
void require_api_key(const HttpRequest& request, const std::string& key);

}  // namespace ditstream::web
