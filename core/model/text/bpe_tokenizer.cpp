#include "core/model/text/bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

#include "core/model/text/unicode_text.h"
#include "core/util/error.h"

namespace ditstream::text {
namespace {

using nlohmann::json;

// GPT-2's split, which tokenizers' ByteLevel pre-tokenizer applies when `use_regex` is set.
constexpr std::string_view kGpt2Split =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string escape_regex(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view(R"(\^$.|?*+()[]{}-/#)").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

bool is_whitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

[[noreturn]] void unsupported(const std::string& context, const std::string& field, const json& value) {
  throw_bad_file(context, field, "unsupported value " + value.dump() + " (see bpe_tokenizer.h for what is read)");
}

const json& member(const std::string& context, const json& j, const std::string& key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw_bad_file(context, where + "." + key, "missing");
  return j.at(key);
}

std::shared_ptr<const Regex> pattern_of(const std::string& context, const json& step, const std::string& where) {
  const json& p = member(context, step, "pattern", where);
  if (p.contains("Regex")) return std::make_shared<Regex>(p.at("Regex").get<std::string>(), context);
  if (p.contains("String")) return std::make_shared<Regex>(escape_regex(p.at("String").get<std::string>()), context);
  unsupported(context, where + ".pattern", p);
}

std::vector<NormalizerStep> parse_normalizer(const std::string& context, const json& j, const std::string& where) {
  std::vector<NormalizerStep> steps;
  if (j.is_null()) return steps;
  const std::string type = member(context, j, "type", where).get<std::string>();
  if (type == "Sequence") {
    const json& list = member(context, j, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      auto sub = parse_normalizer(context, list[i], where + ".normalizers." + std::to_string(i));
      steps.insert(steps.end(), sub.begin(), sub.end());
    }
  } else if (type == "NFC") {
    steps.push_back({NormalizerStep::Kind::nfc, nullptr, "", ""});
  } else if (type == "Lowercase") {
    steps.push_back({NormalizerStep::Kind::lowercase, nullptr, "", ""});
  } else if (type == "Replace") {
    steps.push_back({NormalizerStep::Kind::replace, pattern_of(context, j, where), "",
                     member(context, j, "content", where).get<std::string>()});
  } else {
    unsupported(context, where + ".type", type);
  }
  return steps;
}

std::vector<PreTokenizerStep> parse_pre_tokenizer(const std::string& context, const json& j, const std::string& where) {
  std::vector<PreTokenizerStep> steps;
  if (j.is_null()) return steps;
  const std::string type = member(context, j, "type", where).get<std::string>();
  if (type == "Sequence") {
    const json& list = member(context, j, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i) {
      auto sub = parse_pre_tokenizer(context, list[i], where + ".pretokenizers." + std::to_string(i));
      steps.insert(steps.end(), sub.begin(), sub.end());
    }
  } else if (type == "Split") {
    PreTokenizerStep step;
    step.kind = PreTokenizerStep::Kind::split;
    step.pattern = pattern_of(context, j, where);
    const std::string behavior = member(context, j, "behavior", where).get<std::string>();
    if (behavior != "Isolated" && behavior != "Removed") unsupported(context, where + ".behavior", behavior);
    step.remove_matches = behavior == "Removed";
    step.invert = j.value("invert", false);
    steps.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    if (j.value("add_prefix_space", false)) unsupported(context, where + ".add_prefix_space", true);
    PreTokenizerStep step;
    step.kind = PreTokenizerStep::Kind::byte_level;
    step.use_regex = j.value("use_regex", true);
    steps.push_back(std::move(step));
  } else {
    unsupported(context, where + ".type", type);
  }
  return steps;
}

// Fills the post-processor's prefix and suffix for a single sequence.
void parse_post_processor(const std::string& context, const json& j, const std::string& where,
                          std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  if (j.is_null()) return;
  const std::string type = member(context, j, "type", where).get<std::string>();
  if (type == "Sequence") {
    const json& list = member(context, j, "processors", where);
    for (size_t i = 0; i < list.size(); ++i) {
      parse_post_processor(context, list[i], where + ".processors." + std::to_string(i), prefix, suffix);
    }
  } else if (type == "ByteLevel") {
    // Offsets only; ids are unchanged.
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    prefix.push_back(member(context, j, "cls", where).at(1).get<int32_t>());
    suffix.push_back(member(context, j, "sep", where).at(1).get<int32_t>());
  } else if (type == "TemplateProcessing") {
    const json& specials = member(context, j, "special_tokens", where);
    bool seen_sequence = false;
    for (const json& item : member(context, j, "single", where)) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
      } else if (item.contains("SpecialToken")) {
        const std::string name = item.at("SpecialToken").at("id").get<std::string>();
        if (!specials.contains(name)) throw_bad_file(context, where + ".special_tokens", "'" + name + "' is not listed");
        for (const json& id : specials.at(name).at("ids")) (seen_sequence ? suffix : prefix).push_back(id.get<int32_t>());
      } else {
        unsupported(context, where + ".single", item);
      }
    }
  } else {
    unsupported(context, where + ".type", type);
  }
}

std::optional<std::string> token_text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content")) return j.at("content").get<std::string>();
  return std::nullopt;
}

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_file("tokenizer: " + path.string(), "", "cannot open the file");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw_bad_file("tokenizer: " + path.string(), "", std::string("not valid JSON: ") + e.what());
  }
}

// Leftmost-longest occurrence of any of `tokens` in `text` at or after `from`.
struct TokenMatch {
  size_t begin = std::string_view::npos;
  size_t end = 0;
  const AddedToken* token = nullptr;
};

TokenMatch find_added(std::string_view text, size_t from, const std::vector<const AddedToken*>& tokens) {
  TokenMatch best;
  for (const AddedToken* t : tokens) {
    const size_t pos = text.find(t->content, from);
    if (pos == std::string_view::npos) continue;
    if (pos < best.begin || (pos == best.begin && t->content.size() > best.end - best.begin)) {
      best = {pos, pos + t->content.size(), t};
    }
  }
  return best;
}

struct Piece {
  std::string_view text;
  const AddedToken* token;  // set for an added token
};

// Cuts `text` at the added tokens; lstrip/rstrip tokens swallow the whitespace beside them.
std::vector<Piece> split_added(std::string_view text, const std::vector<const AddedToken*>& tokens) {
  std::vector<Piece> out;
  size_t prev = 0;
  size_t from = 0;
  while (!tokens.empty()) {
    TokenMatch m = find_added(text, from, tokens);
    if (m.token == nullptr) break;
    size_t b = m.begin;
    size_t e = m.end;
    if (m.token->lstrip) {
      while (b > prev) {
        size_t k = b - 1;
        while (k > prev && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
        size_t tmp = k;
        if (!is_whitespace(next_code_point(text, tmp))) break;
        b = k;
      }
    }
    if (m.token->rstrip) {
      while (e < text.size()) {
        size_t tmp = e;
        if (!is_whitespace(next_code_point(text, tmp))) break;
        e = tmp;
      }
    }
    if (b > prev) out.push_back({text.substr(prev, b - prev), nullptr});
    out.push_back({text.substr(b, e - b), m.token});
    prev = from = e;
  }
  if (prev < text.size()) out.push_back({text.substr(prev), nullptr});
  return out;
}

}  // namespace

BpeTokenizer BpeTokenizer::from_file(const std::filesystem::path& path) {
  const auto file = std::filesystem::is_directory(path) ? path / "tokenizer.json" : path;
  const std::string context = "tokenizer: " + file.string();
  const json doc = read_json(file);
  BpeTokenizerSpec spec;
  spec.context = context;

  const json& model = member(context, doc, "model", "");
  if (model.value("type", std::string("BPE")) != "BPE") unsupported(context, "model.type", model.at("type"));
  if (model.contains("dropout") && !model.at("dropout").is_null()) unsupported(context, "model.dropout", model.at("dropout"));
  if (model.value("byte_fallback", false)) unsupported(context, "model.byte_fallback", true);
  BpeModelOptions options;
  if (model.contains("unk_token") && !model.at("unk_token").is_null()) options.unk_token = model.at("unk_token").get<std::string>();
  if (model.contains("continuing_subword_prefix") && !model.at("continuing_subword_prefix").is_null()) {
    options.continuing_subword_prefix = model.at("continuing_subword_prefix").get<std::string>();
  }
  if (model.contains("end_of_word_suffix") && !model.at("end_of_word_suffix").is_null()) {
    options.end_of_word_suffix = model.at("end_of_word_suffix").get<std::string>();
  }
  options.fuse_unk = model.value("fuse_unk", false);
  options.ignore_merges = model.value("ignore_merges", false);
  std::unordered_map<std::string, int32_t> vocab;
  for (const auto& [token, id] : member(context, model, "vocab", "model").items()) vocab.emplace(token, id.get<int32_t>());
  std::vector<std::pair<std::string, std::string>> merges;
  for (const json& m : member(context, model, "merges", "model")) {
    if (m.is_array() && m.size() == 2) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos) throw_bad_file(context, "model.merges", "merge '" + s + "' is not 'a b'");
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else {
      unsupported(context, "model.merges", m);
    }
  }
  spec.model = std::make_shared<BpeModel>(std::move(vocab), merges, options, context);

  if (doc.contains("added_tokens")) {
    for (const json& t : doc.at("added_tokens")) {
      if (t.value("single_word", false)) unsupported(context, "added_tokens.single_word", true);
      spec.added_tokens.push_back({t.at("content").get<std::string>(), t.at("id").get<int32_t>(), t.value("special", false),
                                   t.value("lstrip", false), t.value("rstrip", false)});
      // tokenizers matches `normalized` tokens in the normalised text; without a normalizer that is
      // the raw text, where all added tokens are matched here.
      if (!t.value("normalized", false) || !doc.contains("normalizer") || doc.at("normalizer").is_null()) continue;
      unsupported(context, "added_tokens.normalized", true);
    }
  }
  spec.normalizer = parse_normalizer(context, doc.value("normalizer", json()), "normalizer");
  spec.pre_tokenizer = parse_pre_tokenizer(context, doc.value("pre_tokenizer", json()), "pre_tokenizer");
  parse_post_processor(context, doc.value("post_processor", json()), "post_processor", spec.prefix_ids, spec.suffix_ids);
  if (doc.contains("decoder") && !doc.at("decoder").is_null() && doc.at("decoder").value("type", "") != "ByteLevel") {
    unsupported(context, "decoder.type", doc.at("decoder").at("type"));
  }

  // transformers takes the pad token and padding side from tokenizer_config.json.
  const auto config_path = file.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const json config = read_json(config_path);
    if (auto pad = token_text(config.value("pad_token", json()))) {
      std::optional<int32_t> id;
      for (const auto& t : spec.added_tokens) {
        if (t.content == *pad) id = t.id;
      }
      if (!id) id = spec.model->token_to_id(*pad);
      if (!id) throw_bad_file("tokenizer: " + config_path.string(), "pad_token", "'" + *pad + "' is not a token");
      spec.pad_id = id;
    }
    const std::string side = config.value("padding_side", std::string("right"));
    if (side != "right" && side != "left") unsupported("tokenizer: " + config_path.string(), "padding_side", side);
    spec.pad_left = side == "left";
  }
  return BpeTokenizer(std::move(spec));
}

BpeTokenizer::BpeTokenizer(BpeTokenizerSpec spec) : spec_(std::move(spec)) {
  id_bound_ = spec_.model->id_bound();
  for (const auto& t : spec_.added_tokens) id_bound_ = std::max(id_bound_, t.id + 1);
}

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  for (const auto& t : spec_.added_tokens) {
    if (t.content == token) return t.id;
  }
  return spec_.model->token_to_id(token);
}

std::vector<std::string> BpeTokenizer::pre_tokenize(const std::string& normalized) const {
  std::vector<std::string> pieces{normalized};
  for (const auto& step : spec_.pre_tokenizer) {
    std::vector<std::string> next;
    for (const auto& piece : pieces) {
      if (step.kind == PreTokenizerStep::Kind::byte_level) {
        if (!step.use_regex) {
          next.push_back(bytes_to_symbols(piece));
          continue;
        }
        static const Regex gpt2(kGpt2Split, "tokenizer: byte-level split");
        size_t prev = 0;
        for (const auto& [b, e] : gpt2.find_all(piece)) {
          if (b > prev) next.push_back(bytes_to_symbols(std::string_view(piece).substr(prev, b - prev)));
          next.push_back(bytes_to_symbols(std::string_view(piece).substr(b, e - b)));
          prev = e;
        }
        if (prev < piece.size()) next.push_back(bytes_to_symbols(std::string_view(piece).substr(prev)));
        continue;
      }
      // Split: matches and the text between them, with `invert` swapping which is which.
      size_t prev = 0;
      auto emit = [&](size_t b, size_t e, bool is_match) {
        if (e <= b) return;
        if (step.invert) is_match = !is_match;
        if (step.remove_matches && is_match) return;
        next.push_back(piece.substr(b, e - b));
      };
      for (const auto& [b, e] : step.pattern->find_all(piece)) {
        emit(prev, b, false);
        emit(b, e, true);
        prev = e;
      }
      emit(prev, piece.size(), false);
    }
    pieces = std::move(next);
  }
  return pieces;
}

void BpeTokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized(text);
  for (const auto& step : spec_.normalizer) {
    switch (step.kind) {
      case NormalizerStep::Kind::nfc: normalized = to_nfc(normalized); break;
      case NormalizerStep::Kind::lowercase: normalized = to_lower(normalized); break;
      case NormalizerStep::Kind::replace: normalized = step.pattern->replace_all(normalized, step.content); break;
    }
  }
  for (const auto& word : pre_tokenize(normalized)) spec_.model->tokenize(word, out);
}

std::vector<int32_t> BpeTokenizer::encode_ids(std::string_view text, bool add_special_tokens) const {
  if (const size_t bad = find_invalid_utf8(text); bad != kValidUtf8) {
    throw_invalid(spec_.context, "text", "is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  std::vector<const AddedToken*> tokens;
  tokens.reserve(spec_.added_tokens.size());
  for (const auto& t : spec_.added_tokens) tokens.push_back(&t);
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = spec_.prefix_ids;
  for (const auto& piece : split_added(text, tokens)) {
    if (piece.token != nullptr) {
      ids.push_back(piece.token->id);
    } else {
      encode_segment(piece.text, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), spec_.suffix_ids.begin(), spec_.suffix_ids.end());
  return ids;
}

Encoding BpeTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  Encoding enc;
  enc.ids = encode_ids(text, false);
  const auto n_special =
      static_cast<int64_t>(options.add_special_tokens ? spec_.prefix_ids.size() + spec_.suffix_ids.size() : 0);
  if (options.truncation || options.pad_to_max_length) {
    require(options.max_length.has_value() && *options.max_length >= n_special, spec_.context, "max_length",
            "must be given and at least the " + std::to_string(n_special) + " special tokens");
  }
  if (options.truncation && static_cast<int64_t>(enc.ids.size()) + n_special > *options.max_length) {
    enc.ids.resize(static_cast<size_t>(*options.max_length - n_special));
  }
  if (options.add_special_tokens) {
    enc.ids.insert(enc.ids.begin(), spec_.prefix_ids.begin(), spec_.prefix_ids.end());
    enc.ids.insert(enc.ids.end(), spec_.suffix_ids.begin(), spec_.suffix_ids.end());
  }
  enc.attention_mask.assign(enc.ids.size(), 1);
  if (options.pad_to_max_length && static_cast<int64_t>(enc.ids.size()) < *options.max_length) {
    require(spec_.pad_id.has_value(), spec_.context, "pad_token", "padding needs a pad token; the tokenizer has none");
    const size_t n = static_cast<size_t>(*options.max_length) - enc.ids.size();
    const auto ids_at = spec_.pad_left ? enc.ids.begin() : enc.ids.end();
    enc.ids.insert(ids_at, n, *spec_.pad_id);
    const auto mask_at = spec_.pad_left ? enc.attention_mask.begin() : enc.attention_mask.end();
    enc.attention_mask.insert(mask_at, n, 0);
  }
  return enc;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    const AddedToken* added = nullptr;
    for (const auto& t : spec_.added_tokens) {
      if (t.id == id) added = &t;
    }
    if (added != nullptr) {
      if (!(skip_special_tokens && added->special)) bytes += symbols_to_bytes(added->content);
      continue;
    }
    const std::string_view token = spec_.model->id_to_token(id);
    require(!token.empty(), spec_.context, "ids",
            "id " + std::to_string(id) + " is not in the vocabulary (0.." + std::to_string(id_bound_ - 1) + ")");
    bytes += symbols_to_bytes(token);
  }
  // Invalid byte sequences (a multi-byte character cut between ids) become U+FFFD.
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t bad = find_invalid_utf8(std::string_view(bytes).substr(i));
    if (bad == kValidUtf8) {
      out.append(bytes, i, std::string::npos);
      break;
    }
    out.append(bytes, i, bad);
    append_utf8(out, 0xFFFD);
    i += bad + 1;
    while (i < bytes.size() && (static_cast<unsigned char>(bytes[i]) & 0xC0) == 0x80) ++i;
  }
  return out;
}

}  // namespace ditstream::text
