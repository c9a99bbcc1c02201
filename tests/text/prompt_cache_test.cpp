// The prompt cache (LRU order, byte bound, counters) and the prompt checks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "core/model/text/prompt_cache.h"
#include "core/model/text/prompt_encoder.h"
#include "core/util/error.h"

namespace ditstream::text {
namespace {

// An entry of exactly `floats` * 4 + 8 + 4 bytes.
PromptEmbeddings entry(int64_t floats, float value) {
  return {at::full({1, floats}, value), at::ones({1, 1}, at::kLong), at::full({1, 1}, value)};
}

TEST(PromptCache, CountsHitsAndMissesPerPromptAndModel) {
  PromptCache cache(1 << 20);
  EXPECT_FALSE(cache.get("a cat", "m1"));
  cache.put("a cat", "m1", entry(4, 1.0f));
  auto hit = cache.get("a cat", "m1");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->prompt_embeds[0][0].item<float>(), 1.0f);
  EXPECT_FALSE(cache.get("a cat", "m2"));  // same prompt, other model
  EXPECT_FALSE(cache.get("a dog", "m1"));
  const auto s = cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, entry(4, 0).bytes());
}

TEST(PromptCache, KeysDoNotCollideAcrossTheSeparator) {
  PromptCache cache(1 << 20);
  cache.put("b", "a", entry(1, 1.0f));
  EXPECT_FALSE(cache.get("", "ab"));
  EXPECT_FALSE(cache.get("ab", ""));
}

TEST(PromptCache, EvictsLeastRecentlyUsedToStayWithinBytes) {
  const size_t one = entry(100, 0).bytes();
  PromptCache cache(3 * one);
  cache.put("p1", "m", entry(100, 1));
  cache.put("p2", "m", entry(100, 2));
  cache.put("p3", "m", entry(100, 3));
  ASSERT_TRUE(cache.get("p1", "m"));  // p1 becomes most recent; p2 is now the oldest
  cache.put("p4", "m", entry(100, 4));
  EXPECT_FALSE(cache.get("p2", "m"));
  EXPECT_TRUE(cache.get("p1", "m"));
  EXPECT_TRUE(cache.get("p3", "m"));
  EXPECT_TRUE(cache.get("p4", "m"));
  auto s = cache.stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_LE(s.bytes, 3 * one);
  EXPECT_EQ(s.entries, 3u);

  // A bigger entry pushes out as many old ones as it needs, oldest first (recency now p4, p3, p1).
  cache.put("big", "m", entry(150, 5));
  s = cache.stats();
  EXPECT_LE(s.bytes, 3 * one);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_TRUE(cache.get("big", "m"));
  EXPECT_TRUE(cache.get("p4", "m"));
  EXPECT_FALSE(cache.get("p1", "m"));
}

TEST(PromptCache, EntryLargerThanCapacityIsNotStored) {
  PromptCache cache(64);
  cache.put("p", "m", entry(1000, 1));
  EXPECT_FALSE(cache.get("p", "m"));
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST(PromptCache, ReplacingAnEntryKeepsTheByteCountRight) {
  PromptCache cache(1 << 20);
  cache.put("p", "m", entry(10, 1));
  cache.put("p", "m", entry(20, 2));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().bytes, entry(20, 0).bytes());
  EXPECT_EQ(cache.get("p", "m")->prompt_embeds[0][0].item<float>(), 2.0f);
  cache.clear();
  EXPECT_EQ(cache.stats().bytes, 0u);
  EXPECT_EQ(cache.stats().entries, 0u);
}

void expect_error(std::string_view prompt, ErrorKind kind, const std::string& detail_part, size_t max_chars = 100) {
  try {
    PromptEncoder::check_prompt(prompt, max_chars);
    ADD_FAILURE() << "no error for " << ::testing::PrintToString(std::string(prompt));
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind);
    EXPECT_EQ(e.field(), "prompt");
    EXPECT_NE(std::string(e.what()).find(detail_part), std::string::npos) << e.what();
  }
}

TEST(PromptChecks, RejectsBadPromptsWithClearErrors) {
  expect_error("", ErrorKind::invalid_argument, "empty");
  expect_error(" \n\t ", ErrorKind::invalid_argument, "empty");
  expect_error("caf\xc3", ErrorKind::invalid_argument, "UTF-8 (byte 3)");
  expect_error("a \xed\xa0\x80 surrogate", ErrorKind::invalid_argument, "UTF-8");
  expect_error("overlong \xc0\xaf", ErrorKind::invalid_argument, "UTF-8");
  expect_error("bell\x07", ErrorKind::invalid_argument, "U+0007 at byte 4");
  expect_error(std::string("nul\0x", 5), ErrorKind::invalid_argument, "U+0000");
  expect_error("c1 \xc2\x85", ErrorKind::invalid_argument, "U+0085");
  expect_error(std::string(101, 'a'), ErrorKind::too_large, "101 characters");
}

TEST(PromptChecks, AcceptsOrdinaryTextAndCountsCharactersNotBytes) {
  EXPECT_NO_THROW(PromptEncoder::check_prompt("A cat\twalks\r\non grass.", 100));
  EXPECT_NO_THROW(PromptEncoder::check_prompt(std::string(100, 'a'), 100));
  std::string cjk;
  for (int i = 0; i < 100; ++i) cjk += "猫";  // 300 bytes, 100 characters
  EXPECT_NO_THROW(PromptEncoder::check_prompt(cjk, 100));
  EXPECT_NO_THROW(PromptEncoder::check_prompt("🐱🚀 e\xcc\x81", 100));
}

}  // namespace
}  // namespace ditstream::text
