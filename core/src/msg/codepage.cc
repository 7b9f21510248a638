#include "msg/codepage.h"

#include "text/utf8.h"

namespace foldback::msg {
namespace {

// windows-1252 0x80..0x9F (WHATWG: the five undefined bytes map to C1 controls).
constexpr char16_t k1252High[32] = {0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
                                    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

}  // namespace

bool CodepageSupported(uint32_t cp) { return cp == 1252 || cp == 28591 || cp == 20127 || cp == 65001; }

void AppendSingleByte(uint32_t cp, unsigned char b, std::string* out) {
  if (b < 0x80) {
    out->push_back(static_cast<char>(b));
  } else if (cp == 20127) {
    text::AppendUtf8(0xFFFD, out);
  } else if (cp == 28591 || b >= 0xA0) {
    text::AppendUtf8(b, out);
  } else {
    text::AppendUtf8(k1252High[b - 0x80], out);
  }
}

std::string DecodeCodepage(std::string_view bytes, uint32_t cp, uint64_t* replaced) {
  std::string out;
  if (cp == 65001) {
    uint32_t n = 0;
    out = text::RepairUtf8(bytes, &n);
    *replaced += n;
    return out;
  }
  out.reserve(bytes.size());
  for (unsigned char b : bytes) {
    if (b == 0) {
      text::AppendUtf8(0xFFFD, &out);
      ++*replaced;
      continue;
    }
    if (cp == 20127 && b >= 0x80) ++*replaced;
    AppendSingleByte(cp, b, &out);
  }
  return out;
}

std::string DecodeUtf16Le(std::string_view bytes, uint64_t* replaced) {
  std::string out;
  out.reserve(bytes.size() / 2);
  size_t n = bytes.size() / 2;
  auto unit = [&](size_t i) -> char32_t {
    return static_cast<unsigned char>(bytes[2 * i]) | (static_cast<unsigned char>(bytes[2 * i + 1]) << 8);
  };
  for (size_t i = 0; i < n; ++i) {
    char32_t c = unit(i);
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && unit(i + 1) >= 0xDC00 && unit(i + 1) <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (unit(i + 1) - 0xDC00);
      ++i;
    } else if ((c >= 0xD800 && c <= 0xDFFF) || c == 0) {
      c = 0xFFFD;
      ++*replaced;
    }
    text::AppendUtf8(c, &out);
  }
  if (bytes.size() % 2 != 0) {
    text::AppendUtf8(0xFFFD, &out);
    ++*replaced;
  }
  return out;
}

}  // namespace foldback::msg
