// The analyzer's word walk and stemmer cache, for callers that read words on
// every search (Index::Rep::QueryTermsInto): Analyzer::ForEachTermUnless
// inlines the walk, the stopword and drop tests and the stemmer's cache into
// the caller. Inside wasm a word passed by value to a function that is not
// inlined is written to the shadow stack as two 32-bit halves and read back
// as one 64-bit value, which the processor cannot forward from the two
// stores: a stall of a dozen cycles or more per call and word, about a
// fifth of the time of reading a query there (docs/benchmarks.md, "A query's
// words without store-forwarding stalls"). Internal to the core;
// analyzer.cc holds the out-of-line parts.
#ifndef FOLDBACK_TEXT_ANALYZER_INL_H_
#define FOLDBACK_TEXT_ANALYZER_INL_H_

#include <tsl/robin_map.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "text/analyzer.h"
#include "text/utf8.h"

struct sb_stemmer;

namespace foldback::text {
namespace detail {

// Letters, digits, combining marks (Unicode categories L*, M[nc], N*).
bool IsWordCategory(char32_t cp);
inline bool IsDigit(char32_t cp) { return cp >= '0' && cp <= '9'; }
inline bool IsLetter(char32_t cp) { return IsWordCategory(cp) && !IsDigit(cp); }

// Appends the NFKC case fold of `raw` to *out.
void FoldInto(std::string_view raw, std::string* out);

// The code point at text[*pos], *pos advanced past it: an ASCII byte here,
// others by DecodeUtf8.
inline char32_t NextCodePoint(std::string_view text, size_t* pos) {
  const unsigned char b = static_cast<unsigned char>(text[*pos]);
  if (b < 0x80) {
    ++*pos;
    return b;
  }
  return DecodeUtf8(text, pos);
}

struct StemmerDeleter {
  void operator()(sb_stemmer* s) const;
};

// One Snowball stemmer per thread and language: sb_stemmer is not
// thread-safe. A bounded cache of stems saves most stemming work.
class ThreadStemmer {
 public:
  explicit ThreadStemmer(const std::string& language);
  bool ok() const { return stemmer_ != nullptr; }
  // The word as its bytes (scalars: see the top of this file).
  const std::string& Stem(const char* data, size_t size) {
    const std::string_view word(data, size);
    auto it = cache_.find(word);  // no key built: a query's words are looked up as they are
    if (it != cache_.end()) return it->second;
    return StemAndKeep(data, size);
  }

 private:
  // Stems a word the cache does not hold and keeps it there.
  const std::string& StemAndKeep(const char* data, size_t size);

  static constexpr size_t kMaxCache = 1 << 18;
  std::unique_ptr<sb_stemmer, StemmerDeleter> stemmer_;
  // Found by string_view (a std::string key per looked-up word was an
  // allocation for every word past the short-string buffer: 15 bytes in
  // libstdc++, 10 in wasm32's libc++).
  // The hash is stored: a probe compares bytes only when the hashes agree.
  tsl::robin_map<std::string, std::string, WordHash, WordEq,
                 std::allocator<std::pair<std::string, std::string>>, /*StoreHash=*/true>
      cache_;
};

// This thread's stemmer for `language`; null when Snowball has none.
ThreadStemmer* StemmerFor(const std::string& language);

// ASCII letters and digits, a byte at a time: one load instead of three
// range tests in the walk's innermost loop (40 % of the walk's time
// natively before the table, by perf annotate).
constexpr auto kAsciiAlnum = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }
  return t;
}();

inline bool IsAsciiAlnum(unsigned char c) { return kAsciiAlnum[c]; }

// ForEachWordSpan's walk, with `fn` called directly (ForEachWord and the
// stemming callers pay one std::function call a word, not two). Runs of
// ASCII letters and digits — nearly all of English text — are taken whole
// instead of a code point at a time; what they append and how they count
// letters is what the code point path below does for each of them.
//
// `fn(data, size, begin, end)` gets each word's bytes and span as scalars,
// not as a std::string_view: inside wasm a view passed to a function that
// is not inlined goes through memory (see the top of this file).
template <typename Fn>
void WalkWords(std::string_view text, Fn&& fn) {
  std::string raw;    // current word, as written (apostrophes normalised)
  std::string folded;
  size_t raw_begin = 0, raw_end = 0;  // the word's bytes in `text`
  auto flush = [&]() {
    if (raw.empty()) return;
    folded.clear();
    FoldInto(raw, &folded);
    // Drop a trailing apostrophe ("parties'").
    while (!folded.empty() && folded.back() == '\'') folded.pop_back();
    if (!folded.empty()) {
      const std::string_view word = TruncateUtf8(folded, kMaxWordBytes);
      fn(word.data(), word.size(), raw_begin, raw_end);
    }
    raw.clear();
  };
  size_t pos = 0;
  size_t prev_letters = 0;  // letters since the word start or the last '.'
  char lower[kMaxWordBytes];  // a whole-run word, folded (the fast path below)
  while (pos < text.size()) {
    if (IsAsciiAlnum(static_cast<unsigned char>(text[pos]))) {
      // The run, its first kMaxWordBytes folded into `lower` on the way
      // (an ASCII letter or digit folds to itself with bit 0x20 set).
      size_t run = pos;
      const size_t copy_end = std::min(text.size(), pos + kMaxWordBytes);
      for (; run < copy_end && IsAsciiAlnum(static_cast<unsigned char>(text[run])); ++run) {
        lower[run - pos] = static_cast<char>(text[run] | 0x20);
      }
      while (run < text.size() && IsAsciiAlnum(static_cast<unsigned char>(text[run]))) ++run;
      // Most words: a run starting a word and ended by the text's end or an
      // ASCII character that joins nothing (not an apostrophe, '.' or ',').
      // The word is then the run itself, folded and cut as flush() would,
      // without building `raw` and `folded` a call at a time. (The letter
      // count is not needed then: the character after the run sets it to 0.)
      if (raw.empty()) {
        const unsigned char next = run < text.size() ? static_cast<unsigned char>(text[run]) : ' ';
        if (next < 0x80 && next != '\'' && next != '.' && next != ',') {
          fn(static_cast<const char*>(lower), std::min(run - pos, kMaxWordBytes), pos, run);
          pos = run;
          continue;
        }
      }
      // Letters since the run's last digit (a digit counts as 2), else the
      // count so far plus the run: what the code point path counts.
      size_t d = run;
      while (d > pos && !IsDigit(static_cast<unsigned char>(text[d - 1]))) --d;
      prev_letters = d > pos ? 2 + (run - d) : prev_letters + (run - pos);
      if (raw.empty()) raw_begin = pos;
      raw.append(text.data() + pos, run - pos);
      raw_end = pos = run;
      continue;
    }
    size_t start = pos;
    char32_t cp = NextCodePoint(text, &pos);
    if (IsWordCategory(cp)) {
      if (raw.empty()) raw_begin = start;
      raw.append(text.data() + start, pos - start);
      raw_end = pos;
      prev_letters = IsLetter(cp) ? prev_letters + 1 : 2;
      continue;
    }
    if (!raw.empty() && pos < text.size()) {
      size_t peek = pos;
      char32_t next = NextCodePoint(text, &peek);
      char32_t last = static_cast<unsigned char>(raw.back());
      if ((cp == '\'' || cp == 0x2019) && IsLetter(next)) {
        raw.push_back('\'');
        prev_letters = 0;
        continue;
      }
      if ((cp == '.' || cp == ',') && IsDigit(last) && IsDigit(next)) {
        raw.push_back(static_cast<char>(cp));
        continue;
      }
      // Dotted single letters: "U.S.C." -> "USC".
      if (cp == '.' && prev_letters == 1 && IsLetter(next)) {
        size_t after = peek;
        char32_t after_cp = after < text.size() ? NextCodePoint(text, &after) : U' ';
        if (!IsWordCategory(after_cp)) {
          prev_letters = 0;
          continue;
        }
      }
    }
    prev_letters = 0;
    flush();
  }
  flush();
}

}  // namespace detail

template <typename Drop, typename Fn>
void Analyzer::ForEachTermUnless(std::string_view text, Drop&& drop, Fn&& fn) const {
  detail::ThreadStemmer* stemmer = stem_ ? detail::StemmerFor(language_) : nullptr;
  detail::WalkWords(text, [&](const char* data, size_t size, size_t, size_t) {
    const std::string_view word(data, size);
    if (drop(word) || IsStopword(word)) return;
    if (stemmer) {
      fn(std::string_view(stemmer->Stem(data, size)));
    } else {
      fn(word);
    }
  });
}

}  // namespace foldback::text

#endif  // FOLDBACK_TEXT_ANALYZER_INL_H_
