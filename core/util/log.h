// Logging facade. Call sites format with fmt; the sink (spdlog) lives in log.cpp alone, so the fmt
// that libtorch ships and the one spdlog was built with never meet in one translation unit.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace ditstream::log {

enum class Level { trace = 0, debug, info, warn, error, off };

// Parses "trace|debug|info|warn|error|off"; throws ditstream::Error naming `field` otherwise.
Level parse_level(std::string_view text, std::string_view field = "log_level");
void set_level(Level level);
bool enabled(Level level);
void write(Level level, std::string_view message);

template <typename... Args>
void at(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(level)) write(level, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::debug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::warn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  at(Level::error, format, std::forward<Args>(args)...);
}

}  // namespace ditstream::log
