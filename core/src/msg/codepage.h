// Code pages of ANSI strings in .msg files and RTF bodies. Supported:
// 1252 (windows-1252, WHATWG's table), 1250, 1251, 1253, 1254, 1257 (the
// other single-byte Windows pages of European mail; undefined bytes become
// U+FFFD), 28591 (ISO-8859-1), 20127 (US-ASCII), 65001 (UTF-8). Others (the
// multi-byte East Asian pages) are read as windows-1252; callers say so.
#ifndef FOLDBACK_MSG_CODEPAGE_H_
#define FOLDBACK_MSG_CODEPAGE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace foldback::msg {

// True for the code pages above.
bool CodepageSupported(uint32_t cp);

// The character of single byte `b` in code page `cp` (65001 and
// unsupported pages: windows-1252).
char32_t SingleByte(uint32_t cp, unsigned char b);

// Appends SingleByte(cp, b) as UTF-8.
void AppendSingleByte(uint32_t cp, unsigned char b, std::string* out);

// Decodes `bytes` in code page `cp` to UTF-8 without NUL; undecodable
// sequences become U+FFFD and are added to *replaced.
std::string DecodeCodepage(std::string_view bytes, uint32_t cp, uint64_t* replaced);

// UTF-16LE to UTF-8 without NUL; lone surrogates (and an odd last byte)
// become U+FFFD, added to *replaced.
std::string DecodeUtf16Le(std::string_view bytes, uint64_t* replaced);

}  // namespace foldback::msg

#endif  // FOLDBACK_MSG_CODEPAGE_H_
