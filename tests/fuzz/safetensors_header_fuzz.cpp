// libFuzzer harness: any byte string as a whole safetensors file. The parser must either return a
// header whose records lie inside the file or throw ditstream::Error; nothing else.
#include <cstdint>
#include <cstdlib>

#include "core/io/safetensors_header.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto header = ditstream::io::parse_safetensors_header(data, size, size, "fuzz");
    for (const auto& t : header.tensors) {
      if (t.end > header.data_size || header.data_offset + header.data_size != size) std::abort();
    }
  } catch (const ditstream::Error&) {
  }
  return 0;
}
