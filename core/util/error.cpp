#include "core/util/error.h"

namespace ditstream {
namespace {

std::string compose(const std::string& context, const std::string& field, const std::string& detail) {
  std::string out;
  if (!context.empty()) out += "[" + context + "] ";
  if (!field.empty()) out += field + ": ";
  out += detail;
  return out;
}

}  // namespace

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::too_large: return "too_large";
    case ErrorKind::too_many_requests: return "too_many_requests";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::bad_file: return "bad_file";
    case ErrorKind::canceled: return "canceled";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

Error::Error(ErrorKind kind, std::string context, std::string field, std::string detail)
    : std::runtime_error(compose(context, field, detail)),
      kind_(kind),
      context_(std::move(context)),
      field_(std::move(field)),
      detail_(std::move(detail)) {}

void throw_invalid(std::string context, std::string field, std::string detail) {
  throw Error(ErrorKind::invalid_argument, std::move(context), std::move(field), std::move(detail));
}

void throw_bad_file(std::string context, std::string field, std::string detail) {
  throw Error(ErrorKind::bad_file, std::move(context), std::move(field), std::move(detail));
}

}  // namespace ditstream
