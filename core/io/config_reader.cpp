#include "core/io/config_reader.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/util/error.h"

namespace ditstream::io {
namespace {

std::string describe(const nlohmann::json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + text;
}

}  // namespace

ConfigReader::~ConfigReader() = default;
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;

ConfigReader ConfigReader::from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::bad_file, path.string(), "", "missing or unreadable");
  std::stringstream text;
  text << in.rdbuf();
  return from_text(text.str(), path.string());
}

ConfigReader ConfigReader::from_text(std::string_view json_text, std::string label) {
  ConfigReader reader;
  reader.label_ = std::move(label);
  try {
    reader.doc_ = std::make_unique<nlohmann::json>(nlohmann::json::parse(json_text));
  } catch (const nlohmann::json::exception& e) {
    throw_bad_file(reader.label_, "", std::string("is not valid JSON: ") + e.what());
  }
  if (!reader.doc_->is_object()) throw_bad_file(reader.label_, "", "expected a JSON object at the top level");
  return reader;
}

void ConfigReader::fail(std::string_view field, std::string_view detail) const {
  throw_bad_file(label_, std::string(field), std::string(detail));
}

const nlohmann::json* ConfigReader::optional(std::string_view field) const {
  const auto it = doc_->find(field);
  if (it == doc_->end() || it->is_null()) return nullptr;
  return &*it;
}

const nlohmann::json& ConfigReader::required(std::string_view field, std::string_view expected) const {
  const nlohmann::json* v = optional(field);
  if (v == nullptr) fail(field, "missing; expected " + std::string(expected));
  return *v;
}

bool ConfigReader::has(std::string_view field) const { return optional(field) != nullptr; }

std::vector<std::string> ConfigReader::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, _] : doc_->items()) out.push_back(k);
  return out;
}

const nlohmann::json& ConfigReader::raw(std::string_view field) const { return required(field, "a value"); }

int64_t ConfigReader::get_int(std::string_view field) const {
  const auto& v = required(field, "an integer");
  if (!v.is_number_integer()) fail(field, "expected an integer, got " + describe(v));
  return v.get<int64_t>();
}

int64_t ConfigReader::get_int(std::string_view field, int64_t fallback) const {
  return has(field) ? get_int(field) : fallback;
}

double ConfigReader::get_double(std::string_view field) const {
  const auto& v = required(field, "a number");
  if (!v.is_number()) fail(field, "expected a number, got " + describe(v));
  return v.get<double>();
}

double ConfigReader::get_double(std::string_view field, double fallback) const {
  return has(field) ? get_double(field) : fallback;
}

bool ConfigReader::get_bool(std::string_view field) const {
  const auto& v = required(field, "true or false");
  if (!v.is_boolean()) fail(field, "expected true or false, got " + describe(v));
  return v.get<bool>();
}

bool ConfigReader::get_bool(std::string_view field, bool fallback) const {
  return has(field) ? get_bool(field) : fallback;
}

std::string ConfigReader::get_string(std::string_view field) const {
  const auto& v = required(field, "a string");
  if (!v.is_string()) fail(field, "expected a string, got " + describe(v));
  return v.get<std::string>();
}

std::string ConfigReader::get_string(std::string_view field, std::string fallback) const {
  return has(field) ? get_string(field) : std::move(fallback);
}

std::optional<std::string> ConfigReader::get_optional_string(std::string_view field) const {
  if (!has(field)) return std::nullopt;
  return get_string(field);
}

std::vector<int64_t> ConfigReader::get_int_list(std::string_view field) const {
  const auto& v = required(field, "a list of integers");
  if (!v.is_array()) fail(field, "expected a list of integers, got " + describe(v));
  std::vector<int64_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer()) fail(field, "expected a list of integers, found " + describe(e));
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> ConfigReader::get_int_list(std::string_view field, std::vector<int64_t> fallback) const {
  return has(field) ? get_int_list(field) : std::move(fallback);
}

std::vector<std::string> ConfigReader::get_string_list(std::string_view field) const {
  const auto& v = required(field, "a list of strings");
  if (!v.is_array()) fail(field, "expected a list of strings, got " + describe(v));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) fail(field, "expected a list of strings, found " + describe(e));
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<std::string> ConfigReader::get_string_list(std::string_view field,
                                                       std::vector<std::string> fallback) const {
  return has(field) ? get_string_list(field) : std::move(fallback);
}

}  // namespace ditstream::io
