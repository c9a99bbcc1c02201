#include "stream/vulkan/vulkan_context.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::stream::vk {
namespace {

constexpr const char* kContext = "vulkan";

[[noreturn]] void unavailable(std::string field, std::string detail) {
  throw Error(ErrorKind::unavailable, kContext, std::move(field), std::move(detail));
}

struct Candidate {
  VkPhysicalDevice device;
  VkPhysicalDeviceProperties properties;
  Uuid uuid;
  uint32_t compute_family;
};

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
  }
}

std::optional<uint32_t> compute_queue_family(VkPhysicalDevice device) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  // A compute-only family (async compute) first, any family with compute otherwise.
  for (uint32_t i = 0; i < count; ++i) {
    if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) return i;
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return i;
  }
  return std::nullopt;
}

bool has_extension(VkPhysicalDevice device, const char* name) {
  uint32_t count = 0;
  vkEnumerateDeviceExtensionProperties(device, nullptr, &count, nullptr);
  std::vector<VkExtensionProperties> extensions(count);
  vkEnumerateDeviceExtensionProperties(device, nullptr, &count, extensions.data());
  return std::any_of(extensions.begin(), extensions.end(),
                     [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

std::string describe(const Candidate& c) {
  return std::string(c.properties.deviceName) + " (uuid " + to_hex(c.uuid) + ")";
}

}  // namespace

std::string to_hex(const Uuid& uuid) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += digits[uuid[i] >> 4];
    out += digits[uuid[i] & 15];
  }
  return out;
}

void check(VkResult result, const char* what) {
  if (result == VK_SUCCESS) return;
  const ErrorKind kind = result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY
                             ? ErrorKind::unavailable
                             : ErrorKind::internal;
  throw Error(kind, kContext, what, "failed with VkResult " + std::to_string(static_cast<int>(result)));
}

std::unique_ptr<VulkanContext> VulkanContext::create(const DeviceRequest& request) {
  std::unique_ptr<VulkanContext> ctx(new VulkanContext());

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "ditstream";
  app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo instance_info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  instance_info.pApplicationInfo = &app;
  const VkResult created = vkCreateInstance(&instance_info, nullptr, &ctx->instance_);
  if (created != VK_SUCCESS) {
    unavailable("instance", "vkCreateInstance failed (VkResult " + std::to_string(static_cast<int>(created)) +
                                "): no Vulkan driver is installed or found (VK_DRIVER_FILES)");
  }

  uint32_t count = 0;
  vkEnumeratePhysicalDevices(ctx->instance_, &count, nullptr);
  std::vector<VkPhysicalDevice> devices(count);
  vkEnumeratePhysicalDevices(ctx->instance_, &count, devices.data());
  std::vector<Candidate> candidates;
  for (VkPhysicalDevice device : devices) {
    Candidate c{device, {}, {}, 0};
    VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &id};
    vkGetPhysicalDeviceProperties2(device, &props);
    c.properties = props.properties;
    std::memcpy(c.uuid.data(), id.deviceUUID, VK_UUID_SIZE);
    const auto family = compute_queue_family(device);
    if (!family) continue;
    c.compute_family = *family;
    candidates.push_back(c);
  }
  if (candidates.empty()) unavailable("device", "no Vulkan device with a compute queue was found");
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return type_rank(a.properties.deviceType) < type_rank(b.properties.deviceType);
  });

  const Candidate* chosen = &candidates.front();
  if (request.device_uuid) {
    auto it = std::find_if(candidates.begin(), candidates.end(),
                           [&](const Candidate& c) { return c.uuid == *request.device_uuid; });
    if (it == candidates.end()) {
      std::string found;
      for (const auto& c : candidates) found += (found.empty() ? "" : ", ") + describe(c);
      unavailable("device_uuid", "no Vulkan device has the CUDA device's UUID " + to_hex(*request.device_uuid) +
                                     "; found " + found);
    }
    chosen = &*it;
  }
  if (chosen->properties.apiVersion < VK_API_VERSION_1_2) {
    unavailable("device", describe(*chosen) + " supports Vulkan " +
                              std::to_string(VK_API_VERSION_MAJOR(chosen->properties.apiVersion)) + "." +
                              std::to_string(VK_API_VERSION_MINOR(chosen->properties.apiVersion)) +
                              "; timeline semaphores need 1.2 or newer");
  }
  VkPhysicalDeviceVulkan12Features features12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &features12};
  vkGetPhysicalDeviceFeatures2(chosen->device, &features);
  if (!features12.timelineSemaphore) unavailable("device", describe(*chosen) + " has no timeline semaphores");

  std::vector<const char*> extensions;
  if (request.external_interop) {
    for (const char* name : {VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME}) {
      if (!has_extension(chosen->device, name)) {
        unavailable("extensions", describe(*chosen) + " lacks " + name + ", needed to share buffers with CUDA");
      }
      extensions.push_back(name);
    }
  }
  for (const std::string& name : request.extensions) {
    if (!has_extension(chosen->device, name.c_str())) {
      unavailable("extensions", describe(*chosen) + " lacks " + name);
    }
    extensions.push_back(name.c_str());
  }

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  queue_info.queueFamilyIndex = chosen->compute_family;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkPhysicalDeviceVulkan12Features enable12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  enable12.timelineSemaphore = VK_TRUE;
  VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &enable12};
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  device_info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  device_info.ppEnabledExtensionNames = extensions.data();
  check(vkCreateDevice(chosen->device, &device_info, nullptr, &ctx->device_), "vkCreateDevice");

  ctx->physical_ = chosen->device;
  ctx->queue_family_ = chosen->compute_family;
  vkGetDeviceQueue(ctx->device_, ctx->queue_family_, 0, &ctx->queue_);
  ctx->device_name_ = chosen->properties.deviceName;
  ctx->device_uuid_ = chosen->uuid;
  ctx->device_type_ = chosen->properties.deviceType;
  ctx->limits_ = chosen->properties.limits;
  ctx->external_interop_ = request.external_interop;
  vkGetPhysicalDeviceMemoryProperties(ctx->physical_, &ctx->memory_);
  if (request.external_interop) {
    ctx->get_memory_fd = reinterpret_cast<PFN_vkGetMemoryFdKHR>(vkGetDeviceProcAddr(ctx->device_, "vkGetMemoryFdKHR"));
    ctx->get_semaphore_fd =
        reinterpret_cast<PFN_vkGetSemaphoreFdKHR>(vkGetDeviceProcAddr(ctx->device_, "vkGetSemaphoreFdKHR"));
    if (!ctx->get_memory_fd || !ctx->get_semaphore_fd) {
      unavailable("extensions", describe(*chosen) + " does not expose vkGetMemoryFdKHR/vkGetSemaphoreFdKHR");
    }
  }
  log::info("vulkan: using {} (uuid {}){}", ctx->device_name_, to_hex(ctx->device_uuid_),
            request.external_interop ? " with external memory and semaphores" : "");
  return ctx;
}

VulkanContext::~VulkanContext() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

void VulkanContext::submit(const VkSubmitInfo& info) const {
  std::lock_guard lock(queue_mutex_);
  check(vkQueueSubmit(queue_, 1, &info, VK_NULL_HANDLE), "vkQueueSubmit");
}

uint32_t VulkanContext::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                                    VkMemoryPropertyFlags preferred) const {
  for (VkMemoryPropertyFlags want : {required | preferred, required}) {
    for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
      if ((type_bits & (1u << i)) && (memory_.memoryTypes[i].propertyFlags & want) == want) return i;
    }
  }
  throw Error(ErrorKind::unavailable, kContext, "memory",
              device_name_ + " has no memory type with flags " + std::to_string(required));
}

VkMemoryPropertyFlags VulkanContext::memory_flags(uint32_t type_index) const {
  return memory_.memoryTypes[type_index].propertyFlags;
}

}  // namespace ditstream::stream::vk
