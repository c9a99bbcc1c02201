#include "core/model/vae/config.h"

#include <fmt/format.h>

#include "core/io/config_reader.h"
#include "core/util/error.h"

namespace ditstream::model::vae {

namespace {
constexpr const char* kContext = "AutoencoderKLHunyuanVideo config";

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

int64_t log2_int(int64_t v) {
  int64_t n = 0;
  while ((int64_t{1} << n) < v) ++n;
  return n;
}
}  // namespace

std::array<int64_t, 3> AutoencoderKLHunyuanVideoConfig::block_scale(int64_t i) const {
  const auto blocks = static_cast<int64_t>(block_out_channels.size());
  const bool spatial = i < log2_int(spatial_compression_ratio);
  const bool time = i >= blocks - 1 - log2_int(temporal_compression_ratio) && i != blocks - 1;
  return {time ? 2 : 1, spatial ? 2 : 1, spatial ? 2 : 1};
}

AutoencoderKLHunyuanVideoConfig AutoencoderKLHunyuanVideoConfig::from_json(const io::ConfigReader& config) {
  AutoencoderKLHunyuanVideoConfig c;
  c.in_channels = config.get_int("in_channels", c.in_channels);
  c.out_channels = config.get_int("out_channels", c.out_channels);
  c.latent_channels = config.get_int("latent_channels", c.latent_channels);
  c.block_out_channels = config.get_int_list("block_out_channels", c.block_out_channels);
  c.layers_per_block = config.get_int("layers_per_block", c.layers_per_block);
  c.act_fn = config.get_string("act_fn", c.act_fn);
  c.norm_num_groups = config.get_int("norm_num_groups", c.norm_num_groups);
  c.scaling_factor = config.get_double("scaling_factor", c.scaling_factor);
  c.spatial_compression_ratio = config.get_int("spatial_compression_ratio", c.spatial_compression_ratio);
  c.temporal_compression_ratio = config.get_int("temporal_compression_ratio", c.temporal_compression_ratio);
  c.mid_block_add_attention = config.get_bool("mid_block_add_attention", c.mid_block_add_attention);
  const auto blocks = c.block_out_channels.size();
  const auto down = config.get_string_list("down_block_types", std::vector<std::string>(blocks, "HunyuanVideoDownBlock3D"));
  const auto up = config.get_string_list("up_block_types", std::vector<std::string>(blocks, "HunyuanVideoUpBlock3D"));
  if (down.size() != blocks) config.fail("down_block_types", fmt::format("has {} entries, block_out_channels {}", down.size(), blocks));
  if (up.size() != blocks) config.fail("up_block_types", fmt::format("has {} entries, block_out_channels {}", up.size(), blocks));
  for (const auto& t : down)
    if (t != "HunyuanVideoDownBlock3D") config.fail("down_block_types", fmt::format("'{}' is not HunyuanVideoDownBlock3D", t));
  for (const auto& t : up)
    if (t != "HunyuanVideoUpBlock3D") config.fail("up_block_types", fmt::format("'{}' is not HunyuanVideoUpBlock3D", t));
  try {
    c.validate();
  } catch (const Error& e) {
    config.fail(e.field(), e.detail());
  }
  return c;
}

void AutoencoderKLHunyuanVideoConfig::validate() const {
  auto positive = [](int64_t v, const char* field) {
    require(v > 0, kContext, field, fmt::format("is {}; must be > 0", v));
  };
  positive(in_channels, "in_channels");
  positive(out_channels, "out_channels");
  positive(latent_channels, "latent_channels");
  positive(layers_per_block, "layers_per_block");
  positive(norm_num_groups, "norm_num_groups");
  require(act_fn == "silu" || act_fn == "swish", kContext, "act_fn", fmt::format("is '{}'; only silu/swish", act_fn));
  require(!block_out_channels.empty(), kContext, "block_out_channels", "is empty");
  for (int64_t ch : block_out_channels) {
    require(ch > 0 && ch % norm_num_groups == 0, kContext, "block_out_channels",
            fmt::format("has {}; each must be a positive multiple of norm_num_groups {}", ch, norm_num_groups));
  }
  require(temporal_compression_ratio == 4, kContext, "temporal_compression_ratio",
          fmt::format("is {}; diffusers' HunyuanVideo decoder supports 4 only", temporal_compression_ratio));
  require(is_power_of_two(spatial_compression_ratio), kContext, "spatial_compression_ratio",
          fmt::format("is {}; must be a power of two", spatial_compression_ratio));
  const auto blocks = static_cast<int64_t>(block_out_channels.size());
  const int64_t spatial_layers = log2_int(spatial_compression_ratio);
  require(spatial_layers <= blocks && blocks >= 3, kContext, "block_out_channels",
          fmt::format("has {} blocks; needs at least 3 and at least log2(spatial_compression_ratio) = {}", blocks,
                      spatial_layers));
  require(scaling_factor > 0, kContext, "scaling_factor", fmt::format("is {}; must be > 0", scaling_factor));
}

}  // namespace ditstream::model::vae
