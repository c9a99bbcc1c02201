// Shared by the VAE tests: the tiny VAE, latents, and diffusers reference runs.
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "tests/support/test_support.h"

namespace ditstream::testing {

inline std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo> tiny_vae() {
  return model::vae::AutoencoderKLHunyuanVideo::from_folder(tiny_model_dir(), model::LoadOptions{});
}

// "1.234e-06": for RecordProperty, where std::to_string would print 0.000001.
inline std::string scientific(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3e", v);
  return buf;
}

inline at::Tensor random_latents(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

// diffusers' decode of `z` (temporal tiling off; spatial tiling with `tile` when given).
inline at::Tensor diffusers_decode(const at::Tensor& z, const std::optional<model::vae::TileSettings>& tile) {
  const auto dir = fresh_temp_dir();
  save_tensors(dir / "in.safetensors", {{"z", z}});
  std::vector<std::string> args{"decode", (dir / "in.safetensors").string(), (dir / "out.safetensors").string(),
                                "--model", tiny_model_dir().string()};
  if (tile) {
    args.push_back("--tile");
    for (int64_t v : {tile->sample_min_height, tile->sample_min_width, tile->sample_stride_height,
                      tile->sample_stride_width}) {
      args.push_back(std::to_string(v));
    }
  }
  run_reference("vae_reference.py", args);
  return load_tensors(dir / "out.safetensors").at("sample");
}

}  // namespace ditstream::testing
