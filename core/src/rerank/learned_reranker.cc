// LearnedReranker: a pairwise logistic model (RankNet, linear scorer) over
// features a question does not determine, trained per scope of matters from
// lawyers' relevant / not-relevant labels, gated by minimum label counts and
// by cross-validation on held-out questions; plus a memory part scoring
// passages by their similarity to passages labelled for similar past
// questions. See foldback/rerank.h for walls, consent and versions.
#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "foldback/rerank.h"
#include "index/index_internal.h"
#include "rerank/features.h"

namespace foldback {
namespace {

using rerank::Candidate;
using rerank::QueryContext;
using rerank::TermVec;

constexpr char kSection[] = "foldback.rerank.learned";
constexpr char kFormat[] = "foldback.rerank.learned";
constexpr int kFormatVersion = 1;
constexpr int G = rerank::kGenericCount;
constexpr int F = rerank::kFeatureCount;

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  h ^= 0xff;
  h *= 1099511628211ull;
  return h;
}

std::string ScopeKey(const std::vector<std::string>& scope) {
  std::string k;
  for (const auto& m : scope) {
    if (!k.empty()) k += ",";
    k += m;
  }
  return k;
}

bool Inside(const std::vector<std::string>& scope,
            const std::optional<std::set<std::string>>& allowed,
            const std::set<std::string>* shareable) {
  if (!allowed) return true;
  for (const auto& m : scope) {
    if (allowed->count(m)) continue;
    if (shareable && shareable->count(m)) continue;
    return false;
  }
  return true;
}

// A labelled passage kept for the memory part.
struct MemPassage {
  std::string chunk_id;
  std::string text_hash;
};

struct MemoryEntry {
  std::string question;
  std::vector<MemPassage> relevant, not_relevant;
  TermVec question_vec;  // derived
};

struct ModelVersion {
  RerankerModelInfo info;
  std::vector<MemoryEntry> memory;
};

struct Slot {
  std::vector<ModelVersion> versions;
  size_t current = 0;
};

// One record, ready to train on.
struct Example {
  std::string record_id;
  std::string question;
  std::vector<std::string> scope;
  std::vector<uint32_t> chunks;  // labelled passages
  std::vector<int> grades;       // 2 relevant, 1 partly, 0 not relevant
  std::vector<uint32_t> first_rank;
  std::vector<std::vector<double>> rows;  // F features each
  TermVec question_vec;
  std::vector<uint32_t> rel_chunks, non_chunks;
  MemoryEntry memory;
  uint64_t fingerprint = 0;
};

// Chunk vectors and term vectors, computed once per call.
struct VecCache {
  const Index::Rep* ix;
  std::unordered_map<uint32_t, std::vector<float>> vec;
  std::unordered_map<uint32_t, TermVec> terms;
  const std::vector<float>& Vec(uint32_t c) {
    auto it = vec.find(c);
    if (it == vec.end()) it = vec.emplace(c, rerank::ChunkVector(*ix, c)).first;
    return it->second;
  }
  const TermVec& Terms(uint32_t c) {
    auto it = terms.find(c);
    if (it == terms.end()) it = terms.emplace(c, rerank::ChunkTermVector(*ix, c)).first;
    return it->second;
  }
};

double CosF(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.empty() || a.size() != b.size()) return 0;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

struct Neighbour {
  double sim = 0;
  const std::vector<uint32_t>* rel = nullptr;
  const std::vector<uint32_t>* non = nullptr;
};

// Labelled passages the kNN vote of a memory group counts.
constexpr size_t kKnn = 10;

// Fills one memory group of `rows` (candidates `chunks`): the features at
// `base` .. base + kMemoryGroupSize (features.h), and the kNN vote at `knn`
// unless it is negative, from neighbours `nbrs`.
void MemoryFeatures(const std::vector<Neighbour>& nbrs, const std::vector<uint32_t>& chunks,
                    VecCache* cache, std::vector<std::vector<double>>* rows, int base, int knn) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::vector<double>& f = (*rows)[i];
    for (int k = base; k < base + rerank::kMemoryGroupSize; ++k) f[k] = 0;
    if (knn >= 0) f[knn] = 0;
    if (nbrs.empty()) continue;
    const std::vector<float>& v = cache->Vec(chunks[i]);
    const TermVec& t = cache->Terms(chunks[i]);
    double pos = 0, neg = 0, lex = 0, exact = 0;
    double pos_sum = 0, lex_sum = 0, weight = 0;
    // (cosine, signed question similarity, chunk) of every labelled passage.
    std::vector<std::tuple<double, double, uint32_t>> votes;
    for (const Neighbour& n : nbrs) {
      double best_pos = 0, best_lex = 0;
      for (uint32_t r : *n.rel) {
        if (r == chunks[i]) exact = std::max(exact, n.sim);
        double c = CosF(v, cache->Vec(r));
        best_pos = std::max(best_pos, c);
        best_lex = std::max(best_lex, TermDot(t, cache->Terms(r)));
        if (knn >= 0 && c > 0) votes.emplace_back(c, n.sim, r);
      }
      pos = std::max(pos, n.sim * best_pos);
      lex = std::max(lex, n.sim * best_lex);
      if (!n.rel->empty()) {
        pos_sum += n.sim * best_pos;
        lex_sum += n.sim * best_lex;
        weight += n.sim;
      }
      for (uint32_t r : *n.non) {
        if (r == chunks[i] && exact <= 0) exact = std::min(exact, -n.sim);
        double c = CosF(v, cache->Vec(r));
        neg = std::max(neg, n.sim * c);
        if (knn >= 0 && c > 0) votes.emplace_back(c, -n.sim, r);
      }
    }
    // kNN vote: the kKnn labelled passages nearest to the candidate (ties:
    // chunk number, so the same on every run).
    size_t k = std::min(kKnn, votes.size());
    std::partial_sort(votes.begin(), votes.begin() + k, votes.end(),
                      [](const auto& a, const auto& b) {
                        if (std::get<0>(a) != std::get<0>(b))
                          return std::get<0>(a) > std::get<0>(b);
                        if (std::get<2>(a) != std::get<2>(b))
                          return std::get<2>(a) < std::get<2>(b);
                        return std::get<1>(a) > std::get<1>(b);
                      });
    double vote = 0, vote_weight = 0;
    for (size_t j = 0; j < k; ++j) {
      vote += std::get<0>(votes[j]) * std::get<1>(votes[j]);
      vote_weight += std::get<0>(votes[j]) * std::abs(std::get<1>(votes[j]));
    }
    f[base + 0] = pos;
    f[base + 1] = neg;
    f[base + 2] = lex;
    f[base + 3] = exact;
    f[base + 4] = weight > 0 ? pos_sum / weight : 0;
    f[base + 5] = weight > 0 ? lex_sum / weight : 0;
    if (knn >= 0 && vote_weight > 0) f[knn] = vote / vote_weight;
  }
}

// The two memory groups' neighbours: every past question at least
// min_similarity similar, and the same question asked before (similarity >=
// same_similarity), each the most similar first, at most `max_neighbours`
// each.
struct NeighbourGroups {
  std::vector<Neighbour> similar, same;
};

// The document a passage belongs to, for the label prior: passages of
// documents sharing a non-empty title count as one document (corpora split
// into passages, as BEIR's are, and as the embedder trainer reads them).
std::string DocKey(const Index::Rep& ix, uint32_t chunk) {
  const DocSlot& d = ix.docs[ix.chunks[chunk].doc];
  return d.doc.title.empty() ? "#" + d.doc.id : "t:" + d.doc.title;
}

// Fills the label-prior features of `rows`: for each candidate, the best
// cosine to a passage labelled relevant (and not relevant) for a question
// that is not similar to this one, in another document. `rel` and `non` are
// those passages (chunk ids in the index).
void PriorFeatures(const Index::Rep& ix, const std::vector<uint32_t>& rel,
                   const std::vector<uint32_t>& non, const std::vector<uint32_t>& chunks,
                   VecCache* cache, std::vector<std::vector<double>>* rows) {
  std::unordered_map<uint32_t, std::string> keys;
  auto key = [&](uint32_t c) -> const std::string& {
    auto it = keys.find(c);
    if (it == keys.end()) it = keys.emplace(c, DocKey(ix, c)).first;
    return it->second;
  };
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::vector<double>& f = (*rows)[i];
    f[rerank::kPriorPos] = f[rerank::kPriorNeg] = 0;
    const std::vector<float>& v = cache->Vec(chunks[i]);
    if (v.empty()) continue;
    const std::string& mine = key(chunks[i]);
    auto best = [&](const std::vector<uint32_t>& from) {
      double b = 0;
      for (uint32_t r : from) {
        if (key(r) == mine) continue;
        b = std::max(b, CosF(v, cache->Vec(r)));
      }
      return b;
    };
    f[rerank::kPriorPos] = best(rel);
    f[rerank::kPriorNeg] = best(non);
  }
}

// Most similar past questions (at least min_similarity), best first, in
// their groups.
template <typename Getter>
NeighbourGroups PickNeighbours(size_t count, const Getter& get, double min_similarity,
                               double same_similarity, size_t max_neighbours,
                               size_t skip = SIZE_MAX) {
  std::vector<std::pair<double, size_t>> cand;
  for (size_t i = 0; i < count; ++i) {
    if (i == skip) continue;
    Neighbour n = get(i);
    if (!n.rel || (n.rel->empty() && n.non->empty())) continue;
    double s = n.sim;
    if (s >= min_similarity && s > 0) cand.emplace_back(s, i);
  }
  std::stable_sort(cand.begin(), cand.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  NeighbourGroups out;
  for (const auto& [s, i] : cand) {
    if (out.similar.size() < max_neighbours) out.similar.push_back(get(i));
    if (s >= same_similarity && out.same.size() < max_neighbours) out.same.push_back(get(i));
  }
  return out;
}

// Both memory groups of `rows`.
void AllMemoryFeatures(const NeighbourGroups& g, const std::vector<uint32_t>& chunks,
                       VecCache* cache, std::vector<std::vector<double>>* rows) {
  MemoryFeatures(g.similar, chunks, cache, rows, rerank::kMemPosDense, -1);
  MemoryFeatures(g.same, chunks, cache, rows, rerank::kSamePosDense, rerank::kSameKnn);
}

// Memory features of each record in `ex` from the past questions among the
// first `pool` of them (a record in the pool never counts itself).
void RecordMemoryFeatures(const std::vector<Example*>& ex, size_t pool,
                          const LearnedRerankerOptions& o, VecCache* cache) {
  for (size_t i = 0; i < ex.size(); ++i) {
    auto get = [&](size_t j) {
      return Neighbour{TermDot(ex[i]->question_vec, ex[j]->question_vec), &ex[j]->rel_chunks,
                       &ex[j]->non_chunks};
    };
    auto nbrs = PickNeighbours(pool, get, o.min_similarity, o.same_question_similarity,
                               o.max_neighbours, i < pool ? i : SIZE_MAX);
    AllMemoryFeatures(nbrs, ex[i]->chunks, cache, &ex[i]->rows);
  }
}

double Sigmoid(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}
double LogLoss(double margin) {  // log(1 + exp(-margin)), stable
  return margin > 0 ? std::log1p(std::exp(-margin)) : -margin + std::log1p(std::exp(margin));
}

struct Pair {
  std::vector<double> d;  // standardized differences, features [lo, hi)
  double offset = 0;      // fixed part of the margin
  double weight = 0;
};

// Pairwise logistic regression on features [lo, hi) by Newton's method.
// Returns standardized weights (size hi - lo).
std::vector<double> FitPairwise(const std::vector<const Example*>& ex, int lo, int hi,
                                const std::vector<double>& scale,
                                const std::vector<double>& base_raw, double l2, uint32_t iterations,
                                double* loss_before, double* loss_after, size_t* pair_count) {
  const int d = hi - lo;
  std::vector<Pair> pairs;
  size_t groups = 0;
  for (const Example* e : ex) {
    std::vector<Pair> mine;
    for (size_t i = 0; i < e->grades.size(); ++i) {
      for (size_t j = 0; j < e->grades.size(); ++j) {
        if (e->grades[i] <= e->grades[j]) continue;
        Pair p;
        p.d.assign(d, 0);
        for (int k = lo; k < hi; ++k) {
          if (scale[k] > 0) p.d[k - lo] = (e->rows[i][k] - e->rows[j][k]) / scale[k];
        }
        if (!base_raw.empty()) {
          for (int k = 0; k < F; ++k) p.offset += base_raw[k] * (e->rows[i][k] - e->rows[j][k]);
        }
        mine.push_back(std::move(p));
      }
    }
    if (mine.empty()) continue;
    ++groups;
    for (auto& p : mine) {
      p.weight = 1.0 / static_cast<double>(mine.size());
      pairs.push_back(std::move(p));
    }
  }
  if (pair_count) *pair_count = pairs.size();
  Eigen::VectorXd w = Eigen::VectorXd::Zero(d);
  auto loss = [&](const Eigen::VectorXd& v) {
    double s = 0;
    for (const Pair& p : pairs) {
      double m = p.offset;
      for (int k = 0; k < d; ++k) m += v[k] * p.d[k];
      s += p.weight * LogLoss(m);
    }
    return (groups ? s / static_cast<double>(groups) : 0) + 0.5 * l2 * v.squaredNorm();
  };
  double current = loss(w);
  if (loss_before) *loss_before = current;
  if (groups == 0) {
    if (loss_after) *loss_after = current;
    return std::vector<double>(d, 0);
  }
  const double norm = 1.0 / static_cast<double>(groups);
  for (uint32_t it = 0; it < iterations; ++it) {
    Eigen::VectorXd g = l2 * w;
    Eigen::MatrixXd h = l2 * Eigen::MatrixXd::Identity(d, d);
    if (l2 <= 0) h += 1e-9 * Eigen::MatrixXd::Identity(d, d);
    for (const Pair& p : pairs) {
      double m = p.offset;
      for (int k = 0; k < d; ++k) m += w[k] * p.d[k];
      double s = Sigmoid(-m);  // d loss / d margin = -s
      double c = p.weight * norm;
      for (int a = 0; a < d; ++a) {
        if (p.d[a] == 0) continue;
        g[a] -= c * s * p.d[a];
        double ha = c * s * (1 - s) * p.d[a];
        for (int b = 0; b < d; ++b) h(a, b) += ha * p.d[b];
      }
    }
    Eigen::VectorXd step = h.ldlt().solve(g);
    if (!step.allFinite()) break;
    // Backtracking: Newton steps on a convex loss, halved until it drops.
    double t = 1;
    Eigen::VectorXd next = w - step;
    double next_loss = loss(next);
    while (next_loss > current && t > 1e-4) {
      t *= 0.5;
      next = w - t * step;
      next_loss = loss(next);
    }
    if (next_loss > current) break;
    w = next;
    bool done = current - next_loss < 1e-10;
    current = next_loss;
    if (done) break;
  }
  if (loss_after) *loss_after = current;
  return std::vector<double>(w.data(), w.data() + d);
}

double Score(const std::vector<double>& raw, const std::vector<double>& row) {
  double s = 0;
  for (int k = 0; k < F; ++k) s += raw[k] * row[k];
  return s;
}

// A model's score of a candidate, each feature clipped to the range it had
// over the labelled passages the model was fitted on (no range: a model
// stored before ranges were kept, scored as it was). The lawyers label the
// first page; the reranker reorders the first `depth` candidates, among
// which a feature can reach values no labelled passage had (a heading's
// share of capitals among body sentences), and a linear model fitted on a
// narrow spread would extrapolate its weight far past it.
double ClippedScore(const RerankerModelInfo& m, const std::vector<double>& row) {
  if (m.feature_min.size() != static_cast<size_t>(F) ||
      m.feature_max.size() != static_cast<size_t>(F)) {
    return Score(m.weights, row);
  }
  double s = 0;
  for (int k = 0; k < F; ++k) {
    s += m.weights[k] * std::clamp(row[k], m.feature_min[k], m.feature_max[k]);
  }
  return s;
}

// nDCG of an example's labelled passages in the order of `score` (ties:
// first-stage rank). -1 when every label is the same (nothing to order).
double LabelledNdcg(const Example& e, const std::vector<double>& score) {
  std::vector<size_t> order(e.grades.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return score[a] != score[b] ? score[a] > score[b] : e.first_rank[a] < e.first_rank[b];
  });
  std::vector<int> ideal = e.grades;
  std::sort(ideal.rbegin(), ideal.rend());
  if (ideal.empty() || ideal.front() == ideal.back()) return -1;
  double dcg = 0, idcg = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    double disc = std::log2(static_cast<double>(i) + 2);
    dcg += (e.grades[order[i]] / 2.0) / disc;
    idcg += (ideal[i] / 2.0) / disc;
  }
  return idcg > 0 ? dcg / idcg : -1;
}

std::vector<double> ClippedRowScores(const Example& e, const RerankerModelInfo& m) {
  std::vector<double> s;
  for (const auto& r : e.rows) s.push_back(ClippedScore(m, r));
  return s;
}

std::vector<double> RowScores(const Example& e, const std::vector<double>& raw) {
  std::vector<double> s;
  for (const auto& r : e.rows) s.push_back(Score(raw, r));
  return s;
}

std::vector<double> FirstStageScores(const Example& e) {
  std::vector<double> s;
  for (uint32_t r : e.first_rank) s.push_back(-static_cast<double>(r));
  return s;
}

}  // namespace

const std::vector<std::string>& RerankFeatureNames() {
  static const std::vector<std::string> names = {"first_score_rel",
                                                 "first_rank_log",
                                                 "bm25_log",
                                                 "bm25_rel",
                                                 "dense",
                                                 "dense_gap",
                                                 "coverage_idf",
                                                 "coverage",
                                                 "proximity",
                                                 "title_match",
                                                 "section_match",
                                                 "defined_term_match",
                                                 "defines_term",
                                                 "party_match",
                                                 "metadata_match",
                                                 "length_log",
                                                 "short",
                                                 "position",
                                                 "upper_ratio",
                                                 "body_role",
                                                 "bm25_rank_log",
                                                 "dense_rank_log",
                                                 "coverage_rare",
                                                 "prior_pos",
                                                 "prior_neg",
                                                 "mem_pos_dense",
                                                 "mem_neg_dense",
                                                 "mem_pos_lexical",
                                                 "mem_exact",
                                                 "mem_pos_dense_mean",
                                                 "mem_pos_lexical_mean",
                                                 "same_pos_dense",
                                                 "same_neg_dense",
                                                 "same_pos_lexical",
                                                 "same_exact",
                                                 "same_pos_dense_mean",
                                                 "same_pos_lexical_mean",
                                                 "same_knn"};
  return names;
}

size_t RerankGenericFeatureCount() { return G; }

struct LearnedReranker::Rep {
  LearnedRerankerOptions options;
  std::map<std::string, Slot> slots;

  // Records -> examples (consent, privilege, walls, stale passages).
  std::vector<Example> Prepare(const Index::Rep& ix, const std::vector<FeedbackRecord>& records,
                               const RerankTrainingLists* lists, RerankTrainStats* st) const;
  ModelVersion TrainScope(const Index::Rep& ix, std::vector<Example*> ex, VecCache* cache) const;
  void Fit(const std::vector<const Example*>& ex, ModelVersion* m, bool with_memory,
           double l2) const;
  void Absorb(const Index::Rep& ix, const std::vector<FeedbackRecord>& records,
              const RerankTrainingLists* lists, RerankTrainStats* st);
};

std::vector<Example> LearnedReranker::Rep::Prepare(const Index::Rep& ix,
                                                   const std::vector<FeedbackRecord>& records,
                                                   const RerankTrainingLists* lists,
                                                   RerankTrainStats* st) const {
  std::vector<Example> out;
  for (const FeedbackRecord& r : records) {
    ++st->records;
    if (!r.consent_to_train) {
      ++st->no_consent;
      continue;
    }
    if (r.privileged) {
      ++st->privileged;
      continue;
    }
    std::set<std::string> matters;
    if (!r.matter.empty()) matters.insert(r.matter);
    std::unordered_map<std::string, const ShownResult*> shown;
    for (const ShownResult& s : r.results) {
      shown.emplace(s.chunk_id, &s);
      if (!s.matter.empty()) matters.insert(s.matter);
    }
    auto resolve = [&](const std::string& id, uint32_t* chunk) {
      auto it = ix.chunk_ids.find(id);
      if (it == ix.chunk_ids.end() || !ix.chunks[it->second].live) return false;
      const ChunkSlot& slot = ix.chunks[it->second];
      const std::string& m = ix.docs[slot.doc].doc.matter;
      if (!m.empty()) matters.insert(m);
      auto sh = shown.find(id);
      if (sh != shown.end() && !sh->second->text_hash.empty() &&
          sh->second->text_hash != FeedbackTextHash(slot.chunk.text)) {
        return false;
      }
      *chunk = it->second;
      return true;
    };
    // The list the lawyer saw, and labels (the last label of a passage wins).
    std::vector<Candidate> list;
    std::unordered_map<uint32_t, size_t> in_list;
    std::vector<std::pair<uint32_t, uint32_t>> by_rank;  // rank, chunk
    for (const ShownResult& s : r.results) {
      uint32_t c;
      if (!resolve(s.chunk_id, &c) || in_list.count(c)) continue;
      in_list[c] = list.size();
      list.push_back({c, s.rank ? s.rank : static_cast<uint32_t>(list.size() + 1), s.score});
    }
    std::map<uint32_t, int> grade;
    size_t stale = 0;
    for (const LabelledPassage& l : r.labels) {
      uint32_t c;
      if (!resolve(l.chunk_id, &c)) {
        ++stale;
        continue;
      }
      if (l.label == PassageLabel::kPartly && !options.use_partly) continue;
      grade[c] = l.label == PassageLabel::kRelevant ? 2 : l.label == PassageLabel::kPartly ? 1 : 0;
    }
    if (options.allowed_matters) {
      bool ok = true;
      for (const auto& m : matters) ok &= options.allowed_matters->count(m) > 0;
      if (!ok) {
        ++st->walled;
        continue;
      }
    }
    st->stale_labels += stale;
    if (grade.empty()) {
      ++st->no_labels;
      continue;
    }
    for (const auto& c : list) {
      if (!grade.count(c.chunk)) ++st->unlabelled_shown;
    }
    // The list the reranker will reorder for this question, when the host
    // gave one (RerankTrainingLists): the labelled passages' features are
    // taken within it. Its candidates of a matter the record does not touch
    // are ignored.
    const std::vector<SearchHit>* given = nullptr;
    if (lists) {
      auto it = lists->find(r.record_id);
      if (it != lists->end()) given = &it->second;
    }
    if (given) {
      list.clear();
      in_list.clear();
      for (const SearchHit& h : *given) {
        auto it = ix.chunk_ids.find(h.chunk_id);
        if (it == ix.chunk_ids.end() || !ix.chunks[it->second].live) continue;
        const uint32_t c = it->second;
        const std::string& m = ix.docs[ix.chunks[c].doc].doc.matter;
        if ((!m.empty() && !matters.count(m)) || (!h.matter.empty() && !matters.count(h.matter)) ||
            in_list.count(c)) {
          continue;
        }
        in_list[c] = list.size();
        list.push_back({c, static_cast<uint32_t>(list.size() + 1), h.score});
      }
    }
    // Labelled passages that were not in the list rank after it.
    double lowest = 0;
    for (const auto& c : list) lowest = std::min(lowest, c.first_score);
    uint32_t next_rank = static_cast<uint32_t>(list.size());
    for (const auto& [c, g] : grade) {
      if (in_list.count(c)) continue;
      in_list[c] = list.size();
      list.push_back({c, ++next_rank, lowest});
    }
    Example e;
    e.record_id = r.record_id;
    e.question = r.question;
    e.scope.assign(matters.begin(), matters.end());
    QueryContext q;
    auto made = rerank::MakeQueryContext(ix, r.question, {});
    if (made.ok()) q = std::move(made.value());
    std::vector<std::vector<double>> rows = rerank::GenericFeatures(ix, q, list);
    e.question_vec = q.question_vec;
    uint64_t fp = Fnv(14695981039346656037ull, r.record_id);
    for (const auto& [c, g] : grade) {
      size_t at = in_list.at(c);
      e.chunks.push_back(c);
      e.grades.push_back(g);
      e.first_rank.push_back(list[at].first_rank);
      std::vector<double> row = rows[at];
      row.resize(F, 0.0);
      e.rows.push_back(std::move(row));
      const ChunkSlot& slot = ix.chunks[c];
      MemPassage mp{slot.chunk.id, FeedbackTextHash(slot.chunk.text)};
      if (g == 2) {
        e.rel_chunks.push_back(c);
        e.memory.relevant.push_back(mp);
      } else if (g == 0) {
        e.non_chunks.push_back(c);
        e.memory.not_relevant.push_back(mp);
      }
      fp = Fnv(fp, fmt::format(FMT_STRING("{}/{}/{}/{}"), slot.chunk.id, g, mp.text_hash,
                               list[at].first_rank));
      if (given) fp = Fnv(fp, fmt::format(FMT_STRING("{:.17g}"), list[at].first_score));
    }
    e.memory.question = r.question;
    e.memory.question_vec = e.question_vec;
    if (given) fp = Fnv(fp, fmt::format(FMT_STRING("list/{}"), list.size()));
    e.fingerprint = Fnv(fp, r.question);
    ++st->used;
    out.push_back(std::move(e));
  }
  return out;
}

void LearnedReranker::Rep::Fit(const std::vector<const Example*>& ex, ModelVersion* m,
                               bool with_memory, double l2) const {
  // Scales: standard deviation of each feature over the labelled passages.
  std::vector<double> mean(F, 0), scale(F, 0);
  size_t n = 0;
  for (const Example* e : ex) {
    for (const auto& r : e->rows) {
      for (int k = 0; k < F; ++k) mean[k] += r[k];
      ++n;
    }
  }
  if (n == 0) {
    m->info.weights.assign(F, 0);
    return;
  }
  for (double& v : mean) v /= static_cast<double>(n);
  m->info.feature_min.assign(F, std::numeric_limits<double>::infinity());
  m->info.feature_max.assign(F, -std::numeric_limits<double>::infinity());
  for (const Example* e : ex) {
    for (const auto& r : e->rows) {
      for (int k = 0; k < F; ++k) {
        m->info.feature_min[k] = std::min(m->info.feature_min[k], r[k]);
        m->info.feature_max[k] = std::max(m->info.feature_max[k], r[k]);
      }
    }
  }
  for (const Example* e : ex) {
    for (const auto& r : e->rows) {
      for (int k = 0; k < F; ++k) scale[k] += (r[k] - mean[k]) * (r[k] - mean[k]);
    }
  }
  for (double& v : scale) {
    v = std::sqrt(v / static_cast<double>(n));
    if (v < 1e-9) v = 0;
  }
  std::vector<double> raw(F, 0);
  double before = 0, after = 0;
  size_t pairs = 0;
  // The first stage's order as the starting point: a fixed weight on its
  // rank (in standard deviations over these passages), the fit on top.
  std::vector<double> prior(F, 0);
  if (scale[rerank::kFirstRankLog] > 0) {
    prior[rerank::kFirstRankLog] = -options.first_stage_prior / scale[rerank::kFirstRankLog];
  }
  std::vector<double> wg =
      FitPairwise(ex, 0, G, scale, prior, l2, options.iterations, &before, &after, &pairs);
  for (int k = 0; k < G; ++k) raw[k] = (scale[k] > 0 ? wg[k] / scale[k] : 0) + prior[k];
  m->info.loss_before = before;
  m->info.loss_after = after;
  m->info.pairs = pairs;
  if (with_memory) {
    // The memory groups in turn, each on top of the scores before it (held
    // fixed), from the records that have such neighbours: every similar
    // past question first (what a new question can have), then the same
    // question asked before, on top.
    for (const auto& [lo, hi] : {std::pair<int, int>(rerank::kMemPosDense, rerank::kSamePosDense),
                                 std::pair<int, int>(rerank::kSamePosDense, F)}) {
      std::vector<const Example*> mem;
      for (const Example* e : ex) {
        bool any = false;
        for (const auto& r : e->rows) {
          for (int k = lo; k < hi; ++k) any |= r[k] != 0;
        }
        if (any) mem.push_back(e);
      }
      if (mem.empty()) continue;
      std::vector<double> wm =
          FitPairwise(mem, lo, hi, scale, raw, l2, options.iterations, nullptr, nullptr, nullptr);
      std::vector<double> with = raw;
      for (int k = lo; k < hi; ++k) with[k] = scale[k] > 0 ? wm[k - lo] / scale[k] : 0;
      // Kept only when it orders those records' labels better than the
      // scores before it.
      double gain = 0;
      size_t counted = 0;
      for (const Example* e : mem) {
        double a = LabelledNdcg(*e, RowScores(*e, with));
        double b = LabelledNdcg(*e, RowScores(*e, raw));
        if (a < 0 || b < 0) continue;
        gain += a - b;
        ++counted;
      }
      if (counted && gain > 0) {
        raw = with;
        m->info.memory = true;
      }
    }
  }
  m->info.weights = raw;
}

ModelVersion LearnedReranker::Rep::TrainScope(const Index::Rep& ix, std::vector<Example*> ex,
                                              VecCache* cache) const {
  ModelVersion m;
  std::sort(ex.begin(), ex.end(),
            [](const Example* a, const Example* b) { return a->record_id < b->record_id; });
  RerankerModelInfo& info = m.info;
  info.scope = ex.front()->scope;
  info.scope_key = ScopeKey(info.scope);
  std::set<std::string> questions;
  uint64_t fp = Fnv(14695981039346656037ull, "rerank-v5");
  fp = Fnv(fp,
           fmt::format(
               FMT_STRING(
                   "{}/{}/{}/{:d}/{:.17g}/{}/{:.17g}/{:d}/{:.17g}/{}/{:d}/{:d}/{:.17g}/{}/{:.17g}/"
                   "{:.17g}"),
               options.min_labels, options.min_relevant, options.min_questions, options.validate,
               options.min_validation_gain, options.folds, options.l2, options.use_partly,
               options.min_similarity, options.max_neighbours, options.memory, options.label_prior,
               options.prior_max_similarity, options.seed, options.same_question_similarity,
               options.validation_z));
  fp = Fnv(fp, fmt::format(FMT_STRING("{:.17g}"), options.first_stage_prior));
  for (Example* e : ex) {
    info.records++;
    questions.insert(e->question);
    for (int g : e->grades) {
      if (g == 2) ++info.relevant;
      if (g == 1) ++info.partly;
      if (g == 0) ++info.not_relevant;
    }
    fp = Fnv(fp, fmt::to_string(e->fingerprint));
  }
  info.questions = questions.size();
  info.fingerprint = fp;
  // Memory features of each record from the scope's other records.
  if (options.memory) RecordMemoryFeatures(ex, ex.size(), options, cache);
  if (options.label_prior) {
    // Each record's label prior from the records of dissimilar questions
    // (as a new question would see it).
    for (size_t i = 0; i < ex.size(); ++i) {
      std::set<uint32_t> rel, non;
      for (size_t j = 0; j < ex.size(); ++j) {
        if (j == i ||
            TermDot(ex[i]->question_vec, ex[j]->question_vec) >= options.prior_max_similarity) {
          continue;
        }
        rel.insert(ex[j]->rel_chunks.begin(), ex[j]->rel_chunks.end());
        non.insert(ex[j]->non_chunks.begin(), ex[j]->non_chunks.end());
      }
      PriorFeatures(ix, std::vector<uint32_t>(rel.begin(), rel.end()),
                    std::vector<uint32_t>(non.begin(), non.end()), ex[i]->chunks, cache,
                    &ex[i]->rows);
    }
  }
  if (options.memory || options.label_prior) {
    for (const Example* e : ex) m.memory.push_back(e->memory);
  }
  std::vector<const Example*> all(ex.begin(), ex.end());

  // The gate.
  size_t labels = info.relevant + info.not_relevant + info.partly;
  size_t pair_count = 0;
  for (const Example* e : all) {
    for (int gi : e->grades) {
      for (int gj : e->grades) pair_count += gi > gj;
    }
  }
  auto close = [&](std::string why) {
    info.gate_open = false;
    info.note = std::move(why);
  };
  info.gate_open = true;
  double l2 = options.l2;
  if (labels < options.min_labels) {
    close(fmt::format(FMT_STRING("only {} labelled passages; the reranker needs {}"), labels,
                      options.min_labels));
  } else if (info.relevant < options.min_relevant || info.not_relevant < options.min_relevant) {
    close(fmt::format(
        FMT_STRING("{} relevant and {} not-relevant labels; the reranker needs {} of each"),
        info.relevant, info.not_relevant, options.min_relevant));
  } else if (info.questions < options.min_questions) {
    close(fmt::format(FMT_STRING("labels on {} distinct questions; the reranker needs {}"),
                      info.questions, options.min_questions));
  } else if (pair_count == 0) {
    close("no (relevant, not relevant) pair in one record");
  } else if (options.validate) {
    // Cross-validation by question: distinct questions in folds (ordered by
    // a seeded hash, deterministic on every platform).
    std::vector<std::pair<uint64_t, std::string>> qs;
    for (const auto& q : questions) {
      qs.emplace_back(Fnv(Fnv(14695981039346656037ull, fmt::to_string(options.seed)), q), q);
    }
    std::sort(qs.begin(), qs.end());
    size_t folds = std::min<size_t>(std::max<uint32_t>(options.folds, 2), qs.size());
    std::map<std::string, size_t> fold_of;
    for (size_t i = 0; i < qs.size(); ++i) fold_of[qs[i].second] = i % folds;
    std::map<std::string, std::pair<double, size_t>> by_question;  // gain sum, records
    auto validate = [&](double cv_l2, size_t* counted) {
      double gain = 0;
      *counted = 0;
      for (size_t f = 0; f < folds; ++f) {
        std::vector<const Example*> train, held;
        for (const Example* e : all) (fold_of[e->question] == f ? held : train).push_back(e);
        if (train.empty() || held.empty()) continue;
        ModelVersion cv;
        // Held-out questions are new questions, scored as a new question
        // is: the generic part, and the memory of *other* similar questions
        // — from the training folds only (the same question's records are
        // all held out with it, so its own group is empty).
        std::vector<Example> copies;
        if (options.memory) {
          copies.reserve(train.size() + held.size());
          for (const Example* e : train) copies.push_back(*e);
          for (const Example* e : held) copies.push_back(*e);
          const size_t nt = train.size();
          std::vector<Example*> pointers;
          for (Example& c : copies) pointers.push_back(&c);
          RecordMemoryFeatures(pointers, nt, options, cache);
          train.clear();
          held.clear();
          for (size_t i = 0; i < copies.size(); ++i) (i < nt ? train : held).push_back(&copies[i]);
        }
        Fit(train, &cv, options.memory, cv_l2);
        for (const Example* e : held) {
          double a = LabelledNdcg(*e, ClippedRowScores(*e, cv.info));
          double b = LabelledNdcg(*e, FirstStageScores(*e));
          if (a < 0 || b < 0) continue;
          gain += a - b;
          ++*counted;
          by_question[e->question].first += a - b;
          by_question[e->question].second += 1;
        }
      }
      return *counted ? gain / static_cast<double>(*counted) : 0;
    };
    size_t counted = 0;
    info.validation_gain = validate(l2, &counted);
    // The question is the unit: what a model does on one question says
    // little of the next (records of one question move together). The mean
    // over held-out questions and its standard error.
    double sum = 0, sum2 = 0;
    size_t nq = 0;
    for (const auto& [question, v] : by_question) {
      const double x = v.first / static_cast<double>(v.second);
      sum += x;
      sum2 += x * x;
      ++nq;
    }
    const double mean = nq ? sum / static_cast<double>(nq) : 0;
    double se = 0;
    if (nq > 1) {
      const double var = std::max(0.0, (sum2 - sum * mean) / static_cast<double>(nq - 1));
      se = std::sqrt(var / static_cast<double>(nq));
    }
    info.validation_question_gain = mean;
    info.validation_stderr = se;
    if (!counted) {
      close("no held-out record to validate on");
    } else if (mean + options.validation_z * se <= options.min_validation_gain) {
      close(fmt::format(
          FMT_STRING("on held-out questions the model ordered labelled passages worse than "
                     "the first stage (nDCG {:+.4f} +- {:.4f} over {} questions)"),
          mean, se, nq));
    }
  }
  Fit(all, &m, options.memory, l2);
  info.l2 = l2;
  (void)ix;
  return m;
}

void LearnedReranker::Rep::Absorb(const Index::Rep& ix, const std::vector<FeedbackRecord>& records,
                                  const RerankTrainingLists* lists, RerankTrainStats* st) {
  std::vector<Example> ex = Prepare(ix, records, lists, st);
  std::map<std::string, std::vector<Example*>> by_scope;
  for (Example& e : ex) by_scope[ScopeKey(e.scope)].push_back(&e);
  VecCache cache{&ix, {}, {}};
  // Scopes inside the training wall with no record left: dropped.
  for (auto it = slots.begin(); it != slots.end();) {
    const auto& scope = it->second.versions[it->second.current].info.scope;
    if (!by_scope.count(it->first) && Inside(scope, options.allowed_matters, nullptr)) {
      ++st->dropped;
      it = slots.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [key, list] : by_scope) {
    ModelVersion m = TrainScope(ix, list, &cache);
    Slot& slot = slots[key];
    if (!slot.versions.empty() &&
        slot.versions[slot.current].info.fingerprint == m.info.fingerprint) {
      ++st->unchanged;
      continue;
    }
    m.info.version = slot.versions.empty() ? 1 : slot.versions.back().info.version + 1;
    slot.versions.push_back(std::move(m));
    while (slot.versions.size() > std::max<size_t>(options.max_versions, 1)) {
      slot.versions.erase(slot.versions.begin());
    }
    slot.current = slot.versions.size() - 1;
    ++st->trained;
  }
}

LearnedReranker::LearnedReranker(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
LearnedReranker::~LearnedReranker() = default;

namespace {
Status CheckOptions(const LearnedRerankerOptions& o) {
  if (!std::isfinite(o.l2) || o.l2 < 0 || !std::isfinite(o.min_validation_gain) ||
      !std::isfinite(o.min_similarity) || o.min_similarity < 0 || o.min_similarity > 1 ||
      !std::isfinite(o.prior_max_similarity) || o.prior_max_similarity < 0 ||
      o.prior_max_similarity > 1 || std::isnan(o.same_question_similarity) ||
      o.same_question_similarity < 0 || !std::isfinite(o.validation_z) || o.validation_z < 0 ||
      !std::isfinite(o.first_stage_prior) || o.first_stage_prior < 0) {
    return Status::InvalidArgument(
        "reranker options: l2 must be finite and >= 0, min_similarity and "
        "prior_max_similarity in [0, 1], same_question_similarity >= 0, validation_z and "
        "first_stage_prior finite and >= 0");
  }
  if (o.max_versions == 0) return Status::InvalidArgument("reranker options: max_versions is 0");
  return Status::OK();
}
}  // namespace

Result<std::unique_ptr<LearnedReranker>> LearnedReranker::Train(
    const Index& index, const std::vector<FeedbackRecord>& records,
    const LearnedRerankerOptions& options, RerankTrainStats* stats,
    const RerankTrainingLists* lists) {
  FB_RETURN_IF_ERROR(CheckOptions(options));
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  RerankTrainStats st;
  rep->Absorb(*index.rep(), records, lists, &st);
  if (stats) *stats = st;
  return std::unique_ptr<LearnedReranker>(new LearnedReranker(std::move(rep)));
}

Status LearnedReranker::Update(const Index& index, const std::vector<FeedbackRecord>& records,
                               RerankTrainStats* stats, const RerankTrainingLists* lists) {
  RerankTrainStats st;
  rep_->Absorb(*index.rep(), records, lists, &st);
  if (stats) *stats = st;
  return Status::OK();
}

Status LearnedReranker::Restore(const std::string& scope_key, uint32_t version) {
  auto it = rep_->slots.find(scope_key);
  if (it == rep_->slots.end()) {
    return Status::NotFound("no reranker model for scope '" + scope_key + "'");
  }
  for (size_t i = 0; i < it->second.versions.size(); ++i) {
    if (it->second.versions[i].info.version == version) {
      it->second.current = i;
      return Status::OK();
    }
  }
  return Status::NotFound(
      fmt::format(FMT_STRING("scope '{}' keeps no version {}"), scope_key, version));
}

size_t LearnedReranker::ForgetMatter(const std::string& matter) {
  size_t n = 0;
  for (auto it = rep_->slots.begin(); it != rep_->slots.end();) {
    bool hit = false;
    for (const auto& v : it->second.versions) {
      for (const auto& m : v.info.scope) hit |= m == matter;
    }
    if (hit) {
      it = rep_->slots.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::vector<RerankerModelInfo> LearnedReranker::Models() const {
  std::vector<RerankerModelInfo> out;
  for (const auto& [k, s] : rep_->slots) {
    out.push_back(s.versions[s.current].info);
    out.back().current = true;
  }
  return out;
}

std::vector<RerankerModelInfo> LearnedReranker::History(const std::string& scope_key) const {
  std::vector<RerankerModelInfo> out;
  auto it = rep_->slots.find(scope_key);
  if (it == rep_->slots.end()) return out;
  for (size_t i = 0; i < it->second.versions.size(); ++i) {
    out.push_back(it->second.versions[i].info);
    out.back().current = i == it->second.current;
  }
  return out;
}

std::vector<RerankerModelInfo> LearnedReranker::Applicable(
    const std::optional<std::set<std::string>>& allowed_matters) const {
  std::vector<RerankerModelInfo> out;
  for (const auto& m : Models()) {
    if (m.gate_open && Inside(m.scope, allowed_matters, &rep_->options.shareable_matters)) {
      out.push_back(m);
    }
  }
  return out;
}

const LearnedRerankerOptions& LearnedReranker::options() const { return rep_->options; }

namespace {

// Candidates the walls let through, resolved to chunk numbers.
struct Resolved {
  std::vector<size_t> kept;  // indexes into the candidates
  std::vector<Candidate> list;
  size_t walled = 0;
};

Resolved ResolveCandidates(const Index::Rep& ix, const std::vector<SearchHit>& candidates,
                           const SearchOptions& options) {
  Resolved r;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const SearchHit& h = candidates[i];
    auto it = ix.chunk_ids.find(h.chunk_id);
    bool live = it != ix.chunk_ids.end() && ix.chunks[it->second].live;
    // The matter as the index says (and as the hit says): a passage of a
    // matter outside the walls is never scored nor returned.
    std::string matter = live ? ix.docs[ix.chunks[it->second].doc].doc.matter : h.matter;
    if (options.allowed_matters &&
        ((!matter.empty() && !options.allowed_matters->count(matter)) ||
         (!h.matter.empty() && !options.allowed_matters->count(h.matter)))) {
      ++r.walled;
      continue;
    }
    if (!live) continue;  // gone since the search: nothing to score
    r.kept.push_back(i);
    r.list.push_back({it->second, static_cast<uint32_t>(r.list.size() + 1), h.score});
  }
  return r;
}

}  // namespace

// The features a model adds to the generic ones: memory (similar past
// questions' labelled passages) and the label prior, from the models that
// apply (`models`), each only when its scope is inside the walls themselves.
// Returns whether the memory contributed.
bool ModelFeatures(const LearnedRerankerOptions& lo, const Index::Rep& ix, const QueryContext& q,
                   const SearchOptions& options, const std::vector<const ModelVersion*>& models,
                   const std::vector<uint32_t>& chunks,
                   std::vector<std::vector<double>>* rows_out) {
  std::vector<std::vector<double>>& rows = *rows_out;
  bool memory_used = false;
  // Memory: entries of models whose scope is inside the walls themselves
  // (a shareable matter's memory never crosses).
  struct Resolved2 {
    double sim;
    std::vector<uint32_t> rel, non;
  };
  std::vector<Resolved2> entries;
  if (lo.memory) {
    std::vector<std::pair<double, const MemoryEntry*>> cand;
    for (const ModelVersion* m : models) {
      if (!m->info.memory || !Inside(m->info.scope, options.allowed_matters, nullptr)) continue;
      for (const MemoryEntry& e : m->memory) {
        // Loaded without an index (Deserialize): the question's vector now.
        double s =
            TermDot(q.question_vec, e.question_vec.empty() ? rerank::QuestionVector(ix, e.question)
                                                           : e.question_vec);
        if (s >= lo.min_similarity && s > 0) cand.emplace_back(s, &e);
      }
    }
    std::stable_sort(cand.begin(), cand.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    auto resolve = [&](const std::vector<MemPassage>& in, std::vector<uint32_t>* out_chunks) {
      for (const MemPassage& p : in) {
        auto it = ix.chunk_ids.find(p.chunk_id);
        if (it == ix.chunk_ids.end() || !ix.chunks[it->second].live) continue;
        const ChunkSlot& slot = ix.chunks[it->second];
        if (FeedbackTextHash(slot.chunk.text) != p.text_hash) continue;
        const std::string& m = ix.docs[slot.doc].doc.matter;
        if (options.allowed_matters && !m.empty() && !options.allowed_matters->count(m)) continue;
        out_chunks->push_back(it->second);
      }
    };
    for (const auto& [s, e] : cand) {
      Resolved2 r2{s, {}, {}};
      resolve(e->relevant, &r2.rel);
      resolve(e->not_relevant, &r2.non);
      if (!r2.rel.empty() || !r2.non.empty()) entries.push_back(std::move(r2));
    }
  }
  if (!entries.empty()) {
    auto get = [&](size_t i) {
      return Neighbour{entries[i].sim, &entries[i].rel, &entries[i].non};
    };
    NeighbourGroups nbrs = PickNeighbours(entries.size(), get, lo.min_similarity,
                                          lo.same_question_similarity, lo.max_neighbours);
    VecCache cache{&ix, {}, {}};
    AllMemoryFeatures(nbrs, chunks, &cache, &rows);
    memory_used = true;
  }
  if (lo.label_prior) {
    // Label prior: passages labelled for dissimilar past questions, from
    // models whose scope is inside the walls themselves (never across).
    std::set<uint32_t> rel, non;
    auto add = [&](const std::vector<MemPassage>& in, std::set<uint32_t>* to) {
      for (const MemPassage& p : in) {
        auto it = ix.chunk_ids.find(p.chunk_id);
        if (it == ix.chunk_ids.end() || !ix.chunks[it->second].live) continue;
        const ChunkSlot& slot = ix.chunks[it->second];
        if (FeedbackTextHash(slot.chunk.text) != p.text_hash) continue;
        const std::string& m = ix.docs[slot.doc].doc.matter;
        if (options.allowed_matters && !m.empty() && !options.allowed_matters->count(m)) continue;
        to->insert(it->second);
      }
    };
    for (const ModelVersion* m : models) {
      if (!Inside(m->info.scope, options.allowed_matters, nullptr)) continue;
      for (const MemoryEntry& e : m->memory) {
        double s =
            TermDot(q.question_vec, e.question_vec.empty() ? rerank::QuestionVector(ix, e.question)
                                                           : e.question_vec);
        if (s >= lo.prior_max_similarity) continue;
        add(e.relevant, &rel);
        add(e.not_relevant, &non);
      }
    }
    if (!rel.empty() || !non.empty()) {
      VecCache cache{&ix, {}, {}};
      PriorFeatures(ix, std::vector<uint32_t>(rel.begin(), rel.end()),
                    std::vector<uint32_t>(non.begin(), non.end()), chunks, &cache, &rows);
    }
  }
  return memory_used;
}

// Current models with an open gate that apply behind the walls of `options`.
std::vector<const ModelVersion*> ApplyingModels(const std::map<std::string, Slot>& slots,
                                                const LearnedRerankerOptions& lo,
                                                const SearchOptions& options) {
  std::vector<const ModelVersion*> models;
  for (const auto& [k, s] : slots) {
    const ModelVersion& m = s.versions[s.current];
    if (m.info.gate_open && Inside(m.info.scope, options.allowed_matters, &lo.shareable_matters)) {
      models.push_back(&m);
    }
  }
  return models;
}

Result<std::vector<RerankFeatureRow>> LearnedReranker::Features(
    const Index& index, std::string_view query, const std::vector<SearchHit>& candidates,
    const SearchOptions& options) const {
  const Index::Rep& ix = *index.rep();
  Resolved r = ResolveCandidates(ix, candidates, options);
  auto q = rerank::MakeQueryContext(ix, query, options.query_vector);
  if (!q.ok()) return q.status();
  auto rows = rerank::GenericFeatures(ix, *q, r.list);
  for (auto& row : rows) row.resize(F, 0.0);
  std::vector<uint32_t> chunks;
  for (const auto& c : r.list) chunks.push_back(c.chunk);
  ModelFeatures(rep_->options, ix, *q, options, ApplyingModels(rep_->slots, rep_->options, options),
                chunks, &rows);
  std::vector<RerankFeatureRow> out;
  for (size_t i = 0; i < rows.size(); ++i) out.push_back({candidates[r.kept[i]].chunk_id, rows[i]});
  return out;
}

Result<std::vector<SearchHit>> LearnedReranker::Rerank(const Index& index, std::string_view query,
                                                       const std::vector<SearchHit>& candidates,
                                                       const SearchOptions& options,
                                                       RerankReport* report) const {
  RerankReport rr;
  const Index::Rep& ix = *index.rep();
  Resolved res = ResolveCandidates(ix, candidates, options);
  rr.walled = res.walled;
  rr.candidates = res.list.size();
  std::vector<SearchHit> out;
  for (size_t i : res.kept) out.push_back(candidates[i]);
  // Models that apply behind these walls.
  std::vector<const ModelVersion*> models = ApplyingModels(rep_->slots, rep_->options, options);
  if (models.empty() || out.empty()) {
    rr.note = models.empty() ? (rep_->slots.empty() ? "no reranker model (no usable labels)"
                                                    : "no reranker model applies (gate closed "
                                                      "or outside the walls)")
                             : "no candidates";
    if (report) *report = rr;
    return out;
  }
  auto q = rerank::MakeQueryContext(ix, query, options.query_vector);
  if (!q.ok()) return q.status();
  auto rows = rerank::GenericFeatures(ix, *q, res.list);
  for (auto& r : rows) r.resize(F, 0.0);
  std::vector<uint32_t> chunks;
  for (const auto& c : res.list) chunks.push_back(c.chunk);

  rr.memory_used = ModelFeatures(rep_->options, ix, *q, options, models, chunks, &rows);
  std::vector<double> score(rows.size(), 0);
  double total = 0;
  for (const ModelVersion* m : models) {
    double w = static_cast<double>(std::max<size_t>(m->info.pairs, 1));
    total += w;
    for (size_t i = 0; i < rows.size(); ++i) score[i] += w * ClippedScore(m->info, rows[i]);
  }
  for (double& s : score) s /= total;
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return score[a] > score[b]; });
  std::vector<SearchHit> sorted;
  for (size_t i : order) {
    sorted.push_back(std::move(out[i]));
    sorted.back().score = score[i];
  }
  rr.applied = true;
  rr.models = models.size();
  if (report) *report = rr;
  return sorted;
}

// ---------------------------------------------------------------- bytes

Result<std::string> LearnedReranker::Serialize() const {
  using json = nlohmann::json;
  json out;
  out["format"] = kFormat;
  out["version"] = kFormatVersion;
  out["features"] = RerankFeatureNames();
  json scopes = json::array();
  for (const auto& [key, slot] : rep_->slots) {
    json s;
    s["key"] = key;
    s["current"] = slot.versions[slot.current].info.version;
    json versions = json::array();
    for (const ModelVersion& v : slot.versions) {
      const RerankerModelInfo& i = v.info;
      json j = {{"version", i.version},
                {"scope", i.scope},
                {"gate_open", i.gate_open},
                {"note", i.note},
                {"records", i.records},
                {"relevant", i.relevant},
                {"not_relevant", i.not_relevant},
                {"partly", i.partly},
                {"pairs", i.pairs},
                {"questions", i.questions},
                {"validation_gain", i.validation_gain},
                {"validation_question_gain", i.validation_question_gain},
                {"validation_stderr", i.validation_stderr},
                {"l2", i.l2},
                {"loss_before", i.loss_before},
                {"loss_after", i.loss_after},
                {"memory", i.memory},
                {"fingerprint", fmt::to_string(i.fingerprint)},
                {"weights", i.weights}};
      if (i.feature_min.size() == static_cast<size_t>(F) &&
          i.feature_max.size() == static_cast<size_t>(F)) {
        j["feature_min"] = i.feature_min;  // by feature, as the weights
        j["feature_max"] = i.feature_max;
      }
      json mem = json::array();
      for (const MemoryEntry& e : v.memory) {
        json rel = json::array(), non = json::array();
        for (const auto& p : e.relevant) rel.push_back({p.chunk_id, p.text_hash});
        for (const auto& p : e.not_relevant) non.push_back({p.chunk_id, p.text_hash});
        mem.push_back({{"question", e.question}, {"relevant", rel}, {"not_relevant", non}});
      }
      j["memory_entries"] = mem;
      versions.push_back(std::move(j));
    }
    s["versions"] = versions;
    scopes.push_back(std::move(s));
  }
  out["scopes"] = scopes;
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::unique_ptr<LearnedReranker>> LearnedReranker::Deserialize(
    std::string_view bytes, const LearnedRerankerOptions& options) {
  using json = nlohmann::json;
  FB_RETURN_IF_ERROR(CheckOptions(options));
  json in = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (in.is_discarded() || !in.is_object() || in.value("format", "") != kFormat) {
    return Status::Corruption("not a foldback learned reranker");
  }
  if (!in.contains("version") || !in["version"].is_number_integer() ||
      in["version"].get<int>() != kFormatVersion) {
    return Status::NotSupported("learned reranker format version this build cannot read");
  }
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  try {
    // Weights are stored by feature name: a feature this build lacks is
    // ignored, one the bytes lack weighs 0.
    std::vector<std::string> names = in.at("features").get<std::vector<std::string>>();
    std::map<std::string, int> ours;
    for (int k = 0; k < F; ++k) ours[RerankFeatureNames()[k]] = k;
    for (const json& s : in.at("scopes")) {
      Slot slot;
      uint32_t current = s.at("current").get<uint32_t>();
      for (const json& j : s.at("versions")) {
        ModelVersion v;
        RerankerModelInfo& i = v.info;
        i.version = j.at("version").get<uint32_t>();
        i.scope = j.at("scope").get<std::vector<std::string>>();
        i.scope_key = ScopeKey(i.scope);
        i.gate_open = j.at("gate_open").get<bool>();
        i.note = j.at("note").get<std::string>();
        i.records = j.at("records").get<size_t>();
        i.relevant = j.at("relevant").get<size_t>();
        i.not_relevant = j.at("not_relevant").get<size_t>();
        i.partly = j.at("partly").get<size_t>();
        i.pairs = j.at("pairs").get<size_t>();
        i.questions = j.at("questions").get<size_t>();
        i.validation_gain = j.at("validation_gain").get<double>();
        // Absent in models stored before the gate decided per question.
        i.validation_question_gain = j.value("validation_question_gain", 0.0);
        i.validation_stderr = j.value("validation_stderr", 0.0);
        i.l2 = j.value("l2", 0.0);  // absent before the L2 was chosen on held-out questions
        i.loss_before = j.at("loss_before").get<double>();
        i.loss_after = j.at("loss_after").get<double>();
        i.memory = j.at("memory").get<bool>();
        i.fingerprint = std::stoull(j.at("fingerprint").get<std::string>());
        std::vector<double> w = j.at("weights").get<std::vector<double>>();
        if (w.size() != names.size())
          return Status::Corruption("reranker weights and features differ");
        i.weights.assign(F, 0.0);
        for (size_t k = 0; k < names.size(); ++k) {
          auto o = ours.find(names[k]);
          if (o != ours.end()) i.weights[o->second] = w[k];
        }
        for (double x : i.weights) {
          if (!std::isfinite(x)) return Status::Corruption("reranker weight is not finite");
        }
        // Feature ranges, by name as the weights; absent in models stored
        // before they were kept: such a model scores unclipped, as it did.
        if (j.contains("feature_min") || j.contains("feature_max")) {
          std::vector<double> lo = j.at("feature_min").get<std::vector<double>>();
          std::vector<double> hi = j.at("feature_max").get<std::vector<double>>();
          if (lo.size() != names.size() || hi.size() != names.size()) {
            return Status::Corruption("reranker feature ranges and features differ");
          }
          // A feature this build has and the bytes lack (0 weight): any
          // value — the widest finite range, so the bytes written back stay
          // JSON numbers.
          i.feature_min.assign(F, std::numeric_limits<double>::lowest());
          i.feature_max.assign(F, std::numeric_limits<double>::max());
          for (size_t k = 0; k < names.size(); ++k) {
            if (!std::isfinite(lo[k]) || !std::isfinite(hi[k]) || lo[k] > hi[k]) {
              return Status::Corruption("reranker feature range is not a range");
            }
            auto o = ours.find(names[k]);
            if (o == ours.end()) continue;
            i.feature_min[o->second] = lo[k];
            i.feature_max[o->second] = hi[k];
          }
        }
        for (const json& m : j.at("memory_entries")) {
          MemoryEntry e;
          e.question = m.at("question").get<std::string>();
          for (const json& p : m.at("relevant")) {
            e.relevant.push_back({p.at(0).get<std::string>(), p.at(1).get<std::string>()});
          }
          for (const json& p : m.at("not_relevant")) {
            e.not_relevant.push_back({p.at(0).get<std::string>(), p.at(1).get<std::string>()});
          }
          v.memory.push_back(std::move(e));
        }
        if (i.version == current) slot.current = slot.versions.size();
        slot.versions.push_back(std::move(v));
      }
      if (slot.versions.empty()) return Status::Corruption("reranker scope without a model");
      std::string key = slot.versions.front().info.scope_key;
      if (key != s.at("key").get<std::string>()) {
        return Status::Corruption("reranker scope key does not match its matters");
      }
      rep->slots[key] = std::move(slot);
    }
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("learned reranker: ") + e.what());
  }
  return std::unique_ptr<LearnedReranker>(new LearnedReranker(std::move(rep)));
}

Status LearnedReranker::SaveTo(Index* index) const {
  auto bytes = Serialize();
  if (!bytes.ok()) return bytes.status();
  index->rep()->extensions[kSection] = std::move(bytes.value());
  return Status::OK();
}

Result<std::unique_ptr<LearnedReranker>> LearnedReranker::LoadFrom(
    const Index& index, const LearnedRerankerOptions& options) {
  const auto& ext = index.rep()->extensions;
  auto it = ext.find(kSection);
  if (it == ext.end()) return Status::NotFound("the index holds no learned reranker");
  auto r = Deserialize(it->second, options);
  if (!r.ok()) return r.status();
  // Question vectors of the memory, with this index's statistics.
  for (auto& [k, s] : (*r)->rep_->slots) {
    for (auto& v : s.versions) {
      for (auto& e : v.memory) e.question_vec = rerank::QuestionVector(*index.rep(), e.question);
    }
  }
  return r;
}

}  // namespace foldback
