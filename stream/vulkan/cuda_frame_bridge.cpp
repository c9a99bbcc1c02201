#include "stream/vulkan/cuda_frame_bridge.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <cstring>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::stream {
namespace {

constexpr std::string_view kContext = "cuda interop";

void cuda_check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  throw Error(ErrorKind::unavailable, std::string(kContext), what, cudaGetErrorString(status));
}

}  // namespace

vk::Uuid CudaFrameBridge::device_uuid(int cuda_device) {
  cudaDeviceProp props{};
  cuda_check(cudaGetDeviceProperties(&props, cuda_device), "cudaGetDeviceProperties");
  vk::Uuid uuid{};
  std::memcpy(uuid.data(), props.uuid.bytes, uuid.size());
  return uuid;
}

CudaFrameBridge::CudaFrameBridge(VulkanCompositor& compositor, int cuda_device)
    : compositor_(compositor), device_(cuda_device) {
  const auto& ctx = compositor.context();
  require(ctx.external_interop(), kContext, "cuda_interop", "the compositor was created without CUDA interop");
  const vk::Uuid cuda_uuid = device_uuid(cuda_device);
  if (cuda_uuid != ctx.device_uuid()) {
    throw Error(ErrorKind::unavailable, std::string(kContext), "device_uuid",
                "CUDA device " + std::to_string(cuda_device) + " has UUID " + vk::to_hex(cuda_uuid) +
                    " but the Vulkan device " + ctx.device_name() + " has " + vk::to_hex(ctx.device_uuid()) +
                    "; create the compositor with device_uuid = CudaFrameBridge::device_uuid(" +
                    std::to_string(cuda_device) + ")");
  }
  cuda_check(cudaSetDevice(cuda_device), "cudaSetDevice");
  try {
    for (int slot = 0; slot < compositor.slots(); ++slot) {
      const vk::Buffer& buffer = compositor.input_buffer(slot);
      cudaExternalMemoryHandleDesc desc{};
      desc.type = cudaExternalMemoryHandleTypeOpaqueFd;
      desc.handle.fd = buffer.export_fd(ctx);
      desc.size = buffer.allocation_size();
      desc.flags = cudaExternalMemoryDedicated;
      ImportedBuffer imported;
      imported.size = buffer.size();
      const cudaError_t status = cudaImportExternalMemory(&imported.memory, &desc);
      if (status != cudaSuccess) close(desc.handle.fd);  // CUDA owns the fd only on success
      cuda_check(status, "cudaImportExternalMemory");
      inputs_.push_back(imported);
      cudaExternalMemoryBufferDesc mapping{};
      mapping.offset = 0;
      mapping.size = buffer.size();
      cuda_check(cudaExternalMemoryGetMappedBuffer(&inputs_.back().pointer, imported.memory, &mapping),
                 "cudaExternalMemoryGetMappedBuffer");
    }
    for (auto [semaphore, source] : {std::pair{&ready_, &compositor.ready_semaphore()},
                                     std::pair{&done_, &compositor.done_semaphore()}}) {
      cudaExternalSemaphoreHandleDesc desc{};
      desc.type = cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd;
      desc.handle.fd = source->export_fd(ctx);
      const cudaError_t status = cudaImportExternalSemaphore(semaphore, &desc);
      if (status != cudaSuccess) close(desc.handle.fd);
      cuda_check(status, "cudaImportExternalSemaphore");
    }
  } catch (...) {
    release();
    throw;
  }
  log::info("cuda interop: {} input slots of {} bytes shared with Vulkan device {}", inputs_.size(),
            inputs_.empty() ? 0 : inputs_.front().size, ctx.device_name());
}

CudaFrameBridge::~CudaFrameBridge() { release(); }

void CudaFrameBridge::release() {
  cudaSetDevice(device_);
  cudaDeviceSynchronize();
  for (auto& input : inputs_) {
    if (input.pointer) cudaFree(input.pointer);
    if (input.memory) cudaDestroyExternalMemory(input.memory);
  }
  inputs_.clear();
  if (ready_) cudaDestroyExternalSemaphore(ready_);
  if (done_) cudaDestroyExternalSemaphore(done_);
  ready_ = done_ = nullptr;
}

void* CudaFrameBridge::acquire_slot(size_t bytes, cudaStream_t stream) {
  const int slot = compositor_.next_slot();
  require(bytes <= inputs_[slot].size, kContext, "frame",
          std::to_string(bytes) + " bytes do not fit an input slot of " + std::to_string(inputs_[slot].size));
  // The slot's previous frame must be through the Vulkan passes before CUDA overwrites it.
  if (const FrameTicket busy = compositor_.slot_busy_until(slot); busy != 0) {
    cudaExternalSemaphoreWaitParams wait{};
    wait.params.fence.value = busy;
    cuda_check(cudaWaitExternalSemaphoresAsync(&done_, &wait, 1, stream), "cudaWaitExternalSemaphoresAsync");
  }
  return inputs_[slot].pointer;
}

at::Tensor CudaFrameBridge::next_rgb_input(const RgbFormat& format, cudaStream_t stream) {
  validate_rgb_format(format, kContext);
  const int64_t h = compositor_.height(), w = compositor_.width();
  void* pointer = acquire_slot(rgb_frame_bytes(format, int(w), int(h)), stream);
  const auto options = at::TensorOptions()
                           .device(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_)))
                           .dtype(format.layout == PixelLayout::rgba8 ? at::kInt
                                  : format.type == SampleType::f32    ? at::kFloat
                                                                      : at::kByte);
  if (format.layout == PixelLayout::rgba8) return at::from_blob(pointer, {h, w}, options);
  if (format.layout == PixelLayout::planar) return at::from_blob(pointer, {3, h, w}, options);
  return at::from_blob(pointer, {h, w, 3}, options);
}

at::Tensor CudaFrameBridge::next_latent_input(int latent_height, int latent_width, cudaStream_t stream) {
  const LatentFrameDesc desc{latent_height, latent_width, 0, 0};
  validate_latent(desc, kContext);
  void* pointer = acquire_slot(latent_frame_bytes(desc), stream);
  const auto options = at::TensorOptions()
                           .device(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_)))
                           .dtype(at::kFloat);
  return at::from_blob(pointer, {kLatentChannels, latent_height, latent_width}, options);
}

void CudaFrameBridge::signal_ready(cudaStream_t stream) {
  cudaExternalSemaphoreSignalParams signal{};
  signal.params.fence.value = ++ready_value_;
  cuda_check(cudaSignalExternalSemaphoresAsync(&ready_, &signal, 1, stream), "cudaSignalExternalSemaphoresAsync");
}

FrameTicket CudaFrameBridge::submit_rgb(const RgbFormat& format, const Overlay* overlay, cudaStream_t stream) {
  signal_ready(stream);
  return compositor_.submit_device_rgb(format, overlay, ready_value_);
}

FrameTicket CudaFrameBridge::submit_latent(int latent_height, int latent_width, const Overlay* overlay,
                                           cudaStream_t stream) {
  signal_ready(stream);
  return compositor_.submit_device_latent({latent_height, latent_width, 0, 0}, overlay, ready_value_);
}

}  // namespace ditstream::stream
