// Configuration of diffusers' AutoencoderKLHunyuanVideo (config.json of a `vae` folder).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ditstream::io {
class ConfigReader;
}

namespace ditstream::model::vae {

struct AutoencoderKLHunyuanVideoConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 16;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;
  std::string act_fn = "silu";
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.476986;
  int64_t spatial_compression_ratio = 8;
  int64_t temporal_compression_ratio = 4;
  bool mid_block_add_attention = true;

  // Fields absent from the file keep the defaults above (diffusers' defaults: the released model).
  static AutoencoderKLHunyuanVideoConfig from_json(const io::ConfigReader& config);
  // Throws ditstream::Error(invalid_argument) naming the first field that the model cannot build.
  void validate() const;

  // (t, h, w) factor by which down block i divides (and up block i multiplies) the video: the
  // first log2(spatial_compression_ratio) blocks scale space, the two before the last scale time.
  // The same rule in diffusers' HunyuanVideoEncoder3D and HunyuanVideoDecoder3D.
  std::array<int64_t, 3> block_scale(int64_t i) const;

  // Sample frames of `latent_frames` decoded frames: the first latent frame gives one frame.
  int64_t sample_frames(int64_t latent_frames) const {
    return (latent_frames - 1) * temporal_compression_ratio + 1;
  }
};

}  // namespace ditstream::model::vae
