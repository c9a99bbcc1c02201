// The one error type of ditstream. Every failure that reaches a user says where it happened, which
// field or value was wrong and what is allowed; the HTTP layer maps the kind to a status code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace ditstream {

enum class ErrorKind {
  invalid_argument,   // a value the caller gave is not allowed (400)
  not_found,          // the named thing does not exist (404)
  conflict,           // the thing exists but is in the wrong state (409)
  unauthorized,       // missing or wrong credentials (401)
  too_large,          // a body or value over its limit (413)
  too_many_requests,  // the queue is full (429)
  unavailable,        // a dependency is missing or down (503)
  bad_file,           // a file on disk is malformed: model folders, checkpoints
  canceled,           // the job was canceled by its owner
  internal,           // a bug or an unexpected failure below us
};

std::string_view to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  // `context` names the component or file ("safetensors: transformer/x.safetensors"), `field` the
  // value that was wrong (may be empty), `detail` what was found and what is allowed.
  Error(ErrorKind kind, std::string context, std::string field, std::string detail);

  ErrorKind kind() const { return kind_; }
  const std::string& context() const { return context_; }
  const std::string& field() const { return field_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorKind kind_;
  std::string context_;
  std::string field_;
  std::string detail_;
};

[[noreturn]] void throw_invalid(std::string context, std::string field, std::string detail);
[[noreturn]] void throw_bad_file(std::string context, std::string field, std::string detail);

// Checks a condition at a public boundary: `require(steps >= 1, "sampling", "steps", "must be ...")`.
inline void require(bool ok, std::string_view context, std::string_view field, std::string_view detail) {
  if (!ok) throw_invalid(std::string(context), std::string(field), std::string(detail));
}

}  // namespace ditstream
