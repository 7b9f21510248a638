#include "text/utf8.h"

namespace foldback::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Length of the valid sequence starting at in[pos], or 0 if invalid.
size_t ValidSequenceLength(std::string_view in, size_t pos, char32_t* cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data()) + pos;
  size_t left = in.size() - pos;
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return c == 0 ? 0 : 1;
  }
  size_t n;
  char32_t v;
  char32_t min;
  if ((c & 0xE0) == 0xC0) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (left < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

// Bytes to skip at an invalid position: the "maximal subpart" of the
// Unicode standard (§3.9, as WHATWG decoders do) — a lead byte and the
// continuation bytes that could still have completed it — so that one
// U+FFFD replaces one broken sequence.
size_t InvalidLength(std::string_view in, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data()) + pos;
  size_t left = in.size() - pos;
  unsigned char c = s[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t n = 1;
  while (n <= need && n < left) {
    unsigned char b = s[n];
    bool ok = n == 1 ? (b >= lo && b <= hi) : (b & 0xC0) == 0x80;
    if (!ok) break;
    ++n;
  }
  return n;
}

}  // namespace

std::string RepairUtf8(std::string_view in, uint32_t* replaced) {
  uint32_t count = 0;
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (pos < in.size()) {
    // Fast path over ASCII runs.
    size_t start = pos;
    while (pos < in.size() && static_cast<unsigned char>(in[pos]) < 0x80 && in[pos] != 0) ++pos;
    out.append(in.data() + start, pos - start);
    if (pos >= in.size()) break;
    char32_t cp;
    size_t n = ValidSequenceLength(in, pos, &cp);
    if (n == 0) {
      AppendUtf8(kReplacement, &out);
      ++count;
      pos += in[pos] == 0 ? 1 : InvalidLength(in, pos);
    } else {
      out.append(in.data() + pos, n);
      pos += n;
    }
  }
  if (replaced) *replaced = count;
  return out;
}

bool IsValidUtf8(std::string_view in) {
  size_t pos = 0;
  char32_t cp;
  while (pos < in.size()) {
    size_t n = ValidSequenceLength(in, pos, &cp);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

char32_t DecodeUtf8(std::string_view in, size_t* pos) {
  char32_t cp;
  size_t n = ValidSequenceLength(in, *pos, &cp);
  if (n == 0) {
    bool nul = in[*pos] == 0;
    *pos += nul ? 1 : InvalidLength(in, *pos);
    return nul ? 0 : kReplacement;
  }
  *pos += n;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string_view TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace foldback::text
