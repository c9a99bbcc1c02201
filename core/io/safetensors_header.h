// The safetensors header: an 8-byte little-endian length, then a JSON object mapping tensor names
// to {dtype, shape, data_offsets}. Parsed and validated here without libtorch, so the parser can be
// fuzzed on its own; safetensors.h maps files and turns records into tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ditstream::io {

// Every dtype the safetensors format defines.
enum class SafetensorsDType {
  BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64,
  F8_E4M3, F8_E5M2, F8_E8M0, F6_E2M3, F6_E3M2, F4,
};

std::string_view to_string(SafetensorsDType dtype);
std::optional<SafetensorsDType> parse_safetensors_dtype(std::string_view name);
// Size of one element in bits (4 and 6 for the sub-byte float formats).
int bit_width(SafetensorsDType dtype);

struct TensorRecord {
  std::string name;
  SafetensorsDType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;

  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<TensorRecord> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file
  uint64_t data_size = 0;

  const TensorRecord* find(std::string_view name) const;
};

// Largest header accepted, as in the reference implementation.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses and validates the first `file_size` bytes of a safetensors file (only the header part is
// read, `file_size` is the whole file's size). `label` names the file in errors. Throws
// ditstream::Error(bad_file) for every malformed input: truncated, oversized or non-JSON header,
// unknown dtype, negative dims, a size that does not match shape × dtype, offsets that overlap, leave
// holes or run past the end of the file.
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, uint64_t available, uint64_t file_size,
                                           std::string_view label);

}  // namespace ditstream::io
