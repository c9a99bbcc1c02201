#include "core/io/safetensors_header.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include "core/util/error.h"

namespace ditstream::io {
namespace {

struct DTypeInfo {
  SafetensorsDType dtype;
  std::string_view name;
  int bits;
};

constexpr DTypeInfo kDTypes[] = {
    {SafetensorsDType::BOOL, "BOOL", 8},       {SafetensorsDType::U8, "U8", 8},
    {SafetensorsDType::I8, "I8", 8},           {SafetensorsDType::I16, "I16", 16},
    {SafetensorsDType::U16, "U16", 16},        {SafetensorsDType::F16, "F16", 16},
    {SafetensorsDType::BF16, "BF16", 16},      {SafetensorsDType::I32, "I32", 32},
    {SafetensorsDType::U32, "U32", 32},        {SafetensorsDType::F32, "F32", 32},
    {SafetensorsDType::C64, "C64", 64},        {SafetensorsDType::F64, "F64", 64},
    {SafetensorsDType::I64, "I64", 64},        {SafetensorsDType::U64, "U64", 64},
    {SafetensorsDType::F8_E4M3, "F8_E4M3", 8}, {SafetensorsDType::F8_E5M2, "F8_E5M2", 8},
    {SafetensorsDType::F8_E8M0, "F8_E8M0", 8}, {SafetensorsDType::F6_E2M3, "F6_E2M3", 6},
    {SafetensorsDType::F6_E3M2, "F6_E3M2", 6}, {SafetensorsDType::F4, "F4", 4},
};

std::string allowed_dtypes() {
  std::string out;
  for (const auto& d : kDTypes) {
    if (!out.empty()) out += ", ";
    out += d.name;
  }
  return out;
}

[[noreturn]] void bad(std::string_view label, const std::string& field, const std::string& detail) {
  throw_bad_file("safetensors: " + std::string(label), field, detail);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::vector<int64_t> parse_shape(const nlohmann::json& shape, std::string_view label, const std::string& name) {
  if (!shape.is_array()) bad(label, name + ".shape", "expected an array of non-negative integers");
  std::vector<int64_t> dims;
  dims.reserve(shape.size());
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) {
      bad(label, name + ".shape", "expected non-negative integers, got " + d.dump());
    }
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      bad(label, name + ".shape", "dimension " + std::to_string(v) + " is too large");
    }
    dims.push_back(static_cast<int64_t>(v));
  }
  return dims;
}

// Bytes that `dims` elements of `bits` each take, or nullopt on overflow.
std::optional<uint64_t> byte_size(const std::vector<int64_t>& dims, int bits) {
  unsigned __int128 elements = 1;
  for (int64_t d : dims) {
    elements *= static_cast<uint64_t>(d);
    if (elements > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  }
  const unsigned __int128 total_bits = elements * static_cast<unsigned>(bits);
  if (total_bits % 8 != 0) return std::nullopt;
  const unsigned __int128 bytes = total_bits / 8;
  if (bytes > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

TensorRecord parse_record(const std::string& name, const nlohmann::json& entry, std::string_view label) {
  if (!entry.is_object()) bad(label, name, "expected an object with dtype, shape and data_offsets");
  const auto dtype_it = entry.find("dtype");
  const auto shape_it = entry.find("shape");
  const auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string()) bad(label, name + ".dtype", "missing or not a string");
  if (shape_it == entry.end()) bad(label, name + ".shape", "missing");
  if (offsets_it == entry.end()) bad(label, name + ".data_offsets", "missing");
  for (const auto& [key, _] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      bad(label, name + "." + key, "unknown key; allowed: dtype, shape, data_offsets");
    }
  }
  TensorRecord rec;
  rec.name = name;
  const auto dtype_name = dtype_it->get<std::string>();
  const auto dtype = parse_safetensors_dtype(dtype_name);
  if (!dtype) bad(label, name + ".dtype", "'" + dtype_name + "' is not a safetensors dtype; allowed: " + allowed_dtypes());
  rec.dtype = *dtype;
  rec.shape = parse_shape(*shape_it, label, name);
  const auto& offsets = *offsets_it;
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    bad(label, name + ".data_offsets", "expected [begin, end] as two non-negative integers, got " + offsets.dump());
  }
  rec.begin = offsets[0].get<uint64_t>();
  rec.end = offsets[1].get<uint64_t>();
  if (rec.end < rec.begin) {
    bad(label, name + ".data_offsets",
        "end " + std::to_string(rec.end) + " is before begin " + std::to_string(rec.begin));
  }
  const auto expected = byte_size(rec.shape, bit_width(rec.dtype));
  if (!expected) bad(label, name + ".shape", "size overflows or is not a whole number of bytes for " + dtype_name);
  if (*expected != rec.nbytes()) {
    bad(label, name + ".data_offsets",
        "holds " + std::to_string(rec.nbytes()) + " bytes but shape × " + dtype_name + " needs " +
            std::to_string(*expected));
  }
  return rec;
}

}  // namespace

std::string_view to_string(SafetensorsDType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

std::optional<SafetensorsDType> parse_safetensors_dtype(std::string_view name) {
  for (const auto& d : kDTypes) {
    if (d.name == name) return d.dtype;
  }
  return std::nullopt;
}

int bit_width(SafetensorsDType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.bits;
  }
  return 0;
}

int64_t TensorRecord::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TensorRecord* SafetensorsHeader::find(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, uint64_t available, uint64_t file_size,
                                           std::string_view label) {
  if (available < 8 || file_size < 8) {
    bad(label, "header", "file is " + std::to_string(file_size) + " bytes; at least 8 are needed for the header length");
  }
  const uint64_t header_len = read_u64_le(bytes);
  if (header_len > kMaxSafetensorsHeaderBytes) {
    bad(label, "header", "header length " + std::to_string(header_len) + " exceeds the limit of " +
                             std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  }
  if (header_len > file_size - 8 || header_len > available - 8) {
    bad(label, "header", "header length " + std::to_string(header_len) + " runs past the end of the " +
                             std::to_string(file_size) + "-byte file (truncated?)");
  }
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  if (header_len < 2 || text[0] != '{') bad(label, "header", "does not start with a JSON object");

  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text, text + header_len);
  } catch (const nlohmann::json::exception& e) {
    bad(label, "header", std::string("is not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) bad(label, "header", "is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_len;
  header.data_size = file_size - header.data_offset;
  for (const auto& [name, entry] : doc.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) bad(label, "__metadata__", "expected an object of strings");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) bad(label, "__metadata__." + key, "expected a string, got " + value.dump());
        header.metadata.emplace(key, value.get<std::string>());
      }
      continue;
    }
    header.tensors.push_back(parse_record(name, entry, label));
  }

  // The data section must be exactly the tensors laid end to end: no overlap, no hole.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorRecord& a, const TensorRecord& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const auto& t : header.tensors) {
    if (t.begin < cursor) {
      bad(label, t.name + ".data_offsets",
          "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") overlaps the tensor before it");
    }
    if (t.begin > cursor) {
      bad(label, t.name + ".data_offsets",
          "leaves a hole at bytes [" + std::to_string(cursor) + ", " + std::to_string(t.begin) + ")");
    }
    cursor = t.end;
  }
  if (cursor != header.data_size) {
    bad(label, "data",
        "tensors cover " + std::to_string(cursor) + " bytes but the data section is " +
            std::to_string(header.data_size) + " bytes" + (cursor > header.data_size ? " (truncated?)" : ""));
  }
  return header;
}

}  // namespace ditstream::io
