// Index search: the lexical side, the dense side and their fusion, all behind
// the chunk mask that carries ethical walls and filters; then mail role
// weights and near-duplicate collapse, searching deeper until top_k distinct
// results are found.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "index/dense_index.h"
#include "index/index_internal.h"
#include "rewrite/ask_internal.h"
#include "text/chunker.h"

namespace foldback {
namespace {

using Ranked = std::vector<std::pair<uint32_t, double>>;

// A passage of fewer words than this has its dense similarity scaled by
// words / kShortPassageWords: the mean of three word vectors ("more related
// articles") lands close to any query sharing one of them, and such a line
// must not outrank a passage that matches the whole query.
constexpr double kShortPassageWords = 8;
// Deeper rounds stop when a side's candidate list reaches this size.
constexpr size_t kMaxDepth = 4096;

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

// Reciprocal-rank contributions of a best-first list. Tied scores share one
// rank and the next score takes the next rank ("1, 1, 1, 2"): a block of
// equal scores — five copies of one newsletter line — carries no order
// among itself, and must not push the other side's winner down by taking
// ranks 1..5 at once.
void AddRrf(const Ranked& list, double k, std::unordered_map<uint32_t, double>* fused) {
  double rank = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i == 0 || list[i].second != list[i - 1].second) rank += 1;
    (*fused)[list[i].first] += 1.0 / (k + rank);
  }
}

// SearchOptions::lexical_lead applies to queries of at most this many
// terms (after stopwords): the names a lawyer types to find a known item
// (a subject line, a clause heading). Longer queries — a hypothesis, a
// clause description — are left to fusion. Chosen on the development data
// (docs/benchmarks.md, "Hybrid never below BM25 on known items").
constexpr size_t kLexicalLeadMaxTerms = 6;

// SearchOptions::lexical_lead: when the lexical side's best candidate leads
// the second by at least `lead` of its BM25 score (or is the only lexical
// candidate), it goes first in `fused`, whatever the dense side prefers; the
// others keep their fused order below it.
void KeepLexicalWinnerFirst(const Ranked& lex, double lead,
                            std::unordered_map<uint32_t, double>* fused) {
  if (lex.empty()) return;
  size_t best = 0;
  double second = 0;
  for (size_t i = 1; i < lex.size(); ++i) {
    if (lex[i].second > lex[best].second) {
      second = lex[best].second;
      best = i;
    } else {
      second = std::max(second, lex[i].second);
    }
  }
  const double top = lex[best].second;
  if (!(top > 0) || (lex.size() > 1 && top - second < lead * top)) return;
  double most = 0;
  for (const auto& [key, s] : *fused) most = std::max(most, s);
  double& f = (*fused)[lex[best].first];
  if (f < most) f = std::nextafter(most, most + 1);
}

void SortBestFirst(Ranked* list) {
  std::sort(list->begin(), list->end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
}

// One document per result, hybrid: the best this many lexical candidate
// documents (by BM25) that the graph search returned no chunk of are scored
// on the dense side by their most similar chunk, not by the chunk BM25 put
// forward; the others keep that chunk's similarity. A document's dense
// score is its best chunk's wherever the graph search found one; scanning
// every lexical candidate's chunks (up to 4096 documents) would cost as
// much as the search, and did worse on CUAD than the best 20
// (docs/benchmarks.md, "A document's dense score is its best chunk's").
constexpr size_t kBestChunkDocuments = 20;

// A search's per-thread working vectors (kept: allocating them again on
// every search was dlmalloc's time inside wasm) are handed back when a
// rare deep search grew one past this many entries, so that what a thread
// holds between searches stays small. Their users clear or overwrite them.
constexpr size_t kKeptEntries = size_t{1} << 14;
template <typename V>
struct KeptVector {
  V& v;
  explicit KeptVector(V& kept) : v(kept) {}
  ~KeptVector() {
    if (v.capacity() > kKeptEntries) V().swap(v);
  }
  KeptVector(const KeptVector&) = delete;
  KeptVector& operator=(const KeptVector&) = delete;
};

struct Candidate {
  uint32_t key;    // chunk, or document with one_per_document
  uint32_t chunk;  // the chunk shown
  double score;
  double bm25 = 0;
  double dense = 0;
};

}  // namespace

Status Index::Rep::PlanQuery(std::string_view query, QuerySyntax syntax, index::ResolvedQuery* out,
                             bool* connectors) const {
  *connectors = false;
  if (syntax == QuerySyntax::kPlain) return Status::OK();
  const bool strict = syntax == QuerySyntax::kConnectors;
  auto ast = index::ParseQueryAst(query);
  if (!ast.ok()) {
    if (strict) return ast.status();
    out->notes.push_back("searched as plain words: " + ast.status().message());
    return Status::OK();
  }
  if (!ast->has_operators) return Status::OK();
  if (!lexical.has_positions()) {
    const std::string why =
        options.bm25.positions
            ? "this index was saved without word positions (snapshot format 1); rebuild the index "
              "(ingest the documents into a new one) to use phrases, prefixes and connectors"
            : "this index does not store word positions (Bm25Params::positions is off); phrases, "
              "prefixes and connectors need them";
    if (strict) return Status::FailedPrecondition(why);
    out->notes.push_back("searched as plain words: " + why);
    return Status::OK();
  }
  index::ResolvedQuery resolved;
  Status st = index::ResolveQuery(
      *ast, analyzer, lexical, [this](std::string_view q) { return QueryTerms(q); }, &resolved);
  if (!st.ok()) {
    if (strict) return st;
    out->notes.push_back("searched as plain words: " + st.message());
    return Status::OK();
  }
  *out = std::move(resolved);
  *connectors = true;
  return Status::OK();
}

Result<std::vector<SearchHit>> Index::Rep::Search(
    std::string_view query, const SearchOptions& options, const index::ChunkMask& mask,
    const std::vector<index::WeightedTerm>* terms) const {
  std::vector<SearchHit> hits;
  FB_RETURN_IF_ERROR(SearchInto(query, options, mask, terms, &hits));
  return hits;
}

Status Index::Rep::SearchInto(std::string_view query, const SearchOptions& options,
                              const index::ChunkMask& mask,
                              const std::vector<index::WeightedTerm>* terms,
                              std::vector<SearchHit>* out) const {
  if (!terms && options.syntax != QuerySyntax::kPlain) {
    index::ResolvedQuery plan;
    bool connectors = false;
    FB_RETURN_IF_ERROR(PlanQuery(query, options.syntax, &plan, &connectors));
    if (connectors) {
      // Passages that satisfy the phrases and connectors, behind the same
      // walls and filters (a subset of `mask`, with its statistics), rank
      // by BM25 over every term of the query.
      index::ChunkMask narrowed;
      const index::ChunkMask* m = &mask;
      if (!plan.required.empty()) {
        std::vector<uint32_t> match = lexical.MatchClauses(plan.required, mask);
        narrowed.all = false;
        narrowed.ranged = true;
        narrowed.stats = mask.stats;
        for (uint32_t c : match) {
          if (!narrowed.ranges.empty() && narrowed.ranges.back().second == c) {
            narrowed.ranges.back().second = c + 1;
          } else {
            narrowed.ranges.emplace_back(c, c + 1);
          }
        }
        m = &narrowed;
      }
      std::vector<float> qvec;
      if (options.mode != SearchMode::kBm25) {
        auto v = QueryVector(plan.words, options);
        if (!v.ok()) return v.status();
        qvec = std::move(v.value());
      }
      return RankInto(plan.terms, qvec, options, *m, out);
    }
  }
  std::vector<float> qvec;
  if (options.mode != SearchMode::kBm25) {
    auto v = QueryVector(query, options);
    if (!v.ok()) return v.status();
    qvec = std::move(v.value());
  }
  if (terms) return RankInto(*terms, qvec, options, mask, out);
  // A kept vector, written over (not cleared: its strings keep their
  // buffers): no allocation for the query's terms on each search.
  thread_local std::vector<index::WeightedTerm> query_terms;
  KeptVector<std::vector<index::WeightedTerm>> guard(query_terms);
  QueryTermsInto(query, &query_terms);
  return RankInto(query_terms, qvec, options, mask, out);
}

Result<std::vector<SearchHit>> Index::Rep::Rank(const std::vector<index::WeightedTerm>& terms,
                                                const std::vector<float>& query_vector,
                                                const SearchOptions& options,
                                                const index::ChunkMask& mask) const {
  std::vector<SearchHit> hits;
  FB_RETURN_IF_ERROR(RankInto(terms, query_vector, options, mask, &hits));
  return hits;
}

Status Index::Rep::RankInto(const std::vector<index::WeightedTerm>& terms,
                            const std::vector<float>& query_vector, const SearchOptions& options,
                            const index::ChunkMask& mask, std::vector<SearchHit>* out) const {
  if (!(options.lexical_lead >= 0 && options.lexical_lead <= 1)) {
    return Status::InvalidArgument("lexical_lead must be in [0, 1]");
  }
  const size_t top_k = options.top_k;
  if (top_k == 0) {
    out->clear();
    return Status::OK();
  }
  const bool per_doc = options.one_per_document;
  const std::vector<uint32_t>* group = per_doc ? &chunk_doc : nullptr;
  const bool collapse = options.collapse_jaccard > 0 && !per_doc;
  const bool have_dense = dense && dense->size() > 0;
  const bool run_dense = options.mode != SearchMode::kBm25 && have_dense && !query_vector.empty();
  const size_t ef = options.ef_search ? options.ef_search : this->options.dense.ef_search;
  const size_t depth0 = options.candidates ? options.candidates : std::max<size_t>(100, 4 * top_k);

  // The query vector as the dense index compares it (unit length under
  // cosine), to score lexical candidates the dense search did not return.
  std::vector<float> qnorm;
  if (run_dense) {
    qnorm = query_vector;
    if (this->options.dense.metric == Metric::kCosine) {
      double n = 0;
      for (float f : qnorm) n += static_cast<double>(f) * f;
      n = std::sqrt(n);
      if (n > 0) {
        for (float& f : qnorm) f = static_cast<float>(f / n);
      }
    }
  }
  auto role_weight = [&](uint32_t c) {
    switch (chunks[c].chunk.role) {
      case ChunkRole::kQuoted:
        return options.quoted_weight;
      case ChunkRole::kSignature:
        return options.signature_weight;
      default:
        return 1.0;
    }
  };
  auto short_factor = [&](uint32_t c) {
    double words = static_cast<double>(text::CountTokens(chunks[c].chunk.text));
    return words >= kShortPassageWords ? 1.0 : words / kShortPassageWords;
  };
  // Shingles of chunks met so far, kept across deeper rounds.
  std::unordered_map<uint32_t, std::vector<uint64_t>> shingles;
  auto shingles_of = [&](uint32_t c) -> const std::vector<uint64_t>& {
    auto it = shingles.find(c);
    if (it == shingles.end())
      it = shingles.emplace(c, rewrite::Shingles(chunks[c].chunk.text)).first;
    return it->second;
  };

  // Kept vectors (KeptVector): the lexical results, the candidates, the
  // chunks of the hits kept.
  thread_local Ranked lexical_kept;
  thread_local std::vector<Candidate> cands_kept;
  thread_local std::vector<uint32_t> chunks_kept;
  KeptVector<Ranked> lexical_guard(lexical_kept);
  KeptVector<std::vector<Candidate>> cands_guard(cands_kept);
  KeptVector<std::vector<uint32_t>> chunks_guard(chunks_kept);
  Ranked& lexical_hits = lexical_kept;
  std::vector<Candidate>& cands = cands_kept;
  std::vector<uint32_t>& kept = chunks_kept;

  for (size_t round = 0;; ++round) {
    const size_t scale = size_t{1} << (2 * std::min<size_t>(round, 10));
    const size_t depth = depth0 * scale;
    // Dense candidates are chunks: take more when they collapse to documents.
    const size_t dense_k =
        std::min(kMaxDepth,
                 (options.mode == SearchMode::kDense ? top_k * scale : depth) * (per_doc ? 2 : 1));
    Ranked dense_hits;
    if (run_dense)
      dense_hits = dense->Search(query_vector.data(), dense_k, std::max(ef, dense_k), mask);
    const bool dense_used =
        !dense_hits.empty() || (have_dense && options.mode == SearchMode::kDense);
    lexical_hits.clear();
    size_t lexical_k = dense_used ? depth : top_k * scale;
    if (options.mode != SearchMode::kDense || !dense_used) {
      lexical.Search(terms, mask, lexical_k, group, &lexical_hits);
    }
    const bool lexical_more = !lexical_hits.empty() && lexical_hits.size() >= lexical_k;
    const bool dense_more = dense_hits.size() >= dense_k && dense_k < kMaxDepth;

    cands.clear();
    if (!dense_used) {
      // BM25 mode, or no usable dense side: lexical scores, role weighted.
      cands.reserve(lexical_hits.size());
      for (const auto& [c, s] : lexical_hits) {
        Candidate k{per_doc ? chunk_doc[c] : c, c, s * role_weight(c)};
        k.bm25 = s;
        cands.push_back(k);
      }
    } else {
      // Fusion, keyed by chunk — or by document when one_per_document, each
      // document represented by its best chunk (lexical side first).
      auto key_of = [&](uint32_t c) { return group ? chunk_doc[c] : c; };
      std::unordered_map<uint32_t, uint32_t> representative;  // key -> chunk
      auto by_key = [&](const Ranked& in) {
        Ranked out;
        for (const auto& [c, s] : in) {
          if (!representative.emplace(key_of(c), c).second) continue;
          out.emplace_back(key_of(c), s);
        }
        return out;
      };
      Ranked lex = by_key(lexical_hits);
      // Dense side: similarities of the returned chunks and of every lexical
      // candidate that has a vector (so a lexical winner the graph search
      // did not return is compared on its real similarity, not on zero),
      // short passages scaled down, best first.
      std::unordered_map<uint32_t, double> sim;
      Ranked den;
      for (const auto& [c, s] : dense_hits) {
        uint32_t key = key_of(c);
        if (sim.count(key)) continue;
        representative.emplace(key, c);
        sim[key] = s;
        den.emplace_back(key, s * short_factor(c));
      }
      if (options.mode != SearchMode::kDense) {
        std::vector<float> v;
        size_t exact_left = group && qnorm.size() == dense->dimension() ? kBestChunkDocuments : 0;
        for (const auto& [key, s] : lex) {
          if (sim.count(key)) continue;
          uint32_t c = representative.at(key);
          if (exact_left > 0) {
            // A document is as similar as its most similar chunk, whichever
            // chunk the lexical side put forward: scanned among its own
            // chunks, behind the same mask.
            --exact_left;
            std::pair<uint32_t, double> best;
            if (dense->MostSimilarOf(qnorm.data(), docs[key].chunks, mask, &best)) {
              sim[key] = best.second;
              den.emplace_back(key, best.second * short_factor(best.first));
            }
            continue;
          }
          if (!dense->GetVector(c, &v) || v.size() != qnorm.size()) continue;
          double d = index::Dot(qnorm.data(), v.data(), v.size());
          sim[key] = d;
          den.emplace_back(key, d * short_factor(c));
        }
      }
      SortBestFirst(&den);
      std::unordered_map<uint32_t, double> fused, bm25;
      for (const auto& [key, s] : lex) bm25[key] = s;
      if (options.mode == SearchMode::kDense) {
        for (const auto& [key, s] : den) fused[key] = s;
      } else if (options.fusion == Fusion::kRrf) {
        AddRrf(lex, options.rrf_k, &fused);
        AddRrf(den, options.rrf_k, &fused);
      } else {
        // Min-max per side. (Scaling each side to its best with 0 as the
        // floor, Bruch et al.'s theoretical-minimum normalisation, was
        // measured too and did worse on both known-item tasks:
        // docs/benchmarks.md.)
        for (const auto& [key, s] : Normalized(lex)) fused[key] += (1 - options.dense_weight) * s;
        for (const auto& [key, s] : Normalized(den)) fused[key] += options.dense_weight * s;
      }
      if (options.mode != SearchMode::kDense && options.lexical_lead > 0 &&
          terms.size() <= kLexicalLeadMaxTerms) {
        KeepLexicalWinnerFirst(lex, options.lexical_lead, &fused);
      }
      for (const auto& [key, s] : fused) {
        uint32_t c = representative.at(key);
        Candidate k{key, c, s * role_weight(c)};
        auto bi = bm25.find(key);
        if (bi != bm25.end()) k.bm25 = bi->second;
        auto di = sim.find(key);
        if (di != sim.end()) k.dense = di->second;
        cands.push_back(k);
      }
    }
    std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score > b.score : a.key < b.key;
    });

    // Distinct results, best first: a near-duplicate of a kept result is
    // folded into it. The caller's hits are overwritten in place, the first
    // `n` being this round's; the rest are dropped at the end of the round.
    std::vector<SearchHit>& hits = *out;
    hits.reserve(std::min(top_k, cands.size()));  // no moves of hits as it grows
    kept.clear();  // chunks of the first n hits
    size_t n = 0;
    for (const Candidate& k : cands) {
      if (n == top_k) break;
      if (collapse) {
        // The chunks' sketches rule out most pairs (sizes too far apart,
        // or too few shared shingles possible) without shingling either
        // text; only the pairs left are compared exactly.
        const index::DupSketch& ks = chunks[k.chunk].sketch;
        size_t dup = kept.size();
        for (size_t i = 0; i < kept.size() && dup == kept.size(); ++i) {
          if (!index::MayBeNearDuplicate(ks, chunks[kept[i]].sketch, options.collapse_jaccard))
            continue;
          if (rewrite::JaccardAtLeast(shingles_of(k.chunk), shingles_of(kept[i]),
                                      options.collapse_jaccard))
            dup = i;
        }
        if (dup < kept.size()) {
          hits[dup].duplicates.push_back(chunks[k.chunk].chunk.id);
          continue;
        }
      }
      SearchHit& h = n < hits.size() ? hits[n] : hits.emplace_back();  // filled in place
      ++n;
      FillHit(k.chunk, k.score, &h, options.hit_text, options.hit_ids);
      h.bm25 = k.bm25;
      h.dense = k.dense;
      h.duplicates.clear();
      kept.push_back(k.chunk);
    }
    hits.resize(n);
    // Deeper when the lists may hold more and either too few distinct
    // results came back, or (lexical only) a role-weighted score fell below
    // what an unseen chunk could still score.
    bool short_of_results = hits.size() < top_k;
    bool unsettled = false;
    if (!dense_used && lexical_more && !hits.empty()) {
      unsettled = hits.back().score < lexical_hits.back().second;
    }
    bool more = dense_used ? (lexical_more && depth < kMaxDepth) || dense_more : lexical_more;
    if (!more || !(short_of_results || unsettled) || round >= 10) return Status::OK();
  }
}

}  // namespace foldback
