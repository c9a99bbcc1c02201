// GPU memory gauges on /metrics: nothing for a CPU engine, the caching allocator's numbers for a
// CUDA one, refreshed at every render.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "core/engine/device_memory.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

TEST(DeviceMemory, CpuEngineRegistersNoGauges) {
  engine::MetricsRegistry registry;
  engine::add_device_memory_metrics(registry, "cpu");
  EXPECT_EQ(registry.render().find("ditstream_gpu_memory"), std::string::npos);
  const auto m = engine::device_memory("cpu");
  EXPECT_EQ(m.allocated_peak_bytes, 0);
}

TEST(DeviceMemory, RejectsAStringThatIsNoDevice) {
  engine::MetricsRegistry registry;
  EXPECT_THROW(engine::add_device_memory_metrics(registry, "gpu0"), Error);
}

TEST(DeviceMemory, CudaGaugesFollowTheAllocator) {
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: the gauges read the CUDA caching allocator";
  engine::MetricsRegistry registry;
  engine::add_device_memory_metrics(registry, "cuda");
  const double before = engine::device_memory("cuda").allocated_peak_bytes;
  const at::Tensor big = at::empty({64 << 20}, at::TensorOptions().dtype(at::kByte).device(at::kCUDA));  // 64 MiB
  const auto m = engine::device_memory("cuda");
  EXPECT_GE(m.allocated_bytes, 64.0 * (1 << 20));
  EXPECT_GE(m.allocated_peak_bytes, before + 64.0 * (1 << 20) - 1);
  EXPECT_GE(m.reserved_peak_bytes, m.allocated_peak_bytes);
  const std::string text = registry.render();
  EXPECT_NE(text.find("# TYPE ditstream_gpu_memory_allocated_peak_bytes gauge"), std::string::npos) << text;
  EXPECT_EQ(text.find("ditstream_gpu_memory_allocated_peak_bytes 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace ditstream
