// GPU runs of the text encoders: bf16 against fp32 on the CPU with the same weights, and fp8
// (model::Linear's e4m3 weights with per-channel scales) against fp32.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/model/text/clip_text_encoder.h"
#include "core/io/diffusers_folder.h"
#include "core/model/text/llama_encoder.h"
#include "core/model/text/prompt_encoder.h"
#include "core/model/layers.h"
#include "tests/support/test_support.h"

namespace ditstream::text {
namespace {

namespace dt = ditstream::testing;

#define REQUIRE_CUDA() \
  if (!dt::cuda_available()) GTEST_SKIP() << "no CUDA device: GPU test"

LlamaConfig small_llama() {
  LlamaConfig c;
  c.vocab_size = 512, c.hidden_size = 128, c.intermediate_size = 256, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 32;
  return c;
}

TEST(TextGpu, Fp8LinearIsCloseToBf16) {
  REQUIRE_CUDA();
  c10::InferenceMode guard;
  model::Linear linear(256, 128, true);
  linear.init_random(at::kCUDA, at::kBFloat16, 3);
  const at::Tensor x = at::randn({2, 33, 256}, at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16));
  const at::Tensor want = linear.forward(x);
  linear.quantize_fp8();
  ASSERT_TRUE(linear.is_fp8());
  const at::Tensor got = linear.forward(x);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_LE(dt::relative_l2(got, want), 0.08);
}

TEST(TextGpu, LlamaBf16AndFp8MatchFp32) {
  REQUIRE_CUDA();
  c10::InferenceMode guard;
  LlamaModel cpu(small_llama());
  cpu.init_random(at::kCPU, at::kFloat, 5);
  LlamaModel gpu(small_llama());
  gpu.init_random(at::kCPU, at::kFloat, 5);
  gpu.to(at::kCUDA, at::kBFloat16);
  const at::Tensor ids = at::randint(0, 512, {2, 48}, at::kLong);
  at::Tensor mask = at::ones({2, 48}, at::kLong);
  mask[1].narrow(0, 30, 18).zero_();
  const at::Tensor want = cpu.forward(ids, mask, 2);
  const at::Tensor bf16 = gpu.forward(ids.cuda(), mask.cuda(), 2);
  EXPECT_LE(dt::relative_l2(bf16.cpu().to(at::kFloat), want), 0.03);
  gpu.quantize_fp8();
  const at::Tensor fp8 = gpu.forward(ids.cuda(), mask.cuda(), 2);
  EXPECT_LE(dt::relative_l2(fp8.cpu().to(at::kFloat), want), 0.1);
}

TEST(TextGpu, ClipBf16AndFp8MatchFp32) {
  REQUIRE_CUDA();
  c10::InferenceMode guard;
  ClipTextConfig c;
  c.vocab_size = 300, c.hidden_size = 128, c.intermediate_size = 256, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.eos_token_id = 1;
  ClipTextModel cpu(c);
  cpu.init_random(at::kCPU, at::kFloat, 9);
  ClipTextModel gpu(c);
  gpu.init_random(at::kCPU, at::kFloat, 9);
  gpu.to(at::kCUDA, at::kBFloat16);
  at::Tensor ids = at::randint(2, 300, {2, 77}, at::kLong);
  ids.narrow(1, 40, 37).fill_(1);
  const ClipTextOutput want = cpu.forward(ids);
  const ClipTextOutput bf16 = gpu.forward(ids.cuda());
  EXPECT_LE(dt::relative_l2(bf16.pooler_output.cpu().to(at::kFloat), want.pooler_output), 0.03);
  gpu.quantize_fp8();
  const ClipTextOutput fp8 = gpu.forward(ids.cuda());
  EXPECT_LE(dt::relative_l2(fp8.pooler_output.cpu().to(at::kFloat), want.pooler_output), 0.1);
}

TEST(TextGpu, TinyPromptEncoderInBf16MatchesFp32OnTheCpu) {
  REQUIRE_CUDA();
  const auto folder = io::DiffusersFolder::open(dt::tiny_model_dir());
  const auto cpu = PromptEncoder::load(folder, PromptEncoderOptions{});
  PromptEncoderOptions options;
  options.device = at::kCUDA;
  options.dtype = at::kBFloat16;
  const auto gpu = PromptEncoder::load(folder, options);
  const std::vector<std::string> prompts = {"A cat walks on the grass, realistic.", "一只猫 🐱 walks at dawn"};
  const PromptEmbeddings want = cpu->encode(prompts);
  const PromptEmbeddings got = gpu->encode(prompts);
  EXPECT_TRUE(got.prompt_embeds.is_cuda());
  EXPECT_EQ(got.prompt_embeds.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(got.prompt_attention_mask.cpu(), want.prompt_attention_mask));
  // Padding rows included: they are what diffusers returns too.
  EXPECT_LE(dt::relative_l2(got.prompt_embeds.cpu().to(at::kFloat), want.prompt_embeds), 0.03);
  EXPECT_LE(dt::relative_l2(got.pooled_prompt_embeds.cpu().to(at::kFloat), want.pooled_prompt_embeds), 0.03);
}

}  // namespace
}  // namespace ditstream::text
