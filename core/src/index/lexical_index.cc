#include "index/lexical_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "index/grow.h"
#include "index/top_groups.h"
#include "store/bytes.h"

namespace foldback::index {

uint32_t LexicalIndex::Intern(std::string_view term) {
  auto it = term_ids_.find(term);
  if (it != term_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(terms_.size());
  terms_.emplace_back(term);
  term_ids_.emplace(terms_.back(), id);
  postings_.emplace_back();
  windows_.emplace_back();
  df_.push_back(0);
  max_tf_.push_back(0);
  min_len_.push_back(std::numeric_limits<uint32_t>::max());
  return id;
}

std::optional<uint32_t> LexicalIndex::Find(std::string_view term) const {
  auto it = term_ids_.find(term);
  if (it == term_ids_.end()) return std::nullopt;
  return it->second;
}

void LexicalIndex::AddChunk(uint32_t chunk,
                            const std::vector<std::pair<uint32_t, uint32_t>>& terms,
                            std::string stream) {
  if (chunk >= lengths_.size()) {
    lengths_.resize(chunk + 1, 0);
    live_.resize(chunk + 1, 0);
  }
  if (store_positions_) {
    if (chunk >= streams_.size()) streams_.resize(chunk + 1);
    stream.shrink_to_fit();  // appended word by word: drop the growth slack
    streams_[chunk] = std::move(stream);
  }
  uint32_t length = 0;
  uint32_t chunk_length = 0;
  for (const auto& [id, tf] : terms) chunk_length += tf;
  lengths_[chunk] = chunk_length;  // the window blocks read it
  if (window_avg_ == 0) {
    window_avg_ = std::max(
        static_cast<double>(total_length_ + chunk_length) / static_cast<double>(live_chunks_ + 1),
        1.0);
  }
  for (const auto& [id, tf] : terms) {
    max_tf_[id] = std::max(max_tf_[id], tf);
    min_len_[id] = std::min(min_len_[id], chunk_length);
    // Postings stay ordered by chunk number (ranged masks rely on it);
    // chunks are numbered in the order they are added, so this appends.
    std::vector<Posting>& list = postings_[id];
    if (list.empty() || list.back().chunk < chunk) {
      GrowByAQuarter(&list);
      list.push_back({chunk, tf});
      NoteWindowPosting(id, list.size() - 1);
    } else {
      list.insert(std::upper_bound(list.begin(), list.end(), chunk,
                                   [](uint32_t c, const Posting& p) { return c < p.chunk; }),
                  {chunk, tf});
      BuildWindows(id);
    }
    ++df_[id];
    length += tf;
  }
  lengths_[chunk] = length;
  live_[chunk] = 1;
  ++generation_;
  ++live_chunks_;
  total_length_ += length;
  KeepWindowAverage();
}

void LexicalIndex::RemoveChunk(uint32_t chunk,
                               const std::vector<std::pair<uint32_t, uint32_t>>& terms) {
  if (chunk >= live_.size() || !live_[chunk]) return;
  for (const auto& [id, tf] : terms) {
    if (id < df_.size() && df_[id] > 0) --df_[id];
  }
  live_[chunk] = 0;
  if (chunk < streams_.size()) std::string().swap(streams_[chunk]);
  ++generation_;
  --live_chunks_;
  total_length_ -= lengths_[chunk];
  KeepWindowAverage();
}

void LexicalIndex::NoteWord(std::string_view word, uint32_t term) {
  if (!store_positions_) return;
  auto it = words_.find(word);
  if (it == words_.end()) {
    words_.emplace(std::string(word), term);
  } else {
    it->second = term;
  }
}

std::vector<uint32_t> LexicalIndex::ExpandPrefix(std::string_view prefix, size_t cap,
                                                 size_t* total) const {
  std::vector<uint32_t> ids;
  for (auto it = words_.lower_bound(prefix);
       it != words_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix; ++it) {
    if (it->second < df_.size() && df_[it->second] > 0) ids.push_back(it->second);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  *total = ids.size();
  std::sort(ids.begin(), ids.end(), [&](uint32_t a, uint32_t b) {
    return df_[a] != df_[b] ? df_[a] > df_[b] : a < b;
  });
  if (ids.size() > cap) ids.resize(cap);
  return ids;
}

uint64_t LexicalIndex::position_bytes() const {
  uint64_t n = 0;
  for (const std::string& s : streams_) n += s.size();
  for (const auto& [w, t] : words_) n += w.size() + sizeof(uint32_t);
  return n;
}

std::vector<uint32_t> LexicalIndex::MatchClauses(const std::vector<PositionalClause>& clauses,
                                                 const ChunkMask& mask) const {
  std::vector<uint32_t> out;
  if (!has_positions() || clauses.empty()) return out;
  // Every element of every operand must be present: its term set's chunks.
  std::vector<const std::vector<uint32_t>*> sets;
  for (const PositionalClause& c : clauses) {
    for (const PositionalOperand& op : c.operands) {
      for (const auto& [off, ids] : op.elements) {
        if (ids.empty()) return out;  // a word the index does not have
        sets.push_back(&ids);
      }
    }
  }
  auto postings_of = [&](const std::vector<uint32_t>* ids) {
    size_t n = 0;
    for (uint32_t id : *ids) n += id < postings_.size() ? postings_[id].size() : 0;
    return n;
  };
  std::sort(sets.begin(), sets.end(), [&](const auto* a, const auto* b) {
    return postings_of(a) < postings_of(b);
  });
  // The rarest set's allowed live chunks...
  for (uint32_t id : *sets.front()) {
    if (id >= postings_.size()) continue;
    const std::vector<Posting>& list = postings_[id];
    if (mask.ranged) {
      auto it = list.begin();
      for (const auto& [begin, end] : mask.ranges) {
        it = std::lower_bound(it, list.end(), begin,
                              [](const Posting& p, uint32_t c) { return p.chunk < c; });
        for (; it != list.end() && it->chunk < end; ++it) {
          if (live_[it->chunk]) out.push_back(it->chunk);
        }
        if (it == list.end()) break;
      }
    } else {
      for (const Posting& p : list) {
        if (live_[p.chunk] && mask.Allows(p.chunk)) out.push_back(p.chunk);
      }
    }
  }
  if (sets.front()->size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  // ... that every other set also has (a forward walk of its postings).
  std::vector<uint8_t> has;
  for (size_t s = 1; s < sets.size() && !out.empty(); ++s) {
    has.assign(out.size(), 0);
    for (uint32_t id : *sets[s]) {
      if (id >= postings_.size()) continue;
      const std::vector<Posting>& list = postings_[id];
      auto it = list.begin();
      for (size_t i = 0; i < out.size() && it != list.end(); ++i) {
        it = std::lower_bound(it, list.end(), out[i],
                              [](const Posting& p, uint32_t c) { return p.chunk < c; });
        if (it != list.end() && it->chunk == out[i]) has[i] = 1;
      }
    }
    size_t kept = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (has[i]) out[kept++] = out[i];
    }
    out.resize(kept);
  }
  // Then the positions. Single words and prefixes (a quoted word) are
  // found in the stream's bytes; anything else decodes the stream. (Streams
  // were checked when added or loaded, so no candidate is dropped for a
  // malformed one here.)
  size_t kept = 0;
  if (std::all_of(clauses.begin(), clauses.end(), IsSingleElement)) {
    for (uint32_t c : out) {
      if (c >= streams_.size()) continue;
      bool all = true;
      for (const PositionalClause& clause : clauses) {
        if (!StreamHasTerm(streams_[c], clause.operands[0].elements[0].second)) {
          all = false;
          break;
        }
      }
      if (all) out[kept++] = c;
    }
    out.resize(kept);
    return out;
  }
  thread_local DecodedChunk decoded;
  for (uint32_t c : out) {
    if (c >= streams_.size() || !decoded.Decode(streams_[c], terms_.size())) continue;
    bool all = true;
    for (const PositionalClause& clause : clauses) {
      if (!ClauseMatches(clause, decoded)) {
        all = false;
        break;
      }
    }
    if (all) out[kept++] = c;
  }
  out.resize(kept);
  return out;
}

double LexicalIndex::average_length() const {
  return live_chunks_ ? static_cast<double>(total_length_) / static_cast<double>(live_chunks_) : 0;
}

uint32_t LexicalIndex::Df(std::string_view term) const {
  auto it = term_ids_.find(term);
  return it == term_ids_.end() ? 0 : df_[it->second];
}

uint32_t LexicalIndex::Df(std::string_view term, const StatsScope* scope) const {
  if (!scope) return Df(term);
  auto it = term_ids_.find(term);
  if (it == term_ids_.end()) return 0;
  const uint8_t* vis = scope->visible.data();
  const size_t n = std::min(scope->visible.size(), live_.size());
  uint32_t df = 0;
  for (const Posting& p : postings_[it->second]) df += p.chunk < n && vis[p.chunk] && live_[p.chunk];
  return df;
}

double LexicalIndex::Idf(std::string_view term) const {
  uint32_t df = Df(term);
  if (df == 0) return 0;
  double n = static_cast<double>(live_chunks_);
  return Bm25IdfOf(params_.idf, n, df);
}

namespace {
// A heap block of `n` bytes as glibc's malloc holds it: an 8-byte header,
// rounded up to 16, at least 32.
uint64_t HeapBlock(uint64_t n) { return n == 0 ? 0 : std::max<uint64_t>(32, (n + 8 + 15) / 16 * 16); }
uint64_t StringHeap(const std::string& s) { return s.capacity() > 15 ? HeapBlock(s.capacity() + 1) : 0; }
template <typename T>
uint64_t VectorHeap(const std::vector<T>& v) {
  return HeapBlock(v.capacity() * sizeof(T));
}
}  // namespace

LexicalIndex::Memory LexicalIndex::MemoryUsage() const {
  Memory m;
  m.postings = VectorHeap(postings_);
  for (const auto& p : postings_) m.postings += VectorHeap(p);
  m.term_arrays = VectorHeap(df_) + VectorHeap(max_tf_) + VectorHeap(min_len_);
  for (const std::string& t : terms_) m.term_arrays += sizeof(std::string) + StringHeap(t);
  // robin_map: one array of buckets, each the key view and id behind the
  // distance from its home bucket, a flag and the stored hash (8 bytes).
  m.term_arrays += HeapBlock(term_ids_.bucket_count() * (sizeof(decltype(term_ids_)::value_type) + 8));
  m.chunk_arrays = VectorHeap(lengths_) + VectorHeap(live_);
  if (auto n = std::atomic_load(&norms_)) m.chunk_arrays += VectorHeap(n->values);
  m.streams = VectorHeap(streams_);
  for (const std::string& s : streams_) m.streams += StringHeap(s);
  // std::map node: three pointers and a colour, then the key and the term.
  for (const auto& [w, t] : words_) m.surface_words += HeapBlock(32 + sizeof(std::string) + 8) + StringHeap(w);
  m.windows = VectorHeap(windows_);
  for (const auto& w : windows_) m.windows += VectorHeap(w);
  return m;
}

uint64_t LexicalIndex::posting_count() const {
  uint64_t n = 0;
  for (const auto& p : postings_) n += p.size();
  return n;
}

std::shared_ptr<const LexicalIndex::Norms> LexicalIndex::CurrentNorms() const {
  double avg = std::max(average_length(), 1.0);
  auto stale = [&](const std::shared_ptr<const Norms>& n) {
    // Chunks added since, or the average moved by more than 0.5%.
    return !n || n->count != lengths_.size() || std::abs(avg - n->average) > 0.005 * avg;
  };
  std::shared_ptr<const Norms> current = std::atomic_load(&norms_);
  if (!stale(current)) return current;
  std::lock_guard<std::mutex> lock(norms_mu_);
  current = std::atomic_load(&norms_);
  if (!stale(current)) return current;
  auto fresh = std::make_shared<Norms>();
  fresh->values.resize(lengths_.size());
  for (size_t c = 0; c < lengths_.size(); ++c) {
    fresh->values[c] = static_cast<float>(params_.k1 * (1.0 - params_.b + params_.b * lengths_[c] / avg));
  }
  fresh->average = avg;
  fresh->count = lengths_.size();
  fresh->generation = generation_;
  std::atomic_store(&norms_, std::shared_ptr<const Norms>(fresh));
  return fresh;
}

std::shared_ptr<const LexicalIndex::Norms> LexicalIndex::NormsFor(double avg) const {
  // Exact average (no staleness margin): a walled score must not move when
  // chunks outside the wall come and go. Concurrent searches with other
  // walls may each build a table; the last one stays cached.
  auto fits = [&](const std::shared_ptr<const Norms>& n) {
    return n->average == avg && n->count == lengths_.size() && n->generation == generation_;
  };
  {
    std::lock_guard<std::mutex> lock(walled_norms_mu_);
    for (size_t i = 0; i < walled_norms_.size(); ++i) {
      if (!fits(walled_norms_[i])) continue;
      std::shared_ptr<const Norms> found = walled_norms_[i];
      walled_norms_.erase(walled_norms_.begin() + static_cast<long>(i));
      walled_norms_.insert(walled_norms_.begin(), found);
      return found;
    }
  }
  auto fresh = std::make_shared<Norms>();
  fresh->values.resize(lengths_.size());
  for (size_t c = 0; c < lengths_.size(); ++c) {
    fresh->values[c] = static_cast<float>(params_.k1 * (1.0 - params_.b + params_.b * lengths_[c] / avg));
  }
  fresh->average = avg;
  fresh->count = lengths_.size();
  fresh->generation = generation_;
  std::lock_guard<std::mutex> lock(walled_norms_mu_);
  walled_norms_.insert(walled_norms_.begin(), fresh);
  if (walled_norms_.size() > kWalledNormTables) walled_norms_.resize(kWalledNormTables);
  return fresh;
}

float LexicalIndex::Bound(double average, uint32_t max_tf, uint32_t min_len) const {
  double tf = max_tf;
  double norm = params_.k1 * (1.0 - params_.b + params_.b * min_len / average);
  // A hair above: float sums in another order must not pass the bound.
  return static_cast<float>(tf * (params_.k1 + 1.0) / (tf + norm) * 1.0001);
}

size_t ChunkMask::AllowedUpperBound(size_t chunk_count) const {
  if (all) return chunk_count;
  size_t n = 0;
  if (ranged) {
    for (const auto& [begin, end] : ranges) n += end - begin;
    return n;
  }
  for (uint8_t a : allowed) n += a != 0;
  return n;
}

ChunkMask ChunkMask::AsBytes() const {
  ChunkMask out;
  out.all = all;
  out.stats = stats;
  if (all) return out;
  if (!ranged) {
    out.allowed = allowed;
    return out;
  }
  out.allowed.assign(ranges.empty() ? 0 : ranges.back().second, 0);
  for (const auto& [begin, end] : ranges) {
    for (uint32_t c = begin; c < end; ++c) out.allowed[c] = 1;
  }
  return out;
}

std::vector<std::pair<uint32_t, double>> LexicalIndex::SearchMaxScore(
    const std::vector<ScoredTerm>& query, const Norms& norms, const uint8_t* ok, size_t k,
    const std::vector<uint32_t>* group_of) const {
  struct Cursor {
    const Posting* it;
    const Posting* end;
    float idf;
    float ub;
  };
  std::vector<Cursor> cur;
  for (const ScoredTerm& q : query) {
    const auto& list = postings_[q.id];
    if (list.empty() || q.idf <= 0) continue;
    cur.push_back({list.data(), list.data() + list.size(), q.idf, q.ub});
  }
  // Ascending bounds; prefix[i] = bound of terms 0..i together.
  std::sort(cur.begin(), cur.end(), [](const Cursor& a, const Cursor& b) { return a.ub < b.ub; });
  std::vector<float> prefix(cur.size());
  float acc = 0;
  for (size_t i = 0; i < cur.size(); ++i) prefix[i] = acc += cur[i].ub;
  const float k1p1 = static_cast<float>(params_.k1 + 1.0);
  const float* nm = norms.values.data();
  TopGroups top(k);
  size_t first_essential = 0;  // terms below it cannot lift a chunk past the threshold alone
  constexpr uint32_t kEnd = std::numeric_limits<uint32_t>::max();
  while (first_essential < cur.size()) {
    uint32_t c = kEnd;
    for (size_t i = first_essential; i < cur.size(); ++i) {
      if (cur[i].it != cur[i].end) c = std::min(c, cur[i].it->chunk);
    }
    if (c == kEnd) break;
    if (!ok[c]) {
      // Behind the wall or filter (or removed): step over it unscored.
      for (size_t i = first_essential; i < cur.size(); ++i) {
        Cursor& t = cur[i];
        if (t.it != t.end && t.it->chunk == c) ++t.it;
      }
      continue;
    }
    float score = 0;
    for (size_t i = first_essential; i < cur.size(); ++i) {
      Cursor& t = cur[i];
      if (t.it != t.end && t.it->chunk == c) {
        float tf = static_cast<float>(t.it->tf);
        score += t.idf * tf * k1p1 / (tf + nm[c]);
        ++t.it;
      }
    }
    float threshold = top.threshold();
    for (size_t i = first_essential; i-- > 0;) {
      if (score + prefix[i] <= threshold) break;
      Cursor& t = cur[i];
      // Galloping advance to the first posting >= c.
      if (t.it != t.end && t.it->chunk < c) {
        size_t step = 1;
        const Posting* lo = t.it;
        while (lo + step < t.end && (lo + step)->chunk < c) {
          lo += step;
          step *= 2;
        }
        t.it = std::lower_bound(lo, std::min(lo + step + 1, t.end), c,
                                [](const Posting& p, uint32_t v) { return p.chunk < v; });
      }
      if (t.it != t.end && t.it->chunk == c) {
        float tf = static_cast<float>(t.it->tf);
        score += t.idf * tf * k1p1 / (tf + nm[c]);
      }
    }
    if (score >= threshold) {
      uint32_t g = group_of ? (c < group_of->size() ? (*group_of)[c] : c) : c;
      top.Offer(g, c, score);
      float t2 = top.threshold();
      while (first_essential < cur.size() && prefix[first_essential] <= t2) ++first_essential;
    }
  }
  return top.Take();
}

// Below this many postings the exhaustive loop wins: on the 20-contract demo
// corpus (1,025 chunks) MaxScore took 14.5 µs a query against 10.3 µs
// (index_bench BM_QueryBm25Strategy, top 10).
constexpr size_t kMaxScoreMinPostings = 8192;
// What one binary search into a posting list costs against one posting
// scored in a straight walk (a ranged mask's entry per range and term).
constexpr size_t kRangeSearchCost = 8;

void LexicalIndex::Search(const std::vector<WeightedTerm>& query, const ChunkMask& mask, size_t k,
                          const std::vector<uint32_t>* group_of,
                          std::vector<std::pair<uint32_t, double>>* out_param) const {
  std::vector<std::pair<uint32_t, double>>& out = *out_param;
  out.clear();
  if (k == 0 || live_chunks_ == 0) return;
  // Merge duplicate terms (into a kept vector: no allocation per search).
  thread_local std::vector<std::pair<uint32_t, double>> terms;
  terms.clear();
  for (const auto& q : query) {
    auto it = term_ids_.find(q.term);
    if (it == term_ids_.end() || df_[it->second] == 0 || q.weight == 0) continue;
    auto found = std::find_if(terms.begin(), terms.end(),
                              [&](const auto& t) { return t.first == it->second; });
    if (found != terms.end()) {
      found->second += q.weight;
    } else {
      terms.emplace_back(it->second, q.weight);
    }
  }
  if (terms.empty()) return;

  // Statistics: the whole index's, or (walls) the visible chunks' only.
  struct TermStats {
    uint32_t df;
    uint32_t max_tf;
    uint32_t min_len;
  };
  thread_local std::vector<TermStats> stats;
  stats.resize(terms.size());
  const StatsScope* scope = mask.stats.get();
  double n = static_cast<double>(live_chunks_);
  std::shared_ptr<const Norms> norm_table;
  size_t total_postings = 0;
  if (scope) {
    if (scope->chunks == 0) return;
    n = static_cast<double>(scope->chunks);
    norm_table = NormsFor(std::max(static_cast<double>(scope->total_length) / n, 1.0));
    // One pass over each query term's postings counts its visible document
    // frequency and bounds its visible postings (for MaxScore).
    // Counted once per term and scope (StatsScope::term_stats).
    const uint8_t* vis = scope->visible.data();
    const size_t vis_n = std::min(scope->visible.size(), live_.size());
    size_t kept = 0;
    std::unique_lock<std::mutex> lock(scope->term_mu);
    if (scope->term_generation != generation_) {
      scope->term_stats.clear();
      scope->term_generation = generation_;
    }
    for (size_t i = 0; i < terms.size(); ++i) {
      TermStats ts{0, 0, std::numeric_limits<uint32_t>::max()};
      auto cached = scope->term_stats.find(terms[i].first);
      if (cached != scope->term_stats.end()) {
        ts = {cached->second.df, cached->second.max_tf, cached->second.min_len};
      } else {
        for (const Posting& p : postings_[terms[i].first]) {
          if (p.chunk >= vis_n || !(vis[p.chunk] & live_[p.chunk])) continue;
          ++ts.df;
          ts.max_tf = std::max(ts.max_tf, p.tf);
          ts.min_len = std::min(ts.min_len, lengths_[p.chunk]);
        }
        scope->term_stats.emplace(terms[i].first,
                                  StatsScope::TermStats{ts.df, ts.max_tf, ts.min_len});
      }
      if (ts.df == 0) continue;  // nothing visible: the term scores nothing
      terms[kept] = terms[i];
      stats[kept++] = ts;
      total_postings += ts.df;
    }
    lock.unlock();
    terms.resize(kept);
    stats.resize(kept);
    if (terms.empty()) return;
  } else {
    norm_table = CurrentNorms();
    for (size_t i = 0; i < terms.size(); ++i) {
      uint32_t id = terms[i].first;
      stats[i] = {df_[id], max_tf_[id], min_len_[id]};
      total_postings += postings_[id].size();
    }
  }

  thread_local std::vector<float> scores;
  thread_local std::vector<uint32_t> touched;
  if (scores.size() < lengths_.size()) scores.assign(lengths_.size(), 0.0f);
  touched.clear();

  const std::vector<float>& norms = norm_table->values;
  const float k1p1 = static_cast<float>(params_.k1 + 1.0);
  if (norms.size() < lengths_.size()) return;  // REQUIRES-violation guard
  auto idf_of = [&](size_t i) {
    double df = stats[i].df;
    return static_cast<float>(Bm25IdfOf(params_.idf, n, df) * terms[i].second);
  };
  bool dense_scan = false;
  // A ranged mask of many small ranges (the passages a phrase matched,
  // scattered over the index) costs a binary search per range and term; past
  // about a posting's worth of searches per posting, the same term-at-a-time
  // loop runs over a byte mask instead: the same postings visited in the same
  // order, so the same scores bit for bit (not MaxScore, which sums in
  // another order).
  bool scattered = false;
  if (mask.ranged) {
    size_t list_postings = 0;
    for (const auto& t : terms) list_postings += postings_[t.first].size();
    scattered =
        mask.ranges.size() * terms.size() * kRangeSearchCost > lengths_.size() + list_postings;
  }
  if (mask.ranged && !scattered) {
    // A narrow scope: enter each posting list at every range by binary
    // search (from where the previous range left it) and score only what
    // lies inside, so the cost follows the scope's postings.
    float* sc = scores.data();
    const float* nm = norms.data();
    const uint8_t* live = live_.data();
    for (size_t i = 0; i < terms.size(); ++i) {
      const std::vector<Posting>& list = postings_[terms[i].first];
      const float idf = idf_of(i);
      auto it = list.begin();
      for (const auto& [begin, end] : mask.ranges) {
        it = std::lower_bound(it, list.end(), begin,
                              [](const Posting& p, uint32_t c) { return p.chunk < c; });
        for (; it != list.end() && it->chunk < end; ++it) {
          if (!live[it->chunk]) continue;
          float tf = static_cast<float>(it->tf);
          float s = idf * tf * k1p1 / (tf + nm[it->chunk]);
          if (sc[it->chunk] == 0.0f) touched.push_back(it->chunk);
          sc[it->chunk] += s;
        }
        if (it == list.end()) break;
      }
    }
  } else {
    // Chunks a posting may score: live and allowed by the mask, one array.
    const uint8_t* ok = live_.data();
    thread_local std::vector<uint8_t> combined;
    if (scattered) {
      combined.assign(live_.size(), 0);
      for (const auto& [begin, end] : mask.ranges) {
        for (uint32_t c = begin; c < end && c < live_.size(); ++c) combined[c] = live_[c];
      }
      ok = combined.data();
    } else if (!mask.all) {
      combined.assign(live_.size(), 0);
      // Plain pointers: the loop vectorizes (through the vectors' own
      // pointers it went byte by byte, 7 % of a walled served search).
      const size_t m = std::min(live_.size(), mask.allowed.size());
      uint8_t* out_ok = combined.data();
      const uint8_t* live = live_.data();
      const uint8_t* allowed = mask.allowed.data();
      for (size_t c = 0; c < m; ++c) out_ok[c] = live[c] & allowed[c];
      ok = combined.data();
    }
    // Block-max MaxScore (lexical_blockmax.cc). For a small k, windows in
    // chunk order: on CUAD's 41 category descriptions 2.7x faster than
    // MaxScore for the top 10 (4.2x faster than exhaustive). For the top
    // documents (a larger k, one chunk per document) the threshold stays
    // low and few windows can be skipped; there the windows are visited
    // best bound first and postings the mask refuses are never scored
    // (SearchBestFirst; docs/benchmarks.md, "Block-max for the top 100
    // documents"). Their bounds need positive weights.
    bool positive = true;
    for (const auto& t : terms) positive = positive && t.second > 0;
    const bool enough =
        terms.size() >= 2 && total_postings > std::max<size_t>(64 * k, kMaxScoreMinPostings);
    Strategy pick = strategy_;
    if (pick == Strategy::kAuto && enough) {
      if (k <= 32) {
        pick = Strategy::kBlockMax;
      } else if (group_of) {
        pick = Strategy::kBestFirst;
      }
    }
    if (!scattered && positive && (pick == Strategy::kBlockMax || pick == Strategy::kBestFirst)) {
      std::vector<float> idfs(terms.size()), bounds(terms.size());
      for (size_t i = 0; i < terms.size(); ++i) {
        idfs[i] = idf_of(i);
        bounds[i] = idfs[i] * Bound(norm_table->average, stats[i].max_tf, stats[i].min_len);
      }
      out = pick == Strategy::kBlockMax
                ? SearchBlockMax(terms, idfs, bounds, *norm_table, norm_table->average, ok, k,
                                 group_of)
                : SearchBestFirst(terms, idfs, bounds, *norm_table, norm_table->average, ok, k,
                                  group_of);
      return;
    }
    if (!scattered && strategy_ == Strategy::kMaxScore) {
      // Chunk-level MaxScore, kept for comparison only (it drops terms of
      // non-positive weight, which the exhaustive loop below sums):
      // measured (index_bench BM_QueryBm25Strategy, CUAD) 3x faster than
      // exhaustive for the top 10, slower for the top 100 documents.
      std::vector<ScoredTerm> weighted;
      for (size_t i = 0; i < terms.size(); ++i) {
        float idf = idf_of(i);
        weighted.push_back({terms[i].first, idf,
                            idf * Bound(norm_table->average, stats[i].max_tf, stats[i].min_len)});
      }
      out = SearchMaxScore(weighted, *norm_table, ok, k, group_of);
      return;
    }
    // Queries touching a large share of the chunks accumulate without
    // tracking which chunks they touched, then scan the score array.
    dense_scan = !scattered && total_postings * 4 > lengths_.size();
    for (size_t i = 0; i < terms.size(); ++i) {
      const uint32_t id = terms[i].first;
      const float idf = idf_of(i);
      float* sc = scores.data();
      const float* nm = norms.data();
      if (dense_scan) {
        for (const Posting& p : postings_[id]) {
          float tf = static_cast<float>(p.tf);
          float s = idf * tf * k1p1 / (tf + nm[p.chunk]);
          sc[p.chunk] += ok[p.chunk] ? s : 0.0f;
        }
      } else {
        for (const Posting& p : postings_[id]) {
          if (!ok[p.chunk]) continue;
          float tf = static_cast<float>(p.tf);
          float s = idf * tf * k1p1 / (tf + nm[p.chunk]);
          if (sc[p.chunk] == 0.0f) touched.push_back(p.chunk);
          sc[p.chunk] += s;
        }
      }
    }
  }
  if (dense_scan) {
    for (uint32_t c = 0; c < lengths_.size(); ++c) {
      if (scores[c] != 0.0f) touched.push_back(c);
    }
  }
  out.reserve(touched.size());
  if (group_of) {
    // Best chunk per group; ties go to the earlier chunk.
    thread_local std::vector<uint32_t> best_of;  // group -> position in out + 1
    for (uint32_t c : touched) {
      uint32_t g = c < group_of->size() ? (*group_of)[c] : c;
      if (g >= best_of.size()) best_of.resize(g + 1024, 0);
      uint32_t& slot = best_of[g];
      if (slot == 0) {
        out.emplace_back(c, scores[c]);
        slot = static_cast<uint32_t>(out.size());
      } else {
        auto& cur = out[slot - 1];
        if (scores[c] > cur.second || (scores[c] == cur.second && c < cur.first)) cur = {c, scores[c]};
      }
      scores[c] = 0.0f;
    }
    for (const auto& [c, s] : out) best_of[c < group_of->size() ? (*group_of)[c] : c] = 0;
  } else {
    out.resize(touched.size());  // written in place: emplace_back was a call a chunk
    auto* o = out.data();
    for (uint32_t c : touched) {
      *o++ = {c, scores[c]};
      scores[c] = 0.0f;
    }
  }
  auto better = [](const auto& a, const auto& b2) {
    return a.second != b2.second ? a.second > b2.second : a.first < b2.first;
  };
  if (out.size() > k) {
    std::nth_element(out.begin(), out.begin() + static_cast<long>(k - 1), out.end(), better);
    out.resize(k);
    std::sort(out.begin(), out.end(), better);
  } else {
    std::sort(out.begin(), out.end(), better);
  }
}

LexicalIndex::SnapshotPlan LexicalIndex::PlanSnapshot(const std::vector<uint32_t>& renumber) const {
  constexpr uint32_t kDrop = std::numeric_limits<uint32_t>::max();
  SnapshotPlan plan;
  plan.term_renumber.assign(terms_.size(), kDrop);
  auto kept = [&](uint32_t c) {
    return c < renumber.size() && c < live_.size() && live_[c] && renumber[c] != kDrop;
  };
  for (size_t t = 0; t < terms_.size(); ++t) {
    uint64_t n = 0;
    for (const Posting& p : postings_[t]) n += kept(p.chunk) ? 1 : 0;
    if (n == 0) continue;  // term no longer used
    plan.term_renumber[t] = static_cast<uint32_t>(plan.terms.size());
    plan.terms.push_back(static_cast<uint32_t>(t));
    plan.postings += n;
  }
  // Every snapshot chunk has an entry (kDrop: no length, no stream).
  plan.chunks.assign(
      renumber.size() - static_cast<size_t>(std::count(renumber.begin(), renumber.end(), kDrop)),
      kDrop);
  for (size_t c = 0; c < renumber.size() && c < live_.size(); ++c) {
    if (kept(static_cast<uint32_t>(c)) && renumber[c] < plan.chunks.size())
      plan.chunks[renumber[c]] = static_cast<uint32_t>(c);
  }
  plan.positions = has_positions();
  if (plan.positions) {
    for (const auto& [word, t] : words_)
      plan.words += t < plan.term_renumber.size() && plan.term_renumber[t] != kDrop;
  }
  return plan;
}

void LexicalIndex::SnapshotPostings(uint32_t id, const std::vector<uint32_t>& renumber,
                                    std::vector<Posting>* out) const {
  constexpr uint32_t kDrop = std::numeric_limits<uint32_t>::max();
  out->clear();
  for (const Posting& p : postings_[id]) {
    if (p.chunk >= renumber.size() || !live_[p.chunk] || renumber[p.chunk] == kDrop) continue;
    out->push_back({renumber[p.chunk], p.tf});
  }
  if (!std::is_sorted(out->begin(), out->end(),
                      [](const Posting& a, const Posting& b) { return a.chunk < b.chunk; })) {
    std::sort(out->begin(), out->end(),
              [](const Posting& a, const Posting& b) { return a.chunk < b.chunk; });
  }
}

void LexicalIndex::SnapshotStream(uint32_t chunk, const SnapshotPlan& plan,
                                  std::string* out) const {
  constexpr uint32_t kDrop = std::numeric_limits<uint32_t>::max();
  if (chunk >= streams_.size()) return;
  const std::string& stream = streams_[chunk];
  // Every term kept: the ids are unchanged and the bytes are copied.
  if (plan.terms.size() == terms_.size()) {
    out->append(stream);
    return;
  }
  std::vector<uint32_t> codes;
  if (!DecodeStream(stream, &codes)) return;
  for (uint32_t code : codes) {
    if (code >= kCodeTermBase) {
      uint32_t t = code - kCodeTermBase;
      code = t < plan.term_renumber.size() && plan.term_renumber[t] != kDrop
                 ? plan.term_renumber[t] + kCodeTermBase
                 : kCodeUnindexed;
    }
    AppendCode(out, code);
  }
}

void LexicalIndex::Serialize(const std::vector<uint32_t>& renumber, std::vector<std::string>* terms,
                             std::string* offsets, std::string* postings,
                             std::string* lengths, PositionData* positions) const {
  constexpr uint32_t kDrop = std::numeric_limits<uint32_t>::max();
  const SnapshotPlan plan = PlanSnapshot(renumber);
  uint32_t count = 0;
  store::PutU32(offsets, 0);
  std::vector<Posting> kept;
  for (uint32_t t : plan.terms) {
    SnapshotPostings(t, renumber, &kept);
    for (const Posting& p : kept) {
      store::PutU32(postings, p.chunk);
      store::PutU32(postings, p.tf);
    }
    count += static_cast<uint32_t>(kept.size());
    terms->push_back(terms_[t]);
    store::PutU32(offsets, count);
  }
  for (uint32_t c : plan.chunks) store::PutU32(lengths, c == kDrop ? 0 : lengths_[c]);
  if (!positions || !plan.positions) return;
  positions->present = true;
  store::PutU32(&positions->offsets, 0);
  for (uint32_t c : plan.chunks) {
    if (c != kDrop) SnapshotStream(c, plan, &positions->streams);
    store::PutU32(&positions->offsets, static_cast<uint32_t>(positions->streams.size()));
  }
  for (const auto& [word, t] : words_) {
    if (t >= plan.term_renumber.size() || plan.term_renumber[t] == kDrop) continue;
    positions->words.push_back(word);
    store::PutU32(&positions->word_terms, plan.term_renumber[t]);
  }
}

void LexicalIndex::BeginLoad(uint32_t chunk_count, bool positions) {
  term_ids_.clear();
  terms_.clear();
  postings_.clear();
  windows_.clear();
  df_.clear();
  max_tf_.clear();
  min_len_.clear();
  ++generation_;
  lengths_.assign(chunk_count, 0);
  live_.assign(chunk_count, 1);
  live_chunks_ = chunk_count;
  total_length_ = 0;
  streams_.clear();
  words_.clear();
  positions_complete_ = positions;
  if (positions) streams_.resize(chunk_count);
}

void LexicalIndex::LoadLength(uint32_t chunk, uint32_t length) {
  total_length_ = total_length_ - lengths_[chunk] + length;
  lengths_[chunk] = length;
}

bool LexicalIndex::LoadStream(uint32_t chunk, std::string_view stream, size_t term_count) {
  DecodedChunk check;
  if (chunk >= streams_.size() || !check.Decode(stream, term_count)) return false;
  streams_[chunk] = std::string(stream);
  return true;
}

bool LexicalIndex::CheckLoadedPostings(uint32_t id, const std::vector<Posting>& more) {
  const std::vector<Posting>& list = postings_[id];
  uint64_t next = list.empty() ? 0 : static_cast<uint64_t>(list.back().chunk) + 1;
  uint32_t max_tf = max_tf_[id], min_len = min_len_[id];
  for (const Posting& p : more) {
    if (p.chunk < next || p.chunk >= lengths_.size() || p.tf == 0) return false;
    next = static_cast<uint64_t>(p.chunk) + 1;
    max_tf = std::max(max_tf, p.tf);
    min_len = std::min(min_len, lengths_[p.chunk]);
  }
  df_[id] += static_cast<uint32_t>(more.size());
  max_tf_[id] = max_tf;
  min_len_[id] = min_len;
  return true;
}

bool LexicalIndex::LoadTerm(std::string term, std::vector<Posting> postings) {
  const uint32_t id = static_cast<uint32_t>(terms_.size());
  terms_.push_back(std::move(term));
  if (!term_ids_.emplace(terms_.back(), id).second) return false;
  postings_.emplace_back();
  df_.push_back(0);
  max_tf_.push_back(0);
  min_len_.push_back(std::numeric_limits<uint32_t>::max());
  if (!CheckLoadedPostings(id, postings)) return false;
  postings_.back() = std::move(postings);  // held exactly as decoded, not copied
  return true;
}

bool LexicalIndex::ExtendLastTerm(const std::vector<Posting>& more) {
  if (postings_.empty()) return false;
  const uint32_t id = static_cast<uint32_t>(postings_.size() - 1);
  if (!CheckLoadedPostings(id, more)) return false;
  postings_.back().insert(postings_.back().end(), more.begin(), more.end());
  return true;
}

bool LexicalIndex::LoadWord(std::string word, uint32_t term) {
  if (term >= terms_.size()) return false;
  words_.emplace(std::move(word), term);
  return true;
}

void LexicalIndex::FinishLoad() {
  windows_.assign(postings_.size(), {});
  RebuildAllWindows();
}

bool LexicalIndex::Deserialize(const std::vector<std::string>& terms, std::string_view offsets,
                               std::string_view postings, std::string_view lengths,
                               uint32_t chunk_count, const PositionData* positions) {
  size_t n_off = store::Count32(offsets);
  size_t n_post = store::Count32(postings);
  size_t n_len = store::Count32(lengths);
  if (n_off != terms.size() + 1 || n_post == SIZE_MAX || n_post % 2 != 0 || n_len != chunk_count) {
    return false;
  }
  const bool with_positions = positions && positions->present;
  BeginLoad(chunk_count, with_positions);
  for (uint32_t c = 0; c < chunk_count; ++c) LoadLength(c, store::GetU32(lengths, c));
  if (store::GetU32(offsets, 0) != 0) return false;
  postings_.reserve(terms.size());
  for (size_t t = 0; t < terms.size(); ++t) {
    uint32_t from = store::GetU32(offsets, t);
    uint32_t to = store::GetU32(offsets, t + 1);
    if (to < from || to > n_post / 2) return false;
    std::vector<Posting> list;
    list.reserve(to - from);
    for (uint32_t i = from; i < to; ++i) {
      list.push_back({store::GetU32(postings, 2 * i), store::GetU32(postings, 2 * i + 1)});
    }
    if (!LoadTerm(terms[t], std::move(list))) return false;
  }
  if (with_positions) {
    if (store::Count32(positions->offsets) != static_cast<size_t>(chunk_count) + 1 ||
        store::Count32(positions->word_terms) != positions->words.size()) {
      return false;
    }
    for (uint32_t c = 0; c < chunk_count; ++c) {
      uint32_t from = store::GetU32(positions->offsets, c);
      uint32_t to = store::GetU32(positions->offsets, c + 1);
      if (to < from || to > positions->streams.size()) return false;
      if (!LoadStream(c, std::string_view(positions->streams).substr(from, to - from),
                      terms_.size()))
        return false;
    }
    for (size_t w = 0; w < positions->words.size(); ++w) {
      if (!LoadWord(positions->words[w], store::GetU32(positions->word_terms, w))) return false;
    }
  }
  FinishLoad();
  return true;
}

}  // namespace foldback::index
