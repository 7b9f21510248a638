// Generic features of the learned reranker (features.h).
#include "rerank/features.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "embed/static_embedder.h"
#include "index/dense_index.h"
#include "text/metadata.h"

namespace foldback::rerank {
namespace {

void NormalizeVec(std::vector<float>* v) {
  double n = 0;
  for (float f : *v) n += static_cast<double>(f) * f;
  if (n <= 0) {
    v->clear();
    return;
  }
  n = std::sqrt(n);
  for (float& f : *v) f = static_cast<float>(f / n);
}

void NormalizeTerms(TermVec* v) {
  double n = 0;
  for (const auto& [t, w] : *v) n += w * w;
  if (n <= 0) return;
  n = std::sqrt(n);
  for (auto& [t, w] : *v) w /= n;
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.empty() || a.size() != b.size()) return 0;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

std::vector<std::string> TermsOf(const Index::Rep& ix, std::string_view text) {
  std::vector<std::string> out;
  ix.analyzer.Terms(text, &out);
  return out;
}

// Idf mass of the query's terms that `terms` contains, over the query's total.
double IdfMass(const QueryContext& q, const std::unordered_set<std::string>& terms) {
  if (q.idf_total <= 0) return 0;
  double s = 0;
  for (size_t i = 0; i < q.terms.size(); ++i) {
    if (terms.count(q.terms[i])) s += q.idf[i];
  }
  return s / q.idf_total;
}

// A metadata value "named by the query": it has index terms and the query
// holds every one of them.
bool NamedBy(const Index::Rep& ix, const QueryContext& q, const std::string& value,
             std::vector<std::string>* terms_out = nullptr) {
  std::vector<std::string> t = TermsOf(ix, value);
  if (t.empty()) return false;
  for (const auto& s : t) {
    if (!q.term_set.count(s)) return false;
  }
  if (terms_out) *terms_out = std::move(t);
  return true;
}

bool ContainsAll(const std::unordered_set<std::string>& set,
                 const std::vector<std::string>& terms) {
  for (const auto& t : terms) {
    if (!set.count(t)) return false;
  }
  return !terms.empty();
}

double Log2p(double x) { return std::log2(1.0 + x); }

}  // namespace

TermVec QuestionVector(const Index::Rep& ix, std::string_view text) {
  std::map<std::string, double> tf;
  ix.analyzer.ForEachTerm(text, [&](std::string_view t) { tf[std::string(t)] += 1; });
  TermVec v;
  double n = static_cast<double>(ix.lexical.live_chunks());
  for (const auto& [t, c] : tf) {
    double df = ix.lexical.Df(t);
    // Lucene's idf whatever the index's BM25 uses: the reranker's similarity
    // features were fitted with it.
    v.emplace_back(t, (1 + std::log(c)) * index::Bm25IdfOf(Bm25Idf::kPlusOne, n, df));
  }
  NormalizeTerms(&v);
  return v;
}

TermVec ChunkTermVector(const Index::Rep& ix, uint32_t chunk) {
  return QuestionVector(ix, ix.chunks[chunk].chunk.text);
}

std::vector<float> ChunkVector(const Index::Rep& ix, uint32_t chunk) {
  std::vector<float> v;
  if (!ix.dense || !ix.chunks[chunk].has_vector || !ix.dense->GetVector(chunk, &v)) return {};
  NormalizeVec(&v);
  return v;
}

Result<QueryContext> MakeQueryContext(const Index::Rep& ix, std::string_view query,
                                      const std::vector<float>& query_vector) {
  QueryContext q;
  std::vector<std::string> all = TermsOf(ix, query);
  for (const auto& t : all) {
    if (q.term_set.insert(t).second) q.terms.push_back(t);
  }
  for (const auto& t : q.terms) {
    // Terms the index does not know weigh as a term seen nowhere would.
    double df = ix.lexical.Df(t);
    double n = static_cast<double>(ix.lexical.live_chunks());
    // The index's own idf form (Robertson's by default): coverage counts a
    // term as much as the first stage weighs it.
    double idf = index::Bm25IdfOf(ix.lexical.params().idf, n, df);
    q.idf.push_back(idf);
    q.idf_total += idf;
  }
  if (!q.idf.empty()) {
    std::vector<double> sorted = q.idf;
    std::sort(sorted.begin(), sorted.end());
    q.median_idf = sorted[sorted.size() / 2];
  }
  if (ix.dense && ix.dense->size() > 0) {
    if (ix.options.dense.embedder == EmbedderKind::kExternal) {
      if (!query_vector.empty()) {
        if (query_vector.size() != ix.dense->dimension()) {
          return Status::InvalidArgument(
              fmt::format(FMT_STRING("query_vector has {} dimensions; the index expects {}"),
                          query_vector.size(), ix.dense->dimension()));
        }
        q.vec = query_vector;
      }
    } else if (ix.embedder) {
      q.vec = ix.embedder->Embed(query, ix.analyzer);
    }
    NormalizeVec(&q.vec);
  }
  q.question_vec = QuestionVector(ix, query);
  {
    std::map<std::string, double> w;
    for (const auto& t : ix.QueryTerms(query)) w[t.term] += t.weight;
    q.bm25_terms.assign(w.begin(), w.end());
  }
  return q;
}

std::vector<std::vector<double>> GenericFeatures(const Index::Rep& ix, const QueryContext& q,
                                                 const std::vector<Candidate>& list) {
  const Bm25Params& bp = ix.lexical.params();
  const double avg = std::max(ix.lexical.average_length(), 1.0);
  std::vector<std::vector<double>> rows(list.size(), std::vector<double>(kGenericCount, 0.0));
  std::vector<double> bm25(list.size(), 0), cos(list.size(), 0);
  std::unordered_map<uint32_t, std::unordered_set<std::string>> title_terms;  // by document
  for (size_t i = 0; i < list.size(); ++i) {
    const uint32_t c = list[i].chunk;
    const ChunkSlot& slot = ix.chunks[c];
    const DocSlot& doc = ix.docs[slot.doc];
    std::vector<double>& f = rows[i];

    // The passage's terms in order, and their counts as BM25 sees them
    // (text, plus the title title_weight times).
    std::vector<std::string> seq = TermsOf(ix, slot.chunk.text);
    std::unordered_map<std::string, uint32_t> tf;
    for (const auto& t : seq) ++tf[t];
    auto ti = title_terms.find(slot.doc);
    if (ti == title_terms.end()) {
      std::vector<std::string> tt = TermsOf(ix, doc.doc.title);
      ti = title_terms.emplace(slot.doc, std::unordered_set<std::string>(tt.begin(), tt.end()))
               .first;
    }
    if (bp.title_weight > 0) {
      ix.analyzer.ForEachTerm(doc.doc.title,
                              [&](std::string_view t) { tf[std::string(t)] += bp.title_weight; });
    }
    const double len =
        ix.lexical.length(c) ? ix.lexical.length(c) : static_cast<double>(seq.size());
    // BM25 as the first stage computes it: the query's own weights (a
    // repeated word saturated by k3, question words out).
    double score = 0;
    for (const auto& [t, qw] : q.bm25_terms) {
      auto it = tf.find(t);
      if (it == tf.end()) continue;
      double n = it->second;
      score +=
          qw * ix.lexical.Idf(t) * n * (bp.k1 + 1) / (n + bp.k1 * (1 - bp.b + bp.b * len / avg));
    }
    bm25[i] = score;
    f[kBm25Log] = std::log1p(score);

    if (!q.vec.empty()) cos[i] = Cosine(q.vec, ChunkVector(ix, c));
    f[kDense] = cos[i];

    std::unordered_set<std::string> text_set(seq.begin(), seq.end());
    f[kCoverageIdf] = IdfMass(q, text_set);
    size_t matched = 0;
    for (const auto& t : q.terms) matched += text_set.count(t);
    f[kCoverage] = q.terms.empty() ? 0 : static_cast<double>(matched) / q.terms.size();
    {
      double found = 0, total = 0;
      for (size_t k = 0; k < q.terms.size(); ++k) {
        if (q.idf[k] < q.median_idf) continue;
        total += q.idf[k];
        if (text_set.count(q.terms[k])) found += q.idf[k];
      }
      f[kCoverageRare] = total > 0 ? found / total : 0;
    }
    // Proximity: the shortest window of the passage holding every matched
    // query term (a sweep over positions).
    if (matched >= 2) {
      std::unordered_map<std::string, size_t> in_window;
      size_t have = 0, best = seq.size() + 1, lo = 0;
      for (size_t hi = 0; hi < seq.size(); ++hi) {
        if (!q.term_set.count(seq[hi])) continue;
        if (in_window[seq[hi]]++ == 0) ++have;
        while (have == matched) {
          best = std::min(best, hi - lo + 1);
          if (q.term_set.count(seq[lo]) && --in_window[seq[lo]] == 0) --have;
          ++lo;
        }
      }
      f[kProximity] = best <= seq.size() ? static_cast<double>(matched) / best : 0;
    }
    f[kTitleMatch] = IdfMass(q, ti->second);
    if (!slot.chunk.section.empty()) {
      std::vector<std::string> st = TermsOf(ix, slot.chunk.section);
      f[kSectionMatch] = IdfMass(q, std::unordered_set<std::string>(st.begin(), st.end()));
    }
    const Metadata& md = doc.doc.metadata;
    auto defined = md.find(text::kFieldDefinedTerm);
    if (defined != md.end()) {
      for (const auto& v : defined->second) {
        if (v.empty()) continue;
        std::string_view text = slot.chunk.text;
        if (!f[kDefinesTerm] && (text.find("\"" + v) != std::string::npos ||
                                 text.find("\xE2\x80\x9C" + v) != std::string::npos)) {
          f[kDefinesTerm] = 1;
        }
        std::vector<std::string> vt;
        if (!f[kDefinedTermMatch] && NamedBy(ix, q, v, &vt) && ContainsAll(text_set, vt)) {
          f[kDefinedTermMatch] = 1;
        }
      }
    }
    auto parties = md.find(text::kFieldParty);
    if (parties != md.end()) {
      for (const auto& v : parties->second) {
        std::vector<std::string> vt;
        if (NamedBy(ix, q, v, &vt) && ContainsAll(text_set, vt)) {
          f[kPartyMatch] = 1;
          break;
        }
      }
    }
    for (const auto& [field, values] : md) {
      if (f[kMetadataMatch] || field == text::kFieldDefinedTerm || field == text::kFieldParty) {
        continue;
      }
      for (const auto& v : values) {
        if (NamedBy(ix, q, v)) {
          f[kMetadataMatch] = 1;
          break;
        }
      }
    }
    f[kLengthLog] = std::log1p(static_cast<double>(seq.size()));
    f[kShort] = seq.size() < 6 ? 1 : 0;
    const auto& ordinals = doc.chunks;
    if (ordinals.size() > 1) {
      auto at = std::find(ordinals.begin(), ordinals.end(), c);
      f[kPosition] = static_cast<double>(at - ordinals.begin()) / (ordinals.size() - 1);
    }
    size_t letters = 0, upper = 0;
    for (unsigned char ch : slot.chunk.text) {
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
        ++letters;
        upper += ch <= 'Z';
      }
    }
    f[kUpperRatio] = letters ? static_cast<double>(upper) / letters : 0;
    f[kBodyRole] = slot.chunk.role == ChunkRole::kBody ? 1 : 0;
    f[kFirstRankLog] = Log2p(list[i].first_rank);
  }
  double best_bm25 = 0, best_cos = -1, best_first = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    best_bm25 = std::max(best_bm25, bm25[i]);
    best_cos = std::max(best_cos, cos[i]);
    best_first = std::max(best_first, list[i].first_score);
  }
  // Ranks within the list by BM25 and by cosine (ties share the better rank).
  auto ranks = [&](const std::vector<double>& v, int feature) {
    for (size_t i = 0; i < list.size(); ++i) {
      size_t better = 0;
      for (size_t j = 0; j < list.size(); ++j) better += v[j] > v[i];
      rows[i][feature] = Log2p(static_cast<double>(better + 1));
    }
  };
  ranks(bm25, kBm25RankLog);
  if (!q.vec.empty()) ranks(cos, kDenseRankLog);
  for (size_t i = 0; i < list.size(); ++i) {
    rows[i][kBm25Rel] = best_bm25 > 0 ? bm25[i] / best_bm25 : 0;
    rows[i][kDenseGap] = q.vec.empty() ? 0 : cos[i] - best_cos;
    rows[i][kFirstScoreRel] = best_first > 0 ? list[i].first_score / best_first : 0;
  }
  return rows;
}

}  // namespace foldback::rerank
