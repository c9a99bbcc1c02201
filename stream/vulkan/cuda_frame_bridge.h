// CUDA side of the compositor's interop: every input slot of a VulkanCompositor (created with
// cuda_interop) is imported into CUDA (cudaImportExternalMemory, dedicated, mapped buffer) and
// handed out as an ATen tensor view, so the model writes a frame straight into Vulkan's memory.
// Ordering needs no device-wide synchronisation: the CUDA stream waits on the compositor's `done`
// timeline before reusing a slot, and signals its `ready` timeline after writing, which the
// Vulkan submission of that frame waits on. The I420 result is then collected on the host.
//
// dtypes: the views are fp32 (or uint8) as the shaders read them; a bf16/fp16 tensor is converted
// while being copied in (`view.copy_(bf16_tensor)` converts on the GPU).
#pragma once

#include <ATen/Tensor.h>
#include <cuda_runtime_api.h>

#include <vector>

#include "stream/vulkan/vulkan_compositor.h"

namespace ditstream::stream {

class CudaFrameBridge {
 public:
  // The UUID Vulkan must match for interop with `cuda_device`; pass it as
  // CompositorOptions::device_uuid.
  static vk::Uuid device_uuid(int cuda_device);

  // Throws ditstream::Error when the compositor has no interop, or its Vulkan device is not
  // `cuda_device` (UUID mismatch), or an import fails. `compositor` must outlive the bridge.
  CudaFrameBridge(VulkanCompositor& compositor, int cuda_device);
  ~CudaFrameBridge();
  CudaFrameBridge(const CudaFrameBridge&) = delete;
  CudaFrameBridge& operator=(const CudaFrameBridge&) = delete;

  // The next slot's input as a CUDA tensor: [3, H, W] (planar), [H, W, 3] (interleaved) or
  // [H, W] int32 (rgba8) of the compositor's output size. Queues on `stream` a wait until Vulkan
  // is done with the slot's previous frame; write the frame on `stream`, then call submit_rgb.
  at::Tensor next_rgb_input(const RgbFormat& format, cudaStream_t stream);
  // The next slot's input as a CUDA fp32 tensor [16, h, w] for a latent preview frame.
  at::Tensor next_latent_input(int latent_height, int latent_width, cudaStream_t stream);

  // Signals `ready` on `stream` after the writes queued there so far and queues the Vulkan work
  // that waits for it; returns the ticket to collect on the compositor.
  FrameTicket submit_rgb(const RgbFormat& format, const Overlay* overlay, cudaStream_t stream);
  FrameTicket submit_latent(int latent_height, int latent_width, const Overlay* overlay, cudaStream_t stream);

 private:
  struct ImportedBuffer {
    cudaExternalMemory_t memory = nullptr;
    void* pointer = nullptr;
    size_t size = 0;
  };

  void release();
  void* acquire_slot(size_t bytes, cudaStream_t stream);
  void signal_ready(cudaStream_t stream);

  VulkanCompositor& compositor_;
  int device_;
  std::vector<ImportedBuffer> inputs_;
  cudaExternalSemaphore_t ready_ = nullptr;
  cudaExternalSemaphore_t done_ = nullptr;
  uint64_t ready_value_ = 0;
};

}  // namespace ditstream::stream
