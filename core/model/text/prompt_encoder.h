// HunyuanVideo's text conditioning, as diffusers 0.42.1's HunyuanVideoPipeline.encode_prompt
// computes it (pipelines/hunyuan_video/pipeline_hunyuan_video.py):
//   - the prompt goes into the prompt template, is tokenized by the LLaMA tokenizer with BOS, cut
//     or padded to crop_start + max_sequence_length tokens, encoded by the LLaMA-style encoder, and
//     hidden_states[-(2 + 1)] with its attention mask is kept from position crop_start on;
//   - the same prompt is tokenized by CLIP's tokenizer (77 tokens) and its pooled output kept.
//
// crop_start: the number of template tokens before the prompt. diffusers' default template says
// 95 (right for the LLaMA-3 tokenizer of the real model); when none is configured it is computed
// as diffusers means to: the template's token count (BOS included) less 2 (the "{}" placeholder
// and <|eot_id|>). diffusers counts those tokens after padding to the tokenizer's
// model_max_length, which equals the plain count only for tokenizers without a padding length;
// here the plain count is used, so the tiny model's own tokenizer gets its own crop_start.
//
// Prompts are checked first (PromptEncoder::check_prompt): not empty or blank, valid UTF-8, at
// most `max_prompt_chars` code points, no control characters other than tab, line feed and
// carriage return. Special-token text inside a prompt ("<|eot_id|>") is tokenized as that token,
// as diffusers does.
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/io/diffusers_folder.h"
#include "core/model/text/bpe_tokenizer.h"
#include "core/model/text/clip_text_encoder.h"
#include "core/model/text/clip_tokenizer.h"
#include "core/model/text/llama_encoder.h"
#include "core/model/text/prompt_cache.h"

namespace ditstream::text {

// diffusers' DEFAULT_PROMPT_TEMPLATE["template"].
extern const char* const kHunyuanVideoPromptTemplate;
inline constexpr int64_t kHunyuanVideoCropStart = 95;

struct PromptEncoderOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // weights and outputs (bf16 on the GPU)
  bool fp8 = false;                   // projection weights in e4m3 (model::Linear's fp8 path)
  std::string prompt_template = kHunyuanVideoPromptTemplate;
  std::optional<int64_t> crop_start;  // nullopt: computed from the tokenizer (see above)
  int64_t max_sequence_length = 256;
  int64_t hidden_layers_to_skip = 2;
  size_t max_prompt_chars = 4000;
};

class PromptEncoder {
 public:
  // Tokenizers from `tokenizer/` and `tokenizer_2/`, weights and configs from `text_encoder/`
  // (LlamaModel; keys bare or under "model.") and `text_encoder_2/` (CLIPTextModel; keys bare or
  // under "text_model."). Every parameter must be there with its shape; other tensors are an
  // error, except the position_ids / rotary inv_freq buffers older transformers versions saved.
  static std::unique_ptr<PromptEncoder> load(const io::DiffusersFolder& folder, const PromptEncoderOptions& options);
  // Parts already made (benchmarks with random weights, tests).
  PromptEncoder(BpeTokenizer tokenizer, ClipTokenizer tokenizer_2, std::unique_ptr<LlamaModel> text_encoder,
                std::unique_ptr<ClipTextModel> text_encoder_2, PromptEncoderOptions options, std::string model_id);

  PromptEmbeddings encode(const std::vector<std::string>& prompts) const;
  PromptEmbeddings encode(const std::string& prompt) const { return encode(std::vector<std::string>{prompt}); }
  // Through `cache`, keyed by (prompt, model_id()).
  PromptEmbeddings encode(const std::string& prompt, PromptCache& cache) const;

  // Throws ditstream::Error(invalid_argument, or too_large for the length) naming what is wrong.
  static void check_prompt(std::string_view prompt, size_t max_chars);

  int64_t crop_start() const { return crop_start_; }
  // The model folder plus everything that changes the embeddings (dtype, fp8, template, lengths).
  const std::string& model_id() const { return model_id_; }
  LlamaModel& text_encoder() { return *text_encoder_; }
  ClipTextModel& text_encoder_2() { return *text_encoder_2_; }
  const BpeTokenizer& tokenizer() const { return tokenizer_; }
  const ClipTokenizer& tokenizer_2() const { return tokenizer_2_; }

 private:
  BpeTokenizer tokenizer_;
  ClipTokenizer tokenizer_2_;
  std::unique_ptr<LlamaModel> text_encoder_;
  std::unique_ptr<ClipTextModel> text_encoder_2_;
  PromptEncoderOptions options_;
  std::string model_id_;
  int64_t crop_start_ = 0;
};

}  // namespace ditstream::text
