// Shared by the HunyuanVideo transformer and sampling tests: random inputs and loading a
// diffusers-saved transformer folder (config.json + safetensors) without a model_index.json.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/io/checkpoint.h"
#include "core/io/config_reader.h"
#include "core/model/hunyuan_video/transformer.h"

namespace ditstream::testing {

inline std::unique_ptr<model::hunyuan_video::HunyuanVideoTransformer3DModel> load_transformer_dir(
    const std::filesystem::path& dir, const model::LoadOptions& options = {}) {
  using model::hunyuan_video::HunyuanVideoTransformer3DModel;
  using model::hunyuan_video::HunyuanVideoTransformerConfig;
  auto config = HunyuanVideoTransformerConfig::from_config(io::ConfigReader::from_file(dir / "config.json"));
  auto m = std::make_unique<HunyuanVideoTransformer3DModel>(config);
  const auto index = dir / "diffusion_pytorch_model.safetensors.index.json";
  m->load(io::Checkpoint::open(std::filesystem::exists(index) ? index : dir / "diffusion_pytorch_model.safetensors"),
          options);
  m->prepare();
  return m;
}

struct InputSpec {
  int64_t batch = 1, channels = 16, frames = 3, height = 8, width = 8;
  int64_t text_len = 7, text_dim = 32, pooled_dim = 24;
  std::vector<int64_t> valid;  // valid text tokens per sample (default: all)
  bool guidance = true;
  uint64_t seed = 1;
};

inline model::hunyuan_video::TransformerInputs make_inputs(const InputSpec& s) {
  auto gen = at::detail::createCPUGenerator(s.seed);
  model::hunyuan_video::TransformerInputs in;
  in.hidden_states = at::randn({s.batch, s.channels, s.frames, s.height, s.width}, gen);
  in.timestep = at::rand({s.batch}, gen) * 1000;
  in.encoder_hidden_states = at::randn({s.batch, s.text_len, s.text_dim}, gen);
  in.encoder_attention_mask = at::zeros({s.batch, s.text_len}, at::kLong);
  for (int64_t b = 0; b < s.batch; ++b) {
    const int64_t n = s.valid.empty() ? s.text_len : s.valid[static_cast<size_t>(b)];
    in.encoder_attention_mask[b].narrow(0, 0, n).fill_(1);
  }
  in.pooled_projections = at::randn({s.batch, s.pooled_dim}, gen);
  if (s.guidance) in.guidance = at::full({s.batch}, 6000.0);
  return in;
}

inline std::map<std::string, at::Tensor> to_tensor_map(const model::hunyuan_video::TransformerInputs& in) {
  std::map<std::string, at::Tensor> m = {{"hidden_states", in.hidden_states},
                                         {"timestep", in.timestep},
                                         {"encoder_hidden_states", in.encoder_hidden_states},
                                         {"encoder_attention_mask", in.encoder_attention_mask},
                                         {"pooled_projections", in.pooled_projections}};
  if (in.guidance) m["guidance"] = *in.guidance;
  return m;
}

}  // namespace ditstream::testing
