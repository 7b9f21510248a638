#include "ingest/text_builder.h"

#include <algorithm>

#include <fmt/format.h>

namespace foldback::ingest {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// U+00A0 (no-break space) counts as whitespace when collapsing.
size_t SpaceLength(std::string_view s, size_t i) {
  if (IsSpace(s[i])) return 1;
  if (static_cast<unsigned char>(s[i]) == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
    return 2;
  }
  return 0;
}

size_t CutUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s.size();
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

}  // namespace

void TextBuilder::Flush() {
  if (!out_.empty()) {
    if (pending_ == 1) {
      out_.push_back('\n');
    } else if (pending_ >= 2) {
      out_ += "\n\n";
    } else if (space_ && out_.back() != '\n') {
      out_.push_back(' ');
    }
  }
  pending_ = 0;
  space_ = false;
  if (!prefix_.empty()) {
    out_ += prefix_;
    prefix_.clear();
  }
}

void TextBuilder::Prefix(std::string_view s) {
  if (!out_.empty() && pending_ == 0) pending_ = 1;
  prefix_.append(s);
}

void TextBuilder::Inline(std::string_view s, bool preserve) {
  if (preserve) {
    if (s.empty()) return;
    Flush();
    out_.append(s);
    return;
  }
  size_t i = 0;
  while (i < s.size()) {
    size_t sp = SpaceLength(s, i);
    if (sp > 0) {
      space_ = true;
      i += sp;
      continue;
    }
    size_t j = i;
    while (j < s.size() && SpaceLength(s, j) == 0) ++j;
    if (!out_.empty() || !prefix_.empty() || pending_) {
      Flush();
    } else {
      space_ = false;
    }
    out_.append(s.substr(i, j - i));
    i = j;
  }
}

std::string TextBuilder::Finish() {
  while (!out_.empty() && IsSpace(out_.back())) out_.pop_back();
  pending_ = 0;
  space_ = false;
  prefix_.clear();
  return std::move(out_);
}

std::string BaseName(std::string_view path) {
  size_t slash = path.find_last_of("/\\");
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string IdSafeName(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, CutUtf8(name, 80))) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || c == '#' || u < 0x20 || u == 0x7F) {
      out.push_back('_');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string IsoDateUtc(std::time_t t) {
  if (t <= 0) return "";
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return "";
  return fmt::format(FMT_STRING("{:04}-{:02}-{:02}"), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::string Shorten(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  return std::string(s.substr(0, CutUtf8(s, max_bytes))) + "...";
}

}  // namespace foldback::ingest
