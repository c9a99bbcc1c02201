// Device objects with owners: buffers with their memory, timeline semaphores, compute pipelines
// built from embedded SPIR-V, descriptor and command pools. Each borrows the VkDevice of a
// VulkanContext that must outlive it.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>

#include "stream/vulkan/vulkan_context.h"

namespace ditstream::stream::vk {

// A move-only owner of one device-level handle.
template <typename Handle, void (*Destroy)(VkDevice, Handle, const VkAllocationCallbacks*)>
class DeviceHandle {
 public:
  DeviceHandle() = default;
  DeviceHandle(VkDevice device, Handle handle) : device_(device), handle_(handle) {}
  DeviceHandle(DeviceHandle&& other) noexcept
      : device_(other.device_), handle_(std::exchange(other.handle_, VK_NULL_HANDLE)) {}
  DeviceHandle& operator=(DeviceHandle&& other) noexcept {
    if (this != &other) {
      reset();
      device_ = other.device_;
      handle_ = std::exchange(other.handle_, VK_NULL_HANDLE);
    }
    return *this;
  }
  ~DeviceHandle() { reset(); }
  Handle get() const { return handle_; }
  void reset() {
    if (handle_ != VK_NULL_HANDLE) Destroy(device_, handle_, nullptr);
    handle_ = VK_NULL_HANDLE;
  }

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  Handle handle_ = VK_NULL_HANDLE;
};

using ShaderModule = DeviceHandle<VkShaderModule, vkDestroyShaderModule>;
using PipelineLayout = DeviceHandle<VkPipelineLayout, vkDestroyPipelineLayout>;
using Pipeline = DeviceHandle<VkPipeline, vkDestroyPipeline>;
using DescriptorSetLayout = DeviceHandle<VkDescriptorSetLayout, vkDestroyDescriptorSetLayout>;
using DescriptorPool = DeviceHandle<VkDescriptorPool, vkDestroyDescriptorPool>;
using CommandPool = DeviceHandle<VkCommandPool, vkDestroyCommandPool>;
using BufferHandle = DeviceHandle<VkBuffer, vkDestroyBuffer>;
using MemoryHandle = DeviceHandle<VkDeviceMemory, vkFreeMemory>;
using SemaphoreHandle = DeviceHandle<VkSemaphore, vkDestroySemaphore>;

enum class MemoryUse {
  host_upload,    // host-visible, coherent; the host writes, shaders read (device-local when offered)
  host_readback,  // host-visible, coherent, cached where offered; shaders write, the host reads
  device_local,   // device only
  exported,       // device-local, dedicated, exportable as an opaque fd (CUDA imports it)
};

class Buffer {
 public:
  Buffer(const VulkanContext& ctx, VkDeviceSize size, MemoryUse use);
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;
  ~Buffer();

  VkBuffer get() const { return buffer_.get(); }
  VkDeviceSize size() const { return size_; }
  // The allocation's size (≥ size()); CUDA must import exactly this many bytes.
  VkDeviceSize allocation_size() const { return allocation_size_; }
  void* mapped() const { return mapped_; }  // null unless host-visible
  // A new opaque fd for the memory (MemoryUse::exported only); the importer takes ownership.
  int export_fd(const VulkanContext& ctx) const;

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  MemoryHandle memory_;
  BufferHandle buffer_;
  VkDeviceSize size_ = 0;
  VkDeviceSize allocation_size_ = 0;
  void* mapped_ = nullptr;
};

class TimelineSemaphore {
 public:
  TimelineSemaphore(const VulkanContext& ctx, bool exportable);
  VkSemaphore get() const { return semaphore_.get(); }
  uint64_t value() const;
  // Blocks until the counter reaches `value`; false when `timeout_ns` passed first.
  bool wait(uint64_t value, uint64_t timeout_ns) const;
  void signal(uint64_t value) const;
  // A new opaque fd for the semaphore (exportable ones only); the importer takes ownership.
  int export_fd(const VulkanContext& ctx) const;

 private:
  VkDevice device_ = VK_NULL_HANDLE;
  SemaphoreHandle semaphore_;
};

// Every compositor shader takes three storage buffers (source, destination, parameters) at
// bindings 0..2 of set 0 and a push-constant block.
inline constexpr uint32_t kStorageBindings = 3;
DescriptorSetLayout make_storage_set_layout(const VulkanContext& ctx);

class ComputePipeline {
 public:
  ComputePipeline(const VulkanContext& ctx, std::span<const uint32_t> spirv, uint32_t push_constant_bytes,
                  VkDescriptorSetLayout set_layout, const char* name);
  VkPipeline get() const { return pipeline_.get(); }
  VkPipelineLayout layout() const { return layout_.get(); }

 private:
  PipelineLayout layout_;
  Pipeline pipeline_;
};

DescriptorPool make_descriptor_pool(const VulkanContext& ctx, uint32_t max_sets);
VkDescriptorSet allocate_set(const VulkanContext& ctx, VkDescriptorPool pool, VkDescriptorSetLayout layout);
// Points bindings 0..2 of `set` at the given buffers (whole range).
void write_set(const VulkanContext& ctx, VkDescriptorSet set, std::initializer_list<VkBuffer> buffers);

CommandPool make_command_pool(const VulkanContext& ctx);
VkCommandBuffer allocate_command_buffer(const VulkanContext& ctx, VkCommandPool pool);

}  // namespace ditstream::stream::vk
