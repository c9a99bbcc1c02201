#include "core/engine/latent_preview.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/io/config_reader.h"
#include "core/util/error.h"

namespace ditstream::engine {

LatentPreview LatentPreview::from_file(const std::filesystem::path& file) {
  const auto reader = io::ConfigReader::from_file(file);
  const int64_t channels = reader.get_int("latent_channels");
  const auto& rows = reader.raw("factors");
  const auto& bias = reader.raw("bias");
  if (!rows.is_array() || static_cast<int64_t>(rows.size()) != channels) {
    reader.fail("factors", "must be " + std::to_string(channels) + " rows of [r, g, b]");
  }
  if (!bias.is_array() || bias.size() != 3) reader.fail("bias", "must be [r, g, b]");
  std::vector<float> f;
  for (const auto& row : rows) {
    if (!row.is_array() || row.size() != 3) reader.fail("factors", "every row must be [r, g, b]");
    for (const auto& v : row) {
      if (!v.is_number()) reader.fail("factors", "entries must be numbers");
      f.push_back(v.get<float>());
    }
  }
  std::vector<float> b;
  for (const auto& v : bias) {
    if (!v.is_number()) reader.fail("bias", "entries must be numbers");
    b.push_back(v.get<float>());
  }
  return LatentPreview(at::tensor(f).reshape({channels, 3}), at::tensor(b));
}

LatentPreview::LatentPreview(at::Tensor factors, at::Tensor bias)
    : factors_(factors.to(at::kFloat).contiguous()), bias_(bias.to(at::kFloat).contiguous()) {
  require(factors_.dim() == 2 && factors_.size(1) == 3, "latent preview", "factors", "must be [C, 3]");
  require(bias_.numel() == 3, "latent preview", "bias", "must have 3 entries");
}

FramePtr LatentPreview::to_rgb(const at::Tensor& latent) const {
  require(latent.dim() == 3 && latent.size(0) == channels(), "latent preview", "latent",
          "must be [" + std::to_string(channels()) + ", H, W]");
  const at::Tensor x = latent.to(at::kCPU, at::kFloat);                       // [C, H, W]
  at::Tensor rgb = at::einsum("chw,cr->hwr", {x, factors_}) + bias_;           // [H, W, 3]
  rgb = ((rgb + 1.0) * 0.5).clamp(0.0, 1.0).mul(255.0).round().to(at::kByte).contiguous();
  auto frame = std::make_shared<RgbFrame>();
  frame->height = static_cast<int>(rgb.size(0));
  frame->width = static_cast<int>(rgb.size(1));
  frame->rgb.assign(rgb.data_ptr<uint8_t>(), rgb.data_ptr<uint8_t>() + rgb.numel());
  return frame;
}

std::vector<FramePtr> LatentPreview::to_rgb_frames(const at::Tensor& latents) const {
  require(latents.dim() == 4, "latent preview", "latents", "must be [C, T, H, W]");
  std::vector<FramePtr> out;
  for (int64_t t = 0; t < latents.size(1); ++t) out.push_back(to_rgb(latents.select(1, t)));
  return out;
}

}  // namespace ditstream::engine
