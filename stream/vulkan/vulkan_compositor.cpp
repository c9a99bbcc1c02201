#include "stream/vulkan/vulkan_compositor.h"

#include <algorithm>
#include <cstring>

#include "core/util/error.h"

namespace ditstream::stream {
namespace {

// SPIR-V compiled by glslc at build time (stream/vulkan/CMakeLists.txt), embedded as words.
constexpr uint32_t kLatentPreviewSpv[] = {
#include "shaders/latent_preview.spv.inc"
};
constexpr uint32_t kOverlaySpv[] = {
#include "shaders/overlay.spv.inc"
};
constexpr uint32_t kRgbToI420Spv[] = {
#include "shaders/rgb_to_i420.spv.inc"
};

constexpr std::string_view kContext = "compositor";
constexpr uint64_t kCollectTimeoutNs = 30'000'000'000ull;

// Push-constant blocks, mirroring the shaders' `Push` blocks.
struct PreviewPush {
  uint32_t width, height, latent_width, latent_height, offset, channel_stride;
};
struct RgbPush {
  uint32_t width, height, code, words;
  float scale, offset;
};

// Makes earlier shader writes visible to later shader reads.
void compute_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier,
                       0, nullptr, 0, nullptr);
}

// Ownership of an exported buffer moves between CUDA (the external queue family) and ours around
// each frame, as the external-memory rules ask.
void external_ownership(VkCommandBuffer cmd, VkBuffer buffer, uint32_t family, bool acquire) {
  VkBufferMemoryBarrier barrier{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
  barrier.srcAccessMask = acquire ? 0 : VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = acquire ? VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT : 0;
  barrier.srcQueueFamilyIndex = acquire ? VK_QUEUE_FAMILY_EXTERNAL : family;
  barrier.dstQueueFamilyIndex = acquire ? family : VK_QUEUE_FAMILY_EXTERNAL;
  barrier.buffer = buffer;
  barrier.offset = 0;
  barrier.size = VK_WHOLE_SIZE;
  const VkPipelineStageFlags used = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  const VkPipelineStageFlags top = VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, bottom = VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT;
  vkCmdPipelineBarrier(cmd, acquire ? top : used, acquire ? used : bottom, 0, 0, nullptr, 1, &barrier, 0, nullptr);
}

uint32_t groups(uint32_t n, uint32_t size) { return (n + size - 1) / size; }

// How the compositor's device came about, for /healthz and the log.
std::string device_reason(const vk::VulkanContext& ctx) {
  return ctx.is_cpu_device() ? "Vulkan on a CPU device (no GPU driver found)" : "Vulkan device";
}

}  // namespace

VulkanKernels::VulkanKernels(const vk::DeviceRequest& request)
    : ctx_(vk::VulkanContext::create(request)),
      set_layout_(vk::make_storage_set_layout(*ctx_)),
      preview_(std::make_unique<vk::ComputePipeline>(*ctx_, kLatentPreviewSpv, sizeof(PreviewPush), set_layout_.get(),
                                                     "latent_preview.comp")),
      overlay_(std::make_unique<vk::ComputePipeline>(*ctx_, kOverlaySpv, sizeof(RgbPush), set_layout_.get(),
                                                     "overlay.comp")),
      i420_(std::make_unique<vk::ComputePipeline>(*ctx_, kRgbToI420Spv, sizeof(RgbPush), set_layout_.get(),
                                                  "rgb_to_i420.comp")) {}

VulkanCompositor::VulkanCompositor(const CompositorOptions& options)
    : VulkanCompositor(options,
                       std::make_shared<VulkanKernels>(
                           vk::DeviceRequest{options.cuda_interop, options.device_uuid, options.device_extensions}),
                       {}, nullptr) {}

VulkanCompositor::VulkanCompositor(const CompositorOptions& options, std::shared_ptr<const VulkanKernels> kernels,
                                   CompositorInfo info, std::shared_ptr<CompositorCounters> counters)
    : Compositor(options, std::move(info), std::move(counters)),
      kernels_(std::move(kernels)),
      ctx_(&kernels_->context()),
      descriptor_pool_(vk::make_descriptor_pool(*ctx_, 5 * uint32_t(slots_))),
      command_pool_(vk::make_command_pool(*ctx_)),
      done_(*ctx_, options.cuda_interop) {
  require(!options.cuda_interop || ctx_->external_interop(), kContext, "cuda_interop",
          "the shared Vulkan context was created without external memory");
  if (info_.device.empty()) {
    info_ = {CompositorBackend::vulkan, ctx_->device_name(), device_reason(*ctx_), options.cuda_interop};
  }

  std::vector<float> factors;
  for (const auto& row : factors_.factors) factors.insert(factors.end(), row.begin(), row.end());
  factors.insert(factors.end(), factors_.bias.begin(), factors_.bias.end());
  factors_buffer_ = std::make_unique<vk::Buffer>(*ctx_, factors.size() * sizeof(float), vk::MemoryUse::host_upload);
  std::memcpy(factors_buffer_->mapped(), factors.data(), factors.size() * sizeof(float));
  const bool device_input = options.device_input || options.cuda_interop;
  if (device_input) ready_ = std::make_unique<vk::TimelineSemaphore>(*ctx_, options.cuda_interop);
  const vk::MemoryUse input_use = options.cuda_interop ? vk::MemoryUse::exported
                                  : device_input       ? vk::MemoryUse::device_local
                                                       : vk::MemoryUse::host_upload;

  const size_t frame_bytes = size_t(width_) * height_ * 4;
  const size_t output_bytes = (I420Frame::size_bytes(width_, height_) + 3) / 4 * 4;
  const size_t overlay_bytes = sizeof(OverlayLayout) + font_rows().size() * sizeof(uint32_t);
  slots_state_.resize(slots_);
  for (Slot& slot : slots_state_) {
    slot.input = std::make_unique<vk::Buffer>(*ctx_, input_capacity_, input_use);
    slot.frame = std::make_unique<vk::Buffer>(*ctx_, frame_bytes, vk::MemoryUse::device_local);
    slot.overlay = std::make_unique<vk::Buffer>(*ctx_, overlay_bytes, vk::MemoryUse::host_upload);
    std::memcpy(static_cast<uint8_t*>(slot.overlay->mapped()) + sizeof(OverlayLayout), font_rows().data(),
                font_rows().size() * sizeof(uint32_t));
    slot.output = std::make_unique<vk::Buffer>(*ctx_, output_bytes, vk::MemoryUse::host_readback);
    const VkBuffer input = slot.input->get(), frame = slot.frame->get(), ovl = slot.overlay->get();
    const VkBuffer output = slot.output->get();
    auto make_set = [&](std::initializer_list<VkBuffer> buffers) {
      VkDescriptorSet set = vk::allocate_set(*ctx_, descriptor_pool_.get(), kernels_->set_layout());
      vk::write_set(*ctx_, set, buffers);
      return set;
    };
    slot.preview_set = make_set({input, frame, factors_buffer_->get()});
    slot.overlay_from_input = make_set({input, frame, ovl});
    slot.overlay_in_place = make_set({frame, frame, ovl});
    // Binding 2 is unused by rgb_to_i420; any buffer fills it.
    slot.i420_from_input = make_set({input, output, ovl});
    slot.i420_from_frame = make_set({frame, output, ovl});
    slot.commands = vk::allocate_command_buffer(*ctx_, command_pool_.get());
  }
}

VulkanCompositor::~VulkanCompositor() {
  // The queue is shared: wait for this compositor's own frames, not for the queue to drain.
  if (next_ticket_ > 1) done_.wait(next_ticket_ - 1, kCollectTimeoutNs);
}

VulkanCompositor::Slot& VulkanCompositor::acquire() {
  Slot& slot = slots_state_[next_slot()];
  if (!slot.collected) {
    throw Error(ErrorKind::conflict, std::string(kContext), "slots",
                "all " + std::to_string(slots_) + " slots hold frames not yet collected; collect ticket " +
                    std::to_string(slot.ticket) + " first");
  }
  return slot;
}

void VulkanCompositor::upload(Slot& slot, const void* data, size_t bytes, bool& from_staging) {
  if (slot.input->mapped()) {
    std::memcpy(slot.input->mapped(), data, bytes);
    from_staging = false;
    return;
  }
  // Device-input mode keeps inputs device-local; a host frame goes through a staging buffer.
  if (!slot.staging) slot.staging = std::make_unique<vk::Buffer>(*ctx_, input_capacity_, vk::MemoryUse::host_upload);
  std::memcpy(slot.staging->mapped(), data, bytes);
  from_staging = true;
}

FrameTicket VulkanCompositor::submit_rgb(const void* frame, const RgbFormat& format, const Overlay* overlay) {
  check_rgb(frame, format);
  Job job{Source::rgb, format, {}, std::nullopt, false, std::nullopt};
  if (overlay) job.overlay = OverlayLayout::place(*overlay, width_, height_);
  Slot& slot = acquire();
  upload(slot, frame, rgb_frame_bytes(format, width_, height_), job.from_staging);
  return record_and_submit(slot, job);
}

FrameTicket VulkanCompositor::submit_latent(const float* latent, const LatentFrameDesc& desc, const Overlay* overlay) {
  check_latent(latent, desc);
  Job job{Source::latent, {}, desc, std::nullopt, false, std::nullopt};
  if (overlay) job.overlay = OverlayLayout::place(*overlay, width_, height_);
  Slot& slot = acquire();
  upload(slot, latent, latent_frame_bytes(desc), job.from_staging);
  return record_and_submit(slot, job);
}

FrameTicket VulkanCompositor::submit_device_rgb(const RgbFormat& format, const Overlay* overlay, uint64_t ready_value) {
  ++counters_->device_frames;
  require(ready_ != nullptr, kContext, "device_input",
          "the compositor was created without device input (device_input or cuda_interop)");
  validate_rgb_format(format, kContext);
  require(rgb_frame_bytes(format, width_, height_) <= input_capacity_, kContext, "format",
          to_string(format) + " does not fit an input slot of " + std::to_string(input_capacity_) + " bytes");
  Job job{Source::rgb, format, {}, std::nullopt, false, ready_value};
  if (overlay) job.overlay = OverlayLayout::place(*overlay, width_, height_);
  return record_and_submit(acquire(), job);
}

FrameTicket VulkanCompositor::submit_device_latent(const LatentFrameDesc& desc, const Overlay* overlay,
                                                   uint64_t ready_value) {
  ++counters_->device_frames;
  require(ready_ != nullptr, kContext, "device_input",
          "the compositor was created without device input (device_input or cuda_interop)");
  validate_latent(desc, kContext);
  require(latent_frame_bytes(desc) <= input_capacity_, kContext, "latent",
          "does not fit an input slot of " + std::to_string(input_capacity_) + " bytes");
  Job job{Source::latent, {}, desc, std::nullopt, false, ready_value};
  if (overlay) job.overlay = OverlayLayout::place(*overlay, width_, height_);
  return record_and_submit(acquire(), job);
}

FrameTicket VulkanCompositor::record_and_submit(Slot& slot, const Job& job) {
  if (job.overlay) std::memcpy(slot.overlay->mapped(), &*job.overlay, sizeof(OverlayLayout));
  // Exported inputs belong to CUDA between frames, host-uploaded ones included.
  const bool external = ctx_->external_interop();
  const uint32_t w = uint32_t(width_), h = uint32_t(height_);

  VkCommandBuffer cmd = slot.commands;
  vk::check(vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vk::check(vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
  if (external) external_ownership(cmd, slot.input->get(), ctx_->queue_family(), true);
  if (job.from_staging) {
    const VkDeviceSize bytes = job.source == Source::rgb ? rgb_frame_bytes(job.format, width_, height_)
                                                         : latent_frame_bytes(job.latent);
    VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(cmd, slot.staging->get(), slot.input->get(), 1, &region);
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0,
                         nullptr, 0, nullptr);
  }

  // What the I420 pass reads: the input itself, or the rgba8 working frame after preview/overlay.
  bool source_is_frame = false;
  RgbFormat source_format = job.format;
  const RgbFormat rgba{SampleType::u8, PixelLayout::rgba8};
  if (job.source == Source::latent) {
    const auto& d = job.latent;
    PreviewPush push{w, h, uint32_t(d.width), uint32_t(d.height), uint32_t(d.offset),
                     uint32_t(d.channel_stride ? d.channel_stride : int64_t(d.height) * d.width)};
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, kernels_->preview().get());
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, kernels_->preview().layout(), 0, 1,
                            &slot.preview_set, 0, nullptr);
    vkCmdPushConstants(cmd, kernels_->preview().layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);
    vkCmdDispatch(cmd, groups(w, 8), groups(h, 8), 1);
    compute_barrier(cmd);
    source_is_frame = true;
    source_format = rgba;
  }
  if (job.overlay) {
    const auto [scale, offset] = float_scale_offset(source_format.range);
    RgbPush push{w, h, source_code(source_format), 0, scale, offset};
    VkDescriptorSet set = source_is_frame ? slot.overlay_in_place : slot.overlay_from_input;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, kernels_->overlay().get());
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, kernels_->overlay().layout(), 0, 1, &set, 0, nullptr);
    vkCmdPushConstants(cmd, kernels_->overlay().layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);
    vkCmdDispatch(cmd, groups(w, 8), groups(h, 8), 1);
    compute_barrier(cmd);
    source_is_frame = true;
    source_format = rgba;
  }
  {
    const uint32_t words = uint32_t((I420Frame::size_bytes(width_, height_) + 3) / 4);
    const auto [scale, offset] = float_scale_offset(source_format.range);
    RgbPush push{w, h, source_code(source_format), words, scale, offset};
    VkDescriptorSet set = source_is_frame ? slot.i420_from_frame : slot.i420_from_input;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, kernels_->i420().get());
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, kernels_->i420().layout(), 0, 1, &set, 0, nullptr);
    vkCmdPushConstants(cmd, kernels_->i420().layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);
    // Words are spread over x and y so that 8K frames stay under the group-count limit.
    const uint32_t total = groups(words, 64), gx = std::min<uint32_t>(total, 16384);
    vkCmdDispatch(cmd, gx, groups(total, gx), 1);
  }
  if (external) external_ownership(cmd, slot.input->get(), ctx_->queue_family(), false);
  VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr,
                       0, nullptr);
  vk::check(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");

  const FrameTicket ticket = next_ticket_;
  const uint64_t wait_value = job.ready_value.value_or(0);
  VkSemaphore wait_semaphore = ready_ ? ready_->get() : VK_NULL_HANDLE;
  VkSemaphore signal_semaphore = done_.get();
  VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  VkTimelineSemaphoreSubmitInfo timeline{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  timeline.waitSemaphoreValueCount = job.ready_value ? 1 : 0;
  timeline.pWaitSemaphoreValues = &wait_value;
  timeline.signalSemaphoreValueCount = 1;
  timeline.pSignalSemaphoreValues = &ticket;
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO, &timeline};
  submit.waitSemaphoreCount = job.ready_value ? 1 : 0;
  submit.pWaitSemaphores = &wait_semaphore;
  submit.pWaitDstStageMask = &wait_stage;
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cmd;
  submit.signalSemaphoreCount = 1;
  submit.pSignalSemaphores = &signal_semaphore;
  ctx_->submit(submit);
  slot.ticket = ticket;
  slot.collected = false;
  ++next_ticket_;
  return ticket;
}

void VulkanCompositor::collect(FrameTicket ticket, I420Frame& out) {
  require(ticket >= 1 && ticket < next_ticket_, kContext, "ticket", std::to_string(ticket) + " was never submitted");
  Slot& slot = slots_state_[(ticket - 1) % slots_];
  if (slot.ticket != ticket || slot.collected) {
    throw Error(ErrorKind::conflict, std::string(kContext), "ticket", std::to_string(ticket) + " was already collected");
  }
  if (!done_.wait(ticket, kCollectTimeoutNs)) {
    throw Error(ErrorKind::unavailable, std::string(kContext), "collect",
                "frame " + std::to_string(ticket) + " did not finish within 30 s on " + ctx_->device_name());
  }
  const size_t bytes = I420Frame::size_bytes(width_, height_);
  out.width = width_;
  out.height = height_;
  out.bytes.resize(bytes);
  std::memcpy(out.bytes.data(), slot.output->mapped(), bytes);
  slot.collected = true;
}

}  // namespace ditstream::stream
