#include "text/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "text/analyzer_inl.h"
#include "text/utf8.h"

namespace foldback::text {
namespace detail {

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

void StemmerDeleter::operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }

ThreadStemmer::ThreadStemmer(const std::string& language)
    : stemmer_(sb_stemmer_new(language.c_str(), "UTF_8")) {}

const std::string& ThreadStemmer::StemAndKeep(const char* data, size_t size) {
  const std::string_view word(data, size);
  if (cache_.size() > kMaxCache) cache_.clear();
  const sb_symbol* s = sb_stemmer_stem(stemmer_.get(), reinterpret_cast<const sb_symbol*>(word.data()),
                                       static_cast<int>(word.size()));
  std::string stem = s ? std::string(reinterpret_cast<const char*>(s),
                                     static_cast<size_t>(sb_stemmer_length(stemmer_.get())))
                       : std::string(word);
  return cache_.emplace(std::string(word), std::move(stem)).first->second;
}

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

}  // namespace detail

void ForEachWord(std::string_view text, const std::function<void(std::string_view)>& fn) {
  detail::WalkWords(text, [&](const char* data, size_t size, size_t, size_t) {
    fn(std::string_view(data, size));
  });
}

void ForEachWordSpan(std::string_view text,
                     const std::function<void(std::string_view, size_t, size_t)>& fn) {
  detail::WalkWords(text, [&](const char* data, size_t size, size_t begin, size_t end) {
    fn(std::string_view(data, size), begin, end);
  });
}

Analyzer::Analyzer(const TextOptions& options) : language_(options.stemmer) {
  stem_ = !(language_.empty() || language_ == "none");
  const auto& list = options.stopwords ? *options.stopwords : DefaultStopwords();
  std::vector<uint64_t> short_keys;
  for (const auto& w : list) {
    std::string folded;
    detail::FoldInto(w, &folded);
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

bool Analyzer::IsLongStopword(std::string_view folded_word) const {
  if (folded_word.size() > longest_stopword_) return false;  // most longer words of a query
  return stopwords_.find(folded_word) != stopwords_.end();
}

std::string Analyzer::Stem(std::string_view folded_word) const {
  if (!stem_) return std::string(folded_word);
  detail::ThreadStemmer* s = detail::StemmerFor(language_);
  return s ? s->Stem(folded_word.data(), folded_word.size()) : std::string(folded_word);
}

void Analyzer::ForEachTerm(std::string_view text,
                           const std::function<void(std::string_view)>& fn) const {
  ForEachTermUnless(text, [](std::string_view) { return false; }, fn);
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
