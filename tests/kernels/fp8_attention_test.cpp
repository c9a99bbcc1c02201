// Where FP8 attention cannot run it says why, and a model asked for it refuses clearly instead of
// falling back silently.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/kernels/fp8_attention.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/util/error.h"

namespace ditstream {
namespace {

TEST(Fp8Attention, UnavailableOnTheCpuWithAReason) {
  std::string why;
  EXPECT_FALSE(kernels::fp8_attention_available(at::Device(at::kCPU), &why));
  EXPECT_FALSE(why.empty());
  const auto q = at::randn({1, 2, 8, 16}).to(at::kBFloat16);
  try {
    kernels::fp8_attention(q, q, q);
    FAIL() << "FP8 attention ran on the CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
  }
}

TEST(Fp8Attention, ModelOnTheCpuRefusesIt) {
  model::hunyuan_video::HunyuanVideoTransformerConfig config;
  config.num_attention_heads = 2;
  config.attention_head_dim = 16;
  config.num_layers = 1;
  config.num_single_layers = 1;
  config.num_refiner_layers = 1;
  config.rope_axes_dim = {4, 6, 6};
  config.text_embed_dim = 32;
  config.pooled_projection_dim = 24;
  model::hunyuan_video::HunyuanVideoTransformer3DModel model(config);
  model.init_random(at::kCPU, at::kBFloat16, 0);
  try {
    model.set_fp8_attention(true);
    FAIL() << "FP8 attention accepted on the CPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp8_attention"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(model.fp8_attention());
  model.set_fp8_attention(false);
}

}  // namespace
}  // namespace ditstream
