#include "core/engine/compute_lane.h"

#include <fstream>
#include <sstream>

#include "core/util/error.h"

#ifdef DITSTREAM_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace ditstream::engine {
namespace {

// A /proc/meminfo field in bytes, 0 when absent.
int64_t meminfo_bytes(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream value(line.substr(field.size() + 1));
    int64_t kib = 0;
    value >> kib;
    return kib * 1024;
  }
  return 0;
}

}  // namespace

#ifdef DITSTREAM_WITH_CUDA
struct ComputeLane::Stream {
  c10::cuda::CUDAStream stream;
};
#else
struct ComputeLane::Stream {};
#endif

ComputeLane::ComputeLane(at::Device device, std::string role, Priority priority)
    : device_(device), name_(device.str() + "/" + role) {
  if (!device.is_cuda()) return;
#ifdef DITSTREAM_WITH_CUDA
  const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
  device_ = at::Device(at::kCUDA, index);
  name_ = device_.str() + "/" + role;
  stream_ = std::make_unique<Stream>(Stream{c10::cuda::getStreamFromPool(priority == Priority::high, index)});
#else
  (void)priority;
  throw Error(ErrorKind::unavailable, "compute lane", "device",
              "'" + device.str() + "' asked for, but this build has no CUDA implementation of lanes");
#endif
}

ComputeLane::~ComputeLane() = default;

ComputeLane::Use::Use(const ComputeLane& lane) {
#ifdef DITSTREAM_WITH_CUDA
  if (lane.stream_) guard_ = std::make_shared<c10::cuda::CUDAStreamGuard>(lane.stream_->stream);
#else
  (void)lane;
#endif
}

ComputeLane::Use::~Use() = default;

LaneMark ComputeLane::mark() const {
#ifdef DITSTREAM_WITH_CUDA
  if (stream_) {
    auto event = std::make_shared<at::cuda::CUDAEvent>();
    event->record(stream_->stream);
    return {event};
  }
#endif
  return {};
}

void ComputeLane::wait(const LaneMark& mark, const at::Tensor& tensor) const {
#ifdef DITSTREAM_WITH_CUDA
  if (!stream_) return;
  if (mark.event) static_cast<at::cuda::CUDAEvent*>(mark.event.get())->block(stream_->stream);
  if (tensor.defined() && tensor.is_cuda()) tensor.record_stream(stream_->stream.unwrap());
#else
  (void)mark;
  (void)tensor;
#endif
}

void ComputeLane::synchronize() const {
#ifdef DITSTREAM_WITH_CUDA
  if (stream_) stream_->stream.synchronize();
#endif
}

AvailableMemory available_memory(at::Device device) {
  if (device.is_cpu()) return {meminfo_bytes("MemAvailable"), meminfo_bytes("MemTotal")};
#ifdef DITSTREAM_WITH_CUDA
  if (device.is_cuda()) {
    const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
    c10::cuda::CUDAGuard guard(index);
    size_t free = 0, total = 0;
    C10_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    const int64_t cached = stats.reserved_bytes[0].current - stats.allocated_bytes[0].current;
    return {static_cast<int64_t>(free) + cached, static_cast<int64_t>(total)};
  }
#endif
  throw Error(ErrorKind::unavailable, "device memory", "device", "no memory report for '" + device.str() + "'");
}

void release_cached_memory(at::Device device) {
#ifdef DITSTREAM_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#else
  (void)device;
#endif
}

}  // namespace ditstream::engine
