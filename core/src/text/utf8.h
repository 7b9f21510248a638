// UTF-8 validation and repair.
#ifndef FOLDBACK_TEXT_UTF8_H_
#define FOLDBACK_TEXT_UTF8_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace foldback::text {

// Returns `in` with every invalid UTF-8 sequence (bad lead byte, truncated
// sequence, overlong form, surrogate, code point > U+10FFFF) replaced by
// U+FFFD. NUL bytes are replaced too: they end C strings in every binding.
// `*replaced` (if not null) receives the number of replacements.
std::string RepairUtf8(std::string_view in, uint32_t* replaced = nullptr);

// True when `in` is valid UTF-8 without NUL bytes.
bool IsValidUtf8(std::string_view in);

// Decodes one code point at `in[*pos]` and advances *pos. Invalid input
// yields U+FFFD and advances by one byte. REQUIRES: *pos < in.size().
char32_t DecodeUtf8(std::string_view in, size_t* pos);

// Appends the UTF-8 encoding of `cp` to `out`.
void AppendUtf8(char32_t cp, std::string* out);

// Cuts `s` to at most `max_bytes` without splitting a code point.
std::string_view TruncateUtf8(std::string_view s, size_t max_bytes);

}  // namespace foldback::text

#endif  // FOLDBACK_TEXT_UTF8_H_
