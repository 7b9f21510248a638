#include "index/positions.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <iterator>
#include <limits>

namespace foldback::index {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
// Spans kept per step of a clause (a chunk has a few hundred words at most;
// the bound only matters for pathological chains of common words).
constexpr size_t kMaxSpans = 4096;

// Folded words after which a '.' does not end a sentence.
constexpr const char* kAbbreviations[] = {
    "al",    "approx", "art", "arts", "cf",   "cl",  "co", "corp", "dept", "dr",
    "ex",    "exh",    "jr",  "ltd",  "mr",   "mrs", "ms", "no",   "nos",  "para",
    "paras", "pp",     "sch", "sec",  "secs", "sr",  "st", "v",    "vs",   "inc"};

bool IsAbbreviation(std::string_view w) {
  for (const char* a : kAbbreviations) {
    if (w == a) return true;
  }
  return false;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

struct Span {
  uint32_t s;
  uint32_t e;
  bool operator<(const Span& o) const { return s != o.s ? s < o.s : e < o.e; }
  bool operator==(const Span& o) const { return s == o.s && e == o.e; }
};

void OperandSpans(const PositionalOperand& op, const DecodedChunk& c, std::vector<Span>* out) {
  out->clear();
  const size_t n = c.term.size();
  if (op.elements.empty()) return;
  const uint32_t first = op.elements.front().first;
  const uint32_t width = op.elements.back().first - first;
  for (size_t p = 0; p + width < n; ++p) {
    bool all = true;
    for (const auto& [off, ids] : op.elements) {
      uint32_t t = c.term[p + off - first];
      if (t == kNone || !std::binary_search(ids.begin(), ids.end(), t)) {
        all = false;
        break;
      }
    }
    if (all) out->push_back({static_cast<uint32_t>(p), static_cast<uint32_t>(p + width)});
  }
}

bool Allows(const Connector& k, const DecodedChunk& c, Span a, Span b) {
  if (a == b) return false;  // one occurrence cannot stand on both sides
  uint32_t s = std::min(a.s, b.s), e = std::max(a.e, b.e);
  switch (k.kind) {
    case Connector::Kind::kWords: {
      uint32_t gap = b.s > a.e ? b.s - a.e : (a.s > b.e ? a.s - b.e : 0);
      return gap <= k.n;
    }
    case Connector::Kind::kSentence:
      return c.sentence[s] == c.sentence[e];
    case Connector::Kind::kParagraph:
      return c.paragraph[s] == c.paragraph[e];
  }
  return false;
}

}  // namespace

void AppendCode(std::string* stream, uint32_t code) {
  uint8_t buf[5];
  uint8_t* end = CodedOutputStream::WriteVarint32ToArray(code, buf);
  stream->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

bool DecodeStream(std::string_view stream, std::vector<uint32_t>* codes) {
  codes->clear();
  CodedInputStream in(reinterpret_cast<const uint8_t*>(stream.data()),
                      static_cast<int>(stream.size()));
  while (!in.ExpectAtEnd()) {
    uint32_t v;
    if (!in.ReadVarint32(&v)) return false;
    codes->push_back(v);
  }
  return true;
}

uint32_t BreakBetween(std::string_view gap, std::string_view prev_word, std::string_view prev_raw) {
  // A blank line (or a form feed) ends a paragraph.
  for (size_t i = 0; i < gap.size(); ++i) {
    if (gap[i] == '\f') return kCodeParagraph;
    if (gap[i] != '\n') continue;
    for (size_t j = i + 1; j < gap.size() && IsSpace(gap[j]); ++j) {
      if (gap[j] == '\n') return kCodeParagraph;
    }
  }
  for (size_t i = 0; i < gap.size(); ++i) {
    char ch = gap[i];
    if (ch != '.' && ch != '!' && ch != '?') continue;
    // Closing quotes and brackets may follow; then white space.
    size_t j = i + 1;
    while (j < gap.size() && (gap[j] == '"' || gap[j] == '\'' || gap[j] == ')' || gap[j] == ']' ||
                              static_cast<unsigned char>(gap[j]) >= 0x80)) {
      ++j;
    }
    if (j < gap.size() && !IsSpace(gap[j])) continue;
    if (j >= gap.size()) continue;  // "word.Word": not a sentence end
    if (ch == '.' && i == 0) {
      if (IsAbbreviation(prev_word)) return 0;
      if (prev_word.size() == 1) return 0;  // "J. Smith", "(a). "
      bool dotted = prev_raw.find('.') != std::string_view::npos &&
                    std::none_of(prev_raw.begin(), prev_raw.end(),
                                 [](char d) { return d >= '0' && d <= '9'; });
      if (dotted) return 0;  // "U.S.C."
    }
    return kCodeSentence;
  }
  return 0;
}

bool DecodedChunk::Decode(std::string_view stream, size_t term_count) {
  term.clear();
  sentence.clear();
  paragraph.clear();
  CodedInputStream in(reinterpret_cast<const uint8_t*>(stream.data()),
                      static_cast<int>(stream.size()));
  uint32_t sent = 0, para = 0;
  while (!in.ExpectAtEnd()) {
    uint32_t v;
    if (!in.ReadVarint32(&v)) return false;
    if (v == kCodeSentence) {
      ++sent;
      continue;
    }
    if (v == kCodeParagraph) {
      ++sent;
      ++para;
      continue;
    }
    if (v == kCodeUnindexed) {
      term.push_back(kNone);
    } else {
      if (v - kCodeTermBase >= term_count) return false;
      term.push_back(v - kCodeTermBase);
    }
    sentence.push_back(sent);
    paragraph.push_back(para);
  }
  return true;
}

bool IsSingleElement(const PositionalClause& clause) {
  return clause.operands.size() == 1 && clause.connectors.empty() &&
         clause.operands[0].elements.size() == 1;
}

bool StreamHasTerm(std::string_view stream, const std::vector<uint32_t>& ids) {
  if (ids.empty()) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(stream.data());
  const auto* end = p + stream.size();
  if (ids.size() == 1) {
    // One term: look for its varint's bytes. A varint's last byte is below
    // 0x80 and all its others are not, so a match that starts the stream
    // or follows a byte below 0x80 starts a varint: it is the term's code.
    uint8_t code[5];
    uint8_t* code_end = CodedOutputStream::WriteVarint32ToArray(ids[0] + kCodeTermBase, code);
    const std::string_view needle(reinterpret_cast<const char*>(code),
                                  static_cast<size_t>(code_end - code));
    for (size_t at = stream.find(needle); at != std::string_view::npos;
         at = stream.find(needle, at + 1)) {
      if (at == 0 || static_cast<uint8_t>(stream[at - 1]) < 0x80) return true;
    }
    return false;
  }
  while (p < end) {
    uint32_t v = *p & 0x7f;
    int shift = 7;
    while (*p++ & 0x80) {
      if (p == end) return false;
      if (shift < 32) v |= static_cast<uint32_t>(*p & 0x7f) << shift;  // as ReadVarint32
      shift += 7;
    }
    if (v >= kCodeTermBase && std::binary_search(ids.begin(), ids.end(), v - kCodeTermBase))
      return true;
  }
  return false;
}

bool ClauseMatches(const PositionalClause& clause, const DecodedChunk& chunk) {
  if (clause.operands.empty() || clause.connectors.size() + 1 != clause.operands.size())
    return false;
  thread_local std::vector<Span> left, right, joined;
  OperandSpans(clause.operands[0], chunk, &left);
  for (size_t i = 0; i < clause.connectors.size() && !left.empty(); ++i) {
    OperandSpans(clause.operands[i + 1], chunk, &right);
    const Connector& k = clause.connectors[i];
    const bool last = i + 1 == clause.connectors.size();
    joined.clear();
    for (const Span& a : left) {
      for (const Span& b : right) {
        if (!Allows(k, chunk, a, b)) continue;
        if (last) return true;
        joined.push_back({std::min(a.s, b.s), std::max(a.e, b.e)});
      }
    }
    std::sort(joined.begin(), joined.end());
    joined.erase(std::unique(joined.begin(), joined.end()), joined.end());
    if (joined.size() > kMaxSpans) joined.resize(kMaxSpans);
    std::swap(left, joined);
  }
  return !left.empty() && clause.connectors.empty();
}

}  // namespace foldback::index
