// Redaction: text that must not leave the machine for a remote endpoint
// (account numbers, national identity numbers, e-mail addresses, client
// names ...) replaced before it does.
//
//   auto r = Redactor::Create({{"ssn", R"(\b\d{3}-\d{2}-\d{4}\b)"},
//                              {"email", R"([\w.+-]+@[\w-]+(\.[\w-]+)+)"}});
//   AskOptions o;
//   o.redactor = std::move(r.value());   // every LLM and embedding need's text
//
// The ask session applies it to every message and every text of every need
// before the host sees the need (AskOptions::redactor), and records in the
// trace which rule fired how often — never the text it replaced.
//
// Patterns: a small regular-expression language matched in linear time (a
// Thompson NFA simulated Pike-style: no backtracking, so hostile text cannot
// make a pattern take exponential time or exhaust the stack, as
// std::regex's recursive matchers can on long inputs). It is a subset of
// ECMAScript syntax, and means the same where it overlaps:
//   literals (any UTF-8), .  (any character but \n)
//   [abc] [a-z] [^...]  with escapes inside
//   \d \D \w \W \s \S   ASCII digits, ASCII word characters [A-Za-z0-9_],
//                       whitespace (ASCII and Unicode spaces)
//   \b \B               word boundary / not one (ASCII word characters)
//   \. \\ \[ \( \| \* \+ \? \{ \/ \- \^ \$ ...   the character itself
//   \t \n \r \f \v \xHH \uHHHH
//   (...) (?:...)       grouping (nothing is captured)
//   a|b                 alternation
//   * + ? {n} {n,} {n,m}  greedy repetition (m <= 1000)
//   (?i) at the very start: ASCII case-insensitive
// Not supported (refused with InvalidArgument): anchors ^ $, lazy or
// possessive quantifiers, backreferences, lookaround, named groups, Unicode
// properties, a pattern that can match the empty string.
//
// Matching: leftmost-longest across all rules at once, non-overlapping,
// left to right; a match is at most kMaxMatchChars characters. Input that is
// not valid UTF-8 is repaired (U+FFFD) first.
//
// Thread safety: a Redactor is immutable after Create; Redact may run
// concurrently.
#ifndef FOLDBACK_REDACT_H_
#define FOLDBACK_REDACT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/export.h"
#include "foldback/status.h"

namespace foldback {

struct RedactionRule {
  // Shown in traces and in the default replacement. Letters, digits, '_',
  // '-' and '.', 1..64 bytes.
  std::string name;
  std::string pattern;
  // What a match becomes. Empty: "[REDACTED:<name>]".
  std::string replacement;
};

// How often one rule fired on one text.
struct RedactionCount {
  std::string rule;
  uint32_t count = 0;
};

class FOLDBACK_EXPORT Redactor {
 public:
  // Longest match, in characters.
  static constexpr size_t kMaxMatchChars = 256;
  // Pattern length, bytes.
  static constexpr size_t kMaxPatternBytes = 1024;
  // NFA size of all rules together (counted repetition is unrolled).
  static constexpr size_t kMaxProgramSize = 20000;
  // Rules in one redactor.
  static constexpr size_t kMaxRules = 64;

  // InvalidArgument naming the rule and the position for a pattern outside
  // the language above, a bad name or a duplicate name; OutOfRange past the
  // limits.
  static Result<std::unique_ptr<Redactor>> Create(const std::vector<RedactionRule>& rules);
  ~Redactor();

  // `text` with every match replaced. `counts` (optional) receives one entry
  // per rule that fired, in rule order.
  std::string Redact(std::string_view text, std::vector<RedactionCount>* counts = nullptr) const;

  const std::vector<RedactionRule>& rules() const;

  struct Rep;

 private:
  explicit Redactor(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace foldback

#endif  // FOLDBACK_REDACT_H_
