// Training pairs mined from document structure (foldback/train.h).
//
// Everything here reads the index's documents and chunks as the chunker and
// the metadata extractor left them: section labels (Chunk::section), chunk
// roles (quoted mail text), defined terms (metadata field "defined_term").
// No randomness: where a choice is made (which sentence of a passage), it
// follows a hash of the chunk id, so the pairs depend on the corpus only.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "foldback/train.h"
#include "index/index_internal.h"
#include "learn/streams.h"
#include "text/metadata.h"

namespace foldback {
namespace {

bool IsSpaceC(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigitC(char c) { return c >= '0' && c <= '9'; }
bool IsUpperC(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLowerC(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlphaC(char c) { return IsUpperC(c) || IsLowerC(c); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpaceC(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpaceC(s.back())) s.remove_suffix(1);
  return s;
}

size_t CountWords(std::string_view s) {
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    if (IsSpaceC(c)) {
      in = false;
    } else if (!in) {
      in = true;
      ++n;
    }
  }
  return n;
}

bool HasLetters(std::string_view s, size_t min_letters) {
  size_t n = 0;
  for (char c : s) n += IsAlphaC(c) || static_cast<unsigned char>(c) >= 0x80;
  return n >= min_letters;
}

bool StartsWithWordCi(std::string_view s, std::string_view w) {
  if (s.size() <= w.size()) return false;
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != w[i]) return false;
  }
  return IsSpaceC(s[w.size()]);
}

bool IsRoman(char c) {
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c == 'i' || c == 'v' || c == 'x' || c == 'l';
}

// Length of an enumeration at the start of `s` ("12.3", "1.", "(a)", "(iv)",
// "Section 4.1", "ARTICLE IV", "a)"), spaces after it included; 0 if none.
size_t EnumerationLength(std::string_view s) {
  static const char* kWords[] = {"section",  "article", "clause",    "schedule", "exhibit", "annex",
                                 "appendix", "part",    "paragraph", "sec.",     "art.",    "§"};
  size_t i = 0;
  for (const char* w : kWords) {
    if (StartsWithWordCi(s, w)) {
      i = std::strlen(w);
      while (i < s.size() && IsSpaceC(s[i])) ++i;
      break;
    }
  }
  size_t start = i;
  if (i < s.size() && s[i] == '(') {
    size_t j = i + 1;
    while (j < s.size() && j - i <= 5 && (IsAlphaC(s[j]) || IsDigitC(s[j]))) ++j;
    if (j > i + 1 && j < s.size() && s[j] == ')') i = j + 1;
  } else {
    size_t j = i;
    while (j < s.size() && (IsDigitC(s[j]) || s[j] == '.')) ++j;
    if (j == i && start > 0) {  // "Article IV", "Exhibit A"
      while (j < s.size() && (IsRoman(s[j]) || (j == i && IsUpperC(s[j])))) ++j;
      while (j < s.size() && s[j] == '.') ++j;
    } else if (j == i && j + 1 < s.size() && IsAlphaC(s[j]) &&
               (s[j + 1] == ')' || s[j + 1] == '.') && j + 2 < s.size() && IsSpaceC(s[j + 2])) {
      j += 2;  // "a) ", "b. "
    } else if (j > i && j < s.size() && s[j] == ')') {
      ++j;  // "1) "
    }
    if (j > i && (j == s.size() || IsSpaceC(s[j]) || s[j] == ':' || s[j] == '-')) i = j;
  }
  if (i == start && start > 0) return 0;  // "Section" followed by no number
  if (i == 0) return 0;
  while (i < s.size() && (IsSpaceC(s[i]) || s[i] == ':' || s[i] == '-')) ++i;
  return i;
}

// The enumeration a label or passage starts with, normalized for matching
// cross-references: "Section 4.2." -> "4.2", "ARTICLE IV" -> "iv", "(a)" -> "a".
std::string EnumerationKey(std::string_view s) {
  size_t n = EnumerationLength(s);
  if (!n) return "";
  std::string_view e = Trim(s.substr(0, n));
  static const char* kWords[] = {"section", "article", "clause", "paragraph", "sec.", "art.", "§"};
  for (const char* w : kWords) {
    if (StartsWithWordCi(e, w)) e = Trim(e.substr(std::strlen(w)));
  }
  std::string key;
  for (char c : e) {
    if (c == '(' || c == ')' || c == ':' || c == '-') continue;
    key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!key.empty() && key.back() == '.') key.pop_back();
  return key;
}

// A label without its enumeration and trailing punctuation, when what is
// left reads as a heading (letters, at most 12 words).
std::string HeadingText(std::string_view label) {
  std::string_view s = Trim(label);
  while (!s.empty() && s.front() == '#') s.remove_prefix(1);
  s = Trim(s);
  s = Trim(s.substr(EnumerationLength(s)));
  while (!s.empty() && (s.back() == '.' || s.back() == ':' || s.back() == '-')) s.remove_suffix(1);
  s = Trim(s);
  if (!HasLetters(s, 3) || CountWords(s) > 12) return "";
  return std::string(s);
}

// A passage that is only a heading ("4.2 Restrictions on Sales of
// Securities.", "CONFIDENTIALITY"): short, no sentence inside.
bool IsHeadingPassage(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty() || s.size() > 120 || CountWords(s) > 10) return false;
  char last = s.back();
  if (last == ',' || last == ';') return false;
  std::string h = HeadingText(s);
  if (h.empty()) return false;
  // Most words capitalised (small words aside), or the whole line in capitals.
  size_t words = 0, caps = 0;
  bool in = false;
  for (size_t i = 0; i < h.size(); ++i) {
    if (IsSpaceC(h[i])) {
      in = false;
    } else if (!in) {
      in = true;
      std::string_view w(h.data() + i, std::min<size_t>(4, h.size() - i));
      bool small = w.substr(0, 3) == "of " || w.substr(0, 4) == "and " || w.substr(0, 3) == "or " ||
                   w.substr(0, 3) == "to " || w.substr(0, 4) == "the " || w.substr(0, 3) == "in " ||
                   w.substr(0, 4) == "for " || w.substr(0, 3) == "on ";
      if (small) continue;
      ++words;
      caps += !IsLowerC(h[i]);
    }
  }
  return words > 0 && caps * 10 >= words * 8;
}

// Sentences of a passage: cut after '.', '?', '!' or ';' followed by a
// space and a capital, a digit, a quote or '('; each trimmed, empty ones
// dropped. Abbreviations of one or two letters ("U.S. Bank", "No. 5")
// do not end a sentence.
std::vector<std::string_view> Sentences(std::string_view text) {
  std::vector<std::string_view> out;
  size_t begin = 0;
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    char c = text[i];
    if (c != '.' && c != '?' && c != '!' && c != ';') continue;
    if (!IsSpaceC(text[i + 1])) continue;
    size_t j = i + 1;
    while (j < text.size() && IsSpaceC(text[j])) ++j;
    if (j >= text.size()) break;
    char n = text[j];
    if (!(IsUpperC(n) || IsDigitC(n) || n == '"' || n == '(' ||
          static_cast<unsigned char>(n) == 0xE2)) {
      continue;
    }
    if (c == '.') {
      size_t w = i;
      while (w > begin && !IsSpaceC(text[w - 1])) --w;
      if (i - w <= 2 && i > w && IsUpperC(text[w])) continue;  // "U.S." "No."
    }
    std::string_view s = Trim(text.substr(begin, i + 1 - begin));
    if (!s.empty()) out.push_back(s);
    begin = j;
  }
  std::string_view s = Trim(text.substr(begin));
  if (!s.empty()) out.push_back(s);
  return out;
}

uint32_t Fnv(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

std::string StripSubjectPrefixes(std::string_view s) {
  s = Trim(s);
  for (bool again = true; again;) {
    again = false;
    for (const char* p : {"re:", "fw:", "fwd:", "aw:", "sv:", "tr:"}) {
      size_t n = std::strlen(p);
      if (s.size() >= n) {
        bool eq = true;
        for (size_t i = 0; i < n; ++i) {
          eq &= std::tolower(static_cast<unsigned char>(s[i])) == p[i];
        }
        if (eq) {
          s = Trim(s.substr(n));
          again = true;
        }
      }
    }
  }
  return std::string(s);
}

// At most this many words of a text become an anchor.
std::string Clip(std::string_view s, size_t max_words) {
  size_t words = 0;
  bool in = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsSpaceC(s[i])) {
      in = false;
    } else if (!in) {
      in = true;
      if (++words > max_words) return std::string(Trim(s.substr(0, i)));
    }
  }
  return std::string(s);
}

struct StreamChunk {
  uint32_t chunk;
  uint32_t doc;
};

class Miner {
 public:
  Miner(const Index::Rep& r, const PairSources& sources) : r_(r), sources_(sources) {}

  std::vector<TrainingPair> Run() {
    std::vector<learn::StreamPosition> where = learn::Streams(r_);
    std::vector<StreamChunk> stream;
    uint32_t current = 0xFFFFFFFFu;
    for (uint32_t d = 0; d < r_.docs.size(); ++d) {
      const DocSlot& doc = r_.docs[d];
      if (!doc.live) continue;
      for (uint32_t c : doc.chunks) {
        if (!r_.chunks[c].live) continue;
        if (where[c].stream != current && !stream.empty()) {
          MineStream(stream);
          stream.clear();
        }
        current = where[c].stream;
        stream.push_back({c, d});
      }
      if (doc.doc.kind == DocKind::kEmail) MineMail(d);
    }
    if (!stream.empty()) MineStream(stream);
    return std::move(pairs_);
  }

 private:
  std::string_view Text(uint32_t c) const { return r_.chunks[c].chunk.text; }

  void Add(PairSource s, std::string anchor, std::string positive, uint32_t chunk) {
    anchor = std::string(Trim(anchor));
    positive = std::string(Trim(positive));
    if (!HasLetters(anchor, 3) || CountWords(positive) < 4 || anchor == positive) return;
    if (!seen_.insert(anchor + '\x1f' + positive).second) return;
    TrainingPair p;
    p.source = s;
    p.anchor = std::move(anchor);
    p.positive = std::move(positive);
    p.positive_chunk = r_.chunks[chunk].chunk.id;
    pairs_.push_back(std::move(p));
  }

  void MineStream(const std::vector<StreamChunk>& s) {
    if (sources_.Has(PairSource::kHeading)) Headings(s);
    if (sources_.Has(PairSource::kCaption)) Captions(s);
    if (sources_.Has(PairSource::kDefinition)) Definitions(s);
    if (sources_.Has(PairSource::kInverseCloze)) InverseCloze(s);
    if (sources_.Has(PairSource::kCrossReference)) CrossReferences(s);
  }

  // Section labels the chunker found, and passages that are only a heading
  // followed by the passage(s) they introduce.
  void Headings(const std::vector<StreamChunk>& s) {
    std::map<std::string, int> used;  // heading -> passages paired so far
    for (size_t i = 0; i < s.size(); ++i) {
      const ChunkSlot& c = r_.chunks[s[i].chunk];
      if (c.chunk.role != ChunkRole::kBody) continue;
      std::string h = HeadingText(c.chunk.section);
      if (!h.empty() && !IsHeadingPassage(c.chunk.text) && used[h]++ < 2) {
        // The passage without the heading line it may start with.
        std::string_view body = c.chunk.text;
        size_t at = body.find(h);
        if (at != std::string_view::npos && at < 16) body = body.substr(at + h.size());
        Add(PairSource::kHeading, h, std::string(body), s[i].chunk);
      }
      if (IsHeadingPassage(c.chunk.text) && i + 1 < s.size() &&
          !IsHeadingPassage(Text(s[i + 1].chunk))) {
        std::string heading = HeadingText(c.chunk.text);
        std::string body(Text(s[i + 1].chunk));
        if (CountWords(body) < 25 && i + 2 < s.size() && !IsHeadingPassage(Text(s[i + 2].chunk))) {
          body += ' ';
          body += Text(s[i + 2].chunk);
        }
        if (used[heading]++ < 2) Add(PairSource::kHeading, heading, body, s[i + 1].chunk);
      }
    }
  }

  // "3.2. Termination. Either party may ..." -> ("Termination", the rest).
  void Captions(const std::vector<StreamChunk>& s) {
    for (const StreamChunk& sc : s) {
      std::string_view t = Trim(Text(sc.chunk));
      size_t e = EnumerationLength(t);
      std::string_view rest = t.substr(e);
      size_t stop = std::string_view::npos;
      for (size_t i = 0; i < rest.size() && i < 90; ++i) {
        if ((rest[i] == '.' || rest[i] == ':') && i + 1 < rest.size() && IsSpaceC(rest[i + 1])) {
          stop = i;
          break;
        }
      }
      if (stop == std::string_view::npos) continue;
      std::string_view caption = Trim(rest.substr(0, stop));
      std::string_view body = Trim(rest.substr(stop + 1));
      size_t words = CountWords(caption);
      if (words == 0 || words > 8 || CountWords(body) < 6 || caption.size() < 4) continue;
      if (!IsHeadingPassage(caption)) continue;
      Add(PairSource::kCaption, std::string(caption), std::string(body), sc.chunk);
    }
  }

  // Defined terms the metadata extractor found -> the first passage quoting
  // the term ("Confidential Information" means ...).
  void Definitions(const std::vector<StreamChunk>& s) {
    std::set<std::string> terms;
    uint32_t last_doc = UINT32_MAX;
    for (const StreamChunk& sc : s) {
      if (sc.doc == last_doc) continue;
      last_doc = sc.doc;
      auto it = r_.docs[sc.doc].doc.metadata.find(text::kFieldDefinedTerm);
      if (it == r_.docs[sc.doc].doc.metadata.end()) continue;
      for (const auto& t : it->second) terms.insert(t);
    }
    for (const std::string& term : terms) {
      if (CountWords(term) > 6 || !HasLetters(term, 3)) continue;
      const std::string quoted[] = {"\"" + term + "\"", "\xE2\x80\x9C" + term + "\xE2\x80\x9D",
                                    "'" + term + "'"};
      for (const StreamChunk& sc : s) {
        std::string_view t = Text(sc.chunk);
        bool found = false;
        for (const auto& q : quoted) found |= t.find(q) != std::string::npos;
        if (!found) continue;
        Add(PairSource::kDefinition, term, std::string(t), sc.chunk);
        break;
      }
    }
  }

  // A sentence -> the rest of its passage; a one-sentence passage -> its
  // neighbours in the stream.
  void InverseCloze(const std::vector<StreamChunk>& s) {
    for (size_t i = 0; i < s.size(); ++i) {
      const ChunkSlot& c = r_.chunks[s[i].chunk];
      if (c.chunk.role != ChunkRole::kBody) continue;
      std::vector<std::string_view> sent = Sentences(c.chunk.text);
      std::vector<size_t> usable;
      for (size_t k = 0; k < sent.size(); ++k) {
        size_t w = CountWords(sent[k]);
        if (w >= 5 && w <= 60) usable.push_back(k);
      }
      if (sent.size() >= 2 && !usable.empty()) {
        size_t pick = usable[Fnv(c.chunk.id) % usable.size()];
        std::string rest;
        for (size_t k = 0; k < sent.size(); ++k) {
          if (k == pick) continue;
          if (!rest.empty()) rest += ' ';
          rest.append(sent[k]);
        }
        if (CountWords(rest) >= 6)
          Add(PairSource::kInverseCloze, std::string(sent[pick]), rest, s[i].chunk);
        continue;
      }
      size_t w = CountWords(c.chunk.text);
      if (w < 5 || w > 60 || s.size() < 2 || IsHeadingPassage(c.chunk.text)) continue;
      std::string context;
      if (i > 0) context = Text(s[i - 1].chunk);
      if (i + 1 < s.size()) {
        if (!context.empty()) context += ' ';
        context += Text(s[i + 1].chunk);
      }
      Add(PairSource::kInverseCloze, std::string(c.chunk.text), context,
          s[i > 0 ? i - 1 : i + 1].chunk);
    }
  }

  // "as defined in Section 4.2" -> the passage that Section 4.2 starts.
  void CrossReferences(const std::vector<StreamChunk>& s) {
    std::unordered_map<std::string, size_t> target;  // enumeration -> stream position
    for (size_t i = 0; i < s.size(); ++i) {
      const ChunkSlot& c = r_.chunks[s[i].chunk];
      for (std::string_view from :
           {std::string_view(c.chunk.text), std::string_view(c.chunk.section)}) {
        std::string key = EnumerationKey(Trim(from));
        if (!key.empty() && key.find_first_of("0123456789") != std::string::npos)
          target.emplace(key, i);
      }
    }
    if (target.empty()) return;
    static const char* kRefs[] = {"section ", "sections ",  "article ",
                                  "clause ",  "paragraph ", "§ "};
    for (size_t i = 0; i < s.size(); ++i) {
      std::string_view t = Text(s[i].chunk);
      std::string lower(t.size(), ' ');
      for (size_t k = 0; k < t.size(); ++k)
        lower[k] = static_cast<char>(std::tolower(static_cast<unsigned char>(t[k])));
      std::set<size_t> done;
      for (const char* ref : kRefs) {
        for (size_t at = lower.find(ref); at != std::string::npos; at = lower.find(ref, at + 1)) {
          if (at > 0 && IsAlphaC(t[at - 1])) continue;
          size_t k = at + std::strlen(ref);
          size_t b = k;
          while (k < t.size() &&
                 (IsDigitC(t[k]) || t[k] == '.' || t[k] == '(' || t[k] == ')' || IsAlphaC(t[k]))) {
            ++k;
          }
          std::string key;
          for (size_t m = b; m < k; ++m) {
            if (t[m] == '(' || t[m] == ')') continue;
            key += static_cast<char>(std::tolower(static_cast<unsigned char>(t[m])));
          }
          while (!key.empty() && key.back() == '.') key.pop_back();
          if (key.empty() || !IsDigitC(key[0])) continue;
          // "4.2(a)" refers to 4.2a; fall back to 4.2.
          auto hit = target.find(key);
          while (hit == target.end() && !key.empty() && IsAlphaC(key.back())) {
            key.pop_back();
            hit = target.find(key);
          }
          if (hit == target.end() || hit->second == i || !done.insert(hit->second).second) continue;
          // The sentence around the reference is the anchor.
          std::string_view anchor;
          for (std::string_view sent : Sentences(t)) {
            size_t off = static_cast<size_t>(sent.data() - t.data());
            if (off <= at && at < off + sent.size()) anchor = sent;
          }
          if (anchor.empty()) anchor = t;
          Add(PairSource::kCrossReference, Clip(anchor, 60),
              std::string(Text(s[hit->second].chunk)), s[hit->second].chunk);
        }
      }
    }
  }

  void MineMail(uint32_t d) {
    const DocSlot& doc = r_.docs[d];
    int32_t body = -1, quoted = -1;
    for (uint32_t c : doc.chunks) {
      const ChunkSlot& cs = r_.chunks[c];
      if (!cs.live) continue;
      if (cs.chunk.role == ChunkRole::kBody && body < 0 && CountWords(cs.chunk.text) >= 4)
        body = static_cast<int32_t>(c);
      if (cs.chunk.role == ChunkRole::kQuoted && quoted < 0) quoted = static_cast<int32_t>(c);
    }
    if (body < 0) return;
    if (sources_.Has(PairSource::kMailSubject)) {
      std::string subject = StripSubjectPrefixes(doc.doc.title);
      if (CountWords(subject) >= 1)
        Add(PairSource::kMailSubject, subject, std::string(Text(body)), body);
    }
    if (sources_.Has(PairSource::kReply) && quoted >= 0) {
      // Quote markers are not words the anchor should learn.
      std::string q;
      for (char ch : Text(quoted)) q += ch == '>' ? ' ' : ch;
      Add(PairSource::kReply, Clip(q, 80), std::string(Text(body)), body);
    }
  }

  const Index::Rep& r_;
  const PairSources& sources_;
  std::vector<TrainingPair> pairs_;
  std::set<std::string> seen_;
};

}  // namespace

namespace learn {

std::vector<StreamPosition> Streams(const Index::Rep& r) {
  std::vector<StreamPosition> out(r.chunks.size());
  const DocSlot* prev = nullptr;
  uint32_t stream = 0, position = 0;
  bool first = true;
  for (uint32_t d = 0; d < r.docs.size(); ++d) {
    const DocSlot& doc = r.docs[d];
    if (!doc.live) continue;
    bool joins = prev && !doc.doc.title.empty() && doc.doc.title == prev->doc.title &&
                 doc.doc.kind == DocKind::kDocument && prev->doc.kind == DocKind::kDocument;
    if (!first && !joins) {
      ++stream;
      position = 0;
    }
    first = false;
    for (uint32_t c : doc.chunks) {
      if (r.chunks[c].live) out[c] = {stream, position++};
    }
    prev = &doc;
  }
  return out;
}

}  // namespace learn

const char* PairSourceName(PairSource source) {
  switch (source) {
    case PairSource::kHeading:
      return "heading";
    case PairSource::kCaption:
      return "caption";
    case PairSource::kDefinition:
      return "definition";
    case PairSource::kInverseCloze:
      return "cloze";
    case PairSource::kCrossReference:
      return "xref";
    case PairSource::kMailSubject:
      return "subject";
    case PairSource::kReply:
      return "reply";
    case PairSource::kGenerated:
      return "llm";
    case PairSource::kFeedback:
      return "feedback";
  }
  return "?";
}

uint32_t DefaultEpochs(const PairSources& sources) {
  bool alone = sources.Has(PairSource::kFeedback);
  for (int s = 0; s < kPairSourceCount; ++s) {
    alone = alone && (s == static_cast<int>(PairSource::kFeedback) || !sources.enabled[s]);
  }
  return alone ? kFeedbackOnlyEpochs : EmbedderTrainOptions().epochs;
}

bool NamesPairSource(const std::string& list, PairSource source) {
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    if (Trim(std::string_view(list).substr(begin, end - begin)) == PairSourceName(source)) {
      return true;
    }
    begin = end + 1;
  }
  return false;
}

Result<PairSources> ParsePairSources(const std::string& list) {
  PairSources out;
  for (bool& e : out.enabled) e = false;
  size_t named = 0;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    std::string name(Trim(std::string_view(list).substr(begin, end - begin)));
    begin = end + 1;
    if (name.empty()) continue;
    ++named;
    if (name == "structure" || name == "all") {
      for (int s = 0; s < (name == "all" ? kPairSourceCount : kStructureSourceCount); ++s)
        out.enabled[s] = true;
      continue;
    }
    bool known = false;
    for (int s = 0; s < kPairSourceCount; ++s) {
      if (name == PairSourceName(static_cast<PairSource>(s))) {
        out.enabled[s] = known = true;
      }
    }
    if (!known) {
      return Status::InvalidArgument("unknown training source '" + name +
                                     "' (structure, heading, caption, definition, cloze, xref, "
                                     "subject, reply, llm, all)");
    }
  }
  if (!named) return Status::InvalidArgument("no training source named");
  return out;
}

Result<SourceWeights> ParseSourceWeights(const std::string& list) {
  SourceWeights out;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = list.find(',', begin);
    if (end == std::string::npos) end = list.size();
    std::string_view item = Trim(std::string_view(list).substr(begin, end - begin));
    begin = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument("source weight '" + std::string(item) +
                                     "' is not NAME=WEIGHT (e.g. cloze=0.3)");
    }
    std::string name(Trim(item.substr(0, eq)));
    std::string number(Trim(item.substr(eq + 1)));
    // strtof accepts what a user means by a weight ("0.3", "1e-1"); the
    // whole field must be the number.
    char* stop = nullptr;
    float w = number.empty() ? -1.0f : std::strtof(number.c_str(), &stop);
    if (number.empty() || stop != number.c_str() + number.size() || !(w >= 0.0f && w <= 100.0f)) {
      return Status::InvalidArgument("source weight of '" + name +
                                     "' must be a number in [0, 100], got '" + number + "'");
    }
    auto named = ParsePairSources(name);
    if (!named.ok() || name.find(',') != std::string::npos) {
      return Status::InvalidArgument("unknown training source '" + name +
                                     "' in source weights (structure, heading, caption, "
                                     "definition, cloze, xref, subject, reply, llm, all)");
    }
    for (int s = 0; s < kPairSourceCount; ++s) {
      if (named->enabled[s]) out.weight[s] = w;
    }
  }
  return out;
}

std::vector<TrainingPair> MinePairs(const Index& index, const PairSources& sources) {
  return Miner(*index.rep(), sources).Run();
}

}  // namespace foldback
