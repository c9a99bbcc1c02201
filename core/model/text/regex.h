// Regular expressions for the tokenizers' split and replace rules, through PCRE2 in UTF mode with
// Unicode properties (\p{L}, \p{N}), JIT-compiled where the platform has a JIT. \s and \S mean
// Unicode White_Space as in Oniguruma, the engine Hugging Face tokenizers uses (PCRE2's own \s
// also matches U+180E).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ditstream::text {

class Regex {
 public:
  // Throws ditstream::Error(bad_file) naming `context` when the pattern does not compile.
  Regex(std::string_view pattern, std::string_view context);

  const std::string& pattern() const { return pattern_; }
  // Non-overlapping, non-empty matches from left to right as [begin, end) byte offsets. `text`
  // must be valid UTF-8 (callers validate once at the boundary).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  std::string replace_all(std::string_view text, std::string_view replacement) const;

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<Code> code_;
};

}  // namespace ditstream::text
