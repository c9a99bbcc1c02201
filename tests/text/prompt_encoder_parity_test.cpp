// The whole conditioning (template, crop, mask, pooled CLIP) against diffusers'
// HunyuanVideoPipeline.encode_prompt on the tiny model.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/io/diffusers_folder.h"
#include "core/model/text/prompt_encoder.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream::text {
namespace {

namespace dt = ditstream::testing;

TEST(PromptEncoderParity, TinyModelMatchesDiffusersEncodePrompt) {
  const auto dir = dt::fresh_temp_dir();
  // A short prompt, one with CJK/emoji/combining marks, and one long enough to be truncated to 256
  // LLaMA tokens and 77 CLIP tokens.
  std::string long_prompt;
  for (int i = 0; i < 60; ++i) long_prompt += "a red panda climbs a snowy tree at dawn " + std::to_string(i) + ", ";
  const std::vector<std::string> prompts = {"A cat walks on the grass, realistic.",
                                            "一只猫在草地上行走 🐱🚀, café naïve\tnew\nline", long_prompt};
  {
    std::ofstream out(dir / "prompts.json", std::ios::binary);
    out << nlohmann::json(prompts).dump();
  }
  dt::run_reference("text_encoders.py",
                    {"pipeline", dt::tiny_model_dir().string(), (dir / "prompts.json").string(),
                     (dir / "reference.safetensors").string()});
  auto ref = dt::load_tensors(dir / "reference.safetensors");

  auto encoder = PromptEncoder::load(io::DiffusersFolder::open(dt::tiny_model_dir()), PromptEncoderOptions{});
  EXPECT_EQ(encoder->crop_start(), ref["crop_start"].item<int64_t>());
  const PromptEmbeddings got = encoder->encode(prompts);
  ASSERT_EQ(got.prompt_embeds.sizes(), ref["prompt_embeds"].sizes());
  EXPECT_EQ(got.prompt_embeds.size(1), 256);
  const double err_embeds = dt::relative_l2(got.prompt_embeds, ref["prompt_embeds"]);
  const double err_pooled = dt::relative_l2(got.pooled_prompt_embeds, ref["pooled_prompt_embeds"]);
  EXPECT_LE(err_embeds, 1e-5);
  EXPECT_LE(err_pooled, 1e-5);
  EXPECT_TRUE(at::equal(got.prompt_attention_mask, ref["prompt_attention_mask"].to(at::kLong)));
  // The long prompt fills the window; the short ones are padded.
  EXPECT_EQ(got.prompt_attention_mask[2].sum().item<int64_t>(), 256);
  EXPECT_LT(got.prompt_attention_mask[0].sum().item<int64_t>(), 256);
  std::cout << "crop_start " << encoder->crop_start() << ", prompt_embeds rel_l2 " << err_embeds
            << ", pooled rel_l2 " << err_pooled << "\n";

  // One prompt at a time gives the same rows as the batch.
  const PromptEmbeddings single = encoder->encode(prompts[1]);
  EXPECT_LE(dt::relative_l2(single.prompt_embeds[0], ref["prompt_embeds"][1]), 1e-5);
}

// transformers 4.x wrote CLIPTextModel's keys under "text_model." with a position_ids buffer, and
// LlamaForCausalLM's under "model." with lm_head beside them: both load and give the same result.
TEST(PromptEncoderLoading, PrefixedCheckpointsWithSavedBuffersLoad) {
  const auto dir = dt::fresh_temp_dir() / "model";
  std::filesystem::copy(dt::tiny_model_dir(), dir, std::filesystem::copy_options::recursive);
  auto clip = dt::load_tensors(dir / "text_encoder_2" / "model.safetensors");
  std::map<std::string, at::Tensor> prefixed;
  for (const auto& [name, t] : clip) prefixed["text_model." + name] = t;
  prefixed["text_model.embeddings.position_ids"] = at::arange(77, at::kLong).view({1, 77});
  dt::save_tensors(dir / "text_encoder_2" / "model.safetensors", prefixed);
  auto llama = dt::load_tensors(dir / "text_encoder" / "model.safetensors");
  std::map<std::string, at::Tensor> causal_lm;
  for (const auto& [name, t] : llama) causal_lm["model." + name] = t;
  causal_lm["lm_head.weight"] = llama["embed_tokens.weight"].clone();
  dt::save_tensors(dir / "text_encoder" / "model.safetensors", causal_lm);

  const auto original = PromptEncoder::load(io::DiffusersFolder::open(dt::tiny_model_dir()), {});
  const auto converted = PromptEncoder::load(io::DiffusersFolder::open(dir), {});
  const auto a = original->encode("A cat walks on the grass.");
  const auto b = converted->encode("A cat walks on the grass.");
  EXPECT_TRUE(at::equal(a.prompt_embeds, b.prompt_embeds));
  EXPECT_TRUE(at::equal(a.pooled_prompt_embeds, b.pooled_prompt_embeds));

  // Any other stray tensor is still refused.
  prefixed["text_model.extra.weight"] = at::zeros({2});
  dt::save_tensors(dir / "text_encoder_2" / "model.safetensors", prefixed);
  EXPECT_THROW(PromptEncoder::load(io::DiffusersFolder::open(dir), {}), Error);
}

}  // namespace
}  // namespace ditstream::text
