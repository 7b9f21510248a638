#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "foldback/eval.h"

namespace foldback {

Metrics ScoreQuery(const std::vector<std::string>& ranked, const std::map<std::string, int>& rel) {
  Metrics m;
  std::vector<int> gains;
  size_t relevant = 0;
  for (const auto& [id, g] : rel) {
    if (g > 0) {
      gains.push_back(g);
      ++relevant;
    }
  }
  if (relevant == 0) return m;
  m.queries = 1;
  std::sort(gains.begin(), gains.end(), std::greater<int>());
  double idcg = 0;
  for (size_t i = 0; i < gains.size() && i < 10; ++i) idcg += gains[i] / std::log2(i + 2.0);
  double dcg = 0;
  size_t hits5 = 0, hits10 = 0, hits100 = 0;
  std::set<std::string> seen;
  size_t rank = 0;
  for (const std::string& id : ranked) {
    if (!seen.insert(id).second) continue;  // a document counts once
    ++rank;
    auto it = rel.find(id);
    int g = it == rel.end() ? 0 : it->second;
    if (g > 0) {
      if (rank <= 10) dcg += g / std::log2(rank + 1.0);
      if (rank <= 5) ++hits5;
      if (rank <= 10) ++hits10;
      if (rank <= 100) ++hits100;
      if (rank <= 10 && m.mrr10 == 0) m.mrr10 = 1.0 / static_cast<double>(rank);
    }
    if (rank >= 100) break;
  }
  m.ndcg10 = idcg > 0 ? dcg / idcg : 0;
  m.recall5 = static_cast<double>(hits5) / static_cast<double>(relevant);
  m.recall10 = static_cast<double>(hits10) / static_cast<double>(relevant);
  m.recall100 = static_cast<double>(hits100) / static_cast<double>(relevant);
  return m;
}

void MetricsAccumulator::Add(const Metrics& m) {
  if (m.queries == 0) return;
  sum_.ndcg10 += m.ndcg10;
  sum_.recall5 += m.recall5;
  sum_.recall10 += m.recall10;
  sum_.recall100 += m.recall100;
  sum_.mrr10 += m.mrr10;
  sum_.queries += m.queries;
}

Metrics MetricsAccumulator::Mean() const {
  Metrics m = sum_;
  if (m.queries == 0) return m;
  double n = static_cast<double>(m.queries);
  m.ndcg10 /= n;
  m.recall5 /= n;
  m.recall10 /= n;
  m.recall100 /= n;
  m.mrr10 /= n;
  return m;
}

}  // namespace foldback
