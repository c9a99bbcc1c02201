// A model's weights: one safetensors file, or shards listed by a `*.safetensors.index.json`.
// Names map to the file that holds them; tensors are read one at a time.
#pragma once

#include <ATen/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/io/safetensors.h"

namespace ditstream::io {

class Checkpoint {
 public:
  // `path` is a .safetensors file or a .safetensors.index.json; every shard the index names must
  // exist and hold exactly the tensors the index assigns to it.
  static Checkpoint open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  const TensorRecord* find(std::string_view name) const;
  const TensorRecord& record(std::string_view name) const;

  // The tensor as stored (CPU view of the mapping).
  at::Tensor tensor(std::string_view name) const;
  // The tensor converted to `dtype` on `device`; one tensor's worth of host memory at most.
  at::Tensor load(std::string_view name, at::Device device, std::optional<at::ScalarType> dtype) const;

 private:
  struct Entry {
    std::shared_ptr<SafetensorsFile> file;
    const TensorRecord* record;
  };
  std::filesystem::path path_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace ditstream::io
