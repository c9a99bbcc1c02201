#include "stream/vulkan/cuda_frame_input.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/StringUtil.h>

#include "core/engine/aten_device_tensor.h"
#include "core/util/error.h"
#include "stream/vulkan/cuda_frame_bridge.h"

namespace ditstream::stream {
namespace {

constexpr std::string_view kContext = "cuda interop";

std::string shape(const at::Tensor& t) { return c10::str(t.sizes()); }

class CudaFrameInput final : public DeviceFrameInput {
 public:
  CudaFrameInput(VulkanCompositor& compositor, int device)
      : compositor_(compositor), device_(device), bridge_(compositor, device) {}

  FrameTicket submit_latent(const engine::DeviceTensor& latent, const Overlay* overlay) override {
    const at::Tensor& t = checked(latent, "latent");
    require(t.dim() == 3 && t.size(0) == kLatentChannels, kContext, "latent",
            "is " + shape(t) + "; must be [" + std::to_string(kLatentChannels) + ", h, w]");
    const int h = static_cast<int>(t.size(1)), w = static_cast<int>(t.size(2));
    c10::InferenceMode guard;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    bridge_.next_latent_input(h, w, stream).copy_(t);
    return bridge_.submit_latent(h, w, overlay, stream);
  }

  FrameTicket submit_rgb(const engine::DeviceTensor& frame, const Overlay* overlay) override {
    const at::Tensor& t = checked(frame, "frame");
    require(t.dim() == 3 && t.size(0) == 3 && t.size(1) == compositor_.height() && t.size(2) == compositor_.width(),
            kContext, "frame",
            "is " + shape(t) + "; must be [3, " + std::to_string(compositor_.height()) + ", " +
                std::to_string(compositor_.width()) + "]");
    const RgbFormat format{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};
    c10::InferenceMode guard;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    bridge_.next_rgb_input(format, stream).copy_(t);
    return bridge_.submit_rgb(format, overlay, stream);
  }

 private:
  const at::Tensor& checked(const engine::DeviceTensor& device, const char* field) const {
    const at::Tensor& t = engine::aten_tensor(device);
    require(t.is_cuda() && t.get_device() == device_, kContext, field,
            "is on " + t.device().str() + "; the compositor shares buffers with cuda:" + std::to_string(device_));
    require(t.is_floating_point(), kContext, field, "must be a floating-point tensor");
    return t;
  }

  VulkanCompositor& compositor_;
  int device_;
  CudaFrameBridge bridge_;
};

}  // namespace

CudaInterop::CudaInterop(int cuda_device) : device_(cuda_device), uuid_(CudaFrameBridge::device_uuid(cuda_device)) {}

std::string CudaInterop::name() const { return "CUDA device " + std::to_string(device_); }

std::unique_ptr<DeviceFrameInput> CudaInterop::attach(VulkanCompositor& compositor) const {
  return std::make_unique<CudaFrameInput>(compositor, device_);
}

}  // namespace ditstream::stream
