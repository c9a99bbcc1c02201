// Picks the compositor back-end once for the process and makes a compositor per frame size; all of
// them share one Vulkan context with its compiled pipelines, and one set of counters. With a
// DeviceInterop (an engine on a CUDA GPU) the Vulkan device must be that GPU and the compositors'
// input buffers are shared with CUDA; when that cannot be had, Vulkan still runs, fed from host
// copies, and info() says why.
#pragma once

#include <memory>

#include "stream/vulkan/compositor.h"
#include "stream/vulkan/device_frame_input.h"

namespace ditstream::stream {

class VulkanKernels;

class CompositorFactory {
 public:
  // `defaults`: the back-end choice, slots, preview factors and device extensions of every
  // compositor (its width and height are not used). Throws ditstream::Error (unavailable) when
  // Vulkan was required (BackendChoice::vulkan) and no usable device exists; with `automatic` it
  // falls back to the CPU back-end and info().reason says why.
  explicit CompositorFactory(CompositorOptions defaults, std::shared_ptr<const DeviceInterop> interop = nullptr);

  const CompositorInfo& info() const { return info_; }
  const CompositorCounters& counters() const { return *counters_; }
  // Thread-safe. Throws ditstream::Error for a size I420 cannot hold (odd, zero, too large).
  std::unique_ptr<Compositor> make(int width, int height) const;
  // Where device frames can be written into `compositor` (made here) directly; null when they must
  // come through the host (no interop, or the CPU back-end).
  std::unique_ptr<DeviceFrameInput> device_input(Compositor& compositor) const;

 private:
  CompositorOptions defaults_;
  std::shared_ptr<const DeviceInterop> interop_;  // null unless interop is active
  std::shared_ptr<const VulkanKernels> kernels_;  // null on the CPU back-end
  CompositorInfo info_;
  std::shared_ptr<CompositorCounters> counters_ = std::make_shared<CompositorCounters>();
};

}  // namespace ditstream::stream
