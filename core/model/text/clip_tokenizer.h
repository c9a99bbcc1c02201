// CLIP's tokenizer from vocab.json + merges.txt, with the pipeline of transformers' CLIPTokenizer
// (transformers 5): NFC, whitespace runs to one space, lower case; CLIP's split rule with
// whitespace removed, then GPT-2's byte-level split; BPE with "</w>" ending each word;
// <|startoftext|> ... <|endoftext|> around the ids; 77 tokens with truncation and padding (by
// tokenizer_config.json's pad_token, else <|endoftext|>) as diffusers' pipelines ask for.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/text/bpe_tokenizer.h"

namespace ditstream::text {

class ClipTokenizer {
 public:
  static constexpr int64_t kMaxLength = 77;

  // `folder` holds vocab.json and merges.txt, and may hold tokenizer_config.json (a diffusers
  // `tokenizer_2/`).
  static ClipTokenizer from_folder(const std::filesystem::path& folder);

  // Ids without truncation or padding (BOS and EOS included).
  std::vector<int32_t> encode_ids(std::string_view text) const { return tokenizer_.encode_ids(text, true); }
  // Truncated to `max_length` (EOS kept last) and padded to it.
  Encoding encode(std::string_view text, int64_t max_length = kMaxLength) const;
  // As transformers decodes: "</w>" becomes a space, the ends are stripped.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  const BpeTokenizer& tokenizer() const { return tokenizer_; }
  int32_t id_bound() const { return tokenizer_.id_bound(); }

 private:
  explicit ClipTokenizer(BpeTokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}
  BpeTokenizer tokenizer_;
};

}  // namespace ditstream::text
