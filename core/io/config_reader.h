// Typed reads from a JSON config file (config.json, scheduler_config.json, model_index.json).
// Every failed read names the file, the field, what was found and what was expected, so model
// configs can be validated at load time with one line per field.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ditstream::io {

class ConfigReader {
 public:
  static ConfigReader from_file(const std::filesystem::path& path);
  // For configs that do not come from a file (tests, the --config flag); `label` names it in errors.
  static ConfigReader from_text(std::string_view json_text, std::string label);
  ~ConfigReader();
  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) noexcept;

  const std::string& label() const { return label_; }
  bool has(std::string_view field) const;           // present and not null
  std::vector<std::string> keys() const;

  int64_t get_int(std::string_view field) const;
  int64_t get_int(std::string_view field, int64_t fallback) const;
  double get_double(std::string_view field) const;
  double get_double(std::string_view field, double fallback) const;
  bool get_bool(std::string_view field) const;
  bool get_bool(std::string_view field, bool fallback) const;
  std::string get_string(std::string_view field) const;
  std::string get_string(std::string_view field, std::string fallback) const;
  std::optional<std::string> get_optional_string(std::string_view field) const;  // absent or null → nullopt
  std::vector<int64_t> get_int_list(std::string_view field) const;
  std::vector<int64_t> get_int_list(std::string_view field, std::vector<int64_t> fallback) const;
  std::vector<std::string> get_string_list(std::string_view field) const;
  std::vector<std::string> get_string_list(std::string_view field, std::vector<std::string> fallback) const;
  // Raw JSON of a field, for the few configs with nested structure (model_index.json entries).
  const nlohmann::json& raw(std::string_view field) const;

  // Throws ditstream::Error(bad_file) "[label] field: detail".
  [[noreturn]] void fail(std::string_view field, std::string_view detail) const;

 private:
  ConfigReader() = default;
  const nlohmann::json& required(std::string_view field, std::string_view expected) const;
  const nlohmann::json* optional(std::string_view field) const;

  std::string label_;
  std::unique_ptr<nlohmann::json> doc_;
};

}  // namespace ditstream::io
