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
                                                  const index::ChunkMask& mask,
                                                  const std::vector<index::WeightedTerm>* terms) const {
  size_t depth = options.candidates ? options.candidates : std::max<size_t>(100, 4 * options.top_k);
  const std::vector<uint32_t>* group = options.one_per_document ? &chunk_doc : nullptr;
  // Dense candidates are chunks: take more when they collapse to documents.
  size_t dense_depth = (options.mode == SearchMode::kDense ? options.top_k : depth) *
                       (options.one_per_document ? 2 : 1);
  Ranked dense_hits;
  if (options.mode != SearchMode::kBm25) {
    auto d = DenseCandidates(query, options, mask, dense_depth);
    if (!d.ok()) return d.status();
    dense_hits = std::move(d.value());
  }
  bool dense_used = !dense_hits.empty() || (dense && dense->size() > 0 &&
                                            options.mode == SearchMode::kDense);
  Ranked lexical_hits;
  if (options.mode != SearchMode::kDense || !dense_used) {
    lexical_hits = lexical.Search(terms ? *terms : QueryTerms(query), mask,
                                  dense_used ? depth : options.top_k, group);
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
  // Fusion, keyed by chunk — or by document when one_per_document, each
  // document represented by its best chunk (lexical side first).
  auto key_of = [&](uint32_t c) { return group ? chunk_doc[c] : c; };
  std::unordered_map<uint32_t, uint32_t> representative;  // key -> chunk
  auto collapse = [&](const Ranked& in) {
    Ranked out;
    std::unordered_map<uint32_t, bool> seen;
    for (const auto& [c, s] : in) {
      if (!seen.emplace(key_of(c), true).second) continue;
      out.emplace_back(c, s);
      representative.emplace(key_of(c), c);
    }
    return out;
  };
  lexical_hits = collapse(lexical_hits);
  dense_hits = collapse(dense_hits);
  std::unordered_map<uint32_t, double> fused, bm25, sim;
  for (const auto& [c, s] : lexical_hits) bm25[key_of(c)] = s;
  for (const auto& [c, s] : dense_hits) sim[key_of(c)] = s;
  if (options.mode == SearchMode::kDense) {
    for (const auto& [c, s] : dense_hits) fused[key_of(c)] = s;
  } else if (options.fusion == Fusion::kRrf) {
    for (size_t i = 0; i < lexical_hits.size(); ++i) {
      fused[key_of(lexical_hits[i].first)] += 1.0 / (options.rrf_k + static_cast<double>(i + 1));
    }
    for (size_t i = 0; i < dense_hits.size(); ++i) {
      fused[key_of(dense_hits[i].first)] += 1.0 / (options.rrf_k + static_cast<double>(i + 1));
    }
  } else {
    for (const auto& [c, s] : Normalized(lexical_hits)) fused[key_of(c)] += (1 - options.dense_weight) * s;
    for (const auto& [c, s] : Normalized(dense_hits)) fused[key_of(c)] += options.dense_weight * s;
  }
  Ranked order(fused.begin(), fused.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (order.size() > options.top_k) order.resize(options.top_k);
  for (const auto& [key, s] : order) {
    SearchHit h = MakeHit(representative.at(key), s);
    auto bi = bm25.find(key);
    if (bi != bm25.end()) h.bm25 = bi->second;
    auto di = sim.find(key);
    if (di != sim.end()) h.dense = di->second;
    hits.push_back(std::move(h));
  }
  return hits;
}

}  // namespace foldback
