// The BPE model shared by both tokenizers: a vocabulary, ranked merges, and the byte-level
// alphabet (GPT-2's bytes_to_unicode) that turns any byte string into vocabulary symbols.
// Mirrors tokenizers' `models::bpe` word merging: lowest merge rank first, leftmost on ties.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ditstream::text {

// Bytes to the printable code points GPT-2's byte-level BPE uses for them, and back.
std::string bytes_to_symbols(std::string_view bytes);
// Symbols back to bytes; a token holding any code point outside the alphabet is taken as it is
// (tokenizers' ByteLevel decoder does the same for added tokens).
std::string symbols_to_bytes(std::string_view symbols);

struct BpeModelOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  // A word that is itself in the vocabulary is one token, merges or not (LLaMA-3).
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // `context` names the file in errors. Every merge must name two vocabulary entries whose
  // concatenation is in the vocabulary.
  BpeModel(std::unordered_map<std::string, int32_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeModelOptions options, const std::string& context);

  // Appends the ids of one pre-tokenized word (in the vocabulary's alphabet).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Empty when the id is not in the vocabulary.
  std::string_view id_to_token(int32_t id) const;
  // One past the largest id.
  int32_t id_bound() const { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  struct PairHash {
    size_t operator()(const std::pair<int32_t, int32_t>& p) const {
      return std::hash<uint64_t>()((static_cast<uint64_t>(static_cast<uint32_t>(p.first)) << 32) |
                                   static_cast<uint32_t>(p.second));
    }
  };
  struct Merge {
    int32_t rank;
    int32_t id;
  };

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::pair<int32_t, int32_t>, Merge, PairHash> merges_;
  BpeModelOptions options_;
  std::optional<int32_t> unk_id_;
};

}  // namespace ditstream::text
