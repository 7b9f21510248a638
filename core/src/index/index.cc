#include <algorithm>
#include <array>
#include <iterator>
#include <limits>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "foldback/index.h"
#include "index/index_internal.h"
#include "embed/static_embedder.h"
#include "index/dense_index.h"
#include "index/grow.h"
#include "text/analyzer_inl.h"
#include "text/chunker.h"
#include "text/metadata.h"
#include "text/utf8.h"

namespace foldback {
namespace {

// A scope of at most 1/16 of the chunks is given to searches as chunk
// ranges (ChunkMask::ranged), wider ones as a byte per chunk.
constexpr size_t kRangedMaskDivisor = 16;

// Built-in filter fields. Metadata fields with these names are shadowed.
const char* const kBuiltinFields[] = {"id", "kind", "matter", "parent_id", "title"};
// Parent id -> its attachments, in Rep::value_docs beside the metadata fields
// (AttachmentsOf; not a filter field: `parent_id=` filters scan).
const char* const kParentKey = "\x01parent_id";

// Fields ExtractMetadata may write: always valid in a filter, even when no
// document of this index has a value for them.
bool IsExtractedField(const std::string& f) {
  return f == text::kFieldDate || f == text::kFieldAmount || f == text::kFieldDefinedTerm ||
         f == text::kFieldParty || f == text::kFieldCitation;
}

// Rep::value_docs' own keys (kMatterKey, kParentKey) begin with \x01. A
// metadata field of such a name is not listed there: mixed with them, a
// document would count in another matter's walled statistics, pass a
// matter filter it does not pass, or be removed as the attachment of a
// document it is not attached to. Filters on it test each document.
bool IsReservedFieldKey(const std::string& name) { return !name.empty() && name[0] == '\x01'; }

bool IsBuiltinField(const std::string& f) {
  for (const char* b : kBuiltinFields) {
    if (f == b) return true;
  }
  return false;
}

bool Matches(const Filter& f, const std::string& value) {
  switch (f.op) {
    case Filter::Op::kEq:
      return value == f.value;
    case Filter::Op::kGe:
      return value >= f.value;
    case Filter::Op::kLe:
      return value <= f.value;
  }
  return false;
}

// The canonical order of a scope's filters (Rep::ScopeMask).
bool FilterLess(const Filter& a, const Filter& b) {
  if (a.field != b.field) return a.field < b.field;
  if (a.op != b.op) return a.op < b.op;
  return a.value < b.value;
}

bool DocPasses(const Document& d, const Filter& f) {
  if (f.field == "id") return Matches(f, d.id);
  if (f.field == "kind") return Matches(f, DocKindName(d.kind));
  if (f.field == "matter") return Matches(f, d.matter);
  if (f.field == "parent_id") return Matches(f, d.parent_id);
  if (f.field == "title") return Matches(f, d.title);
  auto it = d.metadata.find(f.field);
  if (it == d.metadata.end()) return false;
  for (const auto& v : it->second) {
    if (Matches(f, v)) return true;
  }
  return false;
}

}  // namespace

Index::Rep::Rep(const IndexOptions& o) : options(o), analyzer(o.text), lexical(o.bm25) {}
Index::Rep::~Rep() = default;

std::vector<std::pair<uint32_t, uint32_t>> Index::Rep::ChunkTerms(const ChunkSlot& slot, bool intern,
                                                                  std::string* stream) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  thread_local std::vector<uint32_t> slot_of;  // term id -> position in out, +1
  auto add = [&](std::string_view t, uint32_t n) {
    uint32_t id;
    if (intern) {
      id = lexical.Intern(t);
    } else {
      auto found = lexical.Find(t);
      if (!found) return;
      id = *found;
    }
    if (id >= slot_of.size()) slot_of.resize(id + 1024, 0);
    if (slot_of[id] == 0) {
      out.emplace_back(id, 0);
      slot_of[id] = static_cast<uint32_t>(out.size());
    }
    out[slot_of[id] - 1].second += n;
  };
  // Returns the word's term id (kStopword for a stopword).
  auto add_word = [&](std::string_view word, uint32_t n) -> uint32_t {
    if (!intern) {
      // Removing: no new entries; go through the analyzer.
      if (analyzer.IsStopword(word)) return kStopword;
      add(analyzer.Stem(word), n);
      return kStopword;
    }
    auto it = word_terms.find(word);
    if (it == word_terms.end()) {
      if (word_terms.size() > (1u << 21)) word_terms.clear();
      uint32_t id = analyzer.IsStopword(word) ? kStopword : lexical.Intern(analyzer.Stem(word));
      if (id != kStopword) lexical.NoteWord(word, id);
      it = word_terms.emplace(std::string(word), id).first;
    }
    if (it->second == kStopword) return kStopword;
    uint32_t id = it->second;
    if (id >= slot_of.size()) slot_of.resize(id + 1024, 0);
    if (slot_of[id] == 0) {
      out.emplace_back(id, 0);
      slot_of[id] = static_cast<uint32_t>(out.size());
    }
    out[slot_of[id] - 1].second += n;
    return id;
  };
  if (stream) {
    // The word stream (index/positions.h): a code per word, and sentence
    // and paragraph ends between words.
    stream->clear();
    std::string_view text = slot.chunk.text;
    std::string prev_word;
    size_t prev_begin = 0, prev_end = 0;
    bool first = true;
    text::ForEachWordSpan(text, [&](std::string_view w, size_t begin, size_t end) {
      if (!first) {
        uint32_t brk = index::BreakBetween(text.substr(prev_end, begin - prev_end), prev_word,
                                           text.substr(prev_begin, prev_end - prev_begin));
        if (brk) index::AppendCode(stream, brk);
      }
      first = false;
      uint32_t id = add_word(w, 1);
      index::AppendCode(stream, id == kStopword ? index::kCodeUnindexed : id + index::kCodeTermBase);
      prev_word.assign(w);
      prev_begin = begin;
      prev_end = end;
    });
  } else {
    text::ForEachWord(slot.chunk.text, [&](std::string_view w) { add_word(w, 1); });
  }
  uint32_t tw = options.bm25.title_weight;
  if (tw > 0) text::ForEachWord(docs[slot.doc].doc.title, [&](std::string_view w) { add_word(w, tw); });
  for (const auto& [id, n] : out) slot_of[id] = 0;
  return out;
}

namespace {

// Words that make a lawyer's question a question ("Can either party ...?",
// "Is there a ...?", "how much notice", "how many days") but say nothing
// about the clause sought. Dropped from
// queries only — documents keep them. Sorted.
constexpr std::string_view kQuestionWords[] = {
    "any",  "can",  "could", "did",     "do",    "does",   "find", "how",   "i",     "is",
    "many", "me",   "much",  "my",      "our",   "please", "show", "tell",  "there", "we",
    "what", "when", "where", "whether", "which", "who",    "why",  "would", "you"};

// The longest question word ("whether"); each is short enough for its key
// to tell it apart (text::WordKey). Longer words skip the search.
constexpr size_t kLongestQuestionWord = text::kShortWordBytes;
static_assert([] {
  for (std::string_view w : kQuestionWords) {
    if (w.size() > kLongestQuestionWord) return false;
  }
  return true;
}());

// The question words' keys by a multiplicative hash whose top bits give
// each its own slot of 128 (the multiplier found at compile time): a word
// is tested with one multiply and one load instead of a binary search — it
// runs for every word of every query, a few percent of a scoped search
// inside wasm.
constexpr int kQuestionSlotBits = 7;
constexpr size_t QuestionSlot(uint64_t key, uint64_t mul) {
  return static_cast<size_t>((key * mul) >> (64 - kQuestionSlotBits));
}
constexpr uint64_t kQuestionMul = [] {
  for (uint64_t mul = 0x9E3779B97F4A7C15ull;; mul += 0x5851F42D4C957F2Eull) {
    std::array<bool, size_t{1} << kQuestionSlotBits> used{};
    bool ok = true;
    for (std::string_view w : kQuestionWords) {
      const size_t s = QuestionSlot(text::WordKey(w), mul | 1);
      ok = ok && !used[s];
      used[s] = true;
    }
    if (ok) return mul | 1;
  }
}();
constexpr auto kQuestionTable = [] {
  std::array<uint64_t, size_t{1} << kQuestionSlotBits> table{};  // 0: no word (keys hold a length)
  for (std::string_view w : kQuestionWords) {
    table[QuestionSlot(text::WordKey(w), kQuestionMul)] = text::WordKey(w);
  }
  return table;
}();

// The word as its bytes, not a std::string_view: inside wasm a view passed
// to a function that is not inlined goes through memory
// (text/analyzer_inl.h).
bool IsQuestionWord(const char* data, size_t size) {
  if (size == 0 || size > kLongestQuestionWord) return false;
  const uint64_t key = text::WordKey(std::string_view(data, size));
  return kQuestionTable[QuestionSlot(key, kQuestionMul)] == key;
}

// Up to this many query words, repeats are counted by comparing every pair
// (no allocation); past it (a pasted paragraph), by a hash map.
constexpr size_t kCountByScanMax = 48;

}  // namespace

std::vector<index::WeightedTerm> Index::Rep::QueryTerms(std::string_view query) const {
  std::vector<index::WeightedTerm> terms;
  QueryTermsInto(query, &terms);
  return terms;
}

void Index::Rep::QueryTermsInto(std::string_view query,
                                std::vector<index::WeightedTerm>* out) const {
  std::vector<index::WeightedTerm>& terms = *out;
  // Written over what the vector held: its strings keep their buffers.
  size_t n = 0;
  auto add = [&](std::string_view t) {
    if (n < terms.size()) {
      terms[n].term.assign(t);
      terms[n].weight = 1.0;
    } else {
      terms.push_back({std::string(t), 1.0});
    }
    ++n;
  };
  analyzer.ForEachTermUnless(
      query, [](std::string_view w) { return IsQuestionWord(w.data(), w.size()); }, add);
  if (n == 0) {
    // A query made only of question words still searches for them.
    analyzer.ForEachTermUnless(query, [](std::string_view) { return false; }, add);
  }
  terms.resize(n);
  // A word met c times: each occurrence weighs QueryWordWeight(k3, c) / c,
  // which the lexical search adds up. Every occurrence stays a term, so
  // what counts the query's words (RM3's query model, the lexical lead's
  // short-query test) counts as before.
  const double k3 = options.bm25.query_saturation;
  if (k3 > 0 && terms.size() > 1) {
    auto weigh = [k3](index::WeightedTerm& t, double c) {
      if (c > 1) t.weight = index::QueryWordWeight(k3, c) / c;
    };
    if (terms.size() <= kCountByScanMax) {
      // By key: the strings compared only when their keys agree and they
      // are longer than a key tells apart.
      uint64_t keys[kCountByScanMax];
      for (size_t i = 0; i < terms.size(); ++i) keys[i] = text::WordKey(terms[i].term);
      for (size_t i = 0; i < terms.size(); ++i) {
        const bool short_word = terms[i].term.size() <= text::kShortWordBytes;
        size_t c = 0;
        for (size_t j = 0; j < terms.size(); ++j) {
          c += keys[j] == keys[i] && (short_word || terms[j].term == terms[i].term) ? 1 : 0;
        }
        weigh(terms[i], static_cast<double>(c));
      }
    } else {
      std::unordered_map<std::string_view, double> count;
      for (const auto& t : terms) count[t.term] += 1;
      for (auto& t : terms) weigh(t, count[t.term]);
    }
  }
}

void Index::Rep::IndexDocFields(uint32_t d) {
  const Document& doc = docs[d].doc;
  for (const auto& [name, values] : doc.metadata) {
    ++field_counts[name];
    if (IsReservedFieldKey(name)) continue;
    auto& by_value = value_docs[name];
    for (const auto& v : values) {
      auto& list = by_value[v];
      if (list.empty() || list.back() != d) list.push_back(d);
    }
  }
  value_docs[kMatterKey][doc.matter].push_back(d);
  if (!doc.parent_id.empty()) value_docs[kParentKey][doc.parent_id].push_back(d);
}

void Index::Rep::UnindexDocFields(uint32_t d) {
  const Document& doc = docs[d].doc;
  auto drop = [&](const std::string& field, const std::string& value) {
    auto f = value_docs.find(field);
    if (f == value_docs.end()) return;
    auto v = f->second.find(value);
    if (v == f->second.end()) return;
    auto& list = v->second;
    list.erase(std::remove(list.begin(), list.end(), d), list.end());
    if (list.empty()) f->second.erase(v);
    if (f->second.empty()) value_docs.erase(f);
  };
  for (const auto& [name, values] : doc.metadata) {
    auto it = field_counts.find(name);
    if (it != field_counts.end() && --it->second == 0) field_counts.erase(it);
    if (IsReservedFieldKey(name)) continue;
    for (const auto& v : values) drop(name, v);
  }
  drop(kMatterKey, doc.matter);
  if (!doc.parent_id.empty()) drop(kParentKey, doc.parent_id);
}

const std::vector<uint32_t>* Index::Rep::DocsWith(const std::string& field,
                                                   const std::string& value) const {
  auto f = value_docs.find(field);
  if (f == value_docs.end()) return nullptr;
  auto v = f->second.find(value);
  return v == f->second.end() ? nullptr : &v->second;
}

Status Index::Rep::BuildMask(const SearchOptions& o, index::ChunkMask* mask) const {
  auto shared = SharedMask(o);
  if (!shared.ok()) return shared.status();
  *mask = **shared;
  return Status::OK();
}

Result<std::shared_ptr<const index::ChunkMask>> Index::Rep::SharedMask(
    const SearchOptions& o) const {
  if (o.filters.empty() && !o.allowed_matters) {
    static const auto* const kEverything =
        new std::shared_ptr<const index::ChunkMask>(std::make_shared<const index::ChunkMask>());
    return *kEverything;
  }
  // The scope's key: the filters in a canonical order, pointed to (the
  // usual few without an allocation).
  const size_t n = o.filters.size();
  const Filter* few[4];
  std::vector<const Filter*> many;
  const Filter** sorted = few;
  if (n > std::size(few)) {
    many.resize(n);
    sorted = many.data();
  }
  for (size_t i = 0; i < n; ++i) sorted[i] = &o.filters[i];
  std::sort(sorted, sorted + n,
            [](const Filter* a, const Filter* b) { return FilterLess(*a, *b); });
  auto same = [&](const ScopeMask& s) {
    if (s.changes != changes || s.filters.size() != n) return false;
    for (size_t i = 0; i < n; ++i) {
      const Filter& f = *sorted[i];
      if (s.filters[i].op != f.op || s.filters[i].field != f.field ||
          s.filters[i].value != f.value) {
        return false;
      }
    }
    return s.matters == o.allowed_matters;
  };
  {
    std::lock_guard<std::mutex> lock(scope_masks_mu);
    for (size_t i = 0; i < scope_masks.size(); ++i) {
      if (!same(scope_masks[i])) continue;
      std::rotate(scope_masks.begin(), scope_masks.begin() + static_cast<long>(i),
                  scope_masks.begin() + static_cast<long>(i) + 1);
      return scope_masks.front().mask;
    }
  }
  // Built outside the lock: readers of other scopes are not held up, and
  // two readers building the same scope at once both keep a correct mask.
  auto mask = std::make_shared<index::ChunkMask>();
  FB_RETURN_IF_ERROR(BuildMaskUncached(o, mask.get()));
  ScopeMask entry;
  for (size_t i = 0; i < n; ++i) entry.filters.push_back(*sorted[i]);
  entry.matters = o.allowed_matters;
  entry.changes = changes;
  entry.mask = std::move(mask);
  std::shared_ptr<const index::ChunkMask> out = entry.mask;
  std::lock_guard<std::mutex> lock(scope_masks_mu);
  for (const ScopeMask& m : scope_masks) {
    if (same(m)) return m.mask;  // another reader built it meanwhile
  }
  // Entries of an older index are of no use any more.
  scope_masks.erase(std::remove_if(scope_masks.begin(), scope_masks.end(),
                                   [&](const ScopeMask& m) { return m.changes != changes; }),
                    scope_masks.end());
  scope_masks.insert(scope_masks.begin(), std::move(entry));
  if (scope_masks.size() > kScopeMasks) scope_masks.resize(kScopeMasks);
  return out;
}

Status Index::Rep::BuildMaskUncached(const SearchOptions& o, index::ChunkMask* mask) const {
  for (const Filter& f : o.filters) {
    if (!IsBuiltinField(f.field) && !IsExtractedField(f.field) && field_counts.count(f.field) == 0) {
      std::string known;
      for (const char* b : kBuiltinFields) known += std::string(known.empty() ? "" : ", ") + b;
      for (const auto& [name, count] : field_counts) known += ", " + name;
      return Status::InvalidArgument("unknown filter field '" + f.field +
                                     "'; fields in this index: " + known);
    }
  }
  mask->all = o.filters.empty() && !o.allowed_matters.has_value();
  if (mask->all) return Status::OK();
  if (o.allowed_matters) {
    // Walled statistics: BM25 counts only the chunks the user may see (the
    // matters allowed and documents of no matter), filters or not.
    auto scope = std::make_shared<index::StatsScope>();
    scope->visible.assign(chunks.size(), 0);
    auto by_matter = value_docs.find(kMatterKey);
    if (by_matter != value_docs.end()) {
      for (const auto& [matter, list] : by_matter->second) {
        if (!matter.empty() && o.allowed_matters->count(matter) == 0) continue;
        for (uint32_t d : list) {
          if (!docs[d].live) continue;
          for (uint32_t c : docs[d].chunks) {
            if (!chunks[c].live || scope->visible[c]) continue;
            scope->visible[c] = 1;
            ++scope->chunks;
            scope->total_length += lexical.length(c);
          }
        }
      }
    }
    mask->stats = std::move(scope);
  }
  // The documents to look at: the most selective equality filter's (or the
  // walls') instead of every document. Each of them has that filter's value
  // (doc_ids and value_docs list exactly the documents that do), so it is
  // not tested again per document: with a scope of a hundred documents,
  // the test's field-name comparisons and metadata lookup were most of the
  // mask's cost.
  std::vector<uint32_t> one;
  const std::vector<uint32_t>* candidates = nullptr;
  const Filter* candidates_pass = nullptr;  // the filter every candidate passes
  bool every_doc = false;
  for (const Filter& f : o.filters) {
    if (f.op != Filter::Op::kEq) continue;
    if (f.field == "id") {
      auto it = doc_ids.find(f.value);
      if (it != doc_ids.end()) one.push_back(it->second);
      candidates = &one;
      candidates_pass = &f;
      break;
    }
    const std::vector<uint32_t>* list = nullptr;
    if (f.field == "matter") {
      list = DocsWith(kMatterKey, f.value);
    } else if (!IsBuiltinField(f.field) && !IsReservedFieldKey(f.field)) {
      list = DocsWith(f.field, f.value);
    } else {
      continue;  // kind, parent_id, title, reserved names: not indexed
    }
    if (!list) {  // nothing has this value
      candidates = &one;
      candidates_pass = &f;
      break;
    }
    if (!candidates || list->size() < candidates->size()) {
      candidates = list;
      candidates_pass = &f;
    }
  }
  auto passes = [&](uint32_t d) {
    const DocSlot& slot = docs[d];
    if (!slot.live) return false;
    const Document& doc = slot.doc;
    if (o.allowed_matters && !doc.matter.empty() && o.allowed_matters->count(doc.matter) == 0) {
      return false;
    }
    for (const Filter& f : o.filters) {
      if (&f != candidates_pass && !DocPasses(doc, f)) return false;
    }
    return true;
  };
  std::vector<uint32_t> walled;
  if (!candidates && o.allowed_matters && o.allowed_matters->size() < 64) {
    std::vector<std::string> matters(o.allowed_matters->begin(), o.allowed_matters->end());
    matters.push_back("");  // documents of no matter are visible to all
    for (const auto& m : matters) {
      if (const auto* list = DocsWith(kMatterKey, m)) walled.insert(walled.end(), list->begin(), list->end());
    }
    candidates = &walled;
  }
  if (!candidates) every_doc = true;
  // A narrow scope becomes chunk ranges (each document's chunks are
  // numbered together), so that neither the mask nor the search behind it
  // costs in proportion to the index; a wide one a byte per chunk.
  size_t scope_chunks = 0;
  if (!every_doc) {
    for (uint32_t d : *candidates) scope_chunks += docs[d].chunks.size();
  }
  if (!every_doc && scope_chunks * kRangedMaskDivisor <= chunks.size()) {
    mask->ranged = true;
    auto& ranges = mask->ranges;
    for (uint32_t d : *candidates) {
      if (!passes(d)) continue;
      const std::vector<uint32_t>& cs = docs[d].chunks;
      if (cs.empty()) continue;
      if (cs.back() - cs.front() + 1 == cs.size()) {
        ranges.emplace_back(cs.front(), cs.back() + 1);
      } else {
        for (uint32_t c : cs) ranges.emplace_back(c, c + 1);
      }
    }
    std::sort(ranges.begin(), ranges.end());
    // Merge touching and overlapping ranges (a document listed twice).
    size_t kept = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (kept > 0 && ranges[i].first <= ranges[kept - 1].second) {
        ranges[kept - 1].second = std::max(ranges[kept - 1].second, ranges[i].second);
      } else {
        ranges[kept++] = ranges[i];
      }
    }
    ranges.resize(kept);
    return Status::OK();
  }
  mask->allowed.assign(chunks.size(), 0);
  auto add_doc = [&](uint32_t d) {
    if (!passes(d)) return;
    for (uint32_t c : docs[d].chunks) mask->allowed[c] = 1;
  };
  if (every_doc) {
    for (uint32_t d = 0; d < docs.size(); ++d) add_doc(d);
  } else {
    for (uint32_t d : *candidates) add_doc(d);
  }
  return Status::OK();
}

SearchHit Index::Rep::MakeHit(uint32_t chunk, double score) const {
  SearchHit hit;
  FillHit(chunk, score, &hit);
  return hit;
}

void Index::Rep::FillHit(uint32_t chunk, double score, SearchHit* hit, bool text,
                         bool ids) const {
  const ChunkSlot& c = chunks[chunk];
  const Document& d = docs[c.doc].doc;
  hit->chunk = chunk;
  hit->score = score;
  if (ids) {
    hit->chunk_id = c.chunk.id;
    hit->doc_id = d.id;
  } else {
    hit->chunk_id.clear();
    hit->doc_id.clear();
  }
  if (!text) {
    hit->text.clear();
    hit->title.clear();
    hit->section.clear();
    hit->matter.clear();
    return;
  }
  hit->text = c.chunk.text;
  hit->title = d.title;
  hit->section = c.chunk.section;
  hit->matter = d.matter;
}

Index::Index(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Index::~Index() = default;

Result<std::unique_ptr<Index>> Index::Create(const IndexOptions& options) {
  if (options.chunker.target_tokens == 0 || options.chunker.max_tokens == 0) {
    return Status::InvalidArgument("chunker token sizes must be positive");
  }
  if (options.bm25.k1 < 0 || options.bm25.b < 0 || options.bm25.b > 1 ||
      !(options.bm25.query_saturation >= 0)) {
    return Status::InvalidArgument(
        "BM25 parameters out of range (k1 >= 0, 0 <= b <= 1, query saturation >= 0)");
  }
  if (options.bm25.idf != Bm25Idf::kPlusOne && options.bm25.idf != Bm25Idf::kRobertson) {
    return Status::InvalidArgument("unknown BM25 idf form");
  }
  if (options.dense.embedder == EmbedderKind::kExternal && options.dense.dimension == 0) {
    return Status::InvalidArgument("an external embedder needs dense.dimension");
  }
  return std::unique_ptr<Index>(new Index(std::make_unique<Rep>(options)));
}

const IndexOptions& Index::options() const { return rep_->options; }

Result<AddReport> Index::Add(const Document& in) {
  Rep& r = *rep_;
  if (in.id.empty()) return Status::InvalidArgument("document id is empty");
  if (!text::IsValidUtf8(in.id)) return Status::InvalidArgument("document id is not valid UTF-8");
  if (in.text.size() > std::numeric_limits<uint32_t>::max() / 2) {
    return Status::OutOfRange("document '" + in.id + "' is larger than 2 GiB");
  }
  AddReport report;
  ++r.changes;  // cached scope masks are stale from here
  if (r.doc_ids.count(in.id)) {
    FB_RETURN_IF_ERROR(Remove(in.id));
    report.replaced = true;
  }
  uint32_t bad_title = 0, bad_text = 0;
  DocSlot slot;
  slot.doc.id = in.id;
  slot.doc.title = text::RepairUtf8(in.title, &bad_title);
  slot.doc.text = text::RepairUtf8(in.text, &bad_text);
  PinText(&slot.doc.text);  // its chunks view it in place
  slot.doc.kind = in.kind;
  slot.doc.matter = text::RepairUtf8(in.matter);
  slot.doc.parent_id = text::RepairUtf8(in.parent_id);
  for (const auto& [name, values] : in.metadata) {
    auto& out = slot.doc.metadata[text::RepairUtf8(name)];
    for (const auto& v : values) out.push_back(text::RepairUtf8(v));
  }
  text::ExtractMetadata(slot.doc.text, slot.doc.kind, &slot.doc.metadata);
  report.invalid_utf8 = bad_title + bad_text;
  slot.live = true;

  uint32_t doc_no = static_cast<uint32_t>(r.docs.size());
  std::vector<text::ChunkSpan> spans =
      text::ChunkText(slot.doc.text, slot.doc.kind, r.options.chunker);
  if (spans.empty() && slot.doc.kind == DocKind::kEmail && !slot.doc.title.empty() &&
      r.options.bm25.title_weight > 0) {
    // A message without body text (HTML-only, attachments only) is still
    // found by its subject: one empty chunk that carries the title terms.
    spans.push_back(text::ChunkSpan{});
  }
  r.docs.push_back(std::move(slot));
  r.doc_ids.emplace(in.id, doc_no);
  r.IndexDocFields(doc_no);
  DocSlot& stored = r.docs.back();
  for (uint32_t i = 0; i < spans.size(); ++i) {
    const text::ChunkSpan& s = spans[i];
    ChunkSlot c;
    c.doc = doc_no;
    c.live = true;
    c.chunk.text = std::string_view(stored.doc.text).substr(s.begin, s.end - s.begin);
    c.chunk.id = text::MakeChunkId(stored.doc.id, i, c.chunk.text);
    c.chunk.doc_id = stored.doc.id;
    c.chunk.begin = s.begin;
    c.chunk.end = s.end;
    c.chunk.section = s.section;
    c.chunk.role = s.role;
    c.sketch = index::DupSketch::Of(c.chunk.text);
    uint32_t chunk_no = static_cast<uint32_t>(r.chunks.size());
    std::string stream;
    auto terms = r.ChunkTerms(c, /*intern=*/true, r.options.bm25.positions ? &stream : nullptr);
    r.lexical.AddChunk(chunk_no, terms, std::move(stream));
    r.chunk_ids.emplace(c.chunk.id, chunk_no);
    index::GrowByAQuarter(&r.chunks);
    r.chunks.push_back(std::move(c));
    r.chunk_doc.push_back(doc_no);
    stored.chunks.push_back(chunk_no);
  }
  r.live_docs++;
  r.live_chunks += spans.size();
  r.text_bytes += stored.doc.text.size();
  report.chunks = static_cast<uint32_t>(spans.size());
  return report;
}

Status Index::Remove(std::string_view doc_id) {
  Rep& r = *rep_;
  auto it = r.doc_ids.find(std::string(doc_id));
  if (it == r.doc_ids.end()) return Status::NotFound("no document '" + std::string(doc_id) + "'");
  ++r.changes;  // cached scope masks are stale from here
  uint32_t d = it->second;
  DocSlot& slot = r.docs[d];
  for (uint32_t c : slot.chunks) {
    ChunkSlot& cs = r.chunks[c];
    r.lexical.RemoveChunk(c, r.ChunkTerms(cs, /*intern=*/false));
    r.DropVector(c);
    cs.live = false;
    r.chunk_ids.erase(cs.chunk.id);
    cs.chunk.text = {};  // the document's text goes below
  }
  r.UnindexDocFields(d);
  r.live_docs--;
  r.live_chunks -= slot.chunks.size();
  r.text_bytes -= slot.doc.text.size();
  slot.live = false;
  slot.doc = Document();
  slot.chunks.clear();
  r.doc_ids.erase(it);
  return Status::OK();
}

std::vector<std::string> Index::AttachmentsOf(std::string_view doc_id) const {
  std::vector<std::string> out;
  if (!FindDocument(doc_id)) return out;
  // Breadth first over the parent index (kParentKey: no scan of every
  // document); `seen` stops a parent_id cycle (ids are host data).
  std::unordered_set<std::string_view> seen = {doc_id};
  std::vector<std::string_view> queue = {doc_id};
  for (size_t i = 0; i < queue.size(); ++i) {
    const std::vector<uint32_t>* children = rep_->DocsWith(kParentKey, std::string(queue[i]));
    if (!children) continue;
    for (uint32_t d : *children) {
      const DocSlot& slot = rep_->docs[d];
      if (!slot.live) continue;
      std::string_view child = slot.doc.id;
      if (!seen.insert(child).second) continue;
      queue.push_back(child);
      out.emplace_back(child);
    }
  }
  return out;
}

Status Index::RemoveWithAttachments(std::string_view doc_id, std::vector<std::string>* removed) {
  if (!FindDocument(doc_id)) {
    return Status::NotFound("no document '" + std::string(doc_id) + "'");
  }
  std::vector<std::string> ids = {std::string(doc_id)};
  for (std::string& id : AttachmentsOf(doc_id)) ids.push_back(std::move(id));
  for (const std::string& id : ids) FB_RETURN_IF_ERROR(Remove(id));
  if (removed) *removed = std::move(ids);
  return Status::OK();
}

const Document* Index::FindDocument(std::string_view doc_id) const {
  auto it = rep_->doc_ids.find(std::string(doc_id));
  return it == rep_->doc_ids.end() ? nullptr : &rep_->docs[it->second].doc;
}

const Chunk* Index::FindChunk(std::string_view chunk_id) const {
  auto it = rep_->chunk_ids.find(std::string(chunk_id));
  return it == rep_->chunk_ids.end() ? nullptr : &rep_->chunks[it->second].chunk;
}

std::vector<const Chunk*> Index::ChunksOf(std::string_view doc_id) const {
  std::vector<const Chunk*> out;
  auto it = rep_->doc_ids.find(std::string(doc_id));
  if (it == rep_->doc_ids.end()) return out;
  for (uint32_t c : rep_->docs[it->second].chunks) out.push_back(&rep_->chunks[c].chunk);
  return out;
}

std::vector<std::string> Index::FilterFields() const {
  std::vector<std::string> out(std::begin(kBuiltinFields), std::end(kBuiltinFields));
  for (const auto& [name, count] : rep_->field_counts) {
    if (!IsBuiltinField(name)) out.push_back(name);
  }
  return out;
}

IndexStats Index::Stats() const {
  const Rep& r = *rep_;
  IndexStats s;
  s.documents = r.live_docs;
  s.chunks = r.live_chunks;
  s.terms = r.lexical.term_count();
  s.postings = r.lexical.posting_count();
  for (const ChunkSlot& c : r.chunks) {
    if (!c.live) continue;
    if (c.has_vector) {
      ++s.vectors;
    } else if (r.options.dense.embedder != EmbedderKind::kNone) {
      ++s.pending_vectors;
    }
  }
  s.text_bytes = r.text_bytes;
  s.position_bytes = r.lexical.position_bytes();
  return s;
}

Result<std::vector<SearchHit>> Index::Search(std::string_view query,
                                             const SearchOptions& options) const {
  std::vector<SearchHit> hits;
  FB_RETURN_IF_ERROR(Search(query, options, &hits));
  return hits;
}

Status Index::Search(std::string_view query, const SearchOptions& options,
                     std::vector<SearchHit>* hits) const {
  const Rep& r = *rep_;
  if (options.top_k == 0) {
    hits->clear();
    return Status::OK();
  }
  if (options.top_k > 10000) return Status::InvalidArgument("top_k is larger than 10000");
  auto mask = r.SharedMask(options);
  if (!mask.ok()) return mask.status();
  return r.SearchInto(query, options, **mask, nullptr, hits);
}

Status Index::FillHitText(SearchHit* hit) const {
  const Rep& r = *rep_;
  if (hit->chunk_id.empty()) {
    if (hit->chunk >= r.chunks.size() || !r.chunks[hit->chunk].live) {
      return Status::NotFound(fmt::format(FMT_STRING("no chunk at position {}"), hit->chunk));
    }
    r.FillHit(hit->chunk, hit->score, hit);
    return Status::OK();
  }
  auto it = r.chunk_ids.find(hit->chunk_id);
  if (it == r.chunk_ids.end()) return Status::NotFound("no chunk " + hit->chunk_id);
  r.FillHit(it->second, hit->score, hit);
  return Status::OK();
}

Result<QueryExplanation> Index::ExplainQuery(std::string_view query,
                                             const SearchOptions& options) const {
  index::ResolvedQuery plan;
  QueryExplanation out;
  FB_RETURN_IF_ERROR(rep_->PlanQuery(query, options.syntax, &plan, &out.connectors));
  out.notes = std::move(plan.notes);
  return out;
}

}  // namespace foldback
