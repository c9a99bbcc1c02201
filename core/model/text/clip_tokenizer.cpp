#include "core/model/text/clip_tokenizer.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/util/error.h"

namespace ditstream::text {
namespace {

constexpr std::string_view kBos = "<|startoftext|>";
constexpr std::string_view kEos = "<|endoftext|>";
// transformers' CLIPTokenizer split rule (models/clip/tokenization_clip.py); whitespace between
// the matches is dropped.
constexpr std::string_view kClipSplit =
    R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

}  // namespace

ClipTokenizer ClipTokenizer::from_folder(const std::filesystem::path& folder) {
  const auto vocab_path = folder / "vocab.json";
  const auto merges_path = folder / "merges.txt";
  const std::string context = "tokenizer: " + folder.string();
  std::unordered_map<std::string, int32_t> vocab;
  {
    std::ifstream in(vocab_path, std::ios::binary);
    if (!in) throw_bad_file(context, "vocab.json", "cannot open " + vocab_path.string());
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw_bad_file(context, "vocab.json", std::string("not valid JSON: ") + e.what());
    }
    for (const auto& [token, id] : doc.items()) vocab.emplace(token, id.get<int32_t>());
  }
  std::vector<std::pair<std::string, std::string>> merges;
  {
    std::ifstream in(merges_path, std::ios::binary);
    if (!in) throw_bad_file(context, "merges.txt", "cannot open " + merges_path.string());
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
      const size_t space = line.find(' ', 1);
      if (space == std::string::npos) {
        throw_bad_file(context, "merges.txt", "line " + std::to_string(line_no) + " is not 'a b': '" + line + "'");
      }
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
  }
  auto id_of = [&](std::string_view token) {
    auto it = vocab.find(std::string(token));
    if (it == vocab.end()) throw_bad_file(context, "vocab.json", "has no '" + std::string(token) + "'");
    return it->second;
  };
  BpeTokenizerSpec spec;
  spec.context = context;
  const int32_t bos = id_of(kBos);
  const int32_t eos = id_of(kEos);
  spec.added_tokens = {{std::string(kBos), bos, true, false, false}, {std::string(kEos), eos, true, false, false}};
  spec.normalizer = {
      {NormalizerStep::Kind::nfc, nullptr, "", ""},
      {NormalizerStep::Kind::replace, std::make_shared<Regex>(R"(\s+)", context), "", " "},
      {NormalizerStep::Kind::lowercase, nullptr, "", ""},
  };
  PreTokenizerStep split;
  split.kind = PreTokenizerStep::Kind::split;
  split.pattern = std::make_shared<Regex>(kClipSplit, context);
  split.remove_matches = true;
  split.invert = true;
  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerStep::Kind::byte_level;
  byte_level.use_regex = true;
  spec.pre_tokenizer = {split, byte_level};
  spec.prefix_ids = {bos};
  spec.suffix_ids = {eos};
  spec.pad_id = eos;
  // transformers takes the pad token from tokenizer_config.json when there is one.
  if (const auto config_path = folder / "tokenizer_config.json"; std::filesystem::exists(config_path)) {
    std::ifstream in(config_path, std::ios::binary);
    const auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) throw_bad_file(context, "tokenizer_config.json", "is not valid JSON");
    const auto pad = config.value("pad_token", nlohmann::json());
    const auto text = pad.is_object() ? pad.value("content", nlohmann::json()) : pad;
    if (text.is_string()) {
      // Like BOS and EOS, the pad token becomes an added special token: cut out of the text whole.
      const std::string content = text.get<std::string>();
      spec.pad_id = id_of(content);
      if (content != kBos && content != kEos) spec.added_tokens.push_back({content, *spec.pad_id, true, false, false});
    }
  }
  BpeModelOptions options;
  options.unk_token = std::string(kEos);
  options.end_of_word_suffix = "</w>";
  spec.model = std::make_shared<BpeModel>(std::move(vocab), merges, options, context);
  return ClipTokenizer(BpeTokenizer(std::move(spec)));
}

Encoding ClipTokenizer::encode(std::string_view text, int64_t max_length) const {
  EncodeOptions options;
  options.max_length = max_length;
  options.truncation = true;
  options.pad_to_max_length = true;
  return tokenizer_.encode(text, options);
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string text = tokenizer_.decode(ids, skip_special_tokens);
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, "</w>") == 0) {
      out += ' ';
      i += 4;
    } else {
      out += text[i++];
    }
  }
  const size_t b = out.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  return out.substr(b, out.find_last_not_of(" \t\n\r") - b + 1);
}

}  // namespace ditstream::text
