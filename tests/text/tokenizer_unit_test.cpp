// Tokenizer behaviour that needs no reference: errors for bad input and bad files, ids always in
// range, truncation and padding rules.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/model/text/bpe_tokenizer.h"
#include "core/model/text/clip_tokenizer.h"
#include "core/model/text/regex.h"
#include "core/model/text/unicode_text.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream::text {
namespace {

namespace dt = ditstream::testing;

TEST(Tokenizer, InvalidUtf8IsAnErrorNamingTheByte) {
  const auto tok = BpeTokenizer::from_file(dt::tiny_model_dir() / "tokenizer");
  try {
    tok.encode_ids("ab\xff");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("byte 2"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, IdsAreAlwaysInRangeForRandomText) {
  const auto llama = BpeTokenizer::from_file(dt::tiny_model_dir() / "tokenizer");
  const auto clip = ClipTokenizer::from_folder(dt::tiny_model_dir() / "tokenizer_2");
  std::mt19937 rng(7);
  for (int n = 0; n < 300; ++n) {
    std::string s;
    const int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) {
      // Code points from every plane, surrogates skipped.
      char32_t cp = rng() % 4 == 0 ? rng() % 0x80 : rng() % 0x10FFFF;
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      append_utf8(s, cp);
    }
    for (int32_t id : llama.encode_ids(s)) ASSERT_TRUE(id >= 0 && id < llama.id_bound()) << id;
    const auto enc = clip.encode(s);
    ASSERT_EQ(enc.ids.size(), 77u);
    for (int32_t id : enc.ids) ASSERT_TRUE(id >= 0 && id < clip.id_bound()) << id;
  }
}

TEST(Tokenizer, TruncationKeepsSpecialTokensAndPaddingFillsTheMask) {
  const auto clip = ClipTokenizer::from_folder(dt::tiny_model_dir() / "tokenizer_2");
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "cat ";
  const auto enc = clip.encode(long_text);
  ASSERT_EQ(enc.ids.size(), 77u);
  EXPECT_EQ(enc.ids.front(), *clip.tokenizer().token_to_id("<|startoftext|>"));
  EXPECT_EQ(enc.ids.back(), *clip.tokenizer().token_to_id("<|endoftext|>"));
  EXPECT_EQ(std::count(enc.attention_mask.begin(), enc.attention_mask.end(), 1), 77);
  const auto short_enc = clip.encode("cat");
  EXPECT_EQ(short_enc.ids.size(), 77u);
  EXPECT_LT(std::count(short_enc.attention_mask.begin(), short_enc.attention_mask.end(), 1), 10);
  EXPECT_EQ(clip.decode(clip.encode_ids("A Cat"), true), "a cat");
}

TEST(Tokenizer, DecodingAnUnknownIdIsAnError) {
  const auto tok = BpeTokenizer::from_file(dt::tiny_model_dir() / "tokenizer");
  EXPECT_THROW(tok.decode({tok.id_bound() + 5}), Error);
}

TEST(Tokenizer, UnsupportedTokenizerJsonIsRefusedNamingTheField) {
  const auto dir = dt::fresh_temp_dir();
  std::ifstream in(dt::tiny_model_dir() / "tokenizer" / "tokenizer.json", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "\"type\": \"ByteLevel\",\n        \"add_prefix_space\": false";
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, from.size(), "\"type\": \"Metaspace\",\n        \"add_prefix_space\": false");
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << text;
  try {
    BpeTokenizer::from_file(dir / "tokenizer.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_file);
    EXPECT_NE(std::string(e.what()).find("pre_tokenizer.pretokenizers.1.type"), std::string::npos) << e.what();
  }
}

TEST(TokenizerRegex, WhitespaceIsUnicodeWhiteSpaceAsInOniguruma) {
  const Regex ws(R"(\s+)", "test");
  EXPECT_EQ(ws.find_all("a \u3000\u2028b").size(), 1u);
  EXPECT_TRUE(ws.find_all("a\u180eb").empty());  // U+180E is no longer white space
  const Regex not_space_class(R"([^\s\p{L}]+)", "test");
  const auto m = not_space_class.find_all("ab 12\u00a0!");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], std::make_pair(size_t{3}, size_t{5}));
  EXPECT_THROW(Regex(R"([\S])", "test"), Error);
  EXPECT_THROW(Regex(R"((unclosed)", "test"), Error);
}

TEST(Tokenizer, MissingFilesAreBadFileErrors) {
  const auto dir = dt::fresh_temp_dir();
  EXPECT_THROW(BpeTokenizer::from_file(dir / "tokenizer.json"), Error);
  EXPECT_THROW(ClipTokenizer::from_folder(dir), Error);
}

}  // namespace
}  // namespace ditstream::text
