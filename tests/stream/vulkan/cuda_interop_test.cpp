// CUDA → Vulkan interop on a GPU machine: a tensor written by CUDA into the Vulkan buffer imported
// into CUDA comes out of the Vulkan conversion as the CPU path computes it from the same values.
// The frame never passes through host memory before conversion: the only host copy is the I420
// readback in collect().
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAStream.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "stream/vulkan/cpu_conversions.h"
#include "stream/vulkan/cuda_frame_bridge.h"
#include "tests/stream/vulkan/reference_frames.h"
#include "tests/support/test_support.h"

namespace ditstream::stream {
namespace {

struct Diff {
  int worst = 0;
  size_t differing = 0;
};

Diff compare(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    const int e = std::abs(int(a[i]) - int(b[i]));
    d.worst = std::max(d.worst, e);
    d.differing += e != 0;
  }
  return d;
}

class CudaInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: interop runs on the GPU machine";
    CompositorOptions options{kWidth, kHeight};
    options.backend = BackendChoice::vulkan;
    options.cuda_interop = true;
    options.device_uuid = CudaFrameBridge::device_uuid(0);
    compositor_ = std::make_unique<VulkanCompositor>(options);
    bridge_ = std::make_unique<CudaFrameBridge>(*compositor_, 0);
  }
  void TearDown() override {
    bridge_.reset();
    compositor_.reset();
  }

  static constexpr int kWidth = 320, kHeight = 180;
  std::unique_ptr<VulkanCompositor> compositor_;
  std::unique_ptr<CudaFrameBridge> bridge_;
};

TEST_F(CudaInterop, RgbTensorWrittenByCudaConvertsLikeTheCpu) {
  c10::InferenceMode guard;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
  const Overlay overlay{4, 10, "decode"};
  at::manual_seed(1);
  for (const RgbFormat format : {RgbFormat{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit},
                                 RgbFormat{SampleType::u8, PixelLayout::interleaved, FloatRange::unit}}) {
    for (const Overlay* ov : {static_cast<const Overlay*>(nullptr), &overlay}) {
      SCOPED_TRACE(to_string(format) + (ov ? " with overlay" : ""));
      at::Tensor host = format.type == SampleType::f32
                            ? at::rand({3, kHeight, kWidth}) * 2.2 - 1.1
                            : at::randint(0, 256, {kHeight, kWidth, 3}, at::TensorOptions().dtype(at::kByte));
      at::Tensor device = host.to(at::kCUDA);
      at::Tensor view = bridge_->next_rgb_input(format, stream);
      ASSERT_TRUE(view.is_cuda());
      view.copy_(device);  // device → device, on the current stream
      const FrameTicket ticket = bridge_->submit_rgb(format, ov, stream);
      I420Frame out;
      compositor_->collect(ticket, out);
      const Diff d = compare(out.bytes, cpu_i420(host.contiguous().data_ptr(), format, kWidth, kHeight, ov));
      EXPECT_LE(d.worst, 1);
      std::printf("%s%s: %zu of %zu samples differ from the CPU result (max %d)\n", to_string(format).c_str(),
                  ov ? " + overlay" : "", d.differing, out.bytes.size(), d.worst);
    }
  }
}

TEST_F(CudaInterop, Bf16TensorIsConvertedOnTheGpuWhileWritten) {
  c10::InferenceMode guard;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
  at::manual_seed(2);
  const RgbFormat format{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};
  at::Tensor bf16 = (at::rand({3, kHeight, kWidth}) * 2 - 1).to(at::kBFloat16).to(at::kCUDA);
  bridge_->next_rgb_input(format, stream).copy_(bf16);
  I420Frame out;
  compositor_->collect(bridge_->submit_rgb(format, nullptr, stream), out);
  at::Tensor host = bf16.to(at::kCPU).to(at::kFloat).contiguous();
  EXPECT_LE(compare(out.bytes, cpu_i420(host.data_ptr(), format, kWidth, kHeight, nullptr)).worst, 1);
}

TEST_F(CudaInterop, LatentPreviewFromCudaMatchesTheCpu) {
  c10::InferenceMode guard;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
  at::manual_seed(3);
  const int lh = 23, lw = 40;
  at::Tensor host = at::randn({kLatentChannels, lh, lw}) * 2;
  bridge_->next_latent_input(lh, lw, stream).copy_(host.to(at::kCUDA));
  const Overlay overlay{1, 30, "denoise"};
  I420Frame out;
  compositor_->collect(bridge_->submit_latent(lh, lw, &overlay, stream), out);
  std::vector<uint32_t> rgba(size_t(kWidth) * kHeight);
  cpu::latent_preview(host.data_ptr<float>(), {lh, lw}, LatentRgbFactors::hunyuan_video(), kWidth, kHeight, rgba.data());
  const Diff d = compare(out.bytes, cpu_i420(rgba.data(), {SampleType::u8, PixelLayout::rgba8}, kWidth, kHeight, &overlay));
  EXPECT_LE(d.worst, 1);
}

TEST_F(CudaInterop, PipelinedFramesStayInOrderAcrossSlotReuse) {
  c10::InferenceMode guard;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
  at::manual_seed(4);
  const RgbFormat format{SampleType::f32, PixelLayout::planar, FloatRange::unit};
  const int frames = 10;
  std::vector<at::Tensor> hosts;
  std::vector<FrameTicket> tickets;
  I420Frame out;
  for (int i = 0; i < frames; ++i) {
    // Keep at most slots-1 frames uncollected so the next submit always finds a free slot.
    if (i >= compositor_->slots() - 1) {
      const int j = i - (compositor_->slots() - 1);
      compositor_->collect(tickets[j], out);
      EXPECT_LE(compare(out.bytes, cpu_i420(hosts[j].data_ptr(), format, kWidth, kHeight, nullptr)).worst, 1) << j;
    }
    hosts.push_back(at::rand({3, kHeight, kWidth}));
    bridge_->next_rgb_input(format, stream).copy_(hosts.back().to(at::kCUDA));
    tickets.push_back(bridge_->submit_rgb(format, nullptr, stream));
  }
  for (int j = frames - (compositor_->slots() - 1); j < frames; ++j) {
    compositor_->collect(tickets[j], out);
    EXPECT_LE(compare(out.bytes, cpu_i420(hosts[j].data_ptr(), format, kWidth, kHeight, nullptr)).worst, 1) << j;
  }
}

TEST_F(CudaInterop, FrameStaysOnTheDeviceUntilConvertedAndBeatsAHostCopy) {
  c10::InferenceMode guard;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
  const RgbFormat format{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};
  const Overlay overlay{3, 10, "decode"};
  at::Tensor frame = at::rand({3, kHeight, kWidth}, at::TensorOptions().device(at::kCUDA)) * 2 - 1;

  // The tensor the model writes is device memory: the Vulkan buffer itself, mapped into CUDA.
  at::Tensor view = bridge_->next_rgb_input(format, stream);
  cudaPointerAttributes attributes{};
  ASSERT_EQ(cudaPointerGetAttributes(&attributes, view.data_ptr()), cudaSuccess);
  EXPECT_EQ(attributes.type, cudaMemoryTypeDevice);
  view.copy_(frame);
  I420Frame out;
  compositor_->collect(bridge_->submit_rgb(format, &overlay, stream), out);

  auto median_ms = [](const std::function<void()>& fn) {
    std::vector<double> ms;
    for (int i = 0; i < 25; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  const double interop_ms = median_ms([&] {
    bridge_->next_rgb_input(format, stream).copy_(frame);
    compositor_->collect(bridge_->submit_rgb(format, &overlay, stream), out);
  });
  std::vector<uint8_t> host_i420;
  const double host_copy_ms = median_ms([&] {
    at::Tensor host = frame.to(at::kCPU);
    host_i420 = cpu_i420(host.data_ptr(), format, kWidth, kHeight, &overlay);
  });
  std::printf("%dx%d per frame: CUDA write -> Vulkan -> host I420 %.3f ms; copy to host + CPU %.3f ms\n", kWidth,
              kHeight, interop_ms, host_copy_ms);
  EXPECT_LE(compare(out.bytes, host_i420).worst, 1);
  EXPECT_LT(interop_ms, host_copy_ms);
}

}  // namespace
}  // namespace ditstream::stream
