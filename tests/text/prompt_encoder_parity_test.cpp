// The whole conditioning (template, crop, mask, pooled CLIP) against diffusers'
// HunyuanVideoPipeline.encode_prompt on the tiny model.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/io/diffusers_folder.h"
#include "core/model/text/prompt_encoder.h"
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

}  // namespace
}  // namespace ditstream::text
