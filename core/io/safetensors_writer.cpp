#include "core/io/safetensors_writer.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "core/util/error.h"

namespace ditstream::io {
namespace {

std::string dtype_name(at::ScalarType type, const std::string& tensor) {
  switch (type) {
    case at::kBool: return "BOOL";
    case at::kByte: return "U8";
    case at::kChar: return "I8";
    case at::kShort: return "I16";
    case at::kUInt16: return "U16";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kInt: return "I32";
    case at::kUInt32: return "U32";
    case at::kFloat: return "F32";
    case at::kComplexFloat: return "C64";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kUInt64: return "U64";
    case at::kFloat8_e4m3fn: return "F8_E4M3";
    case at::kFloat8_e5m2: return "F8_E5M2";
    case at::kFloat8_e8m0fnu: return "F8_E8M0";
    default: break;
  }
  throw_invalid("safetensors writer", tensor, std::string("dtype ") + c10::toString(type) + " has no safetensors name");
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  // Widest elements first: with the header padded to 8 bytes every tensor then starts aligned to
  // its element size, so readers can map it without a copy.
  std::vector<std::pair<std::string, at::Tensor>> ordered(tensors.begin(), tensors.end());
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.second.element_size() > b.second.element_size(); });
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : ordered) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t nbytes = t.numel() * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type(), name)},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorKind::unavailable, "safetensors writer", "path", "cannot write '" + tmp + "'");
    const uint64_t len = text.size();
    char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    out.write(le, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : contiguous) {
      out.write(static_cast<const char*>(t.const_data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    if (!out) throw Error(ErrorKind::unavailable, "safetensors writer", "path", "write to '" + tmp + "' failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace ditstream::io
