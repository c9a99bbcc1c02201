// A headless Vulkan compute context: instance, the chosen physical device, a logical device with
// one compute queue, and the extension entry points the CUDA interop needs. Owns its handles
// (destroyed in reverse order); everything else (buffers, pipelines) borrows the device from it.
// One context serves the whole process: submit() serialises the queue between threads.
#pragma once

#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ditstream::stream::vk {

using Uuid = std::array<uint8_t, VK_UUID_SIZE>;
std::string to_hex(const Uuid& uuid);

struct DeviceRequest {
  // Buffers and semaphores exportable as opaque POSIX fds (VK_KHR_external_memory_fd,
  // VK_KHR_external_semaphore_fd), for CUDA to import.
  bool external_interop = false;
  // When set, only the device with this UUID is taken (the CUDA device's, for interop). Otherwise
  // GPUs are preferred over CPU devices (lavapipe), first in enumeration order within a kind.
  std::optional<Uuid> device_uuid;
  // Further device extensions the caller needs; a device without one of them is an error.
  std::vector<std::string> extensions;
};

// Throws ditstream::Error when a Vulkan call fails; `what` names the call.
void check(VkResult result, const char* what);

class VulkanContext {
 public:
  // Throws ditstream::Error (unavailable) when there is no Vulkan driver or device, the chosen
  // device lacks Vulkan 1.2 timeline semaphores or a requested extension, or no device has the
  // requested UUID.
  static std::unique_ptr<VulkanContext> create(const DeviceRequest& request);
  ~VulkanContext();
  VulkanContext(const VulkanContext&) = delete;
  VulkanContext& operator=(const VulkanContext&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physical_device() const { return physical_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const std::string& device_name() const { return device_name_; }
  const Uuid& device_uuid() const { return device_uuid_; }
  bool is_cpu_device() const { return device_type_ == VK_PHYSICAL_DEVICE_TYPE_CPU; }
  bool external_interop() const { return external_interop_; }
  const VkPhysicalDeviceLimits& limits() const { return limits_; }

  // vkQueueSubmit on the queue, which Vulkan requires callers to serialise.
  void submit(const VkSubmitInfo& info) const;

  // A memory type index allowed by `type_bits` with all of `required` and, where one exists, all
  // of `preferred` too. Throws when none has `required`.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;
  VkMemoryPropertyFlags memory_flags(uint32_t type_index) const;

  PFN_vkGetMemoryFdKHR get_memory_fd = nullptr;
  PFN_vkGetSemaphoreFdKHR get_semaphore_fd = nullptr;

 private:
  VulkanContext() = default;

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  std::string device_name_;
  Uuid device_uuid_{};
  VkPhysicalDeviceType device_type_ = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  bool external_interop_ = false;
  VkPhysicalDeviceLimits limits_{};
  VkPhysicalDeviceMemoryProperties memory_{};
  mutable std::mutex queue_mutex_;
};

}  // namespace ditstream::stream::vk
