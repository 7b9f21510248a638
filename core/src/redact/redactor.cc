// Redactor: a small regular-expression language compiled to a Thompson NFA
// and simulated Pike-style (one pass over the text, a set of threads, no
// backtracking), so the time is O(text × program) whatever the text — the
// text is hostile (it comes from documents and mail), the patterns come from
// the firm's configuration. See foldback/redact.h for the language.
#include "foldback/redact.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "text/utf8.h"

namespace foldback {
namespace {

using Ranges = std::vector<std::pair<char32_t, char32_t>>;  // sorted, disjoint, inclusive

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxGroupDepth = 100;
constexpr int kMaxRepeat = 1000;

bool IsWordChar(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

char32_t AsciiLower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }
char32_t AsciiUpper(char32_t c) { return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c; }

Ranges Normalized(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (const auto& x : r) {
    if (!out.empty() && x.first <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, x.second);
    } else {
      out.push_back(x);
    }
  }
  return out;
}

Ranges Complement(const Ranges& r) {
  Ranges out;
  char32_t next = 0;
  for (const auto& [lo, hi] : r) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  return out;
}

Ranges DigitRanges() { return {{'0', '9'}}; }
Ranges WordRanges() { return {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; }
Ranges SpaceRanges() {
  // ECMAScript's WhiteSpace and LineTerminator.
  return Normalized({{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                     {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                     {0xFEFF, 0xFEFF}});
}

bool InRanges(const Ranges& r, char32_t c) {
  // The first range starting after c; the one before it may hold c.
  auto it = std::upper_bound(r.begin(), r.end(), c,
                             [](char32_t v, const std::pair<char32_t, char32_t>& x) { return v < x.first; });
  if (it == r.begin()) return false;
  --it;
  return c <= it->second;
}

// Decodes the UTF-8 character at s[*i] (s is valid UTF-8) and advances *i.
char32_t NextChar(std::string_view s, size_t* i) {
  unsigned char c = static_cast<unsigned char>(s[*i]);
  size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n && *i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[*i + k]) & 0x3F);
  }
  *i += n;
  return cp;
}

// ---------------------------------------------------------------- syntax

struct Node {
  enum class Kind { kClass, kBoundary, kNotBoundary, kConcat, kAlt, kRepeat, kEmpty };
  Kind kind = Kind::kEmpty;
  Ranges ranges;              // kClass
  std::vector<Node> kids;     // kConcat, kAlt, kRepeat (one)
  int min = 0, max = 0;       // kRepeat; max -1 = unbounded
};

bool Nullable(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kClass: return false;
    case Node::Kind::kBoundary:
    case Node::Kind::kNotBoundary:
    case Node::Kind::kEmpty: return true;
    case Node::Kind::kConcat:
      return std::all_of(n.kids.begin(), n.kids.end(), Nullable);
    case Node::Kind::kAlt:
      return std::any_of(n.kids.begin(), n.kids.end(), Nullable);
    case Node::Kind::kRepeat: return n.min == 0 || Nullable(n.kids[0]);
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  Status Parse(Node* out, bool* icase) {
    *icase = false;
    if (p_.substr(0, 4) == "(?i)") {
      *icase = true;
      i_ = 4;
    }
    FB_RETURN_IF_ERROR(Alt(out, 0));
    if (i_ < p_.size()) return Error("unmatched ')'");
    return Status::OK();
  }

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument(fmt::format(FMT_STRING("{} at offset {}"), what, i_));
  }
  bool More() const { return i_ < p_.size(); }
  char Peek() const { return p_[i_]; }

  Status Alt(Node* out, int depth) {
    Node first;
    FB_RETURN_IF_ERROR(Concat(&first, depth));
    if (!More() || Peek() != '|') {
      *out = std::move(first);
      return Status::OK();
    }
    out->kind = Node::Kind::kAlt;
    out->kids.push_back(std::move(first));
    while (More() && Peek() == '|') {
      ++i_;
      Node next;
      FB_RETURN_IF_ERROR(Concat(&next, depth));
      out->kids.push_back(std::move(next));
    }
    return Status::OK();
  }

  Status Concat(Node* out, int depth) {
    out->kind = Node::Kind::kConcat;
    while (More() && Peek() != '|' && Peek() != ')') {
      Node atom;
      FB_RETURN_IF_ERROR(Repeat(&atom, depth));
      out->kids.push_back(std::move(atom));
    }
    if (out->kids.empty()) out->kind = Node::Kind::kEmpty;
    if (out->kids.size() == 1) {
      Node only = std::move(out->kids[0]);
      *out = std::move(only);
    }
    return Status::OK();
  }

  Status Number(int* n) {
    size_t start = i_;
    long v = 0;
    while (More() && Peek() >= '0' && Peek() <= '9') {
      v = v * 10 + (Peek() - '0');
      if (v > kMaxRepeat)
        return Status::OutOfRange(
            fmt::format(FMT_STRING("repetition count above {} at offset {}"), kMaxRepeat, start));
      ++i_;
    }
    if (i_ == start) return Error("'{' must start a repetition {n}, {n,} or {n,m} (write \\{ for the character)");
    *n = static_cast<int>(v);
    return Status::OK();
  }

  Status Repeat(Node* out, int depth) {
    Node atom;
    FB_RETURN_IF_ERROR(Atom(&atom, depth));
    bool quantified = false;
    while (More()) {
      char c = Peek();
      int lo = 0, hi = 0;  // every path sets both (GCC -Wmaybe-uninitialized)
      if (c == '*') {
        lo = 0, hi = -1, ++i_;
      } else if (c == '+') {
        lo = 1, hi = -1, ++i_;
      } else if (c == '?') {
        lo = 0, hi = 1, ++i_;
      } else if (c == '{') {
        ++i_;
        FB_RETURN_IF_ERROR(Number(&lo));
        hi = lo;
        if (More() && Peek() == ',') {
          ++i_;
          if (More() && Peek() == '}') {
            hi = -1;
          } else {
            FB_RETURN_IF_ERROR(Number(&hi));
          }
        }
        if (!More() || Peek() != '}') return Error("unterminated repetition {n,m}");
        ++i_;
        if (hi != -1 && hi < lo) return Error("repetition {n,m} with m < n");
      } else {
        break;
      }
      if (quantified) return Error("a quantifier follows another (lazy and possessive forms are not supported)");
      if (atom.kind == Node::Kind::kBoundary || atom.kind == Node::Kind::kNotBoundary) {
        return Error("nothing to repeat");
      }
      quantified = true;
      Node rep;
      rep.kind = Node::Kind::kRepeat;
      rep.min = lo;
      rep.max = hi;
      rep.kids.push_back(std::move(atom));
      atom = std::move(rep);
    }
    *out = std::move(atom);
    return Status::OK();
  }

  Status Hex(int digits, char32_t* out) {
    char32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (!More()) return Error("incomplete \\x or \\u escape");
      char c = Peek();
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return Error("bad hex digit in \\x or \\u escape");
      v = v * 16 + static_cast<char32_t>(d);
      ++i_;
    }
    *out = v;
    return Status::OK();
  }

  // After a backslash. Sets *ranges (a class or one character) or *boundary
  // (1: \b, 2: \B; only outside classes).
  Status Escape(bool in_class, Ranges* ranges, int* boundary) {
    *boundary = 0;
    if (!More()) return Error("pattern ends with a backslash");
    char c = Peek();
    ++i_;
    auto one = [&](char32_t ch) {
      *ranges = {{ch, ch}};
      return Status::OK();
    };
    switch (c) {
      case 'd': *ranges = DigitRanges(); return Status::OK();
      case 'D': *ranges = Complement(DigitRanges()); return Status::OK();
      case 'w': *ranges = WordRanges(); return Status::OK();
      case 'W': *ranges = Complement(WordRanges()); return Status::OK();
      case 's': *ranges = SpaceRanges(); return Status::OK();
      case 'S': *ranges = Complement(SpaceRanges()); return Status::OK();
      case 'b':
      case 'B':
        if (in_class) return Error("\\b and \\B are not supported inside [...]");
        *boundary = c == 'b' ? 1 : 2;
        return Status::OK();
      case 't': return one('\t');
      case 'n': return one('\n');
      case 'r': return one('\r');
      case 'f': return one('\f');
      case 'v': return one('\v');
      case 'x': {
        char32_t v = 0;
        FB_RETURN_IF_ERROR(Hex(2, &v));
        return one(v);
      }
      case 'u': {
        char32_t v = 0;
        FB_RETURN_IF_ERROR(Hex(4, &v));
        return one(v);
      }
      default: break;
    }
    if ((c >= '0' && c <= '9')) return Error("backreferences and octal escapes are not supported");
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      return Error(std::string("unknown escape \\") + c);
    }
    if (static_cast<unsigned char>(c) >= 0x80) return Error("escape of a non-ASCII character");
    return one(static_cast<unsigned char>(c));
  }

  Status Class(Node* out) {
    // After '['.
    bool negate = false;
    if (More() && Peek() == '^') {
      negate = true;
      ++i_;
    }
    Ranges r;
    bool first = true;
    while (true) {
      if (!More()) return Error("unterminated [...]");
      if (Peek() == ']' && !first) {
        ++i_;
        break;
      }
      if (Peek() == ']') return Error("empty [] (write \\] for the character)");
      first = false;
      Ranges lo_set;
      char32_t lo = 0;
      bool single = false;
      if (Peek() == '\\') {
        ++i_;
        int b;
        FB_RETURN_IF_ERROR(Escape(true, &lo_set, &b));
        single = lo_set.size() == 1 && lo_set[0].first == lo_set[0].second;
        lo = single ? lo_set[0].first : 0;
      } else {
        lo = NextChar(p_, &i_);
        lo_set = {{lo, lo}};
        single = true;
      }
      // A range a-b (a '-' before ']' is the character itself).
      if (single && i_ + 1 < p_.size() && Peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        char32_t hi;
        if (Peek() == '\\') {
          ++i_;
          Ranges hi_set;
          int b;
          FB_RETURN_IF_ERROR(Escape(true, &hi_set, &b));
          if (hi_set.size() != 1 || hi_set[0].first != hi_set[0].second) {
            return Error("a range cannot end in a class escape");
          }
          hi = hi_set[0].first;
        } else {
          hi = NextChar(p_, &i_);
        }
        if (hi < lo) return Error("range out of order in [...]");
        r.emplace_back(lo, hi);
      } else {
        r.insert(r.end(), lo_set.begin(), lo_set.end());
      }
    }
    r = Normalized(std::move(r));
    out->kind = Node::Kind::kClass;
    out->ranges = negate ? Complement(r) : r;
    return Status::OK();
  }

  Status Atom(Node* out, int depth) {
    char c = Peek();
    switch (c) {
      case '(': {
        if (depth >= kMaxGroupDepth) return Status::OutOfRange("groups nested deeper than 100");
        ++i_;
        if (More() && Peek() == '?') {
          if (p_.substr(i_, 2) != "?:") {
            return Error("only (?:...) groups are supported (no lookaround, named groups or inline flags)");
          }
          i_ += 2;
        }
        FB_RETURN_IF_ERROR(Alt(out, depth + 1));
        if (!More() || Peek() != ')') return Error("missing ')'");
        ++i_;
        return Status::OK();
      }
      case '[':
        ++i_;
        return Class(out);
      case '.':
        ++i_;
        out->kind = Node::Kind::kClass;
        out->ranges = Complement({{'\n', '\n'}});
        return Status::OK();
      case '\\': {
        ++i_;
        int boundary;
        FB_RETURN_IF_ERROR(Escape(false, &out->ranges, &boundary));
        out->kind = boundary == 1   ? Node::Kind::kBoundary
                    : boundary == 2 ? Node::Kind::kNotBoundary
                                    : Node::Kind::kClass;
        return Status::OK();
      }
      case '^':
      case '$': return Error("anchors ^ and $ are not supported");
      case '*':
      case '+':
      case '?': return Error("nothing to repeat");
      case '{': return Error("nothing to repeat (write \\{ for the character)");
      default: {
        char32_t ch = NextChar(p_, &i_);
        out->kind = Node::Kind::kClass;
        out->ranges = {{ch, ch}};
        return Status::OK();
      }
    }
  }

  std::string_view p_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------- program

struct Inst {
  enum class Op : uint8_t { kClass, kSplit, kJmp, kMatch, kBoundary, kNotBoundary };
  Op op = Op::kMatch;
  bool icase = false;
  uint32_t x = 0;  // kClass: class index; kSplit, kJmp: target; kMatch: rule
  uint32_t y = 0;  // kSplit: second target (lower priority)
};

class Compiler {
 public:
  Compiler(std::vector<Inst>* prog, std::vector<Ranges>* classes) : prog_(prog), classes_(classes) {}

  Status Emit(const Node& n, bool icase) {
    if (prog_->size() > Redactor::kMaxProgramSize) {
      return Status::OutOfRange(fmt::format(
          FMT_STRING("the patterns compile to more than {} states"), Redactor::kMaxProgramSize));
    }
    switch (n.kind) {
      case Node::Kind::kEmpty: return Status::OK();
      case Node::Kind::kClass: {
        Inst in;
        in.op = Inst::Op::kClass;
        in.icase = icase;
        in.x = static_cast<uint32_t>(classes_->size());
        classes_->push_back(n.ranges);
        prog_->push_back(in);
        return Status::OK();
      }
      case Node::Kind::kBoundary:
      case Node::Kind::kNotBoundary: {
        Inst in;
        in.op = n.kind == Node::Kind::kBoundary ? Inst::Op::kBoundary : Inst::Op::kNotBoundary;
        prog_->push_back(in);
        return Status::OK();
      }
      case Node::Kind::kConcat:
        for (const Node& k : n.kids) FB_RETURN_IF_ERROR(Emit(k, icase));
        return Status::OK();
      case Node::Kind::kAlt: {
        // split L1, next; L1: a; jmp end; next: split L2, ... ; last
        std::vector<size_t> jumps;
        for (size_t k = 0; k < n.kids.size(); ++k) {
          if (k + 1 < n.kids.size()) {
            size_t split = Push(Inst::Op::kSplit);
            (*prog_)[split].x = static_cast<uint32_t>(prog_->size());
            FB_RETURN_IF_ERROR(Emit(n.kids[k], icase));
            jumps.push_back(Push(Inst::Op::kJmp));
            (*prog_)[split].y = static_cast<uint32_t>(prog_->size());
          } else {
            FB_RETURN_IF_ERROR(Emit(n.kids[k], icase));
          }
        }
        for (size_t j : jumps) (*prog_)[j].x = static_cast<uint32_t>(prog_->size());
        return Status::OK();
      }
      case Node::Kind::kRepeat: {
        const Node& body = n.kids[0];
        for (int k = 0; k < n.min; ++k) FB_RETURN_IF_ERROR(Emit(body, icase));
        if (n.max == -1) {
          // L: split body, end; body; jmp L
          size_t split = Push(Inst::Op::kSplit);
          (*prog_)[split].x = static_cast<uint32_t>(prog_->size());
          FB_RETURN_IF_ERROR(Emit(body, icase));
          size_t jmp = Push(Inst::Op::kJmp);
          (*prog_)[jmp].x = static_cast<uint32_t>(split);
          (*prog_)[split].y = static_cast<uint32_t>(prog_->size());
        } else {
          // (body (body (...)?)?)? — each optional copy skips to the end.
          std::vector<size_t> splits;
          for (int k = n.min; k < n.max; ++k) {
            size_t split = Push(Inst::Op::kSplit);
            (*prog_)[split].x = static_cast<uint32_t>(prog_->size());
            splits.push_back(split);
            FB_RETURN_IF_ERROR(Emit(body, icase));
          }
          for (size_t s : splits) (*prog_)[s].y = static_cast<uint32_t>(prog_->size());
        }
        return Status::OK();
      }
    }
    return Status::OK();
  }

 private:
  size_t Push(Inst::Op op) {
    Inst in;
    in.op = op;
    prog_->push_back(in);
    return prog_->size() - 1;
  }

  std::vector<Inst>* prog_;
  std::vector<Ranges>* classes_;
};

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

}  // namespace

struct Redactor::Rep {
  std::vector<RedactionRule> rules;
  std::vector<Inst> prog;
  std::vector<Ranges> classes;
  uint32_t start = 0;

  bool ClassMatches(const Inst& in, char32_t c) const {
    const Ranges& r = classes[in.x];
    if (InRanges(r, c)) return true;
    if (in.icase && c < 0x80) {
      char32_t l = AsciiLower(c), u = AsciiUpper(c);
      return (l != c && InRanges(r, l)) || (u != c && InRanges(r, u));
    }
    return false;
  }
};

Redactor::Redactor(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Redactor::~Redactor() = default;

const std::vector<RedactionRule>& Redactor::rules() const { return rep_->rules; }

Result<std::unique_ptr<Redactor>> Redactor::Create(const std::vector<RedactionRule>& rules) {
  if (rules.size() > kMaxRules) {
    return Status::OutOfRange(fmt::format(FMT_STRING("more than {} redaction rules"), kMaxRules));
  }
  auto rep = std::make_unique<Rep>();
  std::vector<uint32_t> starts;
  for (size_t k = 0; k < rules.size(); ++k) {
    const RedactionRule& rule = rules[k];
    const std::string where = "redaction rule '" + rule.name + "': ";
    if (!ValidName(rule.name)) {
      return Status::InvalidArgument(fmt::format(
          FMT_STRING(
              "redaction rule {}: a name of 1..64 letters, digits, '_', '-' or '.' is required"),
          k + 1));
    }
    for (size_t j = 0; j < k; ++j) {
      if (rules[j].name == rule.name) return Status::InvalidArgument(where + "the name is used twice");
    }
    if (rule.pattern.empty()) return Status::InvalidArgument(where + "empty pattern");
    if (rule.pattern.size() > kMaxPatternBytes) {
      return Status::OutOfRange(
          fmt::format(FMT_STRING("{}pattern longer than {} bytes"), where, kMaxPatternBytes));
    }
    if (!text::IsValidUtf8(rule.pattern) || !text::IsValidUtf8(rule.replacement)) {
      return Status::InvalidArgument(where + "pattern and replacement must be UTF-8");
    }
    if (rule.replacement.size() > 256) {
      return Status::OutOfRange(where + "replacement longer than 256 bytes");
    }
    Node ast;
    bool icase = false;
    Status s = Parser(rule.pattern).Parse(&ast, &icase);
    if (!s.ok()) {
      return s.code() == Status::Code::kOutOfRange ? Status::OutOfRange(where + s.message())
                              : Status::InvalidArgument(where + s.message());
    }
    if (Nullable(ast)) {
      return Status::InvalidArgument(where + "the pattern can match the empty string");
    }
    starts.push_back(static_cast<uint32_t>(rep->prog.size()));
    Compiler c(&rep->prog, &rep->classes);
    s = c.Emit(ast, icase);
    if (!s.ok()) return Status::OutOfRange(where + s.message());
    Inst match;
    match.op = Inst::Op::kMatch;
    match.x = static_cast<uint32_t>(k);
    rep->prog.push_back(match);
    RedactionRule kept = rule;
    if (kept.replacement.empty()) kept.replacement = "[REDACTED:" + rule.name + "]";
    rep->rules.push_back(std::move(kept));
  }
  // The entry: a chain of splits trying the rules in order.
  rep->start = static_cast<uint32_t>(rep->prog.size());
  for (size_t k = 0; k < starts.size(); ++k) {
    Inst in;
    if (k + 1 < starts.size()) {
      in.op = Inst::Op::kSplit;
      in.x = starts[k];
      in.y = static_cast<uint32_t>(rep->prog.size() + 1);
    } else {
      in.op = Inst::Op::kJmp;
      in.x = starts[k];
    }
    rep->prog.push_back(in);
  }
  if (rep->prog.size() > kMaxProgramSize) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("the patterns compile to more than {} states"), kMaxProgramSize));
  }
  return std::unique_ptr<Redactor>(new Redactor(std::move(rep)));
}

std::string Redactor::Redact(std::string_view input, std::vector<RedactionCount>* counts) const {
  const Rep& r = *rep_;
  if (counts) counts->clear();
  if (r.rules.empty() || input.empty()) return std::string(input);
  std::string repaired;
  std::string_view text = input;
  if (!text::IsValidUtf8(input)) {
    repaired = text::RepairUtf8(input);
    text = repaired;
  }
  // Characters and their byte offsets (off[n] = text.size()).
  std::vector<char32_t> cp;
  std::vector<size_t> off;
  cp.reserve(text.size());
  off.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size();) {
    off.push_back(i);
    cp.push_back(NextChar(text, &i));
  }
  const size_t n = cp.size();
  off.push_back(text.size());

  const size_t states = r.prog.size();
  // Thread lists: sparse sets of program counters, each with the start of
  // its match; list order is priority order (earlier start first).
  struct List {
    std::vector<uint32_t> pcs;
    std::vector<size_t> starts;
    std::vector<uint32_t> mark;  // generation stamp per pc
  };
  List lists[2];
  for (List& l : lists) l.mark.assign(states, 0);
  uint32_t generation = 0;
  std::vector<std::pair<uint32_t, size_t>> stack;  // (pc, start)

  struct Best {
    bool found = false;
    size_t start = 0, end = 0;
    uint32_t rule = 0;
  } best;

  auto word_at = [&](size_t pos) { return pos < n && IsWordChar(cp[pos]); };
  auto boundary = [&](size_t pos) { return (pos > 0 && IsWordChar(cp[pos - 1])) != word_at(pos); };

  // Adds the epsilon closure of (pc, start) at text position `pos`.
  auto add = [&](List& l, uint32_t pc0, size_t start, size_t pos) {
    stack.clear();
    stack.emplace_back(pc0, start);
    while (!stack.empty()) {
      auto [pc, s] = stack.back();
      stack.pop_back();
      if (l.mark[pc] == generation) continue;
      l.mark[pc] = generation;
      const Inst& in = r.prog[pc];
      switch (in.op) {
        case Inst::Op::kJmp: stack.emplace_back(in.x, s); break;
        case Inst::Op::kSplit:
          stack.emplace_back(in.y, s);  // pushed first: explored second
          stack.emplace_back(in.x, s);
          break;
        case Inst::Op::kBoundary:
          if (boundary(pos)) stack.emplace_back(pc + 1, s);
          break;
        case Inst::Op::kNotBoundary:
          if (!boundary(pos)) stack.emplace_back(pc + 1, s);
          break;
        case Inst::Op::kMatch:
          if (!best.found || s < best.start || (s == best.start && pos > best.end) ||
              (s == best.start && pos == best.end && in.x < best.rule)) {
            best = {true, s, pos, in.x};
          }
          break;
        case Inst::Op::kClass:
          l.pcs.push_back(pc);
          l.starts.push_back(s);
          break;
      }
    }
  };

  std::string out;
  std::vector<uint32_t> fired(r.rules.size(), 0);
  size_t copied = 0;  // characters already copied to `out`
  size_t scan = 0;
  while (scan < n) {
    best = Best();
    List* cur = &lists[0];
    List* next = &lists[1];
    cur->pcs.clear();
    cur->starts.clear();
    ++generation;
    size_t pos = scan;
    while (true) {
      if (!best.found) add(*cur, r.start, pos, pos);
      if (cur->pcs.empty() && (best.found || pos >= n)) break;
      if (pos >= n) break;
      ++generation;
      next->pcs.clear();
      next->starts.clear();
      for (size_t t = 0; t < cur->pcs.size(); ++t) {
        size_t s = cur->starts[t];
        if (best.found && s > best.start) continue;
        if (pos + 1 - s > kMaxMatchChars) continue;
        const Inst& in = r.prog[cur->pcs[t]];
        if (r.ClassMatches(in, cp[pos])) add(*next, cur->pcs[t] + 1, s, pos + 1);
      }
      std::swap(cur, next);
      ++pos;
    }
    if (!best.found) break;
    out.append(text.substr(off[copied], off[best.start] - off[copied]));
    out += r.rules[best.rule].replacement;
    ++fired[best.rule];
    copied = best.end;
    scan = best.end;
  }
  out.append(text.substr(off[copied]));
  if (counts) {
    for (size_t k = 0; k < fired.size(); ++k) {
      if (fired[k]) counts->push_back({r.rules[k].name, fired[k]});
    }
  }
  return out;
}

}  // namespace foldback
