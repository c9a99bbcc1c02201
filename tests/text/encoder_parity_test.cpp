// The LLaMA-style encoder and the CLIP text encoder against transformers' LlamaModel and
// CLIPTextModel: the tiny model's text encoders and a second random configuration (llama3 rope
// scaling, biases, GQA 6/2, CLIP with gelu and the old eos_token_id = 2). CPU fp32.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "core/io/checkpoint.h"
#include "core/io/config_reader.h"
#include "core/model/text/clip_text_encoder.h"
#include "core/model/text/llama_encoder.h"
#include "tests/support/test_support.h"

namespace ditstream::text {
namespace {

namespace dt = ditstream::testing;
constexpr double kTolerance = 1e-5;

void check_encoders(const std::filesystem::path& model_dir, const std::filesystem::path& out) {
  dt::run_reference("text_encoders.py", {"encoders", model_dir.string(), out.string()});
  auto ref = dt::load_tensors(out);
  c10::InferenceMode guard;

  LlamaModel llama(LlamaConfig::from_config(io::ConfigReader::from_file(model_dir / "text_encoder" / "config.json")));
  llama.load(io::Checkpoint::open(model_dir / "text_encoder" / "model.safetensors"), {});
  for (int64_t k = 0; k <= llama.config().num_hidden_layers; ++k) {
    const at::Tensor got = llama.forward(ref["llama_input_ids"], ref["llama_attention_mask"], k);
    const at::Tensor& want = ref["llama_hidden_skip" + std::to_string(k)];
    ASSERT_EQ(got.sizes(), want.sizes());
    const double err = dt::relative_l2(got, want);
    EXPECT_LE(err, kTolerance) << "hidden_states[-" << k + 1 << "] of " << model_dir;
    std::cout << "llama hidden_states[-" << k + 1 << "] rel_l2 " << err << "\n";
  }

  ClipTextModel clip(ClipTextConfig::from_config(io::ConfigReader::from_file(model_dir / "text_encoder_2" / "config.json")));
  clip.load(io::Checkpoint::open(model_dir / "text_encoder_2" / "model.safetensors"), {});
  const ClipTextOutput out_clip = clip.forward(ref["clip_input_ids"]);
  const double err_last = dt::relative_l2(out_clip.last_hidden_state, ref["clip_last_hidden_state"]);
  const double err_pooled = dt::relative_l2(out_clip.pooler_output, ref["clip_pooler_output"]);
  EXPECT_LE(err_last, kTolerance);
  EXPECT_LE(err_pooled, kTolerance);
  std::cout << "clip last_hidden_state rel_l2 " << err_last << ", pooler_output rel_l2 " << err_pooled << "\n";
}

TEST(TextEncoderParity, TinyModelEncodersMatchTransformers) {
  check_encoders(dt::tiny_model_dir(), dt::fresh_temp_dir() / "reference.safetensors");
}

TEST(TextEncoderParity, RandomConfigEncodersMatchTransformers) {
  const auto dir = dt::fresh_temp_dir();
  dt::run_reference("text_encoders.py", {"random", (dir / "model").string()});
  check_encoders(dir / "model", dir / "reference.safetensors");
}

}  // namespace
}  // namespace ditstream::text
