// A memory-mapped safetensors file. Tensors are views of the mapping (no copy) whenever the dtype
// has a torch type and the data is aligned for it; loading to a device or dtype copies one tensor
// at a time, so a large checkpoint never needs its size in host memory beyond the page cache.
#pragma once

#include <ATen/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/io/safetensors_header.h"

namespace ditstream::io {

// torch's type for a safetensors dtype; throws naming the tensor when there is none (F6, F4).
at::ScalarType to_scalar_type(SafetensorsDType dtype, std::string_view tensor_name);

class SafetensorsFile {
 public:
  // Maps and validates the file; throws ditstream::Error(bad_file) naming the file otherwise.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  ~SafetensorsFile();

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const std::vector<TensorRecord>& records() const { return header_.tensors; }
  const TensorRecord* find(std::string_view name) const { return header_.find(name); }

  // A CPU tensor viewing the mapped bytes (read-only memory: copy before writing). It keeps the
  // mapping alive. Falls back to a copy when the data is not aligned for its element type.
  at::Tensor tensor(std::string_view name) const;
  at::Tensor tensor(const TensorRecord& record) const;

  // Raw bytes of a tensor inside the mapping.
  const uint8_t* data(const TensorRecord& record) const;

 private:
  SafetensorsFile() = default;

  std::filesystem::path path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  SafetensorsHeader header_;
  std::weak_ptr<const SafetensorsFile> self_;
};

}  // namespace ditstream::io
