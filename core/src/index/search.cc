// Index search: the lexical side, the dense side and their fusion, all behind
// the chunk mask that carries ethical walls and filters.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "index/dense_index.h"
#include "index/index_internal.h"

namespace foldback {
namespace {

using Ranked = std::vector<std::pair<uint32_t, double>>;

// Min-max normalisation to [0, 1]; a single value maps to 1.
std::unordered_map<uint32_t, double> Normalized(const Ranked& list) {
  std::unordered_map<uint32_t, double> out;
  if (list.empty()) return out;
  double lo = list.front().second, hi = lo;
  for (const auto& [c, s] : list) {
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  for (const auto& [c, s] : list) out[c] = hi > lo ? (s - lo) / (hi - lo) : 1.0;
  return out;
}

}  // namespace

Result<std::vector<SearchHit>> Index::Rep::Search(std::string_view query,
                                                  const SearchOptions& options,
                                                  const index::ChunkMask& mask) const {
  size_t depth = options.candidates ? options.candidates : std::max<size_t>(100, 4 * options.top_k);
  Ranked dense_hits;
  if (options.mode != SearchMode::kBm25) {
    auto d = DenseCandidates(query, options, mask,
                             options.mode == SearchMode::kDense ? options.top_k : depth);
    if (!d.ok()) return d.status();
    dense_hits = std::move(d.value());
  }
  bool dense_used = !dense_hits.empty() || (dense && dense->size() > 0 &&
                                            options.mode == SearchMode::kDense);
  Ranked lexical_hits;
  if (options.mode != SearchMode::kDense || !dense_used) {
    lexical_hits = lexical.Search(QueryTerms(query), mask,
                                  dense_used ? depth : options.top_k);
  }
  std::vector<SearchHit> hits;
  if (!dense_used) {
    // BM25 mode, or no usable dense side: lexical results as they are.
    for (const auto& [c, s] : lexical_hits) {
      SearchHit h = MakeHit(c, s);
      h.bm25 = s;
      hits.push_back(std::move(h));
    }
    return hits;
  }
  // Fusion.
  std::unordered_map<uint32_t, double> fused, bm25, sim;
  for (const auto& [c, s] : lexical_hits) bm25[c] = s;
  for (const auto& [c, s] : dense_hits) sim[c] = s;
  if (options.mode == SearchMode::kDense) {
    for (const auto& [c, s] : dense_hits) fused[c] = s;
  } else if (options.fusion == Fusion::kRrf) {
    for (size_t i = 0; i < lexical_hits.size(); ++i) {
      fused[lexical_hits[i].first] += 1.0 / (options.rrf_k + static_cast<double>(i + 1));
    }
    for (size_t i = 0; i < dense_hits.size(); ++i) {
      fused[dense_hits[i].first] += 1.0 / (options.rrf_k + static_cast<double>(i + 1));
    }
  } else {
    auto nl = Normalized(lexical_hits);
    auto nd = Normalized(dense_hits);
    for (const auto& [c, s] : nl) fused[c] += (1 - options.dense_weight) * s;
    for (const auto& [c, s] : nd) fused[c] += options.dense_weight * s;
  }
  Ranked order(fused.begin(), fused.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (order.size() > options.top_k) order.resize(options.top_k);
  for (const auto& [c, s] : order) {
    SearchHit h = MakeHit(c, s);
    auto bi = bm25.find(c);
    if (bi != bm25.end()) h.bm25 = bi->second;
    auto di = sim.find(c);
    if (di != sim.end()) h.dense = di->second;
    hits.push_back(std::move(h));
  }
  return hits;
}

}  // namespace foldback
