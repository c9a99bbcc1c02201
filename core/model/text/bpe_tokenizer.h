// A byte-level BPE tokenizer with the pipeline of Hugging Face `tokenizers`: added (special) tokens
// are cut out of the raw text first, the rest is normalised, split by the pre-tokenizer rules
// (regular expressions through PCRE2, then the byte-level alphabet), merged by the BPE model, and
// the post-processor adds BOS/EOS. Reads `tokenizer.json` (with `tokenizer_config.json` beside it
// for the pad token and padding side, as transformers does); the CLIP tokenizer builds the same
// pipeline from its vocab.json and merges.txt.
//
// Supported pieces (anything else in a tokenizer.json is refused with an error naming it):
//   normalizer: null, NFC, Lowercase, Replace (string or regex), Sequence
//   pre_tokenizer: Split (Isolated or Removed, invert), ByteLevel (add_prefix_space false), Sequence
//   model: BPE (vocab; merges as "a b" strings or ["a", "b"] lists; ignore_merges, unk_token,
//          continuing_subword_prefix, end_of_word_suffix, fuse_unk; no dropout, no byte fallback)
//   post_processor: null, TemplateProcessing (single), RobertaProcessing, BertProcessing,
//          ByteLevel, Sequence
//   decoder: ByteLevel
// Added tokens are matched on the raw text, leftmost and longest first (lstrip/rstrip honoured).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/text/bpe_model.h"
#include "core/model/text/regex.h"

namespace ditstream::text {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = true;
  bool lstrip = false;
  bool rstrip = false;
};

struct NormalizerStep {
  enum class Kind { nfc, lowercase, replace };
  Kind kind = Kind::nfc;
  std::shared_ptr<const Regex> pattern;  // replace with a regex
  std::string literal;                   // replace with a plain string (when no pattern)
  std::string content;
};

struct PreTokenizerStep {
  enum class Kind { split, byte_level };
  Kind kind = Kind::split;
  std::shared_ptr<const Regex> pattern;  // split
  bool remove_matches = false;           // split: Removed (else Isolated)
  bool invert = false;                   // split
  bool use_regex = false;                // byte_level: GPT-2's split first
};

struct BpeTokenizerSpec {
  std::string context;  // names the source in errors ("tokenizer: .../tokenizer.json")
  std::shared_ptr<const BpeModel> model;
  std::vector<AddedToken> added_tokens;
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::vector<int32_t> prefix_ids;  // post-processor: added before the sequence
  std::vector<int32_t> suffix_ids;  // and after it
  std::optional<int32_t> pad_id;
  bool pad_left = false;
};

struct EncodeOptions {
  bool add_special_tokens = true;
  // With `truncation`, the sequence (special tokens included) is cut to `max_length` by dropping
  // tokens from the end of the text; with `pad_to_max_length` it is padded to `max_length`.
  std::optional<int64_t> max_length;
  bool truncation = false;
  bool pad_to_max_length = false;
};

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> attention_mask;
};

class BpeTokenizer {
 public:
  // `path` is a tokenizer.json, or a folder holding one.
  static BpeTokenizer from_file(const std::filesystem::path& path);
  explicit BpeTokenizer(BpeTokenizerSpec spec);

  // Token ids of `text` (valid UTF-8, else ditstream::Error naming the byte offset).
  std::vector<int32_t> encode_ids(std::string_view text, bool add_special_tokens = true) const;
  Encoding encode(std::string_view text, const EncodeOptions& options) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // One past the largest id the tokenizer can produce.
  int32_t id_bound() const { return id_bound_; }
  std::optional<int32_t> pad_id() const { return spec_.pad_id; }
  bool pads_left() const { return spec_.pad_left; }
  const std::string& context() const { return spec_.context; }

 private:
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;
  std::vector<std::string> pre_tokenize(const std::string& normalized) const;

  BpeTokenizerSpec spec_;
  int32_t id_bound_ = 0;
};

}  // namespace ditstream::text
