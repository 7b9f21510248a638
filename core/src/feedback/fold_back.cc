// FoldBack: lawyers' feedback applied at once — few-shot demos picked by
// similarity (DSPy's KNNFewShot), Rocchio relevance feedback on the lexical
// and the dense side, and a learned linear query adapter.
//
// Walls: every record carries the set of matters it touches (its own, and
// those of every passage it shows or labels, as recorded and as the index
// now says). A record is used for a search only when the search may see all
// of them; the adapter is applied only when the search may see every matter
// of the records it was trained on.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "embed/static_embedder.h"
#include "feedback.pb.h"
#include "feedback/adapter.h"
#include "foldback/feedback.h"
#include "index/dense_index.h"
#include "index/index_internal.h"
#include "store/bytes.h"
#include "text/term_vector.h"

namespace foldback {
namespace {

constexpr char kAdapterSection[] = "foldback.feedback.adapter";
// Past questions at least this similar to the query count as the same
// question asked again (FoldBackOptions::rocchio_gate).
constexpr double kSameQuestion = 0.95;
constexpr uint32_t kAdapterVersion = 1;

// Sparse vector over terms, sorted by term.
using SparseVec = TermVector;

void Normalize(SparseVec* v) {
  double n = 0;
  for (const auto& [t, w] : *v) n += w * w;
  if (n <= 0) return;
  n = std::sqrt(n);
  for (auto& [t, w] : *v) w /= n;
}

bool Visible(const std::set<std::string>& matters,
             const std::optional<std::set<std::string>>& allowed) {
  if (!allowed) return true;
  for (const auto& m : matters) {
    if (!allowed->count(m)) return false;
  }
  return true;
}

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  h ^= 0xff;  // separator
  h *= 1099511628211ull;
  return h;
}

struct Past {
  std::string record_id;
  std::string question;
  SparseVec question_vec;  // idf-weighted, unit
  std::set<std::string> matters;
  std::vector<std::pair<uint32_t, double>> relevant;  // chunk, weight (partly: 0.5)
  std::vector<uint32_t> not_relevant;
  std::vector<uint32_t> unlabelled_above;  // shown above a relevant passage, unlabelled
  std::vector<uint32_t> labelled_shown;    // labelled passages in the order shown
  // Rocchio's sums, precomputed: weighted term vectors and embeddings of
  // the relevant and the not relevant passages, and their total weights.
  SparseVec rel_terms, non_terms;
  double rel_terms_weight = 0, non_terms_weight = 0;
  std::vector<double> rel_vec, non_vec;
  double rel_vec_weight = 0, non_vec_weight = 0;
  bool is_demo = false;
  Demo demo;
};

// What the Rocchio gate changes in a plan: a question held out (its records
// are never neighbours), and the adapter off.
struct HeldOut {
  const std::string* question = nullptr;
  bool adapter = true;
};

}  // namespace

struct FoldBack::Rep {
  const Index::Rep* index = nullptr;
  FoldBackOptions options;
  FoldBackStats stats;
  std::vector<Past> past;
  std::unordered_map<uint32_t, SparseVec> chunk_terms;          // unit tf vectors
  std::unordered_map<uint32_t, std::vector<float>> chunk_vecs;  // as in the dense index
  bool has_adapter = false;
  feedback::AdapterModel adapter;
  std::set<std::string> adapter_scope;
  uint64_t adapter_fingerprint = 0;
  std::vector<SparseVec> adapter_questions;  // distinct training questions
  // Rocchio from other questions' labels (similarity below kSameQuestion);
  // false when the gate closed it (FoldBackOptions::rocchio_gate).
  bool cross_question_rocchio = true;

  double Idf(const std::string& term) const {
    double n = static_cast<double>(index->lexical.live_chunks());
    double df = index->lexical.Df(term);
    return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
  }

  // (1 + log tf) * idf, unit length. Terms the index does not know get the
  // idf of a term seen nowhere.
  SparseVec QuestionVec(std::string_view text) const {
    std::map<std::string, double> tf;
    index->analyzer.ForEachTerm(text, [&](std::string_view t) { tf[std::string(t)] += 1; });
    SparseVec v;
    for (const auto& [t, n] : tf) v.emplace_back(t, (1 + std::log(n)) * Idf(t));
    Normalize(&v);
    return v;
  }

  void CacheChunk(uint32_t chunk) {
    if (!chunk_terms.count(chunk)) {
      // The chunk's lexical terms as the index counts them: its text, and
      // its document's title title_weight times (Index::Rep::ChunkTerms).
      const ChunkSlot& slot = index->chunks[chunk];
      std::map<std::string, double> tf;
      index->analyzer.ForEachTerm(slot.chunk.text, [&](std::string_view t) { tf[std::string(t)] += 1; });
      const uint32_t tw = index->options.bm25.title_weight;
      if (tw > 0) {
        index->analyzer.ForEachTerm(index->docs[slot.doc].doc.title,
                                    [&](std::string_view t) { tf[std::string(t)] += tw; });
      }
      SparseVec v(tf.begin(), tf.end());  // sorted by term
      Normalize(&v);
      chunk_terms.emplace(chunk, std::move(v));
    }
    if (!chunk_vecs.count(chunk) && index->dense) {
      std::vector<float> v;
      if (index->dense->GetVector(chunk, &v)) chunk_vecs.emplace(chunk, std::move(v));
    }
  }

  // The query's embedding, as Index::Search would compute it (empty: no
  // dense side).
  Result<std::vector<float>> BaseVector(std::string_view query, const SearchOptions& so) const {
    const Index::Rep& ix = *index;
    if (!ix.dense || ix.dense->size() == 0) return std::vector<float>();
    std::vector<float> q;
    if (ix.options.dense.embedder == EmbedderKind::kExternal) {
      if (so.query_vector.empty()) {
        if (so.mode == SearchMode::kDense) {
          return Status::FailedPrecondition(
              "dense search over host-supplied vectors needs the query's vector (query_vector)");
        }
        return std::vector<float>();
      }
      if (so.query_vector.size() != ix.dense->dimension()) {
        return Status::InvalidArgument(
            fmt::format(FMT_STRING("query_vector has {} dimensions; the index expects {}"),
                        so.query_vector.size(), ix.dense->dimension()));
      }
      q = so.query_vector;
    } else {
      if (!ix.embedder) return std::vector<float>();
      q = ix.embedder->Embed(query, ix.analyzer);
    }
    double n = 0;
    for (float f : q) n += static_cast<double>(f) * f;
    if (n <= 0) return std::vector<float>();
    for (float& f : q) f = static_cast<float>(f / std::sqrt(n));
    return q;
  }

  struct Plan {
    std::vector<index::WeightedTerm> terms;
    std::vector<float> vec;  // empty: no dense side
    bool lexical_changed = false;
    bool dense_changed = false;
    bool adapter_applied = false;
    double adapter_gate = 0;
    std::vector<const Past*> neighbours;
    std::vector<double> similarity;
  };

  // `scope`: the walled search's statistics (ChunkMask::stats), so the
  // expansion terms' idf counts only chunks the user may see; null: none.
  Result<Plan> MakePlan(std::string_view query, const SearchOptions& so,
                        const index::StatsScope* scope, HeldOut held_out = HeldOut()) const {
    Plan plan;
    plan.terms = index->QueryTerms(query);
    auto base = BaseVector(query, so);
    if (!base.ok()) return base.status();
    plan.vec = std::move(base.value());
    SparseVec qv = QuestionVec(query);

    if (options.rocchio) {
      std::vector<std::pair<double, size_t>> cand;
      for (size_t i = 0; i < past.size(); ++i) {
        const Past& p = past[i];
        if (p.relevant.empty() && p.not_relevant.empty()) continue;
        if (!Visible(p.matters, so.allowed_matters)) continue;
        if (held_out.question && p.question == *held_out.question) continue;
        double s = TermDot(qv, p.question_vec);
        if (!cross_question_rocchio && s < kSameQuestion) continue;
        if (s >= options.min_similarity && s > 0) cand.emplace_back(s, i);
      }
      std::stable_sort(cand.begin(), cand.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      if (cand.size() > options.max_neighbours) cand.resize(options.max_neighbours);
      for (const auto& [s, i] : cand) {
        plan.neighbours.push_back(&past[i]);
        plan.similarity.push_back(s);
      }
    }

    if (!plan.neighbours.empty()) RocchioLexical(&plan, scope);

    if (!plan.vec.empty()) {
      if (held_out.adapter && options.adapter && has_adapter &&
          Visible(adapter_scope, so.allowed_matters) &&
          adapter.dimension == plan.vec.size()) {
        double g = 1;
        if (options.adapter_gate) {
          g = 0;
          for (const auto& t : adapter_questions) g = std::max(g, TermDot(qv, t));
          g = std::min(1.0, g);
        }
        if (g > 0) {
          std::vector<float> moved = feedback::ApplyAdapter(adapter, plan.vec);
          for (size_t k = 0; k < moved.size(); ++k) {
            moved[k] = static_cast<float>((1 - g) * plan.vec[k] + g * moved[k]);
          }
          plan.vec = std::move(moved);
          plan.adapter_applied = true;
          plan.adapter_gate = g;
          plan.dense_changed = true;
        }
      }
      if (!plan.neighbours.empty()) RocchioDense(&plan);
    }
    return plan;
  }

  // Sums, per passage label, the (weighted) term vectors and embeddings of
  // a record's passages, once at Build.
  void PrepareRocchio(Past* p) const {
    std::unordered_map<std::string, double> rel, non;
    auto add_terms = [&](uint32_t c, double w, std::unordered_map<std::string, double>* acc,
                         double* total) {
      auto it = chunk_terms.find(c);
      if (it == chunk_terms.end()) return;
      for (const auto& [t, v] : it->second) (*acc)[t] += w * v;
      *total += w;
    };
    auto add_vec = [&](uint32_t c, double w, std::vector<double>* acc, double* total) {
      auto it = chunk_vecs.find(c);
      if (it == chunk_vecs.end()) return;
      if (acc->empty()) acc->assign(it->second.size(), 0.0);
      if (acc->size() != it->second.size()) return;
      for (size_t k = 0; k < acc->size(); ++k) (*acc)[k] += w * it->second[k];
      *total += w;
    };
    for (const auto& [c, w] : p->relevant) {
      add_terms(c, w, &rel, &p->rel_terms_weight);
      add_vec(c, w, &p->rel_vec, &p->rel_vec_weight);
    }
    for (uint32_t c : p->not_relevant) {
      add_terms(c, 1.0, &non, &p->non_terms_weight);
      add_vec(c, 1.0, &p->non_vec, &p->non_vec_weight);
    }
    p->rel_terms.assign(rel.begin(), rel.end());
    p->non_terms.assign(non.begin(), non.end());
    std::sort(p->rel_terms.begin(), p->rel_terms.end());
    std::sort(p->non_terms.begin(), p->non_terms.end());
  }

  void RocchioLexical(Plan* plan, const index::StatsScope* scope) const {
    auto idf = [&](const std::string& term) {
      double n = static_cast<double>(index->lexical.VisibleChunks(scope));
      double df = index->lexical.Df(term, scope);
      return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    };
    std::map<std::string, double> q;
    for (const auto& t : plan->terms) q[t.term] += 1;
    double qn = 0;
    for (const auto& [t, n] : q) qn += n * n;
    qn = std::sqrt(qn);
    std::unordered_map<std::string, double> rel, non;
    double rel_total = 0, non_total = 0;
    for (size_t i = 0; i < plan->neighbours.size(); ++i) {
      const Past& p = *plan->neighbours[i];
      double s = plan->similarity[i];
      for (const auto& [t, v] : p.rel_terms) rel[t] += s * v;
      for (const auto& [t, v] : p.non_terms) non[t] += s * v;
      rel_total += s * p.rel_terms_weight;
      non_total += s * p.non_terms_weight;
    }
    if (rel_total == 0 && non_total == 0) return;
    std::unordered_map<std::string, double> w;
    for (const auto& [t, n] : q) w[t] += options.alpha * (qn > 0 ? n / qn : 0);
    if (rel_total > 0) {
      for (const auto& [t, v] : rel) w[t] += options.beta * v / rel_total;
    }
    if (non_total > 0) {
      for (const auto& [t, v] : non) w[t] -= options.gamma * v / non_total;
    }
    std::vector<index::WeightedTerm> out;
    std::vector<std::pair<double, std::string>> expansion;
    for (const auto& [t, v] : w) {
      if (v <= 0) continue;
      if (q.count(t)) {
        out.push_back({t, v});
      } else {
        expansion.emplace_back(v * idf(t), t);
      }
    }
    std::sort(
        out.begin(), out.end(),
        [](const index::WeightedTerm& a, const index::WeightedTerm& b) { return a.term < b.term; });
    std::sort(expansion.begin(), expansion.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    if (expansion.size() > options.expansion_terms) expansion.resize(options.expansion_terms);
    for (const auto& [score, t] : expansion) out.push_back({t, w[t]});
    plan->terms = std::move(out);
    plan->lexical_changed = true;
  }

  void RocchioDense(Plan* plan) const {
    const size_t d = plan->vec.size();
    std::vector<double> rel(d, 0), non(d, 0);
    double rel_total = 0, non_total = 0;
    for (size_t i = 0; i < plan->neighbours.size(); ++i) {
      const Past& p = *plan->neighbours[i];
      double s = plan->similarity[i];
      if (p.rel_vec.size() == d) {
        for (size_t k = 0; k < d; ++k) rel[k] += s * p.rel_vec[k];
        rel_total += s * p.rel_vec_weight;
      }
      if (p.non_vec.size() == d) {
        for (size_t k = 0; k < d; ++k) non[k] += s * p.non_vec[k];
        non_total += s * p.non_vec_weight;
      }
    }
    if (rel_total == 0 && non_total == 0) return;
    for (size_t k = 0; k < d; ++k) {
      double v = options.dense_alpha * plan->vec[k];
      if (rel_total > 0) v += options.dense_beta * rel[k] / rel_total;
      if (non_total > 0) v -= options.dense_gamma * non[k] / non_total;
      plan->vec[k] = static_cast<float>(v);
    }
    plan->dense_changed = true;
  }

  // Index::Rep::Rank (search.cc) with the plan's lexical terms and query
  // vector: the same candidate depths, fallbacks, fusion and collapse.
  Result<std::vector<SearchHit>> Run(const Plan& plan, const SearchOptions& o,
                                     const index::ChunkMask& mask) const {
    return index->Rank(plan.terms, plan.vec, o, mask);
  }

  // Adapter training data from the records inside the build-time wall.
  void TrainOrLoadAdapter();

  // FoldBackOptions::rocchio_gate: held out by question, does Rocchio from
  // the other questions' labels order each record's labelled passages
  // better than the plain search does?
  void GateRocchio();
};

namespace {

// nDCG of `ranked` (chunks, best first) under `gain`; chunks the ranking
// left out count as ranked last, in the order they were shown (`shown`).
double LabelNdcg(const std::vector<std::pair<uint32_t, double>>& gain,
                 const std::vector<uint32_t>& ranked, const std::vector<uint32_t>& shown) {
  std::vector<uint32_t> order;
  std::set<uint32_t> seen;
  for (uint32_t c : ranked) {
    if (seen.insert(c).second) order.push_back(c);
  }
  for (uint32_t c : shown) {
    if (seen.insert(c).second) order.push_back(c);
  }
  for (const auto& [c, g] : gain) {
    if (seen.insert(c).second) order.push_back(c);
  }
  std::map<uint32_t, double> g_of(gain.begin(), gain.end());
  std::vector<double> ideal;
  double dcg = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    double g = g_of.count(order[i]) ? g_of[order[i]] : 0;
    dcg += g / std::log2(static_cast<double>(i) + 2);
    ideal.push_back(g);
  }
  std::sort(ideal.rbegin(), ideal.rend());
  double idcg = 0;
  for (size_t i = 0; i < ideal.size(); ++i) idcg += ideal[i] / std::log2(static_cast<double>(i) + 2);
  return idcg > 0 ? dcg / idcg : 0;
}

}  // namespace

void FoldBack::Rep::GateRocchio() {
  const Index::Rep& ix = *index;
  double sum = 0;
  size_t n = 0;
  index::ChunkMask mask;
  mask.all = false;
  mask.allowed.assign(ix.chunks.size(), 0);
  cross_question_rocchio = true;
  for (const Past& p : past) {
    if (p.relevant.empty() || p.not_relevant.empty() || p.question.empty()) continue;
    // The record's labelled passages, ranked by the plain search's plan and
    // by Rocchio from the other questions.
    std::vector<std::pair<uint32_t, double>> gain = p.relevant;
    for (uint32_t c : p.not_relevant) gain.emplace_back(c, 0.0);
    SearchOptions so;
    so.top_k = gain.size();
    so.collapse_jaccard = 0;
    so.lexical_lead = 0;
    HeldOut held{&p.question, false};
    auto with = MakePlan(p.question, so, nullptr, held);
    if (!with.ok() || with->neighbours.empty()) continue;
    Plan plain = *with;
    plain.terms = index->QueryTerms(p.question);
    auto base = BaseVector(p.question, so);
    if (!base.ok()) continue;
    plain.vec = std::move(base.value());
    for (const auto& [c, g] : gain) mask.allowed[c] = 1;
    auto a = Run(plain, so, mask);
    auto b = Run(*with, so, mask);
    for (const auto& [c, g] : gain) mask.allowed[c] = 0;
    if (!a.ok() || !b.ok()) continue;
    auto chunks = [&](const std::vector<SearchHit>& hits) {
      std::vector<uint32_t> out;
      for (const auto& h : hits) {
        auto it = ix.chunk_ids.find(h.chunk_id);
        if (it != ix.chunk_ids.end()) out.push_back(it->second);
      }
      return out;
    };
    sum += LabelNdcg(gain, chunks(*b), p.labelled_shown) -
           LabelNdcg(gain, chunks(*a), p.labelled_shown);
    ++n;
  }
  stats.rocchio_gate_records = n;
  stats.rocchio_gate_gain = n ? sum / static_cast<double>(n) : 0;
  // Closed only on evidence: enough held-out records, and no gain.
  cross_question_rocchio = n < options.rocchio_gate_min_records || stats.rocchio_gate_gain > 0;
  stats.rocchio_cross_questions = cross_question_rocchio;
}

void FoldBack::Rep::TrainOrLoadAdapter() {
  const Index::Rep& ix = *index;
  if (!ix.dense || ix.dense->size() == 0) {
    stats.adapter_note = "no dense index: the adapter works on embeddings";
    return;
  }
  if (ix.options.dense.embedder != EmbedderKind::kStatic || !ix.embedder) {
    stats.adapter_note =
        "the adapter needs the questions' embeddings, which only the static embedder computes "
        "inside the core";
    return;
  }
  const uint32_t d = ix.dense->dimension();
  std::vector<feedback::AdapterExample> examples;
  std::vector<std::string> ids;
  std::set<std::string> scope;
  std::set<std::string> questions;
  size_t pairs = 0;
  for (const Past& p : past) {
    feedback::AdapterExample e;
    for (const auto& [c, w] : p.relevant) {
      if (w < 1) continue;  // partly relevant: neither positive nor negative
      auto it = chunk_vecs.find(c);
      if (it != chunk_vecs.end()) e.positives.push_back(it->second);
    }
    if (e.positives.empty()) continue;
    e.query = ix.embedder->Embed(p.question, ix.analyzer);
    double n = 0;
    for (float f : e.query) n += static_cast<double>(f) * f;
    if (n <= 0 || e.query.size() != d) continue;
    for (uint32_t c : p.not_relevant) {
      auto it = chunk_vecs.find(c);
      if (it != chunk_vecs.end()) e.negatives.push_back(it->second);
    }
    if (options.adapter_unlabelled_negatives) {
      for (uint32_t c : p.unlabelled_above) {
        auto it = chunk_vecs.find(c);
        if (it != chunk_vecs.end()) e.negatives.push_back(it->second);
      }
    }
    e.group = p.question;
    pairs += e.positives.size();
    examples.push_back(std::move(e));
    ids.push_back(p.record_id);
    scope.insert(p.matters.begin(), p.matters.end());
    if (questions.insert(p.question).second) adapter_questions.push_back(p.question_vec);
  }
  if (examples.empty()) {
    adapter_questions.clear();
    stats.adapter_note = "no record labels a passage relevant";
    return;
  }
  if (pairs < options.adapter_min_pairs) {
    adapter_questions.clear();
    stats.adapter_note =
        fmt::format(FMT_STRING("only {} (question, relevant passage) pairs; the adapter needs {}"),
                    pairs, options.adapter_min_pairs);
    return;
  }
  // What the adapter depends on: its training records, the embedder, the
  // options.
  std::sort(ids.begin(), ids.end());
  uint64_t fp = 14695981039346656037ull;
  fp = Fnv(fp, "adapter-v1");
  fp = Fnv(fp,
           fmt::format(FMT_STRING("{}/{}/{}"), d, ix.embedder->vocabulary_size(), ix.live_chunks));
  fp = Fnv(fp, fmt::format(FMT_STRING("embedder v{} {}"), ix.embedder->version(),
                           ix.embedder->training()));
  fp = Fnv(fp, fmt::format(FMT_STRING("{}/{:f}/{:f}/{:f}/{:d}/{}"), options.adapter_epochs,
                           options.adapter_learning_rate, options.adapter_temperature,
                           options.adapter_l2, options.adapter_unlabelled_negatives, options.seed));
  for (const auto& m : scope) fp = Fnv(fp, m);
  for (const auto& id : ids) fp = Fnv(fp, id);

  auto stored = ix.extensions.find(kAdapterSection);
  if (stored != ix.extensions.end()) {
    pb::QueryAdapter a;
    if (a.ParseFromString(stored->second) && a.version() == kAdapterVersion && a.dimension() == d &&
        a.fingerprint() == fp && store::Count32(a.weights()) == static_cast<size_t>(d) * d) {
      adapter.dimension = d;
      adapter.weights.resize(static_cast<size_t>(d) * d);
      for (size_t i = 0; i < adapter.weights.size(); ++i) {
        adapter.weights[i] = store::GetF32(a.weights(), i);
      }
      adapter.pairs = a.pairs();
      adapter.loss_before = a.loss_before();
      adapter.loss_after = a.loss_after();
      has_adapter = true;
      adapter_scope = scope;
      adapter_fingerprint = fp;
      stats.adapter_loaded = true;
      stats.triplets = adapter.pairs;
      stats.adapter_loss_before = adapter.loss_before;
      stats.adapter_loss_after = adapter.loss_after;
      return;
    }
  }
  feedback::AdapterParams params;
  params.epochs = options.adapter_epochs;
  params.learning_rate = options.adapter_learning_rate;
  params.temperature = options.adapter_temperature;
  params.l2 = options.adapter_l2;
  params.seed = options.seed;
  auto trained = feedback::TrainAdapter(examples, d, params);
  if (!trained.ok()) {
    stats.adapter_note = trained.status().message();
    return;
  }
  adapter = std::move(trained.value());
  has_adapter = true;
  adapter_scope = scope;
  adapter_fingerprint = fp;
  stats.adapter_trained = true;
  stats.triplets = adapter.pairs;
  stats.adapter_loss_before = adapter.loss_before;
  stats.adapter_loss_after = adapter.loss_after;
}

FoldBack::FoldBack(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
FoldBack::~FoldBack() = default;

Result<std::unique_ptr<FoldBack>> FoldBack::Build(const Index& index,
                                                  const std::vector<FeedbackRecord>& records,
                                                  const FoldBackOptions& options) {
  auto finite = [](double v) { return std::isfinite(v); };
  if (!finite(options.alpha) || !finite(options.beta) || !finite(options.gamma) ||
      !finite(options.dense_alpha) || !finite(options.dense_beta) || !finite(options.dense_gamma) ||
      !finite(options.min_similarity) || options.min_similarity < 0 || options.min_similarity > 1) {
    return Status::InvalidArgument("fold-back weights must be finite, min_similarity in [0, 1]");
  }
  auto rep = std::make_unique<Rep>();
  rep->index = index.rep();
  rep->options = options;
  const Index::Rep& ix = *index.rep();
  rep->stats.records = records.size();
  for (const FeedbackRecord& r : records) {
    Past p;
    p.record_id = r.record_id;
    p.question = r.question;
    if (!r.matter.empty()) p.matters.insert(r.matter);
    // Passages: recorded matter, current matter, and whether they changed.
    std::unordered_map<std::string, const ShownResult*> shown;
    for (const ShownResult& s : r.results) {
      shown[s.chunk_id] = &s;
      if (!s.matter.empty()) p.matters.insert(s.matter);
    }
    auto resolve = [&](const std::string& chunk_id, uint32_t* chunk) {
      auto it = ix.chunk_ids.find(chunk_id);
      if (it == ix.chunk_ids.end() || !ix.chunks[it->second].live) return false;
      const ChunkSlot& slot = ix.chunks[it->second];
      const std::string& m = ix.docs[slot.doc].doc.matter;
      if (!m.empty()) p.matters.insert(m);
      auto sh = shown.find(chunk_id);
      if (sh != shown.end() && !sh->second->text_hash.empty() &&
          sh->second->text_hash != FeedbackTextHash(slot.chunk.text)) {
        return false;
      }
      *chunk = it->second;
      return true;
    };
    std::unordered_map<uint32_t, PassageLabel> labelled;
    for (const LabelledPassage& l : r.labels) {
      uint32_t c;
      if (!resolve(l.chunk_id, &c)) {
        ++rep->stats.stale_labels;
        continue;
      }
      labelled[c] = l.label;  // the last label of a passage wins
    }
    uint32_t lowest_relevant = 0;
    std::vector<std::pair<uint32_t, uint32_t>> unlabelled;  // rank, chunk
    for (const ShownResult& s : r.results) {
      uint32_t c;
      if (!resolve(s.chunk_id, &c)) continue;
      auto l = labelled.find(c);
      if (l == labelled.end()) {
        unlabelled.emplace_back(s.rank, c);
        continue;
      }
      if (std::find(p.labelled_shown.begin(), p.labelled_shown.end(), c) == p.labelled_shown.end())
        p.labelled_shown.push_back(c);
      if (l->second == PassageLabel::kRelevant) {
        lowest_relevant = std::max(lowest_relevant, s.rank);
      }
    }
    if (!Visible(p.matters, options.allowed_matters)) continue;
    ++rep->stats.used;
    for (const auto& [c, label] : labelled) {
      if (label == PassageLabel::kNotRelevant) {
        p.not_relevant.push_back(c);
      } else {
        p.relevant.emplace_back(c, label == PassageLabel::kRelevant ? 1.0 : 0.5);
      }
      rep->CacheChunk(c);
    }
    std::sort(p.relevant.begin(), p.relevant.end());
    std::sort(p.not_relevant.begin(), p.not_relevant.end());
    if (!p.relevant.empty()) {
      // Hard negatives: unlabelled passages shown above the last relevant
      // one (the top 3 when no relevant passage was among those shown).
      uint32_t cut = lowest_relevant ? lowest_relevant : 4;
      std::sort(unlabelled.begin(), unlabelled.end());
      for (const auto& [rank, c] : unlabelled) {
        if (rank >= cut) break;
        p.unlabelled_above.push_back(c);
        rep->CacheChunk(c);
      }
    }
    if (!p.relevant.empty() || !p.not_relevant.empty()) ++rep->stats.relevance;
    if (options.rocchio) rep->PrepareRocchio(&p);
    p.question_vec = rep->QuestionVec(r.question);
    if (options.demos && !r.question.empty() &&
        (r.rating.positive() || !r.preferred_rewrite.empty())) {
      std::string query = r.preferred_rewrite;
      if (query.empty()) {
        for (const auto& h : r.hop_queries) {
          if (!h.empty() && h != r.question) {
            query = h;
            break;
          }
        }
      }
      if (!query.empty()) {
        p.is_demo = true;
        p.demo.question = r.question;
        p.demo.query = query;
        p.demo.answer = !r.corrected_answer.empty() ? r.corrected_answer
                        : r.rating.positive()       ? r.answer
                                                    : "";
        p.demo.record_id = r.record_id;
        p.demo.trace_id = r.trace_id;
        ++rep->stats.demos;
      }
    }
    rep->past.push_back(std::move(p));
  }
  if (options.adapter) rep->TrainOrLoadAdapter();
  if (options.rocchio && options.rocchio_gate) rep->GateRocchio();
  return std::unique_ptr<FoldBack>(new FoldBack(std::move(rep)));
}

std::vector<Demo> FoldBack::DemosFor(
    std::string_view question, size_t k,
    const std::optional<std::set<std::string>>& allowed_matters) const {
  const Rep& r = *rep_;
  std::vector<Demo> out;
  if (!r.options.demos || k == 0) return out;
  SparseVec qv = r.QuestionVec(question);
  std::vector<std::pair<double, size_t>> cand;
  for (size_t i = 0; i < r.past.size(); ++i) {
    const Past& p = r.past[i];
    if (!p.is_demo || !Visible(p.matters, allowed_matters)) continue;
    double s = TermDot(qv, p.question_vec);
    if (s > 0) cand.emplace_back(s, i);
  }
  // Most similar first; among equals the most recent record.
  std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& [s, i] : cand) {
    const Demo& d = r.past[i].demo;
    if (!seen.insert({d.question, d.query}).second) continue;
    out.push_back(d);
    out.back().similarity = std::min(1.0, s);
    if (out.size() == k) break;
  }
  return out;
}

Result<std::vector<SearchHit>> FoldBack::Search(const Index& index, std::string_view query,
                                                const SearchOptions& options) const {
  const Rep& r = *rep_;
  if (index.rep() != r.index) {
    return Status::FailedPrecondition("FoldBack::Search needs the index FoldBack was built on");
  }
  if (options.top_k == 0) return std::vector<SearchHit>();
  if (options.top_k > 10000) return Status::InvalidArgument("top_k is larger than 10000");
  index::ChunkMask mask;
  FB_RETURN_IF_ERROR(r.index->BuildMask(options, &mask));
  auto plan = r.MakePlan(query, options, mask.stats.get());
  if (!plan.ok()) return plan.status();
  if (!plan->lexical_changed && !plan->dense_changed) return index.Search(query, options);
  return r.Run(*plan, options, mask);
}

Result<ExpandedQuery> FoldBack::Expand(const Index& index, std::string_view query,
                                       const SearchOptions& options) const {
  const Rep& r = *rep_;
  if (index.rep() != r.index) {
    return Status::FailedPrecondition("FoldBack::Expand needs the index FoldBack was built on");
  }
  index::ChunkMask mask;  // for a walled user's term statistics
  if (options.allowed_matters) FB_RETURN_IF_ERROR(r.index->BuildMask(options, &mask));
  auto plan = r.MakePlan(query, options, mask.stats.get());
  if (!plan.ok()) return plan.status();
  ExpandedQuery out;
  std::map<std::string, double> merged;
  std::vector<std::string> order;
  for (const auto& t : plan->terms) {
    if (!merged.count(t.term)) order.push_back(t.term);
    merged[t.term] += t.weight;
  }
  for (const auto& t : order) out.terms.push_back({t, merged[t]});
  for (const Past* p : plan->neighbours) out.neighbours.push_back(p->record_id);
  out.adapter_applied = plan->adapter_applied;
  out.adapter_gate = plan->adapter_gate;
  out.dense_moved = plan->dense_changed;
  return out;
}

Status FoldBack::SaveAdapter(Index* index) const {
  const Rep& r = *rep_;
  if (index->rep() != r.index) {
    return Status::FailedPrecondition(
        "FoldBack::SaveAdapter needs the index FoldBack was built on");
  }
  auto& ext = index->rep()->extensions;
  if (!r.has_adapter) {
    ext.erase(kAdapterSection);
    return Status::OK();
  }
  pb::QueryAdapter a;
  a.set_version(kAdapterVersion);
  a.set_dimension(r.adapter.dimension);
  std::string* w = a.mutable_weights();
  w->reserve(r.adapter.weights.size() * 4);
  for (float f : r.adapter.weights) store::PutF32(w, f);
  for (const auto& m : r.adapter_scope) a.add_scope(m);
  a.set_fingerprint(r.adapter_fingerprint);
  a.set_pairs(static_cast<uint32_t>(r.adapter.pairs));
  a.set_loss_before(r.adapter.loss_before);
  a.set_loss_after(r.adapter.loss_after);
  std::string bytes;
  if (!a.SerializeToString(&bytes)) return Status::Internal("cannot serialize the query adapter");
  ext[kAdapterSection] = std::move(bytes);
  return Status::OK();
}

const FoldBackStats& FoldBack::stats() const { return rep_->stats; }
const FoldBackOptions& FoldBack::options() const { return rep_->options; }

}  // namespace foldback
