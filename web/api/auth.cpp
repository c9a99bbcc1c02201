#include "web/api/auth.h"

#include "core/util/error.h"

namespace ditstream::web {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Walk the expected length always; a length mismatch still costs the same loop.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

void require_api_key(const HttpRequest& request, const std::string& key) {
  if (key.empty()) return;
  const std::string* header = request.header("authorization");
  if (!header) throw Error(ErrorKind::unauthorized, "auth", "authorization", "an API key is required (Authorization: Bearer <key>)");
  constexpr std::string_view scheme = "Bearer ";
  if (header->size() <= scheme.size() || header->compare(0, scheme.size(), scheme) != 0) {
    throw Error(ErrorKind::unauthorized, "auth", "authorization", "expected 'Bearer <key>'");
  }
  if (!constant_time_equal(std::string_view(*header).substr(scheme.size()), key)) {
    throw Error(ErrorKind::unauthorized, "auth", "authorization", "the API key is not valid");
  }
}

}  // namespace ditstream::web
