#include "rewrite/rm3.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

namespace foldback::rewrite {
namespace {

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
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
                       const Rm3Params& params, const index::StatsScope* scope) {
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
  const double live = static_cast<double>(std::max<uint64_t>(rep.lexical.VisibleChunks(scope), 1));
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
        it->second = len >= 2 && len <= 20 && rep.lexical.Df(tf.first, scope) / live <= 0.1;
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
    if (!out.display.empty()) out.display += ' ';
    fmt::format_to(std::back_inserter(out.display), FMT_STRING("{}^{:.4f}"), t, w);
  }
  return out;
}

}  // namespace foldback::rewrite
