#include "index/lexical_index.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "store/bytes.h"

namespace foldback::index {

uint32_t LexicalIndex::Intern(std::string_view term) {
  auto it = term_ids_.find(term);
  if (it != term_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(terms_.size());
  terms_.emplace_back(term);
  term_ids_.emplace(terms_.back(), id);
  postings_.emplace_back();
  df_.push_back(0);
  return id;
}

std::optional<uint32_t> LexicalIndex::Find(std::string_view term) const {
  auto it = term_ids_.find(term);
  if (it == term_ids_.end()) return std::nullopt;
  return it->second;
}

void LexicalIndex::AddChunk(uint32_t chunk,
                            const std::vector<std::pair<uint32_t, uint32_t>>& terms) {
  if (chunk >= lengths_.size()) {
    lengths_.resize(chunk + 1, 0);
    live_.resize(chunk + 1, 0);
  }
  uint32_t length = 0;
  for (const auto& [id, tf] : terms) {
    postings_[id].push_back({chunk, tf});
    ++df_[id];
    length += tf;
  }
  lengths_[chunk] = length;
  live_[chunk] = 1;
  ++live_chunks_;
  total_length_ += length;
}

void LexicalIndex::RemoveChunk(uint32_t chunk,
                               const std::vector<std::pair<uint32_t, uint32_t>>& terms) {
  if (chunk >= live_.size() || !live_[chunk]) return;
  for (const auto& [id, tf] : terms) {
    if (id < df_.size() && df_[id] > 0) --df_[id];
  }
  live_[chunk] = 0;
  --live_chunks_;
  total_length_ -= lengths_[chunk];
}

double LexicalIndex::average_length() const {
  return live_chunks_ ? static_cast<double>(total_length_) / static_cast<double>(live_chunks_) : 0;
}

uint32_t LexicalIndex::Df(std::string_view term) const {
  auto it = term_ids_.find(term);
  return it == term_ids_.end() ? 0 : df_[it->second];
}

double LexicalIndex::Idf(std::string_view term) const {
  uint32_t df = Df(term);
  if (df == 0) return 0;
  double n = static_cast<double>(live_chunks_);
  return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
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
  std::atomic_store(&norms_, std::shared_ptr<const Norms>(fresh));
  return fresh;
}

std::vector<std::pair<uint32_t, double>> LexicalIndex::Search(
    const std::vector<WeightedTerm>& query, const ChunkMask& mask, size_t k,
    const std::vector<uint32_t>* group_of) const {
  std::vector<std::pair<uint32_t, double>> out;
  if (k == 0 || live_chunks_ == 0) return out;
  // Merge duplicate terms.
  std::vector<std::pair<uint32_t, double>> terms;
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
  if (terms.empty()) return out;

  thread_local std::vector<float> scores;
  thread_local std::vector<uint32_t> touched;
  if (scores.size() < lengths_.size()) scores.assign(lengths_.size(), 0.0f);
  touched.clear();

  std::shared_ptr<const Norms> norm_table = CurrentNorms();
  const std::vector<float>& norms = norm_table->values;
  const float k1p1 = static_cast<float>(params_.k1 + 1.0);
  const double n = static_cast<double>(live_chunks_);
  if (norms.size() < lengths_.size()) return out;  // REQUIRES-violation guard
  // Chunks a posting may score: live and allowed by the mask, one array.
  const uint8_t* ok = live_.data();
  thread_local std::vector<uint8_t> combined;
  if (!mask.all) {
    combined.assign(live_.size(), 0);
    size_t m = std::min(live_.size(), mask.allowed.size());
    for (size_t c = 0; c < m; ++c) combined[c] = live_[c] & mask.allowed[c];
    ok = combined.data();
  }
  size_t total_postings = 0;
  for (const auto& [id, weight] : terms) total_postings += postings_[id].size();
  // Queries touching a large share of the chunks accumulate without
  // tracking which chunks they touched, then scan the score array.
  const bool dense_scan = total_postings * 4 > lengths_.size();
  for (const auto& [id, weight] : terms) {
    double df = df_[id];
    float idf = static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)) * weight);
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
    for (uint32_t c : touched) {
      out.emplace_back(c, scores[c]);
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
  return out;
}

void LexicalIndex::Serialize(const std::vector<uint32_t>& renumber, std::vector<std::string>* terms,
                             std::string* offsets, std::string* postings,
                             std::string* lengths) const {
  constexpr uint32_t kDrop = std::numeric_limits<uint32_t>::max();
  uint32_t count = 0;
  store::PutU32(offsets, 0);
  for (size_t t = 0; t < terms_.size(); ++t) {
    uint32_t before = count;
    std::vector<Posting> kept;
    for (const Posting& p : postings_[t]) {
      if (p.chunk >= renumber.size() || !live_[p.chunk] || renumber[p.chunk] == kDrop) continue;
      kept.push_back({renumber[p.chunk], p.tf});
    }
    if (kept.empty()) continue;  // term no longer used
    std::sort(kept.begin(), kept.end(), [](const Posting& a, const Posting& b) { return a.chunk < b.chunk; });
    for (const Posting& p : kept) {
      store::PutU32(postings, p.chunk);
      store::PutU32(postings, p.tf);
      ++count;
    }
    if (count > before) {
      terms->push_back(terms_[t]);
      store::PutU32(offsets, count);
    }
  }
  std::vector<uint32_t> out_lengths;
  for (size_t c = 0; c < renumber.size() && c < lengths_.size(); ++c) {
    if (renumber[c] == kDrop || !live_[c]) continue;
    if (renumber[c] >= out_lengths.size()) out_lengths.resize(renumber[c] + 1, 0);
    out_lengths[renumber[c]] = lengths_[c];
  }
  for (uint32_t l : out_lengths) store::PutU32(lengths, l);
}

bool LexicalIndex::Deserialize(const std::vector<std::string>& terms, std::string_view offsets,
                               std::string_view postings, std::string_view lengths,
                               uint32_t chunk_count) {
  size_t n_off = store::Count32(offsets);
  size_t n_post = store::Count32(postings);
  size_t n_len = store::Count32(lengths);
  if (n_off != terms.size() + 1 || n_post == SIZE_MAX || n_post % 2 != 0 || n_len != chunk_count) {
    return false;
  }
  term_ids_.clear();
  terms_.clear();
  postings_.clear();
  df_.clear();
  lengths_.assign(chunk_count, 0);
  live_.assign(chunk_count, 1);
  live_chunks_ = chunk_count;
  total_length_ = 0;
  for (uint32_t c = 0; c < chunk_count; ++c) {
    lengths_[c] = store::GetU32(lengths, c);
    total_length_ += lengths_[c];
  }
  if (store::GetU32(offsets, 0) != 0) return false;
  postings_.reserve(terms.size());
  for (size_t t = 0; t < terms.size(); ++t) {
    uint32_t from = store::GetU32(offsets, t);
    uint32_t to = store::GetU32(offsets, t + 1);
    if (to < from || to > n_post / 2) return false;
    terms_.push_back(terms[t]);
    if (!term_ids_.emplace(terms_.back(), static_cast<uint32_t>(t)).second) return false;
    std::vector<Posting> list;
    list.reserve(to - from);
    for (uint32_t i = from; i < to; ++i) {
      Posting p{store::GetU32(postings, 2 * i), store::GetU32(postings, 2 * i + 1)};
      if (p.chunk >= chunk_count || p.tf == 0) return false;
      list.push_back(p);
    }
    df_.push_back(static_cast<uint32_t>(list.size()));
    postings_.push_back(std::move(list));
  }
  return true;
}

}  // namespace foldback::index
