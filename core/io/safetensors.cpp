#include "core/io/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/util/error.h"

namespace ditstream::io {

at::ScalarType to_scalar_type(SafetensorsDType dtype, std::string_view tensor_name) {
  switch (dtype) {
    case SafetensorsDType::BOOL: return at::kBool;
    case SafetensorsDType::U8: return at::kByte;
    case SafetensorsDType::I8: return at::kChar;
    case SafetensorsDType::I16: return at::kShort;
    case SafetensorsDType::U16: return at::kUInt16;
    case SafetensorsDType::F16: return at::kHalf;
    case SafetensorsDType::BF16: return at::kBFloat16;
    case SafetensorsDType::I32: return at::kInt;
    case SafetensorsDType::U32: return at::kUInt32;
    case SafetensorsDType::F32: return at::kFloat;
    case SafetensorsDType::C64: return at::kComplexFloat;
    case SafetensorsDType::F64: return at::kDouble;
    case SafetensorsDType::I64: return at::kLong;
    case SafetensorsDType::U64: return at::kUInt64;
    case SafetensorsDType::F8_E4M3: return at::kFloat8_e4m3fn;
    case SafetensorsDType::F8_E5M2: return at::kFloat8_e5m2;
    case SafetensorsDType::F8_E8M0: return at::kFloat8_e8m0fnu;
    case SafetensorsDType::F6_E2M3:
    case SafetensorsDType::F6_E3M2:
    case SafetensorsDType::F4: break;
  }
  throw_invalid("safetensors", std::string(tensor_name),
                "dtype " + std::string(to_string(dtype)) + " has no tensor type in libtorch; read it as raw bytes");
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string label = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorKind::not_found, "safetensors: " + label, "", std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_bad_file("safetensors: " + label, "", "not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw_bad_file("safetensors: " + label, "header",
                   "file is " + std::to_string(size) + " bytes; at least 8 are needed for the header length");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping keeps the file open
  if (map == MAP_FAILED) throw_bad_file("safetensors: " + label, "", std::string("mmap failed: ") + std::strerror(errno));

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->map_ = static_cast<const uint8_t*>(map);
  file->map_size_ = size;
  file->self_ = file;
  file->header_ = parse_safetensors_header(file->map_, size, size, label);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

const uint8_t* SafetensorsFile::data(const TensorRecord& record) const {
  return map_ + header_.data_offset + record.begin;
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorRecord* record = find(name);
  if (record == nullptr) {
    throw Error(ErrorKind::not_found, "safetensors: " + path_.string(), std::string(name), "no such tensor in the file");
  }
  return tensor(*record);
}

at::Tensor SafetensorsFile::tensor(const TensorRecord& record) const {
  const at::ScalarType type = to_scalar_type(record.dtype, record.name);
  const auto options = at::TensorOptions().dtype(type).device(at::kCPU);
  const uint8_t* ptr = data(record);
  const size_t item = at::elementSize(type);
  if (reinterpret_cast<uintptr_t>(ptr) % item != 0) {
    // Writers pad the header to 8 bytes, so this only happens for odd hand-made files.
    at::Tensor out = at::empty(record.shape, options);
    std::memcpy(out.data_ptr(), ptr, record.nbytes());
    return out;
  }
  std::shared_ptr<const SafetensorsFile> keep = self_.lock();
  return at::from_blob(
      const_cast<uint8_t*>(ptr), record.shape, [keep](void*) mutable { keep.reset(); }, options);
}

}  // namespace ditstream::io
