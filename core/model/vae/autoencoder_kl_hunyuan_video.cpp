#include "core/model/vae/autoencoder_kl_hunyuan_video.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/io/diffusers_folder.h"
#include "core/model/vae/stream_state.h"
#include "core/util/error.h"

namespace ditstream::model::vae {

namespace {
constexpr std::array<int64_t, 3> kPoint{1, 1, 1};

std::string shape_string(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }
}  // namespace

AutoencoderKLHunyuanVideo::AutoencoderKLHunyuanVideo(const AutoencoderKLHunyuanVideoConfig& config)
    : config_((config.validate(), config)),
      encoder_(register_module("encoder", std::make_unique<HunyuanVideoEncoder3D>(config_))),
      decoder_(register_module("decoder", std::make_unique<HunyuanVideoDecoder3D>(config_))),
      quant_conv_(register_module("quant_conv", std::make_unique<Conv3d>(2 * config_.latent_channels,
                                                                         2 * config_.latent_channels, kPoint))),
      post_quant_conv_(register_module(
          "post_quant_conv", std::make_unique<Conv3d>(config_.latent_channels, config_.latent_channels, kPoint))) {}

std::unique_ptr<AutoencoderKLHunyuanVideo> AutoencoderKLHunyuanVideo::from_folder(
    const std::filesystem::path& model_dir, const LoadOptions& options, const std::string& component) {
  const auto folder = io::DiffusersFolder::open(model_dir);
  auto model = std::make_unique<AutoencoderKLHunyuanVideo>(
      AutoencoderKLHunyuanVideoConfig::from_json(folder.config(component)));
  model->load(folder.weights(component), options);
  return model;
}

void AutoencoderKLHunyuanVideo::check_latents(const at::Tensor& z, const char* field) const {
  constexpr const char* kContext = "[vae decode]";
  require(z.defined(), kContext, field, "is an undefined tensor");
  require(z.dim() == 5, kContext, field,
          fmt::format("has shape {} (rank {}); expected [batch, {}, frames, height, width]", shape_string(z), z.dim(),
                      config_.latent_channels));
  require(z.size(1) == config_.latent_channels, kContext, field,
          fmt::format("has {} channels (shape {}); the VAE takes latent_channels = {}", z.size(1), shape_string(z),
                      config_.latent_channels));
  require(z.size(0) >= 1 && z.size(2) >= 1 && z.size(3) >= 1 && z.size(4) >= 1, kContext, field,
          fmt::format("has shape {}; batch, frames, height and width must be ≥ 1", shape_string(z)));
  require(z.scalar_type() == dtype(), kContext, field,
          fmt::format("has dtype {}; the VAE weights are {}", c10::toString(z.scalar_type()), c10::toString(dtype())));
  require(z.device() == device(), kContext, field,
          fmt::format("is on {}; the VAE weights are on {}", z.device().str(), device().str()));
}

void AutoencoderKLHunyuanVideo::to_channels_last() {
  for (auto& [name, slot] : named_parameters()) {
    if (slot->dim() == 5) *slot = slot->contiguous(at::MemoryFormat::ChannelsLast3d);
  }
}

at::Tensor AutoencoderKLHunyuanVideo::encode(const at::Tensor& x) const {
  constexpr const char* kContext = "[vae encode]";
  require(x.dim() == 5 && x.size(1) == config_.in_channels, kContext, "x",
          fmt::format("has shape {}; expected [batch, {}, frames, height, width]", shape_string(x), config_.in_channels));
  require(x.scalar_type() == dtype(), kContext, "x",
          fmt::format("has dtype {}; the VAE weights are {}", c10::toString(x.scalar_type()), c10::toString(dtype())));
  c10::InferenceMode guard;
  return quant_conv_.forward(encoder_.forward(x));
}

at::Tensor AutoencoderKLHunyuanVideo::decode(const at::Tensor& z, const std::optional<TileSettings>& tiling) const {
  check_latents(z, "z");
  c10::InferenceMode guard;
  TileGrid grid(z.size(3), z.size(4), tiling, config_.spatial_compression_ratio);
  std::vector<at::Tensor> decoded;
  for (const Tile& t : grid.tiles()) {
    // [B, C, T, h, w] → the tile's latent window
    const at::Tensor window = z.narrow(3, t.y, t.height).narrow(4, t.x, t.width);
    StreamState state;  // one chunk holding the clip: statistics over all its frames
    decoded.push_back(decoder_.forward(post_quant(window), state));
  }
  return grid.assemble(decoded);
}

at::Tensor AutoencoderKLHunyuanVideo::decode_latents(const at::Tensor& latents,
                                                     const std::optional<TileSettings>& tiling) const {
  check_latents(latents, "latents");
  return decode(latents / config_.scaling_factor, tiling);
}

}  // namespace ditstream::model::vae
