// UTF-8 helpers for the tokenizers: validation, code point iteration, and the two Unicode
// normalisations Hugging Face tokenizers apply (NFC and per-code-point lower-casing), through ICU.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ditstream::text {

inline constexpr size_t kValidUtf8 = static_cast<size_t>(-1);

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are ill-formed), or kValidUtf8.
size_t find_invalid_utf8(std::string_view s);

// Decodes the code point at `i` of well-formed UTF-8 and advances `i` past it.
char32_t next_code_point(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t cp);
size_t count_code_points(std::string_view s);

// Canonical composition (NFC), as tokenizers' `NFC` normalizer.
std::string to_nfc(std::string_view s);
// Full lower-case mapping of each code point without context (Rust's `char::to_lowercase`, which
// tokenizers' `Lowercase` normalizer uses): U+0130 becomes "i\u0307", final sigma is not special.
std::string to_lower(std::string_view s);

// Control characters (Unicode category Cc) other than tab, line feed and carriage return.
bool is_disallowed_control(char32_t cp);

}  // namespace ditstream::text
