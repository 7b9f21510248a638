#include "text/chunker.h"

#include "text/utf8.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/format.h>

namespace foldback::text {
namespace {

enum class BlockKind { kParagraph, kHeading, kClause, kListItem };

struct Block {
  uint32_t begin = 0;
  uint32_t end = 0;
  BlockKind kind = BlockKind::kParagraph;
  ChunkRole role = ChunkRole::kBody;
  uint32_t tokens = 0;
  std::string label;  // section label this block introduces, if any
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigitC(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }

std::string_view TrimLeft(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) ++i;
  return s.substr(i);
}

std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool StartsWithCi(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool IsRomanChar(char c) {
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c == 'i' || c == 'v' || c == 'x' || c == 'l';
}

// Length of a clause label at the start of `s` ("12.3", "1.", "(a)", "(iv)",
// "Section 4.1", "ARTICLE IV"), including the whitespace after it; 0 if none.
size_t ClauseLabelLength(std::string_view s) {
  static const char* kWords[] = {"section", "article", "clause", "schedule", "exhibit",
                                 "annex",   "appendix", "part",  "sec."};
  for (const char* w : kWords) {
    size_t n = std::strlen(w);
    if (StartsWithCi(s, w) && s.size() > n + 1 && IsSpace(s[n])) {
      size_t i = n;
      while (i < s.size() && IsSpace(s[i])) ++i;
      size_t start = i;
      while (i < s.size() && (IsDigitC(s[i]) || s[i] == '.' || IsRomanChar(s[i]) ||
                              (i == start && IsUpper(s[i])))) {
        ++i;
      }
      if (i > start && (i == s.size() || IsSpace(s[i]) || s[i] == ':' || s[i] == '-')) {
        return i;
      }
      return 0;
    }
  }
  if (s.size() > 2 && s[0] == '(') {
    size_t i = 1;
    while (i < s.size() && i <= 5 && (IsAlpha(s[i]) || IsDigitC(s[i]))) ++i;
    if (i > 1 && i < s.size() && s[i] == ')' && (i + 1 == s.size() || IsSpace(s[i + 1]))) {
      return i + 1;
    }
    return 0;
  }
  if (!s.empty() && IsDigitC(s[0])) {
    size_t i = 0;
    int components = 0;
    bool dotted = false;
    while (i < s.size()) {
      size_t d = i;
      while (i < s.size() && IsDigitC(s[i])) ++i;
      if (i == d || i - d > 3) return 0;
      ++components;
      if (i < s.size() && s[i] == '.') {
        dotted = true;
        ++i;
        if (i < s.size() && IsDigitC(s[i])) continue;
      }
      break;
    }
    if (!dotted || components > 5) return 0;
    if (i >= s.size() || !IsSpace(s[i])) return 0;
    size_t j = i;
    while (j < s.size() && IsSpace(s[j])) ++j;
    if (j < s.size() && (IsUpper(s[j]) || s[j] == '(' || s[j] == '"')) return i;
    return 0;
  }
  return 0;
}

bool IsBullet(std::string_view s) {
  if (s.size() >= 2 && (s[0] == '-' || s[0] == '*') && IsSpace(s[1])) return true;
  static const char* kBullets[] = {"\xE2\x80\xA2", "\xC2\xB7", "\xE2\x80\x93", "\xE2\x97\x8F"};
  for (const char* b : kBullets) {
    size_t n = std::strlen(b);
    if (s.size() > n && s.substr(0, n) == b && IsSpace(s[n])) return true;
  }
  return false;
}

uint32_t CountTokensIn(std::string_view s) {
  uint32_t n = 0;
  bool in_word = false;
  for (char c : s) {
    if (IsSpace(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

bool LooksLikeHeading(std::string_view line) {
  if (line.empty() || line.size() > 120) return false;
  if (line[0] == '#') return true;  // markdown
  uint32_t tokens = CountTokensIn(line);
  if (tokens > 12) return false;
  char last = line.back();
  if (last == ',' || last == ';') return false;
  // Page footers and citations ("Source: ACME INC., 8-K, 1/7/2019") are
  // not headings: headings rarely hold more than one comma.
  if (std::count(line.begin(), line.end(), ',') > 1) return false;
  size_t upper = 0, letters = 0;
  for (char c : line) {
    if (IsAlpha(c)) {
      ++letters;
      upper += IsUpper(c);
    }
  }
  if (letters >= 3 && upper * 10 >= letters * 8 && last != '.') return true;
  // "12. Indemnification" / "Section 4 Termination": a label and a few words.
  size_t label = ClauseLabelLength(line);
  if (label > 0 && tokens <= 8 && last != '.' && last != ':') return true;
  return false;
}

std::string SectionLabel(std::string_view line) {
  line = Trim(line);
  while (!line.empty() && line[0] == '#') line.remove_prefix(1);
  line = Trim(line);
  if (line.size() > 80) return std::string(TruncateUtf8(line, 80)) + "...";
  return std::string(line);
}

struct Line {
  uint32_t begin;
  uint32_t end;  // excludes the newline
  std::string_view text;
};

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(nl),
                     text.substr(pos, nl - pos)});
    if (nl == text.size()) break;
    pos = nl + 1;
  }
  return lines;
}

// Mail: marks each line body / quoted / signature.
std::vector<ChunkRole> MailRoles(const std::vector<Line>& lines) {
  std::vector<ChunkRole> roles(lines.size(), ChunkRole::kBody);
  size_t quoted_from = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view t = Trim(lines[i].text);
    bool starts_quote =
        t.find("-----Original Message-----") != std::string_view::npos ||
        (StartsWithCi(t, "on ") && t.size() > 6 && t.substr(t.size() - 6) == "wrote:") ||
        (StartsWithCi(t, "from:") && i + 1 < lines.size() &&
         (StartsWithCi(TrimLeft(lines[i + 1].text), "sent:") ||
          StartsWithCi(TrimLeft(lines[i + 1].text), "date:")) &&
         i > 0);
    if (starts_quote) {
      quoted_from = i;
      break;
    }
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i >= quoted_from || TrimLeft(lines[i].text).rfind('>', 0) == 0) {
      roles[i] = ChunkRole::kQuoted;
    }
  }
  // Signature: after an RFC 3676 "-- " delimiter, or after a sign-off line
  // among the last lines of the new text.
  size_t body_end = quoted_from;
  for (size_t i = 0; i < body_end; ++i) {
    std::string_view raw = lines[i].text;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw == "-- " || raw == "--") {
      for (size_t j = i; j < body_end; ++j) {
        if (roles[j] == ChunkRole::kBody) roles[j] = ChunkRole::kSignature;
      }
      return roles;
    }
  }
  static const char* kSignOffs[] = {"regards",  "best regards", "kind regards", "warm regards",
                                    "thanks",   "thank you",    "best",         "cheers",
                                    "sincerely", "yours sincerely", "many thanks", "all the best"};
  size_t non_blank_after = 0;
  for (size_t i = body_end; i-- > 0;) {
    std::string_view t = Trim(lines[i].text);
    if (t.empty()) continue;
    if (++non_blank_after > 8) break;
    std::string_view word = t;
    while (!word.empty() && (word.back() == ',' || word.back() == '!' || word.back() == '.')) {
      word.remove_suffix(1);
    }
    for (const char* s : kSignOffs) {
      if (word.size() == std::strlen(s) && StartsWithCi(word, s)) {
        for (size_t j = i; j < body_end; ++j) {
          if (roles[j] == ChunkRole::kBody) roles[j] = ChunkRole::kSignature;
        }
        return roles;
      }
    }
  }
  return roles;
}

std::vector<Block> MakeBlocks(std::string_view text, DocKind kind) {
  std::vector<Line> lines = SplitLines(text);
  std::vector<ChunkRole> roles;
  if (kind == DocKind::kEmail) {
    roles = MailRoles(lines);
  } else {
    roles.assign(lines.size(), ChunkRole::kBody);
  }
  std::vector<Block> blocks;
  Block cur;
  bool open = false;
  auto close = [&]() {
    if (open) blocks.push_back(cur);
    open = false;
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& line = lines[i];
    std::string_view t = Trim(line.text);
    if (t.empty()) {
      close();
      continue;
    }
    ChunkRole role = roles[i];
    uint32_t lead = static_cast<uint32_t>(line.text.size() - TrimLeft(line.text).size());
    uint32_t b = line.begin + lead;
    uint32_t e = b + static_cast<uint32_t>(t.size());
    BlockKind k = BlockKind::kParagraph;
    std::string label;
    if (role == ChunkRole::kBody) {
      size_t clause = ClauseLabelLength(t);
      if (LooksLikeHeading(t)) {
        k = BlockKind::kHeading;
        label = SectionLabel(t);
      } else if (clause > 0) {
        k = BlockKind::kClause;
        if (IsDigitC(t[0]) || IsAlpha(t[0])) label = SectionLabel(TruncateUtf8(t, 60));
      } else if (IsBullet(t)) {
        k = BlockKind::kListItem;
      }
    }
    bool starts_new = !open || role != cur.role || k != BlockKind::kParagraph ||
                      cur.kind == BlockKind::kHeading;
    if (starts_new) {
      close();
      cur = Block{b, e, k, role, 0, label};
      open = true;
    }
    cur.end = e;
    cur.tokens += CountTokensIn(t);
  }
  close();
  return blocks;
}

// Word start offsets within [begin, end).
std::vector<uint32_t> WordStarts(std::string_view text, uint32_t begin, uint32_t end) {
  std::vector<uint32_t> starts;
  bool in_word = false;
  for (uint32_t i = begin; i < end; ++i) {
    if (IsSpace(text[i])) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      starts.push_back(i);
    }
  }
  return starts;
}

uint32_t WordEnd(std::string_view text, uint32_t pos, uint32_t end) {
  while (pos < end && !IsSpace(text[pos])) ++pos;
  return pos;
}

// Trims trailing whitespace of a span.
uint32_t TrimEnd(std::string_view text, uint32_t begin, uint32_t end) {
  while (end > begin && IsSpace(text[end - 1])) --end;
  return end;
}

class Builder {
 public:
  Builder(std::string_view text, const ChunkerOptions& o) : text_(text), o_(o) {
    if (o_.target_tokens == 0) o_.target_tokens = 1;
    if (o_.max_tokens < o_.target_tokens) o_.max_tokens = o_.target_tokens;
    if (o_.overlap_tokens >= o_.max_tokens) o_.overlap_tokens = o_.max_tokens / 2;
  }

  void Add(const Block& block) {
    if (open_ && block.role != role_) Flush();
    if (block.role == ChunkRole::kBody) {
      if (block.kind == BlockKind::kHeading) {
        Flush();
        section_ = block.label;
      } else if (block.kind == BlockKind::kClause && tokens_ >= o_.target_tokens / 4 &&
                 !last_was_heading_) {
        Flush();
      }
    }
    if (open_ && tokens_ + block.tokens > o_.target_tokens && !last_was_heading_) Flush();
    if (block.kind == BlockKind::kClause && !block.label.empty() && block.role == ChunkRole::kBody &&
        !last_was_heading_) {
      pending_section_ = block.label;
    }
    if (block.tokens > o_.max_tokens) {
      // Keep a heading directly above attached to the first piece.
      uint32_t from = open_ ? begin_ : block.begin;
      open_ = false;
      tokens_ = 0;
      SplitLong(from, block.begin, block.end, block.role);
      last_was_heading_ = false;
      return;
    }
    if (!open_) {
      open_ = true;
      begin_ = block.begin;
      role_ = block.role;
      if (!pending_section_.empty()) {
        chunk_section_ = pending_section_;
      } else {
        chunk_section_ = section_;
      }
    }
    pending_section_.clear();
    end_ = block.end;
    tokens_ += block.tokens;
    last_was_heading_ = block.kind == BlockKind::kHeading;
  }

  std::vector<ChunkSpan> Finish() {
    Flush();
    return std::move(spans_);
  }

 private:
  void Flush() {
    if (open_) Emit(begin_, end_, role_, chunk_section_);
    open_ = false;
    tokens_ = 0;
    last_was_heading_ = false;
  }

  void Emit(uint32_t b, uint32_t e, ChunkRole role, const std::string& section) {
    e = TrimEnd(text_, b, e);
    if (e > b) spans_.push_back({b, e, section, role});
  }

  // A block longer than max_tokens: pieces of whole sentences up to
  // target_tokens; a sentence longer than max_tokens becomes overlapping
  // windows. `head` <= `begin` lets a heading ride along with the first piece.
  void SplitLong(uint32_t head, uint32_t begin, uint32_t end, ChunkRole role) {
    std::vector<uint32_t> words = WordStarts(text_, begin, end);
    std::string section = pending_section_.empty() ? section_ : pending_section_;
    pending_section_.clear();
    size_t i = 0;
    bool first = true;
    while (i < words.size()) {
      // Grow a piece sentence by sentence.
      size_t j = i;
      size_t piece_end = i;
      while (j < words.size()) {
        size_t k = j;
        // Sentence: words up to one ending in . ; : followed by a capital,
        // '(' or a digit.
        while (k < words.size()) {
          uint32_t we = WordEnd(text_, words[k], end);
          char last = text_[we - 1];
          ++k;
          if ((last == '.' || last == ';' || last == ':') && k < words.size()) {
            char next = text_[words[k]];
            if (IsUpper(next) || next == '(' || IsDigitC(next) || next == '"') break;
          }
        }
        if (k - i > o_.target_tokens && piece_end > i) break;
        piece_end = k;
        j = k;
        if (piece_end - i >= o_.target_tokens) break;
      }
      if (piece_end - i > o_.max_tokens) {
        // One overlong sentence: windows.
        size_t stop = piece_end;
        size_t step = o_.max_tokens - o_.overlap_tokens;
        size_t w = i;
        while (true) {
          size_t we = std::min(stop, w + o_.max_tokens);
          uint32_t b = first ? head : words[w];
          uint32_t e = WordEnd(text_, words[we - 1], end);
          Emit(b, e, role, section);
          first = false;
          if (we >= stop) break;
          w += step;
        }
        i = stop;
        continue;
      }
      uint32_t b = first ? head : words[i];
      uint32_t e = WordEnd(text_, words[piece_end - 1], end);
      Emit(b, e, role, section);
      first = false;
      i = piece_end;
    }
  }

  std::string_view text_;
  ChunkerOptions o_;
  std::vector<ChunkSpan> spans_;
  bool open_ = false;
  uint32_t begin_ = 0, end_ = 0, tokens_ = 0;
  ChunkRole role_ = ChunkRole::kBody;
  std::string section_, pending_section_, chunk_section_;
  bool last_was_heading_ = false;
};

}  // namespace

uint32_t CountTokens(std::string_view text) { return CountTokensIn(text); }

std::vector<ChunkSpan> ChunkText(std::string_view text, DocKind kind,
                                 const ChunkerOptions& options) {
  Builder builder(text, options);
  for (const Block& block : MakeBlocks(text, kind)) builder.Add(block);
  return builder.Finish();
}

std::string MakeChunkId(std::string_view doc_id, uint32_t ordinal, std::string_view chunk_text) {
  // FNV-1a, 32 bits: enough to tell a changed chunk from an unchanged one at
  // the same ordinal; uniqueness comes from the ordinal.
  uint32_t h = 2166136261u;
  for (char c : chunk_text) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  static const char* kHex = "0123456789abcdef";
  std::string id;
  id.reserve(doc_id.size() + 16);
  id.append(doc_id);
  id.push_back('#');
  id.append(fmt::to_string(ordinal));
  id.push_back('-');
  for (int shift = 28; shift >= 0; shift -= 4) id.push_back(kHex[(h >> shift) & 0xF]);
  return id;
}

}  // namespace foldback::text
