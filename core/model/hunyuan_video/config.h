// HunyuanVideoTransformer3DModel's config.json, every field diffusers 0.42.1 registers, with its
// defaults (the released 13B model's dimensions).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace ditstream::io {
class ConfigReader;
}

namespace ditstream::model::hunyuan_video {

struct HunyuanVideoTransformerConfig {
  int64_t in_channels = 16;
  int64_t out_channels = 16;
  int64_t num_attention_heads = 24;
  int64_t attention_head_dim = 128;
  int64_t num_layers = 20;
  int64_t num_single_layers = 40;
  int64_t num_refiner_layers = 2;
  double mlp_ratio = 4.0;
  int64_t patch_size = 2;
  int64_t patch_size_t = 1;
  std::string qk_norm = "rms_norm";
  bool guidance_embeds = true;
  int64_t text_embed_dim = 4096;
  int64_t pooled_projection_dim = 768;
  double rope_theta = 256.0;
  std::array<int64_t, 3> rope_axes_dim = {16, 56, 56};
  // diffusers knows "latent_concat" and "token_replace" (image-to-video); only text-to-video
  // (null) is implemented here, and validate() says so.
  std::optional<std::string> image_condition_type;

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  int64_t mlp_dim() const { return static_cast<int64_t>(static_cast<double>(inner_dim()) * mlp_ratio); }

  // Reads config.json; absent fields keep diffusers' defaults. Calls validate().
  static HunyuanVideoTransformerConfig from_config(const io::ConfigReader& reader);
  // Throws ditstream::Error naming the field, its value and what is allowed.
  void validate() const;
};

}  // namespace ditstream::model::hunyuan_video
