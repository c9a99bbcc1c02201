// HunyuanVideo transformer: config validation, input validation and the staged forward.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "core/io/config_reader.h"
#include "core/util/error.h"
#include "tests/model/hunyuan_test_util.h"
#include "tests/support/test_support.h"

namespace ditstream::testing {
namespace {

using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using model::hunyuan_video::HunyuanVideoTransformerConfig;
using model::hunyuan_video::TransformerInputs;

// Expects `fn` to throw ditstream::Error whose message mentions every string of `needles`.
template <typename Fn>
void expect_error(Fn&& fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

HunyuanVideoTransformerConfig config_from(const std::string& json) {
  return HunyuanVideoTransformerConfig::from_config(io::ConfigReader::from_text(json, "config.json"));
}

TEST(HunyuanTransformerConfig, ReadsTinyConfigAndDefaults) {
  const auto c = HunyuanVideoTransformerConfig::from_config(
      io::ConfigReader::from_file(tiny_model_dir() / "transformer" / "config.json"));
  EXPECT_EQ(c.num_attention_heads, 2);
  EXPECT_EQ(c.attention_head_dim, 16);
  EXPECT_EQ(c.text_embed_dim, 32);
  EXPECT_FALSE(c.image_condition_type.has_value());
  const auto d = config_from("{}");
  EXPECT_EQ(d.inner_dim(), 3072);
  EXPECT_EQ(d.num_layers, 20);
  EXPECT_EQ(d.num_single_layers, 40);
  EXPECT_EQ(d.rope_axes_dim, (std::array<int64_t, 3>{16, 56, 56}));
}

TEST(HunyuanTransformerConfig, RejectsImageConditioning) {
  expect_error([] { config_from(R"({"image_condition_type": "token_replace"})"); },
               {"image_condition_type", "token_replace", "not supported"});
  expect_error([] { config_from(R"({"image_condition_type": "latent_concat"})"); }, {"latent_concat"});
  expect_error([] { config_from(R"({"image_condition_type": "other"})"); }, {"unknown"});
}

TEST(HunyuanTransformerConfig, RejectsInconsistentFields) {
  expect_error([] { config_from(R"({"rope_axes_dim": [16, 56, 50]})"); }, {"rope_axes_dim", "122"});
  expect_error([] { config_from(R"({"qk_norm": "layer_norm"})"); }, {"qk_norm"});
  expect_error([] { config_from(R"({"patch_size": 0})"); }, {"patch_size"});
  expect_error([] { config_from(R"({"num_layers": 0})"); }, {"num_layers"});
}

class HunyuanTransformerInputs : public ::testing::Test {
 protected:
  void SetUp() override { model_ = load_transformer_dir(tiny_model_dir() / "transformer"); }
  std::unique_ptr<HunyuanVideoTransformer3DModel> model_;
  c10::InferenceMode guard_;
};

TEST_F(HunyuanTransformerInputs, WrongChannelCount) {
  InputSpec spec;
  spec.channels = 12;
  expect_error([&] { model_->forward(make_inputs(spec)); }, {"hidden_states", "12 channels", "16"});
}

TEST_F(HunyuanTransformerInputs, SizeNotMultipleOfPatch) {
  InputSpec spec;
  spec.height = 7;
  expect_error([&] { model_->forward(make_inputs(spec)); }, {"height is 7", "multiple of the patch size 2"});
}

TEST_F(HunyuanTransformerInputs, ZeroValidTextTokens) {
  InputSpec spec;
  spec.batch = 2;
  spec.valid = {3, 0};
  expect_error([&] { model_->forward(make_inputs(spec)); }, {"encoder_attention_mask", "sample 1", "0 valid"});
}

TEST_F(HunyuanTransformerInputs, DtypeMismatch) {
  auto in = make_inputs({});
  in.hidden_states = in.hidden_states.to(at::kBFloat16);
  expect_error([&] { model_->forward(in); }, {"hidden_states", "BFloat16", "Float"});
}

TEST_F(HunyuanTransformerInputs, GuidanceMissingOrShapes) {
  InputSpec spec;
  spec.guidance = false;
  expect_error([&] { model_->forward(make_inputs(spec)); }, {"guidance", "missing"});
  auto in = make_inputs({});
  in.encoder_hidden_states = at::randn({1, 7, 31});
  expect_error([&] { model_->forward(in); }, {"encoder_hidden_states", "32"});
  in = make_inputs({});
  in.encoder_attention_mask = at::ones({1, 6});
  expect_error([&] { model_->forward(in); }, {"encoder_attention_mask", "[1, 7]"});
  in = make_inputs({});
  in.encoder_attention_mask.fill_(2);
  expect_error([&] { model_->forward(in); }, {"encoder_attention_mask", "0 and 1"});
}

TEST_F(HunyuanTransformerInputs, StagedForwardEqualsForwardAndCutsText) {
  InputSpec spec;
  spec.batch = 2;
  spec.text_len = 9;
  spec.valid = {5, 3};
  const auto in = make_inputs(spec);
  const at::Tensor full = model_->forward(in);
  auto state = model_->begin(in);
  EXPECT_EQ(state.text.size(1), 5);  // padding beyond the longest valid text is cut
  EXPECT_EQ(state.video.size(1), 3 * 4 * 4);
  EXPECT_EQ(state.text_lengths, (std::vector<int64_t>{5, 3}));
  model_->run_first_block(state);
  model_->run_remaining_blocks(state);
  const at::Tensor staged = model_->finish(state);
  EXPECT_TRUE(at::equal(full, staged));
  EXPECT_EQ(full.sizes(), in.hidden_states.sizes());
}

TEST_F(HunyuanTransformerInputs, PaddedTextDoesNotChangeTheOutput) {
  // The same prompt padded to two different lengths gives the same video prediction.
  InputSpec spec;
  spec.text_len = 6;
  auto a = make_inputs(spec);
  auto b = a;
  b.encoder_hidden_states = at::cat({a.encoder_hidden_states, at::randn({1, 4, 32})}, 1);
  b.encoder_attention_mask = at::cat({a.encoder_attention_mask, at::zeros({1, 4}, at::kLong)}, 1);
  EXPECT_LE(relative_l2(model_->forward(b), model_->forward(a)), 1e-6);
}

TEST_F(HunyuanTransformerInputs, PackedProjectionsMatchSeparateOnes) {
  const auto in = make_inputs({});
  const auto names_packed = model_->named_parameters();
  const at::Tensor packed = model_->forward(in);
  // Loading again replaces the parameter slots: the packs notice and separate projections run.
  model_->load(io::Checkpoint::open(tiny_model_dir() / "transformer" / "diffusion_pytorch_model.safetensors"), {});
  const at::Tensor separate = model_->forward(in);
  EXPECT_LE(relative_l2(packed, separate), 1e-6);
  EXPECT_EQ(model_->named_parameters().size(), names_packed.size());
  model_->prepare();
  EXPECT_LE(relative_l2(model_->forward(in), packed), 1e-7);
}

TEST_F(HunyuanTransformerInputs, SingleBlockMlpByTokenBlocksEqualsWholeAndRejectsZero) {
  InputSpec spec;
  spec.batch = 2;
  spec.valid = {7, 4};
  const auto in = make_inputs(spec);
  const at::Tensor whole = model_->forward(in);  // 55 tokens: one block at the default size
  model_->set_mlp_token_block(5);                 // 11 blocks, the last one partial
  EXPECT_LE(relative_l2(model_->forward(in), whole), 1e-6);
  expect_error([&] { model_->set_mlp_token_block(0); }, {"mlp_token_block", "at least 1"});
}

TEST_F(HunyuanTransformerInputs, Bfloat16RunsCloseToFloat32) {
  InputSpec spec;
  spec.batch = 2;
  spec.valid = {7, 4};
  auto in = make_inputs(spec);
  const at::Tensor reference = model_->forward(in);
  model_->to(at::kCPU, at::kBFloat16);
  model_->prepare();
  in.hidden_states = in.hidden_states.to(at::kBFloat16);
  in.encoder_hidden_states = in.encoder_hidden_states.to(at::kBFloat16);
  in.pooled_projections = in.pooled_projections.to(at::kBFloat16);
  const at::Tensor out = model_->forward(in);
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  EXPECT_LE(relative_l2(out.to(at::kFloat), reference), 5e-2);
}

// The fp8 path's plumbing on the CPU (the quantization computed with ATen): outputs stay close to
// full precision, parameter names stay, a second quantize_fp8() is harmless and load() restores.
TEST_F(HunyuanTransformerInputs, Fp8QuantizedBlocksStayClose) {
  InputSpec spec;
  spec.batch = 2;
  spec.valid = {7, 3};
  const auto in = make_inputs(spec);
  const at::Tensor reference = model_->forward(in);
  const size_t names = model_->named_parameters().size();
  model_->quantize_fp8();
  model_->quantize_fp8();
  const at::Tensor fp8 = model_->forward(in);
  const double err = relative_l2(fp8, reference);
  std::cout << "fp8 relative L2 vs fp32: " << err << "\n";
  EXPECT_GT(err, 0.0);
  EXPECT_LE(err, 0.1);
  EXPECT_EQ(model_->named_parameters().size(), names);
  model_->load(io::Checkpoint::open(tiny_model_dir() / "transformer" / "diffusion_pytorch_model.safetensors"), {});
  EXPECT_LE(relative_l2(model_->forward(in), reference), 1e-6);
}

}  // namespace
}  // namespace ditstream::testing
