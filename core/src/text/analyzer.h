// Analyzer: text -> index terms. Tokenizes on Unicode word boundaries,
// applies NFKC case folding (utf8proc), drops stopwords and stems (Snowball).
// The same analyzer runs at index and at query time, natively and in wasm.
#ifndef FOLDBACK_TEXT_ANALYZER_H_
#define FOLDBACK_TEXT_ANALYZER_H_

#include <tsl/robin_set.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/index.h"

namespace foldback::text {

// Calls `fn` for each word of `text`, case folded (NFKC_Casefold). Words are
// runs of letters, digits and combining marks; an apostrophe between letters
// stays in the word ("party's"), a '.' or ',' between digits too ("12.3",
// "1,000"), and dotted single letters form one word ("U.S.C." -> "usc").
// Words longer than kMaxWordBytes are cut there.
void ForEachWord(std::string_view text, const std::function<void(std::string_view)>& fn);

// The same, with each word's byte span [begin, end) in `text` (as written,
// before folding; a trailing apostrophe is inside the span).
void ForEachWordSpan(std::string_view text,
                     const std::function<void(std::string_view, size_t, size_t)>& fn);

constexpr size_t kMaxWordBytes = 64;

// Words of up to this many bytes have keys that tell them apart (WordKey).
constexpr size_t kShortWordBytes = 7;

// A word as one integer: its length (up to 255) in the top byte, its first
// kShortWordBytes bytes below. Equal words have equal keys; for words of up
// to kShortWordBytes bytes, equal keys mean equal words (longer words with
// equal keys may still differ further on). Comparing and hashing integers
// costs less than comparing strings, each a memcmp call in wasm: the
// question words and the stopwords are found by key, and a query's repeated
// words counted by key.
constexpr uint64_t WordKey(std::string_view w) {
  uint64_t key = uint64_t{w.size() < 255 ? w.size() : 255} << 56;
  const size_t n = w.size() < kShortWordBytes ? w.size() : kShortWordBytes;
  for (size_t i = 0; i < n; ++i) key |= uint64_t{static_cast<unsigned char>(w[i])} << (8 * i);
  return key;
}

// Hash and equality for tables of words keyed by std::string and found by
// string_view without building a key (tsl::robin_map's heterogeneous
// lookup): the stemmer's cache, the stopwords, the index's word-to-term
// table and term dictionary.
//
// Both take the views by reference and read their two fields one by one:
// inside wasm a view copied whole is read as one 64-bit value from where it
// was just written as two 32-bit ones, which the processor cannot forward
// (text/analyzer_inl.h) — a stall on every lookup of a query's words.
struct WordHash {
  using is_transparent = void;
  size_t operator()(const std::string_view& s) const {
    return std::hash<std::string_view>{}(std::string_view(s.data(), s.size()));
  }
};
struct WordEq {
  using is_transparent = void;
  bool operator()(const std::string_view& a, const std::string_view& b) const {
    const size_t n = a.size();
    return n == b.size() && (n == 0 || std::memcmp(a.data(), b.data(), n) == 0);
  }
};

class Analyzer {
 public:
  explicit Analyzer(const TextOptions& options);

  // Calls `fn` for each index term of `text` (folded, not a stopword, stemmed).
  void ForEachTerm(std::string_view text, const std::function<void(std::string_view)>& fn) const;
  // The same without the words `drop` accepts (folded, before stemming): a
  // query's terms without its question words. Defined in text/analyzer_inl.h
  // (include it to call this): the walk, the tests and the stemmer's cache
  // are inlined into the caller, with no std::function or function pointer
  // between them — a query is read on every search, and inside wasm each
  // call that takes a word by value copies it through memory.
  template <typename Drop, typename Fn>
  void ForEachTermUnless(std::string_view text, Drop&& drop, Fn&& fn) const;
  // Convenience: appends the terms of `text` to *terms.
  void Terms(std::string_view text, std::vector<std::string>* terms) const;

  bool IsStopword(std::string_view folded_word) const {
    if (folded_word.size() - 1 < kShortWordBytes) {  // 1 to kShortWordBytes bytes
      const uint64_t key = WordKey(folded_word);
      const size_t mask = short_stopwords_.size() - 1;
      for (size_t i = ShortSlot(key);; i = (i + 1) & mask) {
        if (short_stopwords_[i] == key) return true;
        if (short_stopwords_[i] == 0) return false;
      }
    }
    return IsLongStopword(folded_word);
  }
  // Stems one folded word (returns it unchanged when stemming is off).
  std::string Stem(std::string_view folded_word) const;

  const std::string& stemmer_language() const { return language_; }

 private:
  std::string language_;
  bool stem_ = true;
  // The stopwords, folded; looked up for every word of every query and
  // text. Those of 1 to kShortWordBytes bytes (all of the default list) by
  // WordKey in an open-addressed table (0: an empty slot; no word of a
  // byte or more has key 0): a multiply and a load or two instead of a
  // string hash and a memcmp. The others (longer, or empty) in a hash set.
  std::vector<uint64_t> short_stopwords_;
  int short_shift_ = 64;
  tsl::robin_set<std::string, WordHash, WordEq> stopwords_;
  size_t longest_stopword_ = 0;  // bytes, of those in stopwords_
  bool IsLongStopword(std::string_view folded_word) const;
  size_t ShortSlot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> short_shift_);
  }
};

// foldback's default English stopword list (short on purpose: negations and
// modal verbs such as "not", "no", "shall", "may" carry meaning in contracts).
const std::vector<std::string>& DefaultStopwords();

}  // namespace foldback::text

#endif  // FOLDBACK_TEXT_ANALYZER_H_
