// Frames that stay in device memory on their way into the compositor: a DeviceFrameInput writes an
// engine's device tensor straight into a Vulkan compositor's input slot and queues its conversion,
// so the frame takes no round trip through the host. DeviceInterop makes one per compositor; the
// CUDA implementation is cuda_frame_input.h (built only with CUDA). Torch-free on this side.
#pragma once

#include <memory>
#include <string>

#include "core/engine/events.h"
#include "stream/vulkan/compositor.h"

namespace ditstream::stream {

class VulkanCompositor;

class DeviceFrameInput {
 public:
  virtual ~DeviceFrameInput() = default;
  // A latent frame [16, h, w] (any float dtype) through the latent-preview pass; the ticket is
  // collected on the compositor. Throws ditstream::Error for a tensor of another shape or device.
  virtual FrameTicket submit_latent(const engine::DeviceTensor& latent, const Overlay* overlay) = 0;
  // An RGB frame [3, H, W] in [-1, 1] (any float dtype) of the compositor's output size.
  virtual FrameTicket submit_rgb(const engine::DeviceTensor& frame, const Overlay* overlay) = 0;
};

class DeviceInterop {
 public:
  virtual ~DeviceInterop() = default;
  // "CUDA device 0", for the log and errors.
  virtual std::string name() const = 0;
  // The Vulkan device must be this one (CompositorOptions::device_uuid).
  virtual vk::Uuid device_uuid() const = 0;
  // Imports `compositor`'s input slots (made with cuda_interop); `compositor` must outlive the result.
  virtual std::unique_ptr<DeviceFrameInput> attach(VulkanCompositor& compositor) const = 0;
};

}  // namespace ditstream::stream
