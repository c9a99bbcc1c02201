// The Vulkan back-end of the compositor. Per slot (frame in flight): an input buffer (host-visible
// for uploads, or device-local and exported to CUDA), an rgba8 working frame, an overlay parameter
// buffer, a host-visible I420 output buffer, descriptor sets and a command buffer. One timeline
// semaphore `done` counts finished frames (its value is the ticket); with device input (CUDA
// interop) a second one, `ready`, is signalled by the producer (CUDA) after it wrote a slot's
// input, and the frame's GPU work waits on it. The context and the compiled pipelines
// (VulkanKernels) are made once per process and shared by the compositors of every frame size.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "stream/vulkan/compositor.h"
#include "stream/vulkan/vulkan_resources.h"

namespace ditstream::stream {

// What the Vulkan compositors of one device share: the context (one queue, serialised), the
// descriptor-set layout and the three compute pipelines built from the embedded SPIR-V.
class VulkanKernels {
 public:
  // Throws ditstream::Error (unavailable) when no suitable Vulkan device exists.
  explicit VulkanKernels(const vk::DeviceRequest& request);
  const vk::VulkanContext& context() const { return *ctx_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_.get(); }
  const vk::ComputePipeline& preview() const { return *preview_; }
  const vk::ComputePipeline& overlay() const { return *overlay_; }
  const vk::ComputePipeline& i420() const { return *i420_; }

 private:
  std::unique_ptr<vk::VulkanContext> ctx_;
  vk::DescriptorSetLayout set_layout_;
  std::unique_ptr<vk::ComputePipeline> preview_;
  std::unique_ptr<vk::ComputePipeline> overlay_;
  std::unique_ptr<vk::ComputePipeline> i420_;
};

class VulkanCompositor final : public Compositor {
 public:
  // Its own context and pipelines. Throws ditstream::Error (unavailable) when no suitable Vulkan
  // device exists.
  explicit VulkanCompositor(const CompositorOptions& options);
  // On shared ones: `kernels` must have been made with the interop the options ask for.
  VulkanCompositor(const CompositorOptions& options, std::shared_ptr<const VulkanKernels> kernels,
                   CompositorInfo info, std::shared_ptr<CompositorCounters> counters);
  ~VulkanCompositor() override;

  FrameTicket submit_rgb(const void* frame, const RgbFormat& format, const Overlay* overlay) override;
  FrameTicket submit_latent(const float* latent, const LatentFrameDesc& desc, const Overlay* overlay) override;
  void collect(FrameTicket ticket, I420Frame& out) override;

  // --- device input (options.device_input / cuda_interop); used by CudaFrameBridge ---
  const vk::VulkanContext& context() const { return *ctx_; }
  // The slot the next submit writes, and the ticket whose completion frees it (0: free already).
  int next_slot() const { return int((next_ticket_ - 1) % slots_); }
  FrameTicket slot_busy_until(int slot) const { return slots_state_[slot].ticket; }
  const vk::Buffer& input_buffer(int slot) const { return *slots_state_[slot].input; }
  const vk::TimelineSemaphore& done_semaphore() const { return done_; }
  const vk::TimelineSemaphore& ready_semaphore() const { return *ready_; }
  // Queue a frame whose input the device already wrote into next_slot()'s input buffer; its GPU
  // work starts once ready_semaphore() reaches `ready_value`. No host copy is involved.
  FrameTicket submit_device_rgb(const RgbFormat& format, const Overlay* overlay, uint64_t ready_value);
  FrameTicket submit_device_latent(const LatentFrameDesc& desc, const Overlay* overlay, uint64_t ready_value);

 private:
  struct Slot {
    std::unique_ptr<vk::Buffer> input;
    std::unique_ptr<vk::Buffer> staging;  // host uploads in interop mode, made on first use
    std::unique_ptr<vk::Buffer> frame;
    std::unique_ptr<vk::Buffer> overlay;
    std::unique_ptr<vk::Buffer> output;
    VkDescriptorSet preview_set = VK_NULL_HANDLE;          // input → frame, factors
    VkDescriptorSet overlay_from_input = VK_NULL_HANDLE;   // input → frame
    VkDescriptorSet overlay_in_place = VK_NULL_HANDLE;     // frame → frame
    VkDescriptorSet i420_from_input = VK_NULL_HANDLE;      // input → output
    VkDescriptorSet i420_from_frame = VK_NULL_HANDLE;      // frame → output
    VkCommandBuffer commands = VK_NULL_HANDLE;
    FrameTicket ticket = 0;
    bool collected = true;
  };
  enum class Source { rgb, latent };
  struct Job {
    Source source;
    RgbFormat format;
    LatentFrameDesc latent;
    std::optional<OverlayLayout> overlay;
    bool from_staging = false;
    std::optional<uint64_t> ready_value;
  };

  Slot& acquire();
  void upload(Slot& slot, const void* data, size_t bytes, bool& from_staging);
  FrameTicket record_and_submit(Slot& slot, const Job& job);

  std::shared_ptr<const VulkanKernels> kernels_;
  const vk::VulkanContext* ctx_;
  vk::DescriptorPool descriptor_pool_;
  vk::CommandPool command_pool_;
  std::unique_ptr<vk::Buffer> factors_buffer_;
  vk::TimelineSemaphore done_;
  std::unique_ptr<vk::TimelineSemaphore> ready_;
  std::vector<Slot> slots_state_;
  FrameTicket next_ticket_ = 1;
};

}  // namespace ditstream::stream
