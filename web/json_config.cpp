#include "web/json_config.h"

#include <nlohmann/json.hpp>

#include <iterator>

namespace ditstream::web {
namespace {

using nlohmann::json;

std::string scalar(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw CLI::ConversionError("config: '" + name + "' must be a string, number, boolean or an array of them");
}

void collect(const json& object, std::vector<std::string> parents, std::vector<CLI::ConfigItem>& out) {
  for (const auto& [key, value] : object.items()) {
    if (value.is_object()) {
      auto nested = parents;
      nested.push_back(key);
      collect(value, nested, out);
      continue;
    }
    CLI::ConfigItem item;
    item.parents = parents;
    item.name = key;
    if (value.is_array()) {
      for (const auto& v : value) item.inputs.push_back(scalar(v, key));
    } else {
      item.inputs.push_back(scalar(value, key));
    }
    out.push_back(std::move(item));
  }
}

}  // namespace

std::string JsonConfig::to_config(const CLI::App* app, bool default_also, bool, std::string) const {
  json out = json::object();
  for (const CLI::Option* opt : app->get_options()) {
    if (opt->get_lnames().empty() || !opt->get_configurable()) continue;
    const std::string name = opt->get_lnames().front();
    if (opt->count() > 0) {
      const auto& results = opt->results();
      out[name] = results.size() == 1 ? json(results.front()) : json(results);
    } else if (default_also && !opt->get_default_str().empty()) {
      out[name] = opt->get_default_str();
    }
  }
  for (const CLI::App* sub : app->get_subcommands({})) {
    const json nested = json::parse(to_config(sub, default_also, false, ""));
    if (!nested.empty()) out[sub->get_name()] = nested;
  }
  return out.dump(2);
}

std::vector<CLI::ConfigItem> JsonConfig::from_config(std::istream& input) const {
  const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
  const json config = json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    throw CLI::FileError("config: the file is not a JSON object");
  }
  std::vector<CLI::ConfigItem> items;
  collect(config, {}, items);
  return items;
}

}  // namespace ditstream::web
