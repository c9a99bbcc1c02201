// diffusers' AutoencoderKLHunyuanVideo: encoder, decoder, quant_conv and post_quant_conv under
// diffusers' names, so a `vae` folder of a HunyuanVideo diffusers model loads strictly.
// Whole-clip entry points here; chunked and multi-rank decoding in streaming_decoder.h.
#pragma once

#include <ATen/Tensor.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "core/model/module.h"
#include "core/model/vae/causal_conv3d.h"
#include "core/model/vae/config.h"
#include "core/model/vae/decoder.h"
#include "core/model/vae/encoder.h"
#include "core/model/vae/tiling.h"

namespace ditstream::model::vae {

class AutoencoderKLHunyuanVideo : public Module {
 public:
  explicit AutoencoderKLHunyuanVideo(const AutoencoderKLHunyuanVideoConfig& config);

  // Reads config.json and the weights of `model_dir/<component>` (a diffusers model folder).
  static std::unique_ptr<AutoencoderKLHunyuanVideo> from_folder(const std::filesystem::path& model_dir,
                                                                const LoadOptions& options,
                                                                const std::string& component = "vae");

  const AutoencoderKLHunyuanVideoConfig& config() const { return config_; }
  const HunyuanVideoDecoder3D& decoder() const { return decoder_; }
  at::ScalarType dtype() const { return post_quant_conv_.weight().scalar_type(); }
  at::Device device() const { return post_quant_conv_.weight().device(); }

  // x [B, in_channels, 1 + 4k, H, W] → moments [B, 2·latent_channels, 1 + k, H/8, W/8] (mean,
  // then log-variance), what diffusers' encode wraps in a DiagonalGaussianDistribution.
  at::Tensor encode(const at::Tensor& x) const;

  // diffusers' decode(z) without its temporal (framewise) tiling: z [B, latent_channels, T, h, w]
  // → [B, out_channels, 1 + 4(T − 1), 8h, 8w]. With `tiling`, spatially tiled as diffusers'
  // tiled_decode with the same settings.
  at::Tensor decode(const at::Tensor& z, const std::optional<TileSettings>& tiling = std::nullopt) const;

  // What the pipeline hands to decode: the denoiser's latents divided by scaling_factor.
  at::Tensor decode_latents(const at::Tensor& latents, const std::optional<TileSettings>& tiling = std::nullopt) const;

  // post_quant_conv (a pointwise Conv3d), applied by decoders before HunyuanVideoDecoder3D.
  at::Tensor post_quant(const at::Tensor& z) const { return post_quant_conv_.forward(z); }

  // Stores every 3-D convolution weight channels-last (NDHWC), so cuDNN runs its convolutions
  // in that layout (on Hopper usually faster in fp16/bf16); activations follow.
  void to_channels_last();

  // Throws ditstream::Error(invalid_argument) "[vae decode] <field>: ..." unless z is a 5-D
  // floating tensor [B, latent_channels, T ≥ 1, h ≥ 1, w ≥ 1] of the weights' dtype and device.
  void check_latents(const at::Tensor& z, const char* field) const;

 private:
  AutoencoderKLHunyuanVideoConfig config_;
  HunyuanVideoEncoder3D& encoder_;
  HunyuanVideoDecoder3D& decoder_;
  Conv3d& quant_conv_;
  Conv3d& post_quant_conv_;
};

}  // namespace ditstream::model::vae
