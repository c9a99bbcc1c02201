#include "core/io/diffusers_folder.h"

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace ditstream::io {

DiffusersFolder DiffusersFolder::open(const std::filesystem::path& root) {
  if (!std::filesystem::is_directory(root)) {
    throw Error(ErrorKind::not_found, "model", "path", "'" + root.string() + "' is not a directory");
  }
  const auto index = ConfigReader::from_file(root / "model_index.json");
  DiffusersFolder folder;
  folder.root_ = root;
  folder.pipeline_class_ = index.get_string("_class_name");
  for (const auto& key : index.keys()) {
    if (key.empty() || key[0] == '_') continue;
    const auto& value = index.raw(key);
    // Entries are [library, class]; [null, null] marks an optional component left out.
    if (!value.is_array() || value.size() != 2) {
      index.fail(key, "expected [library, class_name], got " + value.dump());
    }
    if (value[0].is_null() && value[1].is_null()) continue;
    if (!value[0].is_string() || !value[1].is_string()) {
      index.fail(key, "expected [library, class_name] as two strings, got " + value.dump());
    }
    folder.components_.push_back({key, value[0].get<std::string>(), value[1].get<std::string>()});
  }
  return folder;
}

bool DiffusersFolder::has_component(std::string_view name) const {
  for (const auto& c : components_) {
    if (c.name == name) return true;
  }
  return false;
}

const ComponentEntry& DiffusersFolder::component(std::string_view name) const {
  for (const auto& c : components_) {
    if (c.name == name) return c;
  }
  throw Error(ErrorKind::bad_file, (root_ / "model_index.json").string(), std::string(name),
              "component is not listed");
}

std::filesystem::path DiffusersFolder::component_dir(std::string_view name) const {
  component(name);
  const auto dir = root_ / std::string(name);
  if (!std::filesystem::is_directory(dir)) {
    throw_bad_file(root_.string(), std::string(name), "model_index.json lists it but the folder '" + dir.string() + "' is missing");
  }
  return dir;
}

ConfigReader DiffusersFolder::config(std::string_view name) const {
  const auto dir = component_dir(name);
  for (const char* file : {"config.json", "scheduler_config.json", "tokenizer_config.json"}) {
    if (std::filesystem::exists(dir / file)) return ConfigReader::from_file(dir / file);
  }
  throw_bad_file(dir.string(), "config.json", "missing");
}

Checkpoint DiffusersFolder::weights(std::string_view name) const {
  const auto dir = component_dir(name);
  for (const char* stem : {"diffusion_pytorch_model", "model"}) {
    const auto single = dir / (std::string(stem) + ".safetensors");
    if (std::filesystem::exists(single)) return Checkpoint::open(single);
    const auto index = dir / (std::string(stem) + ".safetensors.index.json");
    if (std::filesystem::exists(index)) return Checkpoint::open(index);
  }
  throw_bad_file(dir.string(), "weights",
                 "no diffusion_pytorch_model.safetensors, model.safetensors or their .index.json");
}

}  // namespace ditstream::io
