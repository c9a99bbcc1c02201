// A diffusers model folder: model_index.json names the components (transformer, vae, text_encoder,
// tokenizer, scheduler, ...); each lives in a subfolder with its config and weights.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/io/checkpoint.h"
#include "core/io/config_reader.h"

namespace ditstream::io {

struct ComponentEntry {
  std::string name;        // "transformer"
  std::string library;     // "diffusers", "transformers"
  std::string class_name;  // "HunyuanVideoTransformer3DModel"
};

class DiffusersFolder {
 public:
  // Reads model_index.json; throws naming the file and field when it is missing or ill-typed.
  static DiffusersFolder open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }
  const std::string& pipeline_class() const { return pipeline_class_; }
  const std::vector<ComponentEntry>& components() const { return components_; }
  bool has_component(std::string_view name) const;
  const ComponentEntry& component(std::string_view name) const;

  // The component's folder, checked to exist.
  std::filesystem::path component_dir(std::string_view name) const;
  // config.json of a model component (scheduler_config.json for schedulers).
  ConfigReader config(std::string_view name) const;
  // The component's weights: diffusion_pytorch_model.safetensors / model.safetensors, or their
  // sharded index. Fails naming the folder when none is present.
  Checkpoint weights(std::string_view name) const;

 private:
  std::filesystem::path root_;
  std::string pipeline_class_;
  std::vector<ComponentEntry> components_;
};

}  // namespace ditstream::io
