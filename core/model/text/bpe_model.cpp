#include "core/model/text/bpe_model.h"

#include <limits>

#include "core/model/text/unicode_text.h"
#include "core/util/error.h"

namespace ditstream::text {
namespace {

struct ByteAlphabet {
  std::array<char32_t, 256> symbol{};
  std::unordered_map<char32_t, uint8_t> byte;
  ByteAlphabet() {
    // Printable Latin-1 bytes stand for themselves; the rest map to U+0100 upwards in byte order.
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      symbol[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      byte[symbol[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet table;
  return table;
}

}  // namespace

std::string bytes_to_symbols(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, alphabet().symbol[static_cast<unsigned char>(c)]);
  return out;
}

std::string symbols_to_bytes(std::string_view symbols) {
  std::string out;
  size_t i = 0;
  while (i < symbols.size()) {
    const char32_t cp = next_code_point(symbols, i);
    auto it = alphabet().byte.find(cp);
    if (it == alphabet().byte.end()) return std::string(symbols);
    out += static_cast<char>(it->second);
  }
  return out;
}

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeModelOptions options,
                   const std::string& context)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_) {
    if (id < 0) throw_bad_file(context, "model.vocab", "token '" + token + "' has negative id " + std::to_string(id));
    max_id = std::max(max_id, id);
  }
  id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  for (const auto& [token, id] : vocab_) id_to_token_[static_cast<size_t>(id)] = token;
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a);
    auto ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end()) {
      throw_bad_file(context, "model.merges",
                     "merge " + std::to_string(rank) + " '" + a + " " + b + "' names a token not in the vocabulary");
    }
    const std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : b);
    auto im = vocab_.find(merged);
    if (im == vocab_.end()) {
      throw_bad_file(context, "model.merges",
                     "merge " + std::to_string(rank) + " makes '" + merged + "', which is not in the vocabulary");
    }
    // The first occurrence of a pair keeps its rank, as in tokenizers.
    merges_.try_emplace({ia->second, ib->second}, Merge{static_cast<int32_t>(rank), im->second});
  }
  if (options_.unk_token) {
    auto it = vocab_.find(*options_.unk_token);
    if (it == vocab_.end()) {
      throw_bad_file(context, "model.unk_token", "'" + *options_.unk_token + "' is not in the vocabulary");
    }
    unk_id_ = it->second;
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::string_view BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= id_bound()) return {};
  return id_to_token_[static_cast<size_t>(id)];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // One symbol per code point, with the prefix on all but the first and the suffix on the last;
  // symbols missing from the vocabulary become the unknown token (or are dropped without one).
  std::vector<int32_t> symbols;
  bool last_was_unk = false;
  size_t i = 0;
  bool first = true;
  while (i < word.size()) {
    const size_t begin = i;
    next_code_point(word, i);
    std::string piece(word.substr(begin, i - begin));
    if (!first) piece = options_.continuing_subword_prefix + piece;
    if (i == word.size()) piece += options_.end_of_word_suffix;
    first = false;
    if (auto it = vocab_.find(piece); it != vocab_.end()) {
      symbols.push_back(it->second);
      last_was_unk = false;
    } else if (unk_id_) {
      if (!(options_.fuse_unk && last_was_unk)) symbols.push_back(*unk_id_);
      last_was_unk = true;
    }
  }
  while (symbols.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max();
    size_t best_pos = 0;
    int32_t best_id = -1;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      auto it = merges_.find({symbols[k], symbols[k + 1]});
      if (it != merges_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best_pos = k;
        best_id = it->second.id;
      }
    }
    if (best_id < 0) break;
    symbols[best_pos] = best_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

}  // namespace ditstream::text
