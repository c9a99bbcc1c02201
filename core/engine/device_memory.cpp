#include "core/engine/device_memory.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

#ifdef DITSTREAM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ditstream::engine {
namespace {

at::Device parse_device(const std::string& device) {
  try {
    return at::Device(device);
  } catch (const std::exception&) {
    throw_invalid("device memory", "device", "'" + device + "' is not cpu, cuda or cuda:N");
  }
}

}  // namespace

DeviceMemory device_memory(const std::string& device) {
  const at::Device d = parse_device(device);
  DeviceMemory m;
#ifdef DITSTREAM_WITH_CUDA
  // Before the first CUDA allocation the allocator has no per-device state yet (and says so by
  // throwing): nothing is allocated then.
  if (d.is_cuda() && at::hasCUDA() && c10::cuda::CUDACachingAllocator::get()->initialized()) {
    const auto index = d.has_index() ? d.index() : at::cuda::current_device();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    constexpr size_t all = 0;  // StatType::AGGREGATE: small and large pools together
    m.allocated_bytes = static_cast<double>(stats.allocated_bytes[all].current);
    m.allocated_peak_bytes = static_cast<double>(stats.allocated_bytes[all].peak);
    m.reserved_peak_bytes = static_cast<double>(stats.reserved_bytes[all].peak);
  }
#endif
  return m;
}

void add_device_memory_metrics(MetricsRegistry& registry, const std::string& device) {
  if (!parse_device(device).is_cuda()) return;
  Gauge& allocated = registry.gauge("ditstream_gpu_memory_allocated_bytes", "GPU memory held by tensors now (rank 0)");
  Gauge& allocated_peak = registry.gauge("ditstream_gpu_memory_allocated_peak_bytes",
                                         "Most GPU memory held by tensors since the service started (rank 0)");
  Gauge& reserved_peak = registry.gauge("ditstream_gpu_memory_reserved_peak_bytes",
                                        "Most GPU memory the caching allocator took from the driver since the service started (rank 0)");
  registry.add_collector([device, &allocated, &allocated_peak, &reserved_peak] {
    const DeviceMemory m = device_memory(device);
    allocated.set(m.allocated_bytes);
    allocated_peak.set(m.allocated_peak_bytes);
    reserved_peak.set(m.reserved_peak_bytes);
  });
}

}  // namespace ditstream::engine
