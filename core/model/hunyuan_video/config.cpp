#include "core/model/hunyuan_video/config.h"

#include <string>

#include "core/io/config_reader.h"
#include "core/util/error.h"

namespace ditstream::model::hunyuan_video {
namespace {

constexpr std::string_view kContext = "HunyuanVideoTransformerConfig";

void require_positive(int64_t value, std::string_view field) {
  require(value > 0, kContext, field, "is " + std::to_string(value) + ", must be > 0");
}

}  // namespace

HunyuanVideoTransformerConfig HunyuanVideoTransformerConfig::from_config(const io::ConfigReader& r) {
  HunyuanVideoTransformerConfig c;
  c.in_channels = r.get_int("in_channels", c.in_channels);
  // diffusers: `out_channels = out_channels or in_channels`.
  c.out_channels = r.has("out_channels") ? r.get_int("out_channels") : c.in_channels;
  if (c.out_channels == 0) c.out_channels = c.in_channels;
  c.num_attention_heads = r.get_int("num_attention_heads", c.num_attention_heads);
  c.attention_head_dim = r.get_int("attention_head_dim", c.attention_head_dim);
  c.num_layers = r.get_int("num_layers", c.num_layers);
  c.num_single_layers = r.get_int("num_single_layers", c.num_single_layers);
  c.num_refiner_layers = r.get_int("num_refiner_layers", c.num_refiner_layers);
  c.mlp_ratio = r.get_double("mlp_ratio", c.mlp_ratio);
  c.patch_size = r.get_int("patch_size", c.patch_size);
  c.patch_size_t = r.get_int("patch_size_t", c.patch_size_t);
  c.qk_norm = r.get_string("qk_norm", c.qk_norm);
  c.guidance_embeds = r.get_bool("guidance_embeds", c.guidance_embeds);
  c.text_embed_dim = r.get_int("text_embed_dim", c.text_embed_dim);
  c.pooled_projection_dim = r.get_int("pooled_projection_dim", c.pooled_projection_dim);
  c.rope_theta = r.get_double("rope_theta", c.rope_theta);
  if (r.has("rope_axes_dim")) {
    const auto axes = r.get_int_list("rope_axes_dim");
    if (axes.size() != 3) r.fail("rope_axes_dim", "has " + std::to_string(axes.size()) + " entries, expected 3 (t, h, w)");
    c.rope_axes_dim = {axes[0], axes[1], axes[2]};
  }
  c.image_condition_type = r.get_optional_string("image_condition_type");
  try {
    c.validate();
  } catch (const Error& e) {
    r.fail(e.field(), e.detail());
  }
  return c;
}

void HunyuanVideoTransformerConfig::validate() const {
  require_positive(in_channels, "in_channels");
  require_positive(out_channels, "out_channels");
  require_positive(num_attention_heads, "num_attention_heads");
  require_positive(attention_head_dim, "attention_head_dim");
  require(num_layers >= 1, kContext, "num_layers",
          "is " + std::to_string(num_layers) + ", must be >= 1 (the first dual-stream block is the cache probe)");
  require(num_single_layers >= 0, kContext, "num_single_layers", "is " + std::to_string(num_single_layers) + ", must be >= 0");
  require(num_refiner_layers >= 0, kContext, "num_refiner_layers",
          "is " + std::to_string(num_refiner_layers) + ", must be >= 0");
  require(mlp_ratio > 0 && mlp_dim() > 0, kContext, "mlp_ratio", "is " + std::to_string(mlp_ratio) + ", must be > 0");
  require_positive(patch_size, "patch_size");
  require_positive(patch_size_t, "patch_size_t");
  require(qk_norm == "rms_norm", kContext, "qk_norm", "is \"" + qk_norm + "\", only \"rms_norm\" is supported");
  require_positive(text_embed_dim, "text_embed_dim");
  require_positive(pooled_projection_dim, "pooled_projection_dim");
  require(rope_theta > 0, kContext, "rope_theta", "is " + std::to_string(rope_theta) + ", must be > 0");
  int64_t rope_sum = 0;
  for (int64_t d : rope_axes_dim) {
    require(d > 0 && d % 2 == 0, kContext, "rope_axes_dim",
            "entry " + std::to_string(d) + " is not allowed: each axis needs a positive even size");
    rope_sum += d;
  }
  require(rope_sum == attention_head_dim, kContext, "rope_axes_dim",
          "sums to " + std::to_string(rope_sum) + ", must equal attention_head_dim " + std::to_string(attention_head_dim));
  if (image_condition_type) {
    const bool known = *image_condition_type == "latent_concat" || *image_condition_type == "token_replace";
    require(false, kContext, "image_condition_type",
            "is \"" + *image_condition_type + "\": " +
                (known ? "image-to-video conditioning is not supported, only null (text-to-video)"
                       : "unknown; diffusers allows null, \"latent_concat\" or \"token_replace\", and only null is supported"));
  }
}

}  // namespace ditstream::model::hunyuan_video
