// Writes tensors to a safetensors file (header padded to 8 bytes so every tensor can be mapped
// without a copy). Used for saving latents and for handing inputs to reference scripts.
#pragma once

#include <ATen/Tensor.h>

#include <filesystem>
#include <map>
#include <string>

namespace ditstream::io {

// The file is written to a temporary name and renamed, so readers never see half a file.
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ditstream::io
