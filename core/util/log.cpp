#include "core/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <string>

#include "core/util/error.h"

namespace ditstream::log {
namespace {

std::atomic<Level> g_level{Level::info};

spdlog::logger& sink() {
  // stderr, so that stdout stays free for command output (bench tables, generated paths).
  static auto logger = [] {
    auto l = spdlog::stderr_color_mt("ditstream");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
    l->set_level(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

}  // namespace

Level parse_level(std::string_view text, std::string_view field) {
  static constexpr std::string_view names[] = {"trace", "debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 6; ++i) {
    if (text == names[i]) return static_cast<Level>(i);
  }
  throw_invalid("log", std::string(field),
                "'" + std::string(text) + "' is not a level; allowed: trace, debug, info, warn, error, off");
}

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }

bool enabled(Level level) {
  return level != Level::off && level >= g_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view message) {
  static constexpr spdlog::level::level_enum levels[] = {
      spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
      spdlog::level::warn, spdlog::level::err, spdlog::level::off};
  sink().log(levels[static_cast<int>(level)], "{}", message);
}

}  // namespace ditstream::log
