// GPU memory of the engine's device, read from the CUDA caching allocator, and the Prometheus
// gauges that show it on /metrics. Peaks count from the process start: weights, activations,
// decoder caches and every job so far together.
#pragma once

#include <string>

#include "core/engine/metrics.h"

namespace ditstream::engine {

struct DeviceMemory {
  double allocated_bytes = 0;       // held by tensors now
  double allocated_peak_bytes = 0;  // most ever held by tensors
  double reserved_peak_bytes = 0;   // most ever taken from the driver by the allocator
};

// `device` as the engine takes it ("cpu", "cuda", "cuda:1"). Zeros for the CPU. Throws
// Error(invalid_argument) for a device string that is not one.
DeviceMemory device_memory(const std::string& device);

// Registers ditstream_gpu_memory_{allocated,allocated_peak,reserved_peak}_bytes, refreshed on every
// render; registers nothing for a CPU device.
void add_device_memory_metrics(MetricsRegistry& registry, const std::string& device);

}  // namespace ditstream::engine
