// The C++ HunyuanVideo transformer against diffusers' HunyuanVideoTransformer3DModel on tiny
// configs, CPU fp32, same safetensors weights and inputs; reference computed by
// tests/reference/hunyuan_transformer.py at test time.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "core/io/diffusers_folder.h"
#include "tests/model/hunyuan_test_util.h"
#include "tests/support/test_support.h"

namespace ditstream::testing {
namespace {

using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using model::hunyuan_video::TransformerInputs;

constexpr double kTolerance = 1e-5;

// Runs diffusers on `inputs` (building and saving a random model from `make_config` when given),
// then the C++ model loaded from the same folder, and returns the relative L2 error.
double compare_with_diffusers(const TransformerInputs& inputs, const std::filesystem::path& model_dir,
                              const std::string& make_config = "", int seed = 0) {
  const auto dir = fresh_temp_dir();
  save_tensors(dir / "inputs.safetensors", to_tensor_map(inputs));
  std::vector<std::string> args = {"--model", model_dir.string(), "--inputs", (dir / "inputs.safetensors").string(),
                                   "--out", (dir / "out.safetensors").string()};
  if (!make_config.empty()) {
    args.insert(args.end(), {"--make", make_config, "--seed", std::to_string(seed)});
  }
  run_reference("hunyuan_transformer.py", args);
  const at::Tensor expected = load_tensors(dir / "out.safetensors").at("output");

  c10::InferenceMode guard;
  auto model = load_transformer_dir(model_dir);
  const at::Tensor actual = model->forward(inputs);
  EXPECT_EQ(actual.sizes(), expected.sizes());
  const double err = relative_l2(actual, expected);
  std::cout << "relative L2 vs diffusers: " << err << "\n";
  return err;
}

TEST(HunyuanTransformerParity, TinyModel) {
  InputSpec spec;
  spec.batch = 1;
  spec.frames = 3;
  spec.height = 8;
  spec.width = 12;
  spec.text_len = 9;
  spec.valid = {6};
  EXPECT_LE(compare_with_diffusers(make_inputs(spec), tiny_model_dir() / "transformer"), kTolerance);
}

TEST(HunyuanTransformerParity, TinyModelLoadsThroughFolder) {
  c10::InferenceMode guard;
  auto folder = io::DiffusersFolder::open(tiny_model_dir());
  auto model = HunyuanVideoTransformer3DModel::from_folder(folder, {});
  EXPECT_EQ(model->config().num_layers, 2);
  EXPECT_EQ(model->config().rope_axes_dim, (std::array<int64_t, 3>{4, 6, 6}));
}

// No guidance embedding, 3 heads of 8 (rope 2/2/4), patch_size_t 2, several blocks, different
// mlp ratio and in/out channels.
TEST(HunyuanTransformerParity, ConfigWithoutGuidance) {
  const std::string config = R"({"in_channels": 4, "out_channels": 6, "num_attention_heads": 3, "attention_head_dim": 8,
    "num_layers": 3, "num_single_layers": 2, "num_refiner_layers": 2, "mlp_ratio": 3.0, "patch_size": 2,
    "patch_size_t": 2, "guidance_embeds": false, "text_embed_dim": 20, "pooled_projection_dim": 12,
    "rope_theta": 100.0, "rope_axes_dim": [2, 2, 4]})";
  InputSpec spec;
  spec.channels = 4;
  spec.frames = 4;
  spec.height = 6;
  spec.width = 10;  // odd post-patch sizes 3 x 5
  spec.text_len = 5;
  spec.text_dim = 20;
  spec.pooled_dim = 12;
  spec.guidance = false;
  spec.seed = 2;
  EXPECT_LE(compare_with_diffusers(make_inputs(spec), fresh_temp_dir() / "model", config, 3), kTolerance);
}

// Batch 2 with different valid text lengths, odd text length and odd latent sizes, patch 1.
TEST(HunyuanTransformerParity, BatchWithDifferentTextLengths) {
  const std::string config = R"({"in_channels": 8, "out_channels": 8, "num_attention_heads": 2, "attention_head_dim": 12,
    "num_layers": 2, "num_single_layers": 3, "num_refiner_layers": 1, "mlp_ratio": 2.5, "patch_size": 1,
    "patch_size_t": 1, "guidance_embeds": true, "text_embed_dim": 16, "pooled_projection_dim": 10,
    "rope_theta": 256.0, "rope_axes_dim": [4, 4, 4]})";
  InputSpec spec;
  spec.batch = 2;
  spec.channels = 8;
  spec.frames = 3;
  spec.height = 5;
  spec.width = 7;
  spec.text_len = 11;
  spec.text_dim = 16;
  spec.pooled_dim = 10;
  spec.valid = {11, 4};
  spec.seed = 4;
  EXPECT_LE(compare_with_diffusers(make_inputs(spec), fresh_temp_dir() / "model", config, 5), kTolerance);
}

// Batch 2 on the tiny model, both samples padded (different lengths, one of them odd), odd latent
// frames and sizes.
TEST(HunyuanTransformerParity, TinyModelBatchOddSizes) {
  InputSpec spec;
  spec.batch = 2;
  spec.frames = 5;
  spec.height = 6;
  spec.width = 14;
  spec.text_len = 13;
  spec.valid = {7, 2};
  spec.seed = 6;
  EXPECT_LE(compare_with_diffusers(make_inputs(spec), tiny_model_dir() / "transformer"), kTolerance);
}

}  // namespace
}  // namespace ditstream::testing
