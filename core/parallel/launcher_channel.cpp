#include "core/parallel/launcher_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

constexpr const char* kContext = "launcher channel";

const std::pair<LauncherMessage::Kind, std::string_view> kKinds[] = {
    {LauncherMessage::Kind::ready, "ready"},     {LauncherMessage::Kind::restart, "restart"},
    {LauncherMessage::Kind::failed, "failed"},   {LauncherMessage::Kind::restarted, "restarted"},
    {LauncherMessage::Kind::gave_up, "gave_up"},
};

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::string_view to_string(LauncherMessage::Kind kind) {
  for (const auto& [k, name] : kKinds)
    if (k == kind) return name;
  return "unknown";
}

std::string encode_launcher_message(const LauncherMessage& message) {
  std::string text = message.text;
  for (auto& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  std::string line = std::string(to_string(message.kind)) + " " + std::to_string(message.generation);
  if (!text.empty()) line += " " + text;
  return line + "\n";
}

LauncherMessage decode_launcher_message(std::string_view line) {
  const auto space = line.find(' ');
  const std::string_view kind = line.substr(0, space);
  LauncherMessage message;
  bool known = false;
  for (const auto& [k, name] : kKinds) {
    if (name != kind) continue;
    message.kind = k;
    known = true;
  }
  require(known, kContext, "kind", "'" + std::string(kind) + "' is not ready, restart, failed, restarted or gave_up");
  require(space != std::string_view::npos, kContext, "generation", "is missing in '" + std::string(line) + "'");
  const std::string_view rest = line.substr(space + 1);
  const auto second = rest.find(' ');
  const auto generation = parse_int(rest.substr(0, second));
  require(generation.has_value() && *generation >= 0, kContext, "generation",
          "'" + std::string(rest.substr(0, second)) + "' is not a generation number ≥ 0");
  message.generation = *generation;
  if (second != std::string_view::npos) message.text = std::string(rest.substr(second + 1));
  return message;
}

int rank_generation_from_process() {
  const char* value = std::getenv(kRankGenerationVariable);
  if (value == nullptr) return 0;
  const auto generation = parse_int(value);
  require(generation.has_value() && *generation >= 0, "rank environment", kRankGenerationVariable,
          "'" + std::string(value) + "' is not a generation number ≥ 0");
  return *generation;
}

LauncherChannel::LauncherChannel(int fd) : fd_(fd) {}

LauncherChannel::~LauncherChannel() { ::close(fd_); }

std::unique_ptr<LauncherChannel> LauncherChannel::from_environment() {
  const char* value = std::getenv(kLauncherFdVariable);
  if (value == nullptr) return nullptr;
  const auto fd = parse_int(value);
  struct stat st {};
  require(fd.has_value() && *fd >= 0 && ::fstat(*fd, &st) == 0 && S_ISSOCK(st.st_mode), "rank environment",
          kLauncherFdVariable, "'" + std::string(value) + "' is not an open socket of the launcher");
  ::fcntl(*fd, F_SETFD, FD_CLOEXEC);  // not for the processes this rank starts
  return std::make_unique<LauncherChannel>(*fd);
}

void LauncherChannel::send(const LauncherMessage& message) {
  const std::string line = encode_launcher_message(message);
  std::lock_guard lock(send_mutex_);
  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw Error(ErrorKind::unavailable, kContext, std::string(to_string(message.kind)),
                  std::string("cannot send: ") + std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
}

std::optional<LauncherMessage> LauncherChannel::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      const std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return decode_launcher_message(line);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[512];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      throw Error(ErrorKind::unavailable, kContext, "receive",
                  n == 0 ? "the other end closed the channel" : std::string("cannot read: ") + std::strerror(errno));
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace ditstream::parallel
