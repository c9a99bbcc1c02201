#include "core/model/text/prompt_encoder.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <set>

#include "core/model/text/unicode_text.h"
#include "core/util/error.h"

namespace ditstream::text {

const char* const kHunyuanVideoPromptTemplate =
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the video by detailing the following aspects: "
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>";

namespace {

constexpr const char* kContext = "[prompt encoder]";

// The template with its one "{}" replaced, as Python's str.format does for such a template.
std::string apply_template(const std::string& tmpl, const std::string& prompt) {
  const size_t at = tmpl.find("{}");
  return tmpl.substr(0, at) + prompt + tmpl.substr(at + 2);
}

void check_template(const std::string& tmpl) {
  const size_t at = tmpl.find("{}");
  size_t braces = 0;
  for (char c : tmpl) braces += c == '{' || c == '}';
  require(at != std::string::npos && braces == 2, kContext, "prompt_template",
          "must hold exactly one \"{}\" placeholder and no other braces");
}

template <typename T>
at::Tensor rows_to_tensor(const std::vector<std::vector<T>>& rows) {
  const auto b = static_cast<int64_t>(rows.size());
  const auto l = static_cast<int64_t>(rows.front().size());
  at::Tensor t = at::empty({b, l}, at::kLong);
  auto acc = t.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < l; ++j) acc[i][j] = rows[static_cast<size_t>(i)][static_cast<size_t>(j)];
  }
  return t;
}

std::string checkpoint_prefix(const io::Checkpoint& ckpt, const std::string& probe, const std::string& prefix) {
  return ckpt.contains(prefix + probe) ? prefix : "";
}

// Buffers that older transformers versions saved beside the weights and that the model recomputes.
bool is_saved_buffer(const std::string& name) {
  auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with("embeddings.position_ids") || ends_with("rotary_emb.inv_freq");
}

// A strict load that lets the saved buffers above through (they are not parameters).
void load_weights(model::Module& module, const io::Checkpoint& ckpt, model::LoadOptions options,
                  const std::string& prefix) {
  std::set<std::string> known;
  for (const auto& [name, slot] : module.named_parameters()) known.insert(prefix + name);
  std::vector<std::string> unexpected;
  for (const auto& name : ckpt.names()) {
    if (name.rfind(prefix, 0) == 0 && !known.count(name) && !is_saved_buffer(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 12; ++i) list += (i ? ", " : "") + unexpected[i];
    throw_bad_file("weights: " + ckpt.path().string(), "", "unexpected tensors: " + list);
  }
  options.strict = false;
  module.load(ckpt, options, prefix);
}

}  // namespace

void PromptEncoder::check_prompt(std::string_view prompt, size_t max_chars) {
  if (const size_t bad = find_invalid_utf8(prompt); bad != kValidUtf8) {
    throw_invalid(kContext, "prompt", "is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  const size_t chars = count_code_points(prompt);
  if (chars > max_chars) {
    throw Error(ErrorKind::too_large, kContext, "prompt",
                "has " + std::to_string(chars) + " characters; at most " + std::to_string(max_chars) + " are allowed");
  }
  bool blank = true;
  size_t i = 0;
  while (i < prompt.size()) {
    const size_t offset = i;
    const char32_t cp = next_code_point(prompt, i);
    if (is_disallowed_control(cp)) {
      char hex[16];
      std::snprintf(hex, sizeof(hex), "U+%04X", static_cast<unsigned>(cp));
      throw_invalid(kContext, "prompt",
                    std::string("holds control character ") + hex + " at byte " + std::to_string(offset) +
                        "; only tab, line feed and carriage return are allowed");
    }
    if (!(cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')) blank = false;
  }
  if (blank) throw_invalid(kContext, "prompt", "must not be empty or only whitespace");
}

std::unique_ptr<PromptEncoder> PromptEncoder::load(const io::DiffusersFolder& folder, const PromptEncoderOptions& options) {
  auto tokenizer = BpeTokenizer::from_file(folder.component_dir("tokenizer"));
  auto tokenizer_2 = ClipTokenizer::from_folder(folder.component_dir("tokenizer_2"));
  model::LoadOptions load;
  load.device = options.device;
  load.dtype = options.dtype;

  auto llama = std::make_unique<LlamaModel>(LlamaConfig::from_config(folder.config("text_encoder")));
  const auto llama_weights = folder.weights("text_encoder");
  load_weights(*llama, llama_weights, load, checkpoint_prefix(llama_weights, "embed_tokens.weight", "model."));
  auto clip = std::make_unique<ClipTextModel>(ClipTextConfig::from_config(folder.config("text_encoder_2")));
  const auto clip_weights = folder.weights("text_encoder_2");
  load_weights(*clip, clip_weights, load, checkpoint_prefix(clip_weights, "final_layer_norm.weight", "text_model."));
  if (options.fp8) {
    llama->quantize_fp8();
    clip->quantize_fp8();
  }
  return std::make_unique<PromptEncoder>(std::move(tokenizer), std::move(tokenizer_2), std::move(llama), std::move(clip),
                                         options, folder.root().string());
}

PromptEncoder::PromptEncoder(BpeTokenizer tokenizer, ClipTokenizer tokenizer_2, std::unique_ptr<LlamaModel> text_encoder,
                             std::unique_ptr<ClipTextModel> text_encoder_2, PromptEncoderOptions options,
                             std::string model_id)
    : tokenizer_(std::move(tokenizer)),
      tokenizer_2_(std::move(tokenizer_2)),
      text_encoder_(std::move(text_encoder)),
      text_encoder_2_(std::move(text_encoder_2)),
      options_(std::move(options)) {
  check_template(options_.prompt_template);
  require(options_.max_sequence_length >= 1, kContext, "max_sequence_length",
          "must be at least 1, got " + std::to_string(options_.max_sequence_length));
  require(options_.hidden_layers_to_skip >= 0 &&
              options_.hidden_layers_to_skip <= text_encoder_->config().num_hidden_layers,
          kContext, "hidden_layers_to_skip",
          "must be in 0.." + std::to_string(text_encoder_->config().num_hidden_layers) + ", got " +
              std::to_string(options_.hidden_layers_to_skip));
  require(options_.max_prompt_chars >= 1, kContext, "max_prompt_chars", "must be at least 1");
  if (options_.crop_start) {
    crop_start_ = *options_.crop_start;
  } else {
    crop_start_ = static_cast<int64_t>(tokenizer_.encode_ids(options_.prompt_template).size()) - 2;
  }
  require(crop_start_ >= 0, kContext, "crop_start", "must not be negative, got " + std::to_string(crop_start_));
  require(tokenizer_.pad_id().has_value(), kContext, "tokenizer",
          "the LLaMA tokenizer has no pad token (tokenizer_config.json pad_token), which padding needs");
  // Left padding would put pad tokens inside the cropped window and fully masked query rows first.
  require(!tokenizer_.pads_left(), kContext, "tokenizer.padding_side",
          "is 'left'; the HunyuanVideo conditioning pads on the right, as its tokenizer does");
  require(tokenizer_.id_bound() <= text_encoder_->config().vocab_size, kContext, "tokenizer",
          "can produce ids up to " + std::to_string(tokenizer_.id_bound() - 1) + " but the text encoder has " +
              std::to_string(text_encoder_->config().vocab_size) + " embeddings");
  require(tokenizer_2_.id_bound() <= text_encoder_2_->config().vocab_size, kContext, "tokenizer_2",
          "can produce ids up to " + std::to_string(tokenizer_2_.id_bound() - 1) + " but text_encoder_2 has " +
              std::to_string(text_encoder_2_->config().vocab_size) + " embeddings");
  model_id_ = std::move(model_id) + "|" + std::string(c10::toString(options_.dtype)) + (options_.fp8 ? "|fp8" : "") +
              "|" + std::to_string(crop_start_) + "|" + std::to_string(options_.max_sequence_length) + "|" +
              std::to_string(options_.hidden_layers_to_skip) + "|" +
              std::to_string(std::hash<std::string>()(options_.prompt_template));
}

PromptEmbeddings PromptEncoder::encode(const std::vector<std::string>& prompts) const {
  require(!prompts.empty(), kContext, "prompts", "must hold at least one prompt");
  for (const auto& p : prompts) check_prompt(p, options_.max_prompt_chars);
  c10::InferenceMode guard;

  // LLaMA: template, BOS, cut/pad to crop_start + max_sequence_length.
  EncodeOptions llama_options;
  llama_options.max_length = crop_start_ + options_.max_sequence_length;
  llama_options.truncation = true;
  llama_options.pad_to_max_length = true;
  std::vector<std::vector<int32_t>> ids, mask, clip_ids;
  for (const auto& p : prompts) {
    Encoding e = tokenizer_.encode(apply_template(options_.prompt_template, p), llama_options);
    ids.push_back(std::move(e.ids));
    mask.push_back(std::move(e.attention_mask));
    clip_ids.push_back(tokenizer_2_.encode(p).ids);
  }
  // Ids stay on the host: the encoders check their range there (no device sync) and move them.
  const at::Tensor input_ids = rows_to_tensor(ids);        // [B, crop + max]
  const at::Tensor attention_mask = rows_to_tensor(mask);  // [B, crop + max]
  at::Tensor hidden = text_encoder_->forward(input_ids, attention_mask, options_.hidden_layers_to_skip);

  PromptEmbeddings out;
  const int64_t total = input_ids.size(1);
  out.prompt_embeds = hidden.narrow(1, crop_start_, total - crop_start_).to(options_.dtype).contiguous();  // [B, max, H]
  out.prompt_attention_mask =
      attention_mask.narrow(1, crop_start_, total - crop_start_).contiguous().to(options_.device);  // [B, max]
  out.pooled_prompt_embeds =
      text_encoder_2_->forward(rows_to_tensor(clip_ids)).pooler_output.to(options_.dtype);  // [B, P]
  return out;
}

PromptEmbeddings PromptEncoder::encode(const std::string& prompt, PromptCache& cache) const {
  if (auto hit = cache.get(prompt, model_id_)) return *hit;
  PromptEmbeddings e = encode(prompt);
  cache.put(prompt, model_id_, e);
  return e;
}

}  // namespace ditstream::text
