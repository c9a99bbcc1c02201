// Tokenizer parity: ids equal transformers' (tokenizers-backed) tokenizers on tokenizer files
// trained at test time and on the tiny model's own, over a generated corpus of awkward strings.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/model/text/bpe_tokenizer.h"
#include "core/model/text/clip_tokenizer.h"
#include "tests/support/test_support.h"

namespace ditstream::text {
namespace {

using nlohmann::json;
namespace dt = ditstream::testing;

// Each ctest entry runs one test in its own process, so the reference runs once per test, in the
// test's own folder (in SetUp, where the folder can be named after the test and a failure fails it).
class TokenizerParity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = dt::fresh_temp_dir();
    dt::run_reference("text_tokenizers.py", {dir.string(), dt::tiny_model_dir().string(), "--count", "2400"});
    if (HasFatalFailure()) return;
    std::ifstream in(dir / "reference.json", std::ios::binary);
    ASSERT_TRUE(in) << "the reference script wrote no reference.json";
    reference = json::parse(in);
  }
  std::filesystem::path dir;
  json reference;
};

std::string printable(const std::string& s) { return json(s).dump(); }

// Compares every string; reports the first few mismatches in full and the count.
template <typename Encode>
void expect_all_equal(const json& strings, const json& expected, Encode encode, const std::string& label) {
  ASSERT_GE(strings.size(), 2000u);
  size_t mismatches = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    const auto got = encode(strings[i].get<std::string>());
    const auto want = expected[i].get<std::vector<int32_t>>();
    if (got != want && ++mismatches <= 5) {
      ADD_FAILURE() << label << " string " << i << " " << printable(strings[i].get<std::string>()) << "\n got  "
                    << json(got).dump() << "\n want " << json(want).dump();
    }
  }
  EXPECT_EQ(mismatches, 0u) << label << ": " << mismatches << " of " << strings.size() << " strings differ";
}

void check_llama_style(const BpeTokenizer& tok, const json& ref, const json& strings, const std::string& label) {
  expect_all_equal(strings, ref["ids"], [&](const std::string& s) { return tok.encode_ids(s); }, label);
  EncodeOptions options;
  options.max_length = ref["max_length"].get<int64_t>();
  options.truncation = true;
  options.pad_to_max_length = true;
  expect_all_equal(strings, ref["padded_ids"], [&](const std::string& s) { return tok.encode(s, options).ids; },
                   label + " padded");
  expect_all_equal(strings, ref["padded_mask"],
                   [&](const std::string& s) { return tok.encode(s, options).attention_mask; }, label + " mask");
}

void check_clip_style(const ClipTokenizer& tok, const json& ref, const json& strings, const std::string& label) {
  expect_all_equal(strings, ref["ids"], [&](const std::string& s) { return tok.encode_ids(s); }, label);
  expect_all_equal(strings, ref["padded_ids"], [&](const std::string& s) { return tok.encode(s).ids; },
                   label + " padded");
  expect_all_equal(strings, ref["padded_mask"], [&](const std::string& s) { return tok.encode(s).attention_mask; },
                   label + " mask");
}

// One test per reference run keeps the suite fast: each ctest entry runs the script once.
TEST_F(TokenizerParity, TrainedLlamaStyleMatchesTransformers) {
  const auto tok = BpeTokenizer::from_file(dir / "llama" / "tokenizer.json");
  const json& ref = reference["tokenizers"]["llama"];
  const json& strings = reference["strings"];
  check_llama_style(tok, ref, strings, "llama");

  // Merges in the "a b" string form give the same ids as the ["a", "b"] list form.
  const auto string_merges = BpeTokenizer::from_file(dir / "llama_string_merges");
  expect_all_equal(strings, ref["ids"], [&](const std::string& s) { return string_merges.encode_ids(s); },
                   "llama (string merges)");

  // Decoding equals transformers' decode, and gives the text back.
  const json& decoded = ref["decoded"];
  for (size_t i = 0; i < decoded.size(); ++i) {
    const auto ids = ref["ids"][i].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(ids, true), decoded[i].get<std::string>()) << "string " << i;
    EXPECT_EQ(tok.decode(tok.encode_ids(strings[i].get<std::string>(), false)), strings[i].get<std::string>());
  }
}

TEST_F(TokenizerParity, TrainedClipStyleMatchesTransformers) {
  const auto tok = ClipTokenizer::from_folder(dir / "clip");
  check_clip_style(tok, reference["tokenizers"]["clip"], reference["strings"], "clip");
  const auto other_pad = ClipTokenizer::from_folder(dir / "clip_pad");
  check_clip_style(other_pad, reference["tokenizers"]["clip_pad"], reference["strings"], "clip (pad '!')");
}

TEST_F(TokenizerParity, TinyModelTokenizersMatchTransformers) {
  const auto llama = BpeTokenizer::from_file(dt::tiny_model_dir() / "tokenizer");
  check_llama_style(llama, reference["tokenizers"]["tiny_llama"], reference["strings"], "tiny llama");
  const auto clip = ClipTokenizer::from_folder(dt::tiny_model_dir() / "tokenizer_2");
  check_clip_style(clip, reference["tokenizers"]["tiny_clip"], reference["strings"], "tiny clip");
}

}  // namespace
}  // namespace ditstream::text
