// Compressed RTF (MS-OXRTFCP) and RTF to text, with HTML de-encapsulation
// (MS-OXRTFEX) for RTF bodies Outlook made from HTML mail.
#include <array>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "foldback/msg.h"
#include "msg/codepage.h"
#include "text/utf8.h"

namespace foldback {
namespace {

uint32_t U32(std::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[at])) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24);
}

// MS-OXRTFCP 2.1.3.1.1: the dictionary's initial contents.
constexpr char kPrefix[] =
    "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
    "\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    "\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";
static_assert(sizeof(kPrefix) - 1 == 207, "MS-OXRTFCP's initial dictionary is 207 bytes");

constexpr uint32_t kCompressed = 0x75465A4C;    // "LZFu"
constexpr uint32_t kUncompressed = 0x414C454D;  // "MELA"

uint32_t Crc(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc;
}

}  // namespace

Result<std::string> DecompressRtf(std::string_view in, uint64_t max_bytes, bool* crc_ok) {
  if (crc_ok) *crc_ok = true;
  if (in.size() < 16)
    return Status::Corruption(
        fmt::format(FMT_STRING("compressed RTF: {} bytes, less than its header"), in.size()));
  uint64_t comp_size = U32(in, 0);
  uint64_t raw_size = U32(in, 4);
  uint32_t type = U32(in, 8);
  uint32_t crc = U32(in, 12);
  if (comp_size < 12 || comp_size + 4 > in.size()) {
    return Status::Corruption(
        fmt::format(FMT_STRING("compressed RTF: declares {} bytes but holds {} (truncated?)"),
                    comp_size, in.size() - 4));
  }
  if (raw_size > max_bytes) {
    return Status::OutOfRange(fmt::format(
        FMT_STRING("compressed RTF: declares {} bytes (limit {})"), raw_size, max_bytes));
  }
  std::string_view data = in.substr(16, comp_size - 12);
  if (type == kUncompressed) {
    return std::string(data.substr(0, raw_size));
  }
  if (type != kCompressed) return Status::Corruption("compressed RTF: unknown compression type");
  if (crc_ok) *crc_ok = Crc(data) == crc;
  std::array<char, 4096> dict{};
  std::memcpy(dict.data(), kPrefix, 207);
  uint32_t wpos = 207;
  std::string out;
  out.reserve(raw_size);
  size_t i = 0;
  bool done = false;
  while (!done && i < data.size()) {
    unsigned char control = static_cast<unsigned char>(data[i++]);
    for (int bit = 0; bit < 8 && !done; ++bit) {
      if (i >= data.size()) {
        done = true;
        break;
      }
      if ((control & (1 << bit)) == 0) {
        char c = data[i++];
        if (out.size() < raw_size) out.push_back(c);
        dict[wpos] = c;
        wpos = (wpos + 1) & 4095;
        continue;
      }
      if (i + 1 >= data.size()) return Status::Corruption("compressed RTF: a reference is cut short");
      uint32_t word = (static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 8) |
                      static_cast<unsigned char>(data[i + 1]);
      i += 2;
      uint32_t offset = word >> 4;
      uint32_t len = (word & 0xF) + 2;
      if (offset == wpos) {
        done = true;
        break;
      }
      for (uint32_t k = 0; k < len; ++k) {
        char c = dict[(offset + k) & 4095];
        if (out.size() < raw_size) out.push_back(c);
        dict[wpos] = c;
        wpos = (wpos + 1) & 4095;
      }
    }
  }
  return out;
}

namespace {

struct Group {
  bool skip = false;     // inside a destination we do not show
  bool htmlrtf = false;  // \htmlrtf: RTF-only content of an encapsulated HTML body
  int uc = 1;            // ANSI characters after \uN
};

bool IsSkippedDestination(std::string_view w) {
  static const char* kSkip[] = {
      "fonttbl",   "colortbl",   "stylesheet", "info",         "pict",          "object",    "objdata",
      "header",    "footer",     "headerl",    "headerr",      "headerf",       "footerl",   "footerr",
      "footerf",   "listtable",  "listoverridetable",          "rsidtbl",       "generator", "xmlnstbl",
      "themedata", "colorschememapping",        "latentstyles", "datastore",     "fldinst",   "filetbl",
      "revtbl",    "pgdsctbl",   "bkmkstart",  "bkmkend",      "pntext",        "pntxta",    "pntxtb",
      "mhtmltag",  "xe",         "tc",         "txe",          "operator",  "author",
      "title",     "subject",    "keywords",   "comment",      "doccomm",       "company"};
  for (const char* s : kSkip) {
    if (w == s) return true;
  }
  return false;
}

}  // namespace

std::string RtfToText(std::string_view rtf, std::string* html_out) {
  std::vector<Group> stack;
  Group g;
  bool fromhtml = false;
  bool star = false;         // "\*" seen: the next control word names an optional destination
  bool group_start = false;  // the next control word is the first of its group
  uint32_t codepage = 1252;
  int ansi_skip = 0;  // fallback characters still to skip after \uN
  std::string out;
  std::string pending_bytes;  // \'hh bytes of a UTF-8 (65001) sequence
  auto flush_bytes = [&]() {
    if (pending_bytes.empty()) return;
    out += text::RepairUtf8(pending_bytes);
    pending_bytes.clear();
  };
  auto shown = [&]() { return !g.skip && !(fromhtml && g.htmlrtf); };
  auto emit = [&](std::string_view s) {
    if (!shown()) return;
    flush_bytes();
    out.append(s);
  };
  auto emit_cp = [&](char32_t c) {
    if (!shown()) return;
    flush_bytes();
    text::AppendUtf8(c, &out);
  };
  size_t i = 0;
  const size_t n = rtf.size();
  const size_t depth_limit = 10000;
  char32_t high = 0;  // a surrogate pair arrives as two \u words
  while (i < n) {
    char c = rtf[i];
    if (c == '{') {
      ++i;
      if (stack.size() >= depth_limit) continue;  // absurd nesting: flatten
      stack.push_back(g);
      group_start = true;
      star = false;
      continue;
    }
    if (c == '}') {
      ++i;
      if (!stack.empty()) {
        g = stack.back();
        stack.pop_back();
      }
      group_start = false;
      star = false;
      continue;
    }
    if (c == '\r' || c == '\n') {
      ++i;
      continue;
    }
    if (c != '\\') {
      ++i;
      group_start = false;
      if (ansi_skip > 0) {
        --ansi_skip;
        continue;
      }
      if (!shown()) continue;
      unsigned char b = static_cast<unsigned char>(c);
      if (b >= 0x80) {
        flush_bytes();
        msg::AppendSingleByte(codepage, b, &out);
      } else if (b != 0) {
        emit(std::string_view(&c, 1));
      }
      continue;
    }
    // A control symbol or word.
    if (i + 1 >= n) break;
    char d = rtf[i + 1];
    if (!((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z'))) {
      i += 2;
      bool was_start = group_start;
      group_start = false;
      switch (d) {
        case '*':
          star = was_start;
          group_start = was_start;  // the destination word follows
          break;
        case '\'': {
          if (i + 2 > n) {
            i = n;
            break;
          }
          auto hex = [](char h) -> int {
            if (h >= '0' && h <= '9') return h - '0';
            if (h >= 'a' && h <= 'f') return h - 'a' + 10;
            if (h >= 'A' && h <= 'F') return h - 'A' + 10;
            return -1;
          };
          int hi = hex(rtf[i]), lo = hex(rtf[i + 1]);
          i += 2;
          if (hi < 0 || lo < 0) break;
          if (ansi_skip > 0) {
            --ansi_skip;
            break;
          }
          if (!shown()) break;
          unsigned char b = static_cast<unsigned char>(hi * 16 + lo);
          if (codepage == 65001 && b >= 0x80) {
            pending_bytes.push_back(static_cast<char>(b));
          } else {
            flush_bytes();
            msg::AppendSingleByte(codepage, b, &out);
          }
          break;
        }
        case '\\':
        case '{':
        case '}':
          if (ansi_skip > 0) {
            --ansi_skip;
            break;
          }
          emit(std::string_view(&d, 1));
          break;
        case '~':
          emit_cp(fromhtml ? 0xA0 : ' ');
          break;
        case '_':
          emit("-");
          break;
        case '\r':
        case '\n':
          emit(fromhtml ? "\r\n" : "\n");
          break;
        default:
          break;  // \- (optional hyphen), \: and others: nothing
      }
      continue;
    }
    size_t w = i + 1;
    while (w < n && w - i <= 32 && ((rtf[w] >= 'a' && rtf[w] <= 'z') || (rtf[w] >= 'A' && rtf[w] <= 'Z'))) ++w;
    std::string_view word = rtf.substr(i + 1, w - i - 1);
    bool has_param = false;
    bool neg = false;
    long long param = 0;
    if (w < n && rtf[w] == '-') {
      neg = true;
      ++w;
    }
    size_t digits = 0;
    while (w < n && rtf[w] >= '0' && rtf[w] <= '9' && digits < 10) {
      param = param * 10 + (rtf[w] - '0');
      has_param = true;
      ++w;
      ++digits;
    }
    if (neg) param = -param;
    if (w < n && rtf[w] == ' ') ++w;  // the delimiter belongs to the word
    i = w;
    bool first = group_start;
    bool starred = star;
    group_start = false;
    star = false;

    if (first) {
      if (word == "htmltag" && fromhtml) {
        g.skip = false;  // encapsulated HTML: shown
        g.htmlrtf = false;
        continue;
      }
      if (starred || IsSkippedDestination(word)) {
        g.skip = true;
        continue;
      }
    }
    if (word == "bin") {
      uint64_t skip = has_param && param > 0 ? static_cast<uint64_t>(param) : 0;
      i = skip >= n - i ? n : i + skip;
      continue;
    }
    if (word == "u" && has_param) {
      long long v = param < 0 ? param + 65536 : param;
      char32_t cp = static_cast<char32_t>(v & 0xFFFF);
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        high = cp;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        if (high) emit_cp(0x10000 + ((high - 0xD800) << 10) + (cp - 0xDC00));
        high = 0;
      } else if (cp != 0) {
        emit_cp(cp);
        high = 0;
      }
      ansi_skip = g.uc;
      continue;
    }
    if (ansi_skip > 0) {
      --ansi_skip;
      // A control word counts as one fallback character; still apply state below.
    }
    if (word == "uc") {
      g.uc = has_param && param >= 0 && param < 16 ? static_cast<int>(param) : 1;
    } else if (word == "ansicpg") {
      if (has_param && param > 0) codepage = static_cast<uint32_t>(param);
    } else if (word == "fromhtml") {
      fromhtml = !has_param || param != 0;
    } else if (word == "htmlrtf") {
      g.htmlrtf = !has_param || param != 0;
    } else if (word == "par" || word == "line" || word == "sect" || word == "page") {
      emit(fromhtml ? "\r\n" : "\n");
    } else if (word == "row") {
      if (!fromhtml) emit("\n");
    } else if (word == "cell") {
      if (!fromhtml) emit(" | ");
    } else if (word == "tab") {
      emit("\t");
    } else if (word == "emdash") {
      emit_cp(0x2014);
    } else if (word == "endash") {
      emit_cp(0x2013);
    } else if (word == "bullet") {
      emit_cp(0x2022);
    } else if (word == "lquote") {
      emit_cp(0x2018);
    } else if (word == "rquote") {
      emit_cp(0x2019);
    } else if (word == "ldblquote") {
      emit_cp(0x201C);
    } else if (word == "rdblquote") {
      emit_cp(0x201D);
    }
  }
  flush_bytes();
  if (fromhtml) {
    std::string text = MsgHtmlToText(out);
    if (html_out) *html_out = std::move(out);
    return text;
  }
  // Trailing spaces and blank lines off; at most one blank line in a row.
  std::string clean;
  clean.reserve(out.size());
  size_t blank = 0;
  size_t pos = 0;
  while (pos <= out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::string_view line(out.data() + pos, nl - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) {
      ++blank;
    } else {
      if (!clean.empty()) clean.append(blank > 0 ? "\n\n" : "\n");
      blank = 0;
      clean.append(line);
    }
    pos = nl + 1;
  }
  return clean;
}

}  // namespace foldback
