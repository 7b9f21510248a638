#include "rewrite/rm3.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "index/dense_index.h"

namespace foldback::rewrite {
namespace {

using Ranked = std::vector<std::pair<uint32_t, double>>;

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Min-max normalisation to [0, 1]; a single value maps to 1 (as search.cc).
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

std::vector<std::pair<std::string, uint32_t>> ChunkTermCounts(const Index::Rep& rep,
                                                              uint32_t chunk) {
  std::unordered_map<std::string, uint32_t> counts;
  const ChunkSlot& slot = rep.chunks[chunk];
  rep.analyzer.ForEachTerm(slot.chunk.text, [&](std::string_view t) { ++counts[std::string(t)]; });
  uint32_t tw = rep.options.bm25.title_weight;
  if (tw > 0) {
    rep.analyzer.ForEachTerm(rep.docs[slot.doc].doc.title,
                             [&](std::string_view t) { counts[std::string(t)] += tw; });
  }
  std::vector<std::pair<std::string, uint32_t>> out(counts.begin(), counts.end());
  std::sort(out.begin(), out.end());
  return out;
}

Rm3Expansion ExpandRm3(const Index::Rep& rep, std::string_view query,
                       const std::vector<std::pair<uint32_t, double>>& feedback,
                       const Rm3Params& params) {
  Rm3Expansion out;
  // P(t | query): the analyzed query terms, L1-normalised.
  std::unordered_map<std::string, double> q;
  double q_total = 0;
  for (const index::WeightedTerm& t : rep.QueryTerms(query)) {
    q[t.term] += 1;
    q_total += 1;
  }
  for (auto& [t, w] : q) w /= q_total;

  // P(t | R): sum over feedback chunks of score * tf / |chunk|.
  std::unordered_map<std::string, double> rm;
  const double live = static_cast<double>(std::max<uint64_t>(rep.lexical.live_chunks(), 1));
  std::unordered_map<std::string, bool> keep_cache;
  for (const auto& [chunk, score] : feedback) {
    if (out.feedback_docs == params.fb_docs) break;
    if (chunk >= rep.chunks.size() || !rep.chunks[chunk].live) continue;
    ++out.feedback_docs;
    std::vector<std::pair<std::string, uint32_t>> terms = ChunkTermCounts(rep, chunk);
    double norm = 0;
    std::vector<const std::pair<std::string, uint32_t>*> kept;
    for (const auto& tf : terms) {
      auto [it, fresh] = keep_cache.try_emplace(tf.first, false);
      if (fresh) {
        size_t len = CodePoints(tf.first);
        it->second = len >= 2 && len <= 20 && rep.lexical.Df(tf.first) / live <= 0.1;
      }
      if (!it->second) continue;
      kept.push_back(&tf);
      norm += tf.second;
    }
    if (norm == 0) continue;
    for (const auto* tf : kept) rm[tf->first] += score * tf->second / norm;
  }
  std::vector<std::pair<std::string, double>> fb(rm.begin(), rm.end());
  auto better = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  std::sort(fb.begin(), fb.end(), better);
  if (fb.size() > params.fb_terms) fb.resize(params.fb_terms);
  double fb_total = 0;
  for (const auto& [t, w] : fb) fb_total += w;

  std::unordered_map<std::string, double> mixed;
  const double alpha = fb_total > 0 ? params.original_query_weight : 1.0;
  for (const auto& [t, w] : q) mixed[t] += alpha * w;
  if (fb_total > 0) {
    for (const auto& [t, w] : fb) mixed[t] += (1 - alpha) * w / fb_total;
  }
  std::vector<std::pair<std::string, double>> all(mixed.begin(), mixed.end());
  std::sort(all.begin(), all.end(), better);
  for (const auto& [t, w] : all) {
    if (w <= 0) continue;
    out.terms.push_back({t, w});
    char buf[32];
    std::snprintf(buf, sizeof buf, "^%.4f", w);
    if (!out.display.empty()) out.display += ' ';
    out.display += t + buf;
  }
  return out;
}

Result<std::vector<SearchHit>> SearchWeighted(const Index::Rep& rep,
                                              const std::vector<index::WeightedTerm>& terms,
                                              std::string_view dense_text,
                                              const SearchOptions& options,
                                              const index::ChunkMask& mask) {
  // Mirrors Index::Rep::Search (search.cc) with weighted lexical terms.
  size_t depth = options.candidates ? options.candidates : std::max<size_t>(100, 4 * options.top_k);
  Ranked dense_hits;
  if (options.mode != SearchMode::kBm25) {
    auto d = rep.DenseCandidates(dense_text, options, mask,
                                 options.mode == SearchMode::kDense ? options.top_k : depth);
    if (!d.ok()) return d.status();
    dense_hits = std::move(d.value());
  }
  bool dense_used = !dense_hits.empty() ||
                    (rep.dense && rep.dense->size() > 0 && options.mode == SearchMode::kDense);
  Ranked lexical_hits;
  if (options.mode != SearchMode::kDense || !dense_used) {
    lexical_hits = rep.lexical.Search(terms, mask, dense_used ? depth : options.top_k);
  }
  std::vector<SearchHit> hits;
  if (!dense_used) {
    for (const auto& [c, s] : lexical_hits) {
      SearchHit h = rep.MakeHit(c, s);
      h.bm25 = s;
      hits.push_back(std::move(h));
    }
    return hits;
  }
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
    SearchHit h = rep.MakeHit(c, s);
    auto bi = bm25.find(c);
    if (bi != bm25.end()) h.bm25 = bi->second;
    auto di = sim.find(c);
    if (di != sim.end()) h.dense = di->second;
    hits.push_back(std::move(h));
  }
  return hits;
}

}  // namespace foldback::rewrite
