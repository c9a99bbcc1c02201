// The CUDA side of DeviceInterop: a CudaFrameBridge per compositor. An engine's tensor on the CUDA
// device is copied device to device (its dtype converted on the GPU) into the slot's shared buffer
// on the current CUDA stream, and Vulkan converts it once that copy is done: no host copy before
// conversion.
#pragma once

#include "stream/vulkan/device_frame_input.h"

namespace ditstream::stream {

class CudaInterop final : public DeviceInterop {
 public:
  // Throws ditstream::Error (unavailable) when `cuda_device` does not exist.
  explicit CudaInterop(int cuda_device);
  std::string name() const override;
  vk::Uuid device_uuid() const override { return uuid_; }
  std::unique_ptr<DeviceFrameInput> attach(VulkanCompositor& compositor) const override;

 private:
  int device_;
  vk::Uuid uuid_;
};

}  // namespace ditstream::stream
