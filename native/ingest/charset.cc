#include "ingest/charset.h"

#include <gmime/gmime.h>
#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

namespace foldback::ingest {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"' || s.front() == '\'')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '"' || s.back() == '\'')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Converts with iconv; each undecodable byte (or truncated tail) becomes one
// U+FFFD. Returns false when iconv cannot open the charset.
bool Convert(std::string_view bytes, const std::string& from, Decoded* out) {
  EnsureGMime();
  iconv_t cd = g_mime_iconv_open("UTF-8", from.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  std::string& dst = out->text;
  dst.clear();
  dst.reserve(bytes.size() + bytes.size() / 2 + 16);
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  char buf[16384];
  while (true) {
    char* o = buf;
    size_t o_left = sizeof buf;
    size_t rc = in_left > 0 ? iconv(cd, &in, &in_left, &o, &o_left) : iconv(cd, nullptr, nullptr, &o, &o_left);
    int err = errno;
    dst.append(buf, static_cast<size_t>(o - buf));
    if (rc != static_cast<size_t>(-1)) {
      if (in_left == 0) {
        // Flush the shift state of stateful encodings (ISO-2022-JP) once.
        o = buf;
        o_left = sizeof buf;
        iconv(cd, nullptr, nullptr, &o, &o_left);
        dst.append(buf, static_cast<size_t>(o - buf));
        break;
      }
      continue;
    }
    if (err == E2BIG) continue;
    if (err == EILSEQ) {
      dst += kReplacement;
      ++out->replaced;
      ++in;
      --in_left;
      iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset the shift state
      continue;
    }
    // EINVAL: an incomplete sequence at the end.
    dst += kReplacement;
    ++out->replaced;
    break;
  }
  g_mime_iconv_close(cd);
  return true;
}

// UTF-8 with each byte that starts no valid sequence replaced by U+FFFD
// (not through iconv: glibc's UTF-8 decoder passes the obsolete 5- and
// 6-byte forms through, which are not UTF-8 — found by tests/fuzz).
void RepairUtf8(std::string_view bytes, Decoded* out) {
  std::string& dst = out->text;
  dst.clear();
  dst.reserve(bytes.size() + 16);
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const char* end = nullptr;
    bool ok = g_utf8_validate_len(p, left, &end);
    dst.append(p, static_cast<size_t>(end - p));
    if (ok) break;
    left -= static_cast<size_t>(end - p);
    p = end;
    if (*p == '\0') {  // NUL is valid UTF-8; g_utf8_validate stops there
      dst.push_back('\0');
    } else {
      dst += kReplacement;
      ++out->replaced;
    }
    ++p;
    --left;
  }
}

Decoded Undeclared(std::string_view bytes) {
  Decoded d;
  if (IsValidUtf8(bytes)) {
    d.text.assign(bytes);
    return d;
  }
  Convert(bytes, "WINDOWS-1252", &d);
  d.note = "no usable charset declared and not valid UTF-8; read as windows-1252";
  return d;
}

}  // namespace

void EnsureGMime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

bool IsValidUtf8(std::string_view s) {
  const char* p = s.data();
  size_t left = s.size();
  // g_utf8_validate_len stops at NUL bytes: validate the pieces between them.
  while (left > 0) {
    const char* end = nullptr;
    if (g_utf8_validate_len(p, left, &end)) return true;
    if (*end != '\0') return false;
    left -= static_cast<size_t>(end - p) + 1;
    p = end + 1;
  }
  return true;
}

Decoded DecodeToUtf8(std::string_view bytes, std::string_view charset) {
  std::string cs = Lower(Trim(charset));
  if (cs.empty() || cs == "us-ascii" || cs == "ascii" || cs == "ansi_x3.4-1968" || cs == "7bit" ||
      cs == "8bit" || cs == "unknown-8bit" || cs == "x-unknown") {
    return Undeclared(bytes);
  }
  if (cs == "utf-8" || cs == "utf8") {
    Decoded d;
    if (IsValidUtf8(bytes)) {
      d.text.assign(bytes);
    } else {
      RepairUtf8(bytes, &d);
    }
    return d;
  }
  if (cs == "iso-8859-1" || cs == "latin1" || cs == "iso8859-1" || cs == "iso_8859-1" || cs == "l1") {
    cs = "windows-1252";
  }
  Decoded d;
  EnsureGMime();
  const char* iconv_name = g_mime_charset_iconv_name(cs.c_str());
  if (Convert(bytes, iconv_name ? iconv_name : cs, &d)) {
    // Mislabelled UTF-8 (common in mail): the declared charset does not fit
    // the bytes, UTF-8 does.
    if (d.replaced > 0 && IsValidUtf8(bytes)) {
      Decoded u;
      u.text.assign(bytes);
      u.note = "text labelled '" + std::string(charset.substr(0, 40)) + "' is not; read as UTF-8";
      return u;
    }
    return d;
  }
  d = Undeclared(bytes);
  d.note = "unknown charset '" + std::string(charset.substr(0, 40)) + "'; read as " +
           (d.note.empty() ? std::string("UTF-8") : std::string("windows-1252"));
  return d;
}

}  // namespace foldback::ingest
