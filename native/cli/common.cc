#include "cli/common.h"

#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>

#include "host/ingest_path.h"
#include "host/log.h"
#include "ingest/extract.h"

namespace foldback::cli {

int Fail(const Status& s) {
  host::Log(host::LogLevel::kError, TerminalSafe(s.ToString(), false));
  return s.IsInvalidArgument() ? 2 : 1;
}

std::set<std::string> SplitCommaSet(const std::string& s) {
  std::set<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    if (!item.empty()) out.insert(item);
    pos = comma + 1;
  }
  return out;
}

// The ids are the host's (host/ingest_path.h), shared with the C API.
std::string IdWithExtension(const std::string& root, const std::string& file) {
  return host::DocumentIdWithExtension(root, file);
}

std::string IdFor(const std::string& root, const std::string& file) { return host::DocumentIdFor(root, file); }

void PrintFormatTable(const std::map<std::string, FormatTally>& tally) {
  if (tally.empty()) return;
  fmt::print(FMT_STRING("  {:<9} {:>7} {:>10} {:>7} {:>9} {:>9}\n"), "format", "files", "documents",
             "failed", "warnings", "MB");
  for (const auto& [format, t] : tally) {
    fmt::print(FMT_STRING("  {:<9} {:7} {:10} {:7} {:9} {:9.1f}\n"), format, t.files, t.documents,
               t.failed, t.warnings, static_cast<double>(t.bytes) / 1e6);
  }
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string TerminalSafe(const std::string& text, bool keep_newlines) {
  static const char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    unsigned char c1 = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    unsigned char c2 = i + 2 < text.size() ? static_cast<unsigned char>(text[i + 2]) : 0;
    if (c < 0x20 || c == 0x7F) {
      if (keep_newlines && (c == '\n' || c == '\t')) {
        out.push_back(static_cast<char>(c));
      } else {
        out += kReplacement;
      }
    } else if (c == 0xC2 && c1 >= 0x80 && c1 <= 0x9F) {  // C1 controls U+0080..U+009F
      out += kReplacement;
      i += 1;
    } else if (c == 0xE2 && ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) ||    // U+202A..U+202E
                             (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9))) {  // U+2066..U+2069
      out += kReplacement;
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string JsonTerminalSafe(const std::string& dumped) {
  static const char kHex[] = "0123456789abcdef";
  auto escape = [&](unsigned cp, std::string* out) {
    *out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(cp >> shift) & 0xF]);
  };
  std::string out;
  out.reserve(dumped.size());
  for (size_t i = 0; i < dumped.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(dumped[i]);
    unsigned char c1 = i + 1 < dumped.size() ? static_cast<unsigned char>(dumped[i + 1]) : 0;
    unsigned char c2 = i + 2 < dumped.size() ? static_cast<unsigned char>(dumped[i + 2]) : 0;
    if (c == 0x7F) {
      escape(0x7F, &out);
    } else if (c == 0xC2 && c1 >= 0x80 && c1 <= 0x9F) {
      escape(c1, &out);
      i += 1;
    } else if (c == 0xE2 && ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) || (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9))) {
      escape(((c & 0x0F) << 12) | ((c1 & 0x3F) << 6) | (c2 & 0x3F), &out);
      i += 2;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string OneLine(const std::string& raw, size_t width) {
  const std::string text = TerminalSafe(raw, /*keep_newlines=*/true);
  std::string out;
  bool space = false;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if ((c & 0xC0) != 0x80) {
      if (chars + (space ? 1 : 0) >= width) {
        out += "...";
        return out;
      }
      if (space) {
        out.push_back(' ');
        ++chars;
        space = false;
      }
      ++chars;
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

void PrintHits(const std::vector<SearchHit>& hits, size_t width) {
  if (hits.empty()) {
    fmt::print(FMT_STRING("  (no results)\n"));
    return;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    const SearchHit& h = hits[i];
    fmt::print(FMT_STRING("  {:2}. {:<40} score {:.4f}{}{}\n"), i + 1, OneLine(h.doc_id, 60),
               h.score, h.section.empty() ? "" : "  §",
               h.section.empty() ? "" : OneLine(h.section, 40).c_str());
    fmt::print(FMT_STRING("      {}\n"), OneLine(h.text, width));
    if (!h.duplicates.empty()) {
      fmt::print(FMT_STRING("      (+{} near-duplicate passage{} folded in)\n"),
                 h.duplicates.size(), h.duplicates.size() == 1 ? "" : "s");
    }
  }
}

Progress::Progress(size_t total_files, uint64_t total_bytes)
    : total_files_(total_files), total_bytes_(total_bytes), tty_(isatty(2) != 0) {
  start_ = last_ = std::chrono::steady_clock::now();
}

void Progress::Step(uint64_t bytes, const std::string& current) {
  ++files_;
  bytes_ += bytes;
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (files_ != total_files_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  double secs = std::max(SecondsSince(start_), 1e-6);
  double mbps = static_cast<double>(bytes_) / 1e6 / secs;
  double eta = bytes_ > 0 ? secs * static_cast<double>(total_bytes_ - bytes_) / static_cast<double>(bytes_) : 0;
  fmt::print(stderr, FMT_STRING("\r\033[K  {}/{} files  {:.1f} MB/s  ETA {:.0f}s  {}"), files_,
             total_files_, mbps, eta, OneLine(current, 40));
  std::fflush(stderr);
}

void Progress::Done() {
  if (tty_) fmt::print(stderr, FMT_STRING("\r\033[K"));
}

}  // namespace foldback::cli
