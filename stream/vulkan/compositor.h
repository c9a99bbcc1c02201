// The compositor the service calls once per frame: a latent preview or a decoded RGB frame goes in,
// the overlay is drawn, and an I420 frame in host memory comes out, ready for GStreamer's appsrc.
//
// Two back-ends behind one interface: Vulkan compute (a GPU, or lavapipe on CPU machines) and
// plain C++ (cpu_conversions.h), used when no Vulkan device is usable; which one runs and why is
// in info(), for /healthz and the log. CompositorFactory (compositor_factory.h) picks the back-end
// once per process and makes a compositor per frame size. Frames are pipelined: submit() returns a ticket at once and
// up to `slots` frames are in flight; collect() waits for one. Not thread-safe: one caller thread.
//
// Input dtypes: host submits take f32 or u8 RGB and f32 latents. fp16/bf16 tensors are converted
// by their producer: on the GPU by ATen while writing into the shared buffer (cuda_frame_bridge.h),
// on the host by the caller before submit.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stream/vulkan/frame_format.h"
#include "stream/vulkan/overlay.h"
#include "stream/vulkan/vulkan_context.h"

namespace ditstream::stream {

enum class CompositorBackend { vulkan, cpu };
enum class BackendChoice { automatic, vulkan, cpu };

std::string_view to_string(CompositorBackend backend);
// "auto" | "vulkan" | "cpu"; throws ditstream::Error naming `field` otherwise.
BackendChoice parse_backend_choice(std::string_view text, std::string_view field = "compositor");

struct CompositorOptions {
  int width = 0;   // output (stream) size; even, I420
  int height = 0;
  int slots = 3;   // frames in flight, 1..8
  BackendChoice backend = BackendChoice::automatic;
  LatentRgbFactors preview_factors = LatentRgbFactors::hunyuan_video();
  // Vulkan only: frames may be written into the input buffers by a device producer and ordered
  // by the `ready` timeline semaphore (VulkanCompositor::submit_device_*), not only uploaded.
  bool device_input = false;
  // Vulkan only: device input with the buffers and semaphores exported as opaque fds for CUDA
  // (see cuda_frame_bridge.h); implies device_input.
  bool cuda_interop = false;
  // Vulkan only: take the device with this UUID (the CUDA device's when interop is on).
  std::optional<vk::Uuid> device_uuid;
  // Vulkan only: further device extensions required.
  std::vector<std::string> device_extensions;
  // Bytes an input slot holds; 0 means an f32 RGB frame of width × height.
  size_t input_capacity_bytes = 0;
};

// Where the frames a compositor converted came from: host memory (uploaded, or read by the CPU
// back-end) or device memory written by a device producer (CUDA interop, no host copy). Shared by
// the compositors of one factory, so the service can tell which path its frames took.
struct CompositorCounters {
  std::atomic<uint64_t> host_frames{0};
  std::atomic<uint64_t> device_frames{0};
};

struct CompositorInfo {
  CompositorBackend backend = CompositorBackend::cpu;
  std::string device;  // Vulkan device name, or "host"
  std::string reason;  // why this back-end: the Vulkan error that forced the CPU path, or "requested"
  bool cuda_interop = false;
};

using FrameTicket = uint64_t;

class Compositor {
 public:
  // Throws ditstream::Error for bad options (odd size, slots out of range) and, when Vulkan was
  // required (BackendChoice::vulkan), for a missing device, extension or UUID match. With
  // BackendChoice::automatic a Vulkan failure is logged and the CPU back-end is returned instead.
  static std::unique_ptr<Compositor> create(const CompositorOptions& options);
  virtual ~Compositor() = default;

  const CompositorInfo& info() const { return info_; }
  int width() const { return width_; }
  int height() const { return height_; }
  int slots() const { return slots_; }
  const CompositorCounters& counters() const { return *counters_; }

  // An RGB frame of the output size in host memory (rgb_frame_bytes(format, width, height) bytes),
  // copied before return. `overlay` may be null.
  virtual FrameTicket submit_rgb(const void* frame, const RgbFormat& format, const Overlay* overlay) = 0;
  // A 16-channel fp32 latent frame in host memory, upscaled to the output size.
  virtual FrameTicket submit_latent(const float* latent, const LatentFrameDesc& desc, const Overlay* overlay) = 0;
  // Waits for the frame of `ticket` and writes it into `out` (its storage is reused). Each ticket
  // is collected once; a slot is not reused before its frame was collected.
  virtual void collect(FrameTicket ticket, I420Frame& out) = 0;

  I420Frame compose_rgb(const void* frame, const RgbFormat& format, const Overlay* overlay);
  I420Frame compose_latent(const float* latent, const LatentFrameDesc& desc, const Overlay* overlay);

 protected:
  Compositor(const CompositorOptions& options, CompositorInfo info, std::shared_ptr<CompositorCounters> counters);
  // Checks of host-submit arguments shared by both back-ends; each counts a host frame.
  void check_rgb(const void* frame, const RgbFormat& format);
  void check_latent(const float* latent, const LatentFrameDesc& desc);

  CompositorInfo info_;
  int width_;
  int height_;
  int slots_;
  size_t input_capacity_;
  LatentRgbFactors factors_;
  std::shared_ptr<CompositorCounters> counters_;
};

// The plain C++ back-end alone (also what CompositorFactory falls back to).
std::unique_ptr<Compositor> make_cpu_compositor(const CompositorOptions& options, CompositorInfo info,
                                                std::shared_ptr<CompositorCounters> counters);

}  // namespace ditstream::stream
