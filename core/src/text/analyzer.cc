#include "text/analyzer.h"

#include <libstemmer.h>
#include <tsl/robin_map.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "text/utf8.h"

namespace foldback::text {
namespace {

bool IsWordCategory(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool IsDigit(char32_t cp) { return cp >= '0' && cp <= '9'; }
bool IsLetter(char32_t cp) { return IsWordCategory(cp) && !IsDigit(cp); }

// Appends the NFKC case fold of `raw` to *out.
void FoldInto(std::string_view raw, std::string* out) {
  bool ascii = true;
  for (char c : raw) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) {
    const size_t at = out->size();
    out->resize(at + raw.size());
    char* o = out->data() + at;
    for (size_t i = 0; i < raw.size(); ++i) {
      const char c = raw[i];
      o[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    return;
  }
  utf8proc_uint8_t* folded = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(raw.data()),
                                    static_cast<utf8proc_ssize_t>(raw.size()), &folded,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                                                   UTF8PROC_COMPOSE |
                                                                   UTF8PROC_CASEFOLD));
  if (n >= 0) out->append(reinterpret_cast<const char*>(folded), static_cast<size_t>(n));
  std::free(folded);
}

struct StemmerDeleter {
  void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
};

// One Snowball stemmer per thread and language: sb_stemmer is not
// thread-safe. A bounded cache of stems saves most stemming work.
class ThreadStemmer {
 public:
  explicit ThreadStemmer(const std::string& language)
      : stemmer_(sb_stemmer_new(language.c_str(), "UTF_8")) {}
  bool ok() const { return stemmer_ != nullptr; }
  const std::string& Stem(std::string_view word) {
    auto it = cache_.find(word);  // no key built: a query's words are looked up as they are
    if (it != cache_.end()) return it->second;
    if (cache_.size() > kMaxCache) cache_.clear();
    const sb_symbol* s = sb_stemmer_stem(stemmer_.get(),
                                         reinterpret_cast<const sb_symbol*>(word.data()),
                                         static_cast<int>(word.size()));
    std::string stem = s ? std::string(reinterpret_cast<const char*>(s),
                                       static_cast<size_t>(sb_stemmer_length(stemmer_.get())))
                         : std::string(word);
    return cache_.emplace(std::string(word), std::move(stem)).first->second;
  }

 private:
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

ThreadStemmer* StemmerFor(const std::string& language) {
  thread_local std::unordered_map<std::string, std::unique_ptr<ThreadStemmer>> stemmers;
  // The last language asked for, without hashing its name again (Stem is
  // called a word at a time).
  thread_local std::string last_language;
  thread_local ThreadStemmer* last = nullptr;
  if (last && language == last_language) return last->ok() ? last : nullptr;
  auto& slot = stemmers[language];
  if (!slot) slot = std::make_unique<ThreadStemmer>(language);
  last_language = language;
  last = slot.get();
  return slot->ok() ? slot.get() : nullptr;
}

}  // namespace

namespace {

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

bool IsAsciiAlnum(unsigned char c) { return kAsciiAlnum[c]; }

// ForEachWordSpan's walk, with `fn` called directly (ForEachWord and the
// stemming callers pay one std::function call a word, not two). Runs of
// ASCII letters and digits — nearly all of English text — are taken whole
// instead of a code point at a time; what they append and how they count
// letters is what the code point path below does for each of them.
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
    if (!folded.empty()) fn(TruncateUtf8(folded, kMaxWordBytes), raw_begin, raw_end);
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
          fn(std::string_view(lower, std::min(run - pos, kMaxWordBytes)), pos, run);
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
    char32_t cp = DecodeUtf8(text, &pos);
    if (IsWordCategory(cp)) {
      if (raw.empty()) raw_begin = start;
      raw.append(text.data() + start, pos - start);
      raw_end = pos;
      prev_letters = IsLetter(cp) ? prev_letters + 1 : 2;
      continue;
    }
    if (!raw.empty() && pos < text.size()) {
      size_t peek = pos;
      char32_t next = DecodeUtf8(text, &peek);
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
        char32_t after_cp = after < text.size() ? DecodeUtf8(text, &after) : U' ';
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

}  // namespace

void ForEachWord(std::string_view text, const std::function<void(std::string_view)>& fn) {
  WalkWords(text, [&](std::string_view word, size_t, size_t) { fn(word); });
}

void ForEachWordSpan(std::string_view text,
                     const std::function<void(std::string_view, size_t, size_t)>& fn) {
  WalkWords(text, fn);
}

Analyzer::Analyzer(const TextOptions& options) : language_(options.stemmer) {
  stem_ = !(language_.empty() || language_ == "none");
  const auto& list = options.stopwords ? *options.stopwords : DefaultStopwords();
  std::vector<uint64_t> short_keys;
  for (const auto& w : list) {
    std::string folded;
    FoldInto(w, &folded);
    if (!folded.empty() && folded.size() <= kShortWordBytes) {
      short_keys.push_back(WordKey(folded));
      continue;
    }
    longest_stopword_ = std::max(longest_stopword_, folded.size());
    stopwords_.insert(std::move(folded));
  }
  // At most half full, so that a probe for a word not in it (most words)
  // meets an empty slot soon.
  size_t slots = 16;
  short_shift_ = 60;
  while (slots < 2 * short_keys.size()) {
    slots *= 2;
    --short_shift_;
  }
  short_stopwords_.assign(slots, 0);
  for (uint64_t key : short_keys) {
    size_t i = ShortSlot(key);
    while (short_stopwords_[i] != 0 && short_stopwords_[i] != key) i = (i + 1) & (slots - 1);
    short_stopwords_[i] = key;
  }
}

bool Analyzer::IsStopword(std::string_view folded_word) const {
  if (folded_word.size() - 1 < kShortWordBytes) {  // 1 to kShortWordBytes bytes
    const uint64_t key = WordKey(folded_word);
    const size_t mask = short_stopwords_.size() - 1;
    for (size_t i = ShortSlot(key);; i = (i + 1) & mask) {
      if (short_stopwords_[i] == key) return true;
      if (short_stopwords_[i] == 0) return false;
    }
  }
  if (folded_word.size() > longest_stopword_) return false;  // most longer words of a query
  return stopwords_.find(folded_word) != stopwords_.end();
}

std::string Analyzer::Stem(std::string_view folded_word) const {
  if (!stem_) return std::string(folded_word);
  ThreadStemmer* s = StemmerFor(language_);
  return s ? s->Stem(folded_word) : std::string(folded_word);
}

void Analyzer::ForEachTerm(std::string_view text,
                           const std::function<void(std::string_view)>& fn) const {
  ForEachTerm(text, nullptr, fn);
}

void Analyzer::ForEachTerm(std::string_view text, bool (*drop)(std::string_view folded_word),
                           const std::function<void(std::string_view)>& fn) const {
  ThreadStemmer* stemmer = stem_ ? StemmerFor(language_) : nullptr;
  WalkWords(text, [&](std::string_view word, size_t, size_t) {
    if ((drop && drop(word)) || IsStopword(word)) return;
    if (stemmer) {
      fn(stemmer->Stem(word));
    } else {
      fn(word);
    }
  });
}

void Analyzer::Terms(std::string_view text, std::vector<std::string>* terms) const {
  ForEachTerm(text, [terms](std::string_view t) { terms->emplace_back(t); });
}

const std::vector<std::string>& DefaultStopwords() {
  // Lucene's classic English set minus "no" and "not".
  static const std::vector<std::string> kWords = {
      "a",    "an",    "and",  "are",  "as",   "at",   "be",    "but",  "by",
      "for",  "if",    "in",   "into", "is",   "it",   "of",    "on",   "or",
      "such", "that",  "the",  "their", "then", "there", "these", "they", "this",
      "to",   "was",   "will", "with"};
  return kWords;
}

}  // namespace foldback::text
