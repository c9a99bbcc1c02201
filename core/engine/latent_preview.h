// Cheap previews of latents: a fixed linear map from the latent channels to RGB (16×3 factors and a
// bias per model, read from models/<model>_latent_rgb.json), at latent resolution. The stream
// upscales the result; the Vulkan compositor does the same on the GPU.
#pragma once

#include <ATen/Tensor.h>

#include <filesystem>

#include "core/engine/events.h"

namespace ditstream::engine {

class LatentPreview {
 public:
  // Throws Error(bad_file) naming the field for a malformed factors file.
  static LatentPreview from_file(const std::filesystem::path& file);
  LatentPreview(at::Tensor factors, at::Tensor bias);  // [C, 3], [3] float32

  int64_t channels() const { return factors_.size(0); }
  // latent [C, H, W] (any float dtype, any device) → RGB frame [H, W, 3] uint8 on the host.
  FramePtr to_rgb(const at::Tensor& latent) const;
  // latents [C, T, H, W] → one frame per latent frame.
  std::vector<FramePtr> to_rgb_frames(const at::Tensor& latents) const;

 private:
  at::Tensor factors_;
  at::Tensor bias_;
};

}  // namespace ditstream::engine
