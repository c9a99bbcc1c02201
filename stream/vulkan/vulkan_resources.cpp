#include "stream/vulkan/vulkan_resources.h"

#include <array>
#include <vector>

#include "core/util/error.h"

namespace ditstream::stream::vk {

Buffer::Buffer(const VulkanContext& ctx, VkDeviceSize size, MemoryUse use) : device_(ctx.device()), size_(size) {
  const bool exported = use == MemoryUse::exported;
  VkExternalMemoryBufferCreateInfo external{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
  external.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, exported ? &external : nullptr};
  info.size = size;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer buffer = VK_NULL_HANDLE;
  check(vkCreateBuffer(device_, &info, nullptr, &buffer), "vkCreateBuffer");
  buffer_ = BufferHandle(device_, buffer);

  VkMemoryRequirements needs;
  vkGetBufferMemoryRequirements(device_, buffer, &needs);
  VkMemoryPropertyFlags required = 0, preferred = 0;
  switch (use) {
    case MemoryUse::host_upload:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      break;
    case MemoryUse::host_readback:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
      break;
    case MemoryUse::device_local:
    case MemoryUse::exported:
      preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      break;
  }
  const uint32_t type = ctx.memory_type(needs.memoryTypeBits, required, preferred);

  // CUDA imports external memory as one dedicated allocation (cudaExternalMemoryDedicated).
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  dedicated.buffer = buffer;
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &dedicated};
  export_info.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, exported ? &export_info : nullptr};
  alloc.allocationSize = needs.size;
  alloc.memoryTypeIndex = type;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  check(vkAllocateMemory(device_, &alloc, nullptr, &memory), "vkAllocateMemory");
  memory_ = MemoryHandle(device_, memory);
  allocation_size_ = needs.size;
  check(vkBindBufferMemory(device_, buffer, memory, 0), "vkBindBufferMemory");
  if (ctx.memory_flags(type) & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    check(vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory");
  }
}

Buffer::~Buffer() {
  // Destroy the buffer before freeing the memory bound to it (members go in reverse order).
  buffer_.reset();
  if (mapped_ && memory_.get()) vkUnmapMemory(device_, memory_.get());
}

int Buffer::export_fd(const VulkanContext& ctx) const {
  require(ctx.get_memory_fd != nullptr, "vulkan", "export_fd", "the context was created without external interop");
  VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR};
  info.memory = memory_.get();
  info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  int fd = -1;
  check(ctx.get_memory_fd(ctx.device(), &info, &fd), "vkGetMemoryFdKHR");
  return fd;
}

TimelineSemaphore::TimelineSemaphore(const VulkanContext& ctx, bool exportable) : device_(ctx.device()) {
  VkExportSemaphoreCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO};
  export_info.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, exportable ? &export_info : nullptr};
  type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  type.initialValue = 0;
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type};
  VkSemaphore semaphore = VK_NULL_HANDLE;
  check(vkCreateSemaphore(device_, &info, nullptr, &semaphore), "vkCreateSemaphore");
  semaphore_ = SemaphoreHandle(device_, semaphore);
}

uint64_t TimelineSemaphore::value() const {
  uint64_t value = 0;
  check(vkGetSemaphoreCounterValue(device_, semaphore_.get(), &value), "vkGetSemaphoreCounterValue");
  return value;
}

bool TimelineSemaphore::wait(uint64_t value, uint64_t timeout_ns) const {
  VkSemaphore semaphore = semaphore_.get();
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  info.semaphoreCount = 1;
  info.pSemaphores = &semaphore;
  info.pValues = &value;
  const VkResult result = vkWaitSemaphores(device_, &info, timeout_ns);
  if (result == VK_TIMEOUT) return false;
  check(result, "vkWaitSemaphores");
  return true;
}

void TimelineSemaphore::signal(uint64_t value) const {
  VkSemaphoreSignalInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
  info.semaphore = semaphore_.get();
  info.value = value;
  check(vkSignalSemaphore(device_, &info), "vkSignalSemaphore");
}

int TimelineSemaphore::export_fd(const VulkanContext& ctx) const {
  require(ctx.get_semaphore_fd != nullptr, "vulkan", "export_fd", "the context was created without external interop");
  VkSemaphoreGetFdInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR};
  info.semaphore = semaphore_.get();
  info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  int fd = -1;
  check(ctx.get_semaphore_fd(ctx.device(), &info, &fd), "vkGetSemaphoreFdKHR");
  return fd;
}

DescriptorSetLayout make_storage_set_layout(const VulkanContext& ctx) {
  std::array<VkDescriptorSetLayoutBinding, kStorageBindings> bindings{};
  for (uint32_t i = 0; i < kStorageBindings; ++i) {
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  info.bindingCount = kStorageBindings;
  info.pBindings = bindings.data();
  VkDescriptorSetLayout layout = VK_NULL_HANDLE;
  check(vkCreateDescriptorSetLayout(ctx.device(), &info, nullptr, &layout), "vkCreateDescriptorSetLayout");
  return DescriptorSetLayout(ctx.device(), layout);
}

ComputePipeline::ComputePipeline(const VulkanContext& ctx, std::span<const uint32_t> spirv,
                                 uint32_t push_constant_bytes, VkDescriptorSetLayout set_layout, const char* name) {
  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = spirv.size_bytes();
  module_info.pCode = spirv.data();
  VkShaderModule module = VK_NULL_HANDLE;
  check(vkCreateShaderModule(ctx.device(), &module_info, nullptr, &module), name);
  ShaderModule owned_module(ctx.device(), module);

  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_constant_bytes};
  VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout_info.setLayoutCount = 1;
  layout_info.pSetLayouts = &set_layout;
  layout_info.pushConstantRangeCount = 1;
  layout_info.pPushConstantRanges = &push;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  check(vkCreatePipelineLayout(ctx.device(), &layout_info, nullptr, &layout), "vkCreatePipelineLayout");
  layout_ = PipelineLayout(ctx.device(), layout);

  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.layout = layout;
  VkPipeline pipeline = VK_NULL_HANDLE;
  check(vkCreateComputePipelines(ctx.device(), VK_NULL_HANDLE, 1, &info, nullptr, &pipeline), name);
  pipeline_ = Pipeline(ctx.device(), pipeline);
}

DescriptorPool make_descriptor_pool(const VulkanContext& ctx, uint32_t max_sets) {
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, max_sets * kStorageBindings};
  VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  info.maxSets = max_sets;
  info.poolSizeCount = 1;
  info.pPoolSizes = &size;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  check(vkCreateDescriptorPool(ctx.device(), &info, nullptr, &pool), "vkCreateDescriptorPool");
  return DescriptorPool(ctx.device(), pool);
}

VkDescriptorSet allocate_set(const VulkanContext& ctx, VkDescriptorPool pool, VkDescriptorSetLayout layout) {
  VkDescriptorSetAllocateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  info.descriptorPool = pool;
  info.descriptorSetCount = 1;
  info.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  check(vkAllocateDescriptorSets(ctx.device(), &info, &set), "vkAllocateDescriptorSets");
  return set;
}

void write_set(const VulkanContext& ctx, VkDescriptorSet set, std::initializer_list<VkBuffer> buffers) {
  std::vector<VkDescriptorBufferInfo> infos;
  for (VkBuffer buffer : buffers) infos.push_back({buffer, 0, VK_WHOLE_SIZE});
  std::vector<VkWriteDescriptorSet> writes(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
}

CommandPool make_command_pool(const VulkanContext& ctx) {
  VkCommandPoolCreateInfo info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  info.queueFamilyIndex = ctx.queue_family();
  VkCommandPool pool = VK_NULL_HANDLE;
  check(vkCreateCommandPool(ctx.device(), &info, nullptr, &pool), "vkCreateCommandPool");
  return CommandPool(ctx.device(), pool);
}

VkCommandBuffer allocate_command_buffer(const VulkanContext& ctx, VkCommandPool pool) {
  VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  info.commandPool = pool;
  info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  info.commandBufferCount = 1;
  VkCommandBuffer buffer = VK_NULL_HANDLE;
  check(vkAllocateCommandBuffers(ctx.device(), &info, &buffer), "vkAllocateCommandBuffers");
  return buffer;
}

}  // namespace ditstream::stream::vk
