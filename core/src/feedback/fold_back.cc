// FoldBack: lawyers' feedback applied at once — few-shot demos picked by
// similarity (DSPy's KNNFewShot), Rocchio relevance feedback on the lexical
// and the dense side, and a learned linear query adapter.
//
// Walls: every record carries the set of matters it touches (its own, and
// those of every passage it shows or labels, as recorded and as the index
// now says). A record is used for a search only when the search may see all
// of them; the adapter is applied only when the search may see every matter
// of the records it was trained on.
//
// Incremental: Build is Add of each record, then the Rocchio gate over all
// of them and the adapter's training. Add folds one more record in at the
// cost of that record — its passages' terms and vectors, its question in an
// inverted index of past questions — and re-measures the Rocchio gate only
// for the held-out records whose neighbours it changes (past questions it
// is similar to), so demos, Rocchio and the gate equal a rebuild's at once,
// bit for bit (the same sums in the same order). The adapter is trained
// over all records: after an Add that gives it a new example it lags until
// Train (the host runs that where it likes: serve in the background).
//
// Searching: past questions are found through the inverted index (only
// those sharing a term with the query are compared), terms are numbered in
// this fold-back's own dictionary, and an expansion term's idf behind a
// wall (a pass over its postings) is computed once per wall and kept.
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "embed/static_embedder.h"
#include "feedback.pb.h"
#include "feedback/adapter.h"
#include "feedback/record_internal.h"
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
// Walls whose expansion-term idfs are kept (a server's fold-back is built
// per wall and searched behind it: one).
constexpr size_t kIdfWalls = 8;

using Walls = std::optional<std::set<std::string>>;
// Sparse vector over terms, sorted by term.
using SparseVec = TermVector;
// The same over this fold-back's term numbers (any order).
using TermId = uint32_t;
using IdVec = std::vector<std::pair<TermId, double>>;

void Normalize(SparseVec* v) {
  double n = 0;
  for (const auto& [t, w] : *v) n += w * w;
  if (n <= 0) return;
  n = std::sqrt(n);
  for (auto& [t, w] : *v) w /= n;
}

bool Visible(const std::set<std::string>& matters, const Walls& allowed) {
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
  // idf-weighted, unit: (term number, weight) in the order of the terms'
  // text, so that a similarity sums its products in TermDot's order.
  IdVec question_vec;
  std::set<std::string> matters;
  std::vector<std::pair<uint32_t, double>> relevant;  // chunk, weight (partly: 0.5)
  std::vector<uint32_t> not_relevant;
  std::vector<uint32_t> unlabelled_above;  // shown above a relevant passage, unlabelled
  std::vector<uint32_t> labelled_shown;    // labelled passages in the order shown
  // Rocchio's sums, precomputed: weighted term vectors and embeddings of
  // the relevant and the not relevant passages, and their total weights.
  IdVec rel_terms, non_terms;
  double rel_terms_weight = 0, non_terms_weight = 0;
  std::vector<double> rel_vec, non_vec;
  double rel_vec_weight = 0, non_vec_weight = 0;
  bool is_demo = false;
  Demo demo;
  bool adapter_example = false;  // gives the adapter a training example
  // The Rocchio gate's measure of this record held out (gate_measured:
  // it had neighbours then).
  bool gate_measured = false;
  double gate_gain = 0;

  bool labelled() const { return !relevant.empty() || !not_relevant.empty(); }
  bool gate_candidate() const {
    return !relevant.empty() && !not_relevant.empty() && !question.empty();
  }
};

// What the Rocchio gate changes in a plan: a question held out (its records
// are never neighbours), the adapter off, and other questions' labels used
// whatever the gate decided.
struct HeldOut {
  const std::string* question = nullptr;
  bool adapter = true;
  bool all_questions = false;
};

// A trained (or loaded) query adapter with what it was trained on.
struct AdapterPart {
  bool has = false;
  feedback::AdapterModel model;
  std::set<std::string> scope;
  uint64_t fingerprint = 0;
  // Past records (by position) whose questions the adapter learned: its
  // gate is the query's highest similarity to one of them.
  std::vector<uint8_t> trained_on;
  size_t inputs = 0;  // Rep::adapter_inputs it was trained for
  bool trained = false, loaded = false;
  size_t triplets = 0;
  double loss_before = 0, loss_after = 0;
  std::string note;
};

}  // namespace

// What TrainAdapter needs, copied out of the fold-back so that training
// runs while searches and Adds go on.
struct AdapterJob {
  const Index::Rep* index = nullptr;
  FoldBackOptions options;
  std::vector<feedback::AdapterExample> examples;  // query filled by Run
  std::vector<std::string> questions;              // by example
  std::vector<uint32_t> records;                   // past position, by example
  std::vector<std::string> ids;
  std::set<std::string> scope;
  size_t past = 0;  // records held when prepared
  size_t inputs = 0;
  std::string note;  // set: no training possible (the part is this note)

  std::shared_ptr<const AdapterPart> Run() const;
};

struct FoldBack::Rep {
  const Index::Rep* index = nullptr;
  FoldBackOptions options;

  // Searches hold it shared while planning; Add and Train's install hold it
  // exclusively. `add_mu` orders Adds and installs among themselves.
  mutable std::shared_mutex mu;
  std::mutex add_mu;

  FoldBackStats stats;                       // the memory side; the adapter's come from `adapter`
  std::deque<Past> past;                     // log order; addresses stay put as it grows
  std::unordered_set<std::string> seen_ids;  // every record id given
  // This fold-back's dictionary: the terms of past questions and passages.
  std::unordered_map<std::string, TermId> term_ids;
  std::vector<std::string> term_names;
  // Past questions by term: (past position, weight), by term number.
  std::vector<std::vector<std::pair<uint32_t, double>>> question_postings;
  std::unordered_map<uint32_t, IdVec> chunk_terms;              // unit tf vectors
  std::unordered_map<uint32_t, std::vector<float>> chunk_vecs;  // as in the dense index
  // Rocchio from other questions' labels (similarity below kSameQuestion);
  // false when the gate closed it (FoldBackOptions::rocchio_gate).
  bool cross_question_rocchio = true;
  std::shared_ptr<const AdapterPart> adapter = std::make_shared<AdapterPart>();
  size_t adapter_inputs = 0;  // past records with Past::adapter_example

  // Expansion terms' idf behind a wall (by term number; NaN: not yet).
  mutable std::mutex idf_mu;
  mutable std::map<Walls, std::vector<double>> idf_memo;

  TermId Intern(const std::string& term) {
    auto [it, added] = term_ids.emplace(term, static_cast<TermId>(term_names.size()));
    if (added) {
      term_names.push_back(term);
      question_postings.emplace_back();
    }
    return it->second;
  }

  double Idf(const std::string& term) const {
    double n = static_cast<double>(index->lexical.live_chunks());
    double df = index->lexical.Df(term);
    // Lucene's form whatever the index's BM25 uses: the question vectors
    // and Rocchio's weights were tuned with it (docs/benchmarks.md).
    return index::Bm25IdfOf(Bm25Idf::kPlusOne, n, df);
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

  // The similarity (TermDot of the question vectors) of `qv` to every past
  // question sharing a term with it, by past position (ascending). Each sum
  // adds its products in the order of qv's terms, as TermDot does.
  std::vector<std::pair<uint32_t, double>> Similar(const SparseVec& qv) const {
    std::unordered_map<uint32_t, double> acc;
    for (const auto& [t, w] : qv) {
      auto it = term_ids.find(t);
      if (it == term_ids.end()) continue;
      for (const auto& [i, pw] : question_postings[it->second]) acc[i] += w * pw;
    }
    std::vector<std::pair<uint32_t, double>> out(acc.begin(), acc.end());
    std::sort(out.begin(), out.end());
    return out;
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
      IdVec ids;
      ids.reserve(v.size());
      for (const auto& [t, w] : v) ids.emplace_back(Intern(t), w);
      chunk_terms.emplace(chunk, std::move(ids));
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
  // REQUIRES: mu held (shared is enough).
  Result<Plan> MakePlan(std::string_view query, const SearchOptions& so,
                        const index::StatsScope* scope, HeldOut held_out = HeldOut()) const {
    Plan plan;
    plan.terms = index->QueryTerms(query);
    // A BM25 search never looks at the query's vector: neither its
    // embedding nor the dense side of feedback is computed for it.
    if (so.mode != SearchMode::kBm25) {
      auto base = BaseVector(query, so);
      if (!base.ok()) return base.status();
      plan.vec = std::move(base.value());
    }
    SparseVec qv = QuestionVec(query);
    const std::vector<std::pair<uint32_t, double>> similar = Similar(qv);

    if (options.rocchio) {
      const bool cross = cross_question_rocchio || held_out.all_questions;
      std::vector<std::pair<double, uint32_t>> cand;
      for (const auto& [i, s] : similar) {
        const Past& p = past[i];
        if (!p.labelled()) continue;
        if (!(s >= options.min_similarity && s > 0)) continue;
        if (!cross && s < kSameQuestion) continue;
        if (held_out.question && p.question == *held_out.question) continue;
        if (!Visible(p.matters, so.allowed_matters)) continue;
        cand.emplace_back(s, i);
      }
      // Most similar first; among equals the earlier record.
      std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      if (cand.size() > options.max_neighbours) cand.resize(options.max_neighbours);
      for (const auto& [s, i] : cand) {
        plan.neighbours.push_back(&past[i]);
        plan.similarity.push_back(s);
      }
    }

    if (!plan.neighbours.empty()) RocchioLexical(&plan, so, scope);

    if (!plan.vec.empty()) {
      const AdapterPart& a = *adapter;
      if (held_out.adapter && options.adapter && a.has && Visible(a.scope, so.allowed_matters) &&
          a.model.dimension == plan.vec.size()) {
        double g = 1;
        if (options.adapter_gate) {
          // The highest similarity to a question the adapter learned.
          g = 0;
          for (const auto& [i, s] : similar) {
            if (i < a.trained_on.size() && a.trained_on[i]) g = std::max(g, s);
          }
          g = std::min(1.0, g);
        }
        if (g > 0) {
          std::vector<float> moved = feedback::ApplyAdapter(a.model, plan.vec);
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
  // a record's passages, once when the record is added.
  void PrepareRocchio(Past* p) const {
    std::unordered_map<TermId, double> rel, non;
    auto add_terms = [&](uint32_t c, double w, std::unordered_map<TermId, double>* acc,
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

  // The idf of expansion terms behind the search's wall (`scope`: its
  // statistics, null for none), each computed once per wall.
  std::vector<double> ExpansionIdf(const std::vector<TermId>& ids, const SearchOptions& so,
                                   const index::StatsScope* scope) const {
    std::vector<double> out;
    out.reserve(ids.size());
    std::lock_guard<std::mutex> lock(idf_mu);
    Walls key = scope ? so.allowed_matters : Walls();
    auto it = idf_memo.find(key);
    if (it == idf_memo.end()) {
      if (idf_memo.size() >= kIdfWalls) idf_memo.clear();
      it = idf_memo.emplace(key, std::vector<double>()).first;
    }
    std::vector<double>& memo = it->second;
    if (memo.size() < term_names.size()) {
      memo.resize(term_names.size(), std::numeric_limits<double>::quiet_NaN());
    }
    for (TermId id : ids) {
      if (std::isnan(memo[id])) {
        double n = static_cast<double>(index->lexical.VisibleChunks(scope));
        double df = index->lexical.Df(term_names[id], scope);
        memo[id] = index::Bm25IdfOf(Bm25Idf::kPlusOne, n, df);  // as Idf() above
      }
      out.push_back(memo[id]);
    }
    return out;
  }

  void RocchioLexical(Plan* plan, const SearchOptions& so, const index::StatsScope* scope) const {
    // The query's own weights as the index reads them (QueryTerms: a word
    // repeated c times weighs QueryWordWeight(k3, c), not c).
    std::map<std::string, double> q;
    for (const auto& t : plan->terms) q[t.term] += t.weight;
    double qn = 0;
    for (const auto& [t, n] : q) qn += n * n;
    qn = std::sqrt(qn);
    std::unordered_map<TermId, double> rel, non;
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
    // Each term's weight: alpha for a query term, plus beta of the relevant
    // mean, minus gamma of the not relevant mean, summed in that order.
    auto feedback_weight = [&](TermId id, double w) {
      if (rel_total > 0) {
        auto r = rel.find(id);
        if (r != rel.end()) w += options.beta * r->second / rel_total;
      }
      if (non_total > 0) {
        auto n = non.find(id);
        if (n != non.end()) w -= options.gamma * n->second / non_total;
      }
      return w;
    };
    std::vector<index::WeightedTerm> out;  // query terms, by term
    std::unordered_set<TermId> query_ids;
    for (const auto& [t, n] : q) {
      double w = options.alpha * (qn > 0 ? n / qn : 0);
      auto id = term_ids.find(t);
      if (id != term_ids.end()) {
        query_ids.insert(id->second);
        w = feedback_weight(id->second, w);
      }
      if (w > 0) out.push_back({t, w});
    }
    std::vector<TermId> cand;
    std::vector<double> weight;
    auto consider = [&](TermId id) {
      if (query_ids.count(id)) return;
      double w = feedback_weight(id, 0.0);
      if (w <= 0) return;
      cand.push_back(id);
      weight.push_back(w);
    };
    for (const auto& [id, v] : rel) consider(id);
    for (const auto& [id, v] : non) {
      if (!rel.count(id)) consider(id);
    }
    std::vector<double> idf = ExpansionIdf(cand, so, scope);
    std::vector<size_t> order(cand.size());
    std::vector<double> score(cand.size());
    for (size_t i = 0; i < cand.size(); ++i) {
      order[i] = i;
      score[i] = weight[i] * idf[i];
    }
    auto better = [&](size_t a, size_t b) {
      return score[a] != score[b] ? score[a] > score[b] : term_names[cand[a]] < term_names[cand[b]];
    };
    size_t keep = std::min(order.size(), options.expansion_terms);
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(keep), order.end(), better);
    for (size_t i = 0; i < keep; ++i) out.push_back({term_names[cand[order[i]]], weight[order[i]]});
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

  // Adds one record (REQUIRES: mu held exclusively). False when it is not
  // used: a retried id, or outside the build-time wall.
  bool AddRecord(const FeedbackRecord& r);

  // FoldBackOptions::rocchio_gate: held out by question, does Rocchio from
  // the other questions' labels order a record's labelled passages better
  // than the plain search does? The measure of one record (nothing when it
  // has no neighbour). REQUIRES: mu held. `mask`: every chunk off, left so.
  void MeasureGate(Past* p, index::ChunkMask* mask) const;
  // The gate's decision from the records' measures.
  void DecideGate();
  bool gate_on() const { return options.rocchio && options.rocchio_gate; }

  // What a training of the adapter on the records held now needs.
  // REQUIRES: mu held.
  AdapterJob PrepareAdapter() const;
  bool adapter_lagging() const { return options.adapter && adapter->inputs != adapter_inputs; }
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

bool FoldBack::Rep::AddRecord(const FeedbackRecord& r) {
  const Index::Rep& ix = *index;
  // First occurrence wins, as ApplyFeedbackLog de-duplicates a retried write.
  if (!r.record_id.empty() && !seen_ids.insert(r.record_id).second) return false;
  ++stats.records;
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
  size_t stale = 0;
  for (const LabelledPassage& l : r.labels) {
    uint32_t c;
    if (!resolve(l.chunk_id, &c)) {
      ++stale;
      continue;
    }
    labelled[c] = l.label;  // the last label of a passage wins
  }
  stats.stale_labels += stale;
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
  if (!Visible(p.matters, options.allowed_matters)) return false;
  ++stats.used;
  for (const auto& [c, label] : labelled) {
    if (label == PassageLabel::kNotRelevant) {
      p.not_relevant.push_back(c);
    } else {
      p.relevant.emplace_back(c, label == PassageLabel::kRelevant ? 1.0 : 0.5);
    }
    CacheChunk(c);
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
      CacheChunk(c);
    }
  }
  if (p.labelled()) ++stats.relevance;
  if (options.rocchio) PrepareRocchio(&p);
  for (const auto& [t, w] : QuestionVec(r.question)) p.question_vec.emplace_back(Intern(t), w);
  if (options.demos) {
    std::string query = feedback::TaughtRewrite(r);
    if (!query.empty()) {
      p.is_demo = true;
      p.demo.question = r.question;
      p.demo.query = query;
      p.demo.answer = !r.corrected_answer.empty() ? r.corrected_answer
                      : r.rating.positive()       ? r.answer
                                                  : "";
      p.demo.record_id = r.record_id;
      p.demo.trace_id = r.trace_id;
      ++stats.demos;
    }
  }
  // An adapter example (AdapterJob::Run): a relevant passage with a vector
  // and a question the static embedder gives a vector of the index's size.
  if (options.adapter && ix.dense && ix.dense->size() > 0 &&
      ix.options.dense.embedder == EmbedderKind::kStatic && ix.embedder) {
    bool positive = false;
    for (const auto& [c, w] : p.relevant) positive |= w >= 1 && chunk_vecs.count(c) > 0;
    if (positive) {
      std::vector<float> q = ix.embedder->Embed(p.question, ix.analyzer);
      double n = 0;
      for (float f : q) n += static_cast<double>(f) * f;
      p.adapter_example = n > 0 && q.size() == ix.dense->dimension();
    }
  }
  adapter_inputs += p.adapter_example;
  const uint32_t at = static_cast<uint32_t>(past.size());
  for (const auto& [t, w] : p.question_vec) question_postings[t].emplace_back(at, w);
  past.push_back(std::move(p));
  return true;
}

void FoldBack::Rep::MeasureGate(Past* p, index::ChunkMask* mask) const {
  const Index::Rep& ix = *index;
  p->gate_measured = false;
  p->gate_gain = 0;
  if (!p->gate_candidate()) return;
  // The record's labelled passages, ranked by the plain search's plan and
  // by Rocchio from the other questions.
  std::vector<std::pair<uint32_t, double>> gain = p->relevant;
  for (uint32_t c : p->not_relevant) gain.emplace_back(c, 0.0);
  SearchOptions so;
  so.top_k = gain.size();
  so.collapse_jaccard = 0;
  so.lexical_lead = 0;
  HeldOut held{&p->question, false, true};
  auto with = MakePlan(p->question, so, nullptr, held);
  if (!with.ok() || with->neighbours.empty()) return;
  Plan plain = *with;
  plain.terms = index->QueryTerms(p->question);
  auto base = BaseVector(p->question, so);
  if (!base.ok()) return;
  plain.vec = std::move(base.value());
  for (const auto& [c, g] : gain) mask->allowed[c] = 1;
  auto a = Run(plain, so, *mask);
  auto b = Run(*with, so, *mask);
  for (const auto& [c, g] : gain) mask->allowed[c] = 0;
  if (!a.ok() || !b.ok()) return;
  auto chunks = [&](const std::vector<SearchHit>& hits) {
    std::vector<uint32_t> out;
    for (const auto& h : hits) {
      auto it = ix.chunk_ids.find(h.chunk_id);
      if (it != ix.chunk_ids.end()) out.push_back(it->second);
    }
    return out;
  };
  p->gate_gain = LabelNdcg(gain, chunks(*b), p->labelled_shown) -
                 LabelNdcg(gain, chunks(*a), p->labelled_shown);
  p->gate_measured = true;
}

void FoldBack::Rep::DecideGate() {
  double sum = 0;
  size_t n = 0;
  for (const Past& p : past) {  // log order: the same sum as a rebuild's
    if (!p.gate_measured) continue;
    sum += p.gate_gain;
    ++n;
  }
  stats.rocchio_gate_records = n;
  stats.rocchio_gate_gain = n ? sum / static_cast<double>(n) : 0;
  // Closed only on evidence: enough held-out records, and no gain.
  cross_question_rocchio = n < options.rocchio_gate_min_records || stats.rocchio_gate_gain > 0;
  stats.rocchio_cross_questions = cross_question_rocchio;
}

AdapterJob FoldBack::Rep::PrepareAdapter() const {
  const Index::Rep& ix = *index;
  AdapterJob job;
  job.index = index;
  job.options = options;
  job.past = past.size();
  job.inputs = adapter_inputs;
  if (!ix.dense || ix.dense->size() == 0) {
    job.note = "no dense index: the adapter works on embeddings";
    return job;
  }
  if (ix.options.dense.embedder != EmbedderKind::kStatic || !ix.embedder) {
    job.note =
        "the adapter needs the questions' embeddings, which only the static embedder computes "
        "inside the core";
    return job;
  }
  for (uint32_t i = 0; i < past.size(); ++i) {
    const Past& p = past[i];
    if (!p.adapter_example) continue;
    feedback::AdapterExample e;
    for (const auto& [c, w] : p.relevant) {
      if (w < 1) continue;  // partly relevant: neither positive nor negative
      auto it = chunk_vecs.find(c);
      if (it != chunk_vecs.end()) e.positives.push_back(it->second);
    }
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
    job.examples.push_back(std::move(e));
    job.questions.push_back(p.question);
    job.records.push_back(i);
    job.ids.push_back(p.record_id);
    job.scope.insert(p.matters.begin(), p.matters.end());
  }
  return job;
}

std::shared_ptr<const AdapterPart> AdapterJob::Run() const {
  auto part = std::make_shared<AdapterPart>();
  part->inputs = inputs;
  if (!note.empty()) {
    part->note = note;
    return part;
  }
  const Index::Rep& ix = *index;
  const uint32_t d = ix.dense->dimension();
  std::vector<feedback::AdapterExample> ex = examples;
  size_t pairs = 0;
  for (size_t i = 0; i < ex.size(); ++i) {
    ex[i].query = ix.embedder->Embed(questions[i], ix.analyzer);
    pairs += ex[i].positives.size();
  }
  if (ex.empty()) {
    part->note = "no record labels a passage relevant";
    return part;
  }
  if (pairs < options.adapter_min_pairs) {
    part->note =
        fmt::format(FMT_STRING("only {} (question, relevant passage) pairs; the adapter needs {}"),
                    pairs, options.adapter_min_pairs);
    return part;
  }
  // What the adapter depends on: its training records, the embedder, the
  // options.
  std::vector<std::string> sorted_ids = ids;
  std::sort(sorted_ids.begin(), sorted_ids.end());
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
  for (const auto& id : sorted_ids) fp = Fnv(fp, id);
  auto install = [&](feedback::AdapterModel model) {
    part->has = true;
    part->model = std::move(model);
    part->scope = scope;
    part->fingerprint = fp;
    part->trained_on.assign(past, 0);
    for (uint32_t i : records) part->trained_on[i] = 1;
    part->triplets = part->model.pairs;
    part->loss_before = part->model.loss_before;
    part->loss_after = part->model.loss_after;
  };

  auto stored = ix.extensions.find(kAdapterSection);
  if (stored != ix.extensions.end()) {
    pb::QueryAdapter a;
    if (a.ParseFromString(stored->second) && a.version() == kAdapterVersion && a.dimension() == d &&
        a.fingerprint() == fp && store::Count32(a.weights()) == static_cast<size_t>(d) * d) {
      feedback::AdapterModel model;
      model.dimension = d;
      model.weights.resize(static_cast<size_t>(d) * d);
      for (size_t i = 0; i < model.weights.size(); ++i) {
        model.weights[i] = store::GetF32(a.weights(), i);
      }
      model.pairs = a.pairs();
      model.loss_before = a.loss_before();
      model.loss_after = a.loss_after();
      install(std::move(model));
      part->loaded = true;
      return part;
    }
  }
  feedback::AdapterParams params;
  params.epochs = options.adapter_epochs;
  params.learning_rate = options.adapter_learning_rate;
  params.temperature = options.adapter_temperature;
  params.l2 = options.adapter_l2;
  params.seed = options.seed;
  auto trained = feedback::TrainAdapter(ex, d, params);
  if (!trained.ok()) {
    part->note = trained.status().message();
    return part;
  }
  install(std::move(trained.value()));
  part->trained = true;
  return part;
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
  {
    std::unique_lock<std::shared_mutex> lock(rep->mu);
    for (const FeedbackRecord& r : records) rep->AddRecord(r);
    if (rep->gate_on()) {
      index::ChunkMask mask;
      mask.all = false;
      mask.allowed.assign(index.rep()->chunks.size(), 0);
      for (Past& p : rep->past) rep->MeasureGate(&p, &mask);
      rep->DecideGate();
    }
  }
  std::unique_ptr<FoldBack> fb(new FoldBack(std::move(rep)));
  if (options.adapter) FB_RETURN_IF_ERROR(fb->Train());
  return fb;
}

Result<bool> FoldBack::Add(const Index& index, const FeedbackRecord& record) {
  Rep& r = *rep_;
  if (index.rep() != r.index) {
    return Status::FailedPrecondition("FoldBack::Add needs the index FoldBack was built on");
  }
  std::lock_guard<std::mutex> order(r.add_mu);  // Adds and installs, one at a time
  std::unique_lock<std::shared_mutex> lock(r.mu);
  const size_t at = r.past.size();
  if (!r.AddRecord(record)) return false;
  if (!r.gate_on() || !r.past[at].labelled()) return true;  // measured by no one
  // The held-out records whose neighbours the new record joins (another
  // question at least min_similarity similar), and the new one itself,
  // measured again under the shared lock (searches go on; no other Add can
  // change what they read), then written.
  lock.unlock();
  std::vector<Past> measured;
  std::vector<uint32_t> where;
  {
    std::shared_lock<std::shared_mutex> shared(r.mu);
    const Past& added = r.past[at];
    index::ChunkMask mask;
    mask.all = false;
    mask.allowed.assign(r.index->chunks.size(), 0);
    auto measure = [&](uint32_t i) {
      Past copy;  // only what MeasureGate reads and writes
      copy.question = r.past[i].question;
      copy.relevant = r.past[i].relevant;
      copy.not_relevant = r.past[i].not_relevant;
      copy.labelled_shown = r.past[i].labelled_shown;
      r.MeasureGate(&copy, &mask);
      measured.push_back(std::move(copy));
      where.push_back(i);
    };
    for (const auto& [i, s] : r.Similar(r.QuestionVec(added.question))) {
      const Past& p = r.past[i];
      if (i == at || !p.gate_candidate() || p.question == added.question) continue;
      if (!(s >= r.options.min_similarity && s > 0)) continue;
      measure(i);
    }
    measure(static_cast<uint32_t>(at));
  }
  lock.lock();
  for (size_t k = 0; k < where.size(); ++k) {
    r.past[where[k]].gate_measured = measured[k].gate_measured;
    r.past[where[k]].gate_gain = measured[k].gate_gain;
  }
  r.DecideGate();
  return true;
}

bool FoldBack::training_pending() const {
  std::shared_lock<std::shared_mutex> lock(rep_->mu);
  return rep_->adapter_lagging();
}

Status FoldBack::Train() {
  Rep& r = *rep_;
  AdapterJob job;
  {
    std::shared_lock<std::shared_mutex> lock(r.mu);
    if (!r.options.adapter) return Status::OK();
    job = r.PrepareAdapter();
  }
  // The training itself holds no lock: searches and Adds go on.
  std::shared_ptr<const AdapterPart> part = job.Run();
  std::lock_guard<std::mutex> order(r.add_mu);
  std::unique_lock<std::shared_mutex> lock(r.mu);
  // A training prepared before another one that was installed first is
  // older: keep the newer.
  if (r.adapter->inputs > part->inputs) return Status::OK();
  r.adapter = std::move(part);
  return Status::OK();
}

std::vector<Demo> FoldBack::DemosFor(
    std::string_view question, size_t k,
    const std::optional<std::set<std::string>>& allowed_matters) const {
  const Rep& r = *rep_;
  std::vector<Demo> out;
  if (!r.options.demos || k == 0) return out;
  std::shared_lock<std::shared_mutex> lock(r.mu);
  SparseVec qv = r.QuestionVec(question);
  std::vector<std::pair<double, size_t>> cand;
  for (const auto& [i, s] : r.Similar(qv)) {
    const Past& p = r.past[i];
    if (!p.is_demo || !Visible(p.matters, allowed_matters)) continue;
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
  std::vector<SearchHit> hits;
  FB_RETURN_IF_ERROR(Search(index, query, options, &hits));
  return hits;
}

Status FoldBack::Search(const Index& index, std::string_view query, const SearchOptions& options,
                        std::vector<SearchHit>* hits) const {
  const Rep& r = *rep_;
  if (index.rep() != r.index) {
    return Status::FailedPrecondition("FoldBack::Search needs the index FoldBack was built on");
  }
  if (options.top_k == 0) {
    hits->clear();
    return Status::OK();
  }
  if (options.top_k > 10000) return Status::InvalidArgument("top_k is larger than 10000");
  // The wall's cached mask, shared rather than copied (as Index::Search does).
  auto shared = r.index->SharedMask(options);
  if (!shared.ok()) return shared.status();
  const index::ChunkMask& mask = **shared;
  auto plan = [&] {
    std::shared_lock<std::shared_mutex> lock(r.mu);
    return r.MakePlan(query, options, mask.stats.get());
  }();
  if (!plan.ok()) return plan.status();
  // Nothing moved: the index's own search, behind the mask already built.
  if (!plan->lexical_changed && !plan->dense_changed) {
    return r.index->SearchInto(query, options, mask, nullptr, hits);
  }
  // Run's ranking, into the caller's vector.
  return r.index->RankInto(plan->terms, plan->vec, options, mask, hits);
}

Result<ExpandedQuery> FoldBack::Expand(const Index& index, std::string_view query,
                                       const SearchOptions& options) const {
  const Rep& r = *rep_;
  if (index.rep() != r.index) {
    return Status::FailedPrecondition("FoldBack::Expand needs the index FoldBack was built on");
  }
  index::ChunkMask mask;  // for a walled user's term statistics
  if (options.allowed_matters) FB_RETURN_IF_ERROR(r.index->BuildMask(options, &mask));
  std::shared_lock<std::shared_mutex> lock(r.mu);
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
  std::shared_ptr<const AdapterPart> part;
  {
    std::shared_lock<std::shared_mutex> lock(r.mu);
    part = r.adapter;
  }
  auto& ext = index->rep()->extensions;
  if (!part->has) {
    ext.erase(kAdapterSection);
    return Status::OK();
  }
  pb::QueryAdapter a;
  a.set_version(kAdapterVersion);
  a.set_dimension(part->model.dimension);
  std::string* w = a.mutable_weights();
  w->reserve(part->model.weights.size() * 4);
  for (float f : part->model.weights) store::PutF32(w, f);
  for (const auto& m : part->scope) a.add_scope(m);
  a.set_fingerprint(part->fingerprint);
  a.set_pairs(static_cast<uint32_t>(part->model.pairs));
  a.set_loss_before(part->model.loss_before);
  a.set_loss_after(part->model.loss_after);
  std::string bytes;
  if (!a.SerializeToString(&bytes)) return Status::Internal("cannot serialize the query adapter");
  ext[kAdapterSection] = std::move(bytes);
  return Status::OK();
}

FoldBackStats FoldBack::stats() const {
  const Rep& r = *rep_;
  std::shared_lock<std::shared_mutex> lock(r.mu);
  FoldBackStats s = r.stats;
  const AdapterPart& a = *r.adapter;
  s.triplets = a.triplets;
  s.adapter_trained = a.trained;
  s.adapter_loaded = a.loaded;
  s.adapter_loss_before = a.loss_before;
  s.adapter_loss_after = a.loss_after;
  s.adapter_note = a.note;
  s.adapter_pending = r.adapter_lagging();
  return s;
}

const FoldBackOptions& FoldBack::options() const { return rep_->options; }

}  // namespace foldback
