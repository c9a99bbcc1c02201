// Encoder behaviour without a reference: ids out of range, and fp8 projection weights (emulated in
// float32 on the CPU by model::Linear) staying close to the fp32 encoders.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/model/text/clip_text_encoder.h"
#include "core/model/text/llama_encoder.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream::text {
namespace {

namespace dt = ditstream::testing;

LlamaConfig small_llama() {
  LlamaConfig c;
  c.vocab_size = 200, c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 16;
  return c;
}

TEST(TextEncoders, OutOfRangeTokenIsAnError) {
  c10::InferenceMode guard;
  LlamaModel llama(small_llama());
  llama.init_random(at::kCPU, at::kFloat, 0);
  const at::Tensor ids = at::tensor({1, 2, 200}, at::kLong).view({1, 3});
  try {
    llama.forward(ids, at::ones({1, 3}, at::kLong), 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "input_ids");
    EXPECT_NE(std::string(e.what()).find("200"), std::string::npos) << e.what();
  }
  ClipTextConfig c;
  c.vocab_size = 50, c.hidden_size = 32, c.intermediate_size = 32, c.num_hidden_layers = 1, c.num_attention_heads = 2;
  ClipTextModel clip(c);
  clip.init_random(at::kCPU, at::kFloat, 0);
  EXPECT_THROW(clip.forward(at::tensor({0, -1, 1}, at::kLong).view({1, 3})), Error);
  EXPECT_THROW(clip.forward(at::zeros({1, 78}, at::kLong)), Error);  // over max_position_embeddings
}

TEST(TextEncoders, Fp8WeightsStayCloseToFp32) {
  c10::InferenceMode guard;
  LlamaModel llama(small_llama());
  llama.init_random(at::kCPU, at::kFloat, 4);
  const at::Tensor ids = at::randint(0, 200, {2, 24}, at::kLong);
  at::Tensor mask = at::ones({2, 24}, at::kLong);
  mask[1].narrow(0, 10, 14).zero_();
  const at::Tensor want = llama.forward(ids, mask, 1);
  llama.quantize_fp8();
  const at::Tensor got = llama.forward(ids, mask, 1);
  const double err = dt::relative_l2(got, want);
  EXPECT_GT(err, 0.0);  // the weights really changed
  EXPECT_LE(err, 0.08);

  ClipTextConfig c;
  c.vocab_size = 100, c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.eos_token_id = 1;
  ClipTextModel clip(c);
  clip.init_random(at::kCPU, at::kFloat, 5);
  at::Tensor clip_ids = at::randint(2, 100, {2, 77}, at::kLong);
  clip_ids.narrow(1, 30, 47).fill_(1);
  const at::Tensor pooled = clip.forward(clip_ids).pooler_output;
  clip.quantize_fp8();
  const double clip_err = dt::relative_l2(clip.forward(clip_ids).pooler_output, pooled);
  EXPECT_GT(clip_err, 0.0);
  EXPECT_LE(clip_err, 0.08);
}

}  // namespace
}  // namespace ditstream::text
