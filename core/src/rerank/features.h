// Features of the learned reranker: what a (query, passage, candidate list)
// triple looks like without naming the question — first-stage scores and
// ranks, query-term coverage and proximity, field matches, passage length,
// position and shape, metadata agreement. The memory features (similarity to
// passages labelled for similar past questions) are computed by the model
// (learned_reranker.cc) and appended after these.
#ifndef FOLDBACK_RERANK_FEATURES_H_
#define FOLDBACK_RERANK_FEATURES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "foldback/search.h"
#include "foldback/status.h"
#include "index/index_internal.h"
#include "text/term_vector.h"

namespace foldback::rerank {

// Feature indexes (RerankFeatureNames() lists the names in this order).
enum Feature : int {
  kFirstScoreRel = 0,  // first-stage score / best first-stage score in the list
  kFirstRankLog,       // log2(1 + first-stage rank)
  kBm25Log,            // log(1 + BM25 of the query against the passage, as the index scores it)
  kBm25Rel,            // BM25 / best BM25 in the list
  kDense,              // cosine of query and passage embeddings (0: no dense side)
  kDenseGap,           // cosine - best cosine in the list
  kCoverageIdf,        // idf mass of the query's terms found in the passage
  kCoverage,           // fraction of the query's distinct terms found
  kProximity,          // matched terms / shortest window holding them all
  kTitleMatch,         // idf mass of query terms in the document title
  kSectionMatch,       // idf mass of query terms in the passage's heading
  kDefinedTermMatch,   // a defined term of the document, named by the query, is in the passage
  kDefinesTerm,        // the passage defines a term ("X" means / ("X"))
  kPartyMatch,         // a party of the document, named by the query, is in the passage
  kMetadataMatch,      // a metadata value of the document is named by the query
  kLengthLog,          // log(1 + index terms in the passage)
  kShort,              // fewer than 6 index terms
  kPosition,           // passage ordinal / (passages in the document - 1)
  kUpperRatio,         // share of upper-case letters (headings, captions)
  kBodyRole,           // the document's own text (not quoted mail, not a signature)
  kBm25RankLog,        // log2(1 + rank of the passage's BM25 in the list)
  kDenseRankLog,       // log2(1 + rank of the passage's cosine in the list)
  kCoverageRare,       // idf mass found of the query's rarer half of terms (idf >= median)
  // Label prior (filled by the model, learned_reranker.cc): what labelled
  // passages of *other* questions, in *other* documents, say of this kind of
  // passage — clause-type cues learned from labels, not from question text.
  kPriorPos,  // max cosine to a passage labelled relevant
  kPriorNeg,  // max cosine to a passage labelled not relevant
  kGenericCount,
  // Memory: labelled passages of past questions, in two groups of the same
  // layout: every past question at least LearnedRerankerOptions::
  // min_similarity similar (the same question asked again included), and
  // the same question asked again only (similarity >=
  // same_question_similarity). The second group is fitted on top of the
  // first, so the first keeps the weights it has for a new question with
  // only similar neighbours, and the same question's labels add their own.
  kMemPosDense = kGenericCount,  // max over similar past questions: sim x cos(passage, relevant)
  kMemNegDense,                  // the same against not-relevant passages
  kMemPosLexical,                // sim x cosine of term vectors against relevant passages
  kMemExact,                     // sim x (+1 labelled relevant, -1 not relevant) for this passage
  kMemPosDenseMean,              // similarity-weighted mean over neighbours of the best cosine
  kMemPosLexicalMean,            // the same with term vectors
  kSamePosDense,                 // the same six, from past records of the same question
  kSameNegDense,
  kSamePosLexical,
  kSameExact,
  kSamePosDenseMean,
  kSamePosLexicalMean,
  // kNN vote of the kKnn labelled passages (relevant +1, not relevant -1)
  // of the same question's past records nearest to the passage, weighted
  // by cosine (learned_reranker.cc).
  kSameKnn,
  kFeatureCount,
};
constexpr int kMemoryGroupSize = kSamePosDense - kMemPosDense;
static_assert(kSameKnn - kSamePosDense == kMemoryGroupSize, "memory groups differ");

// Sparse unit term vector, sorted by term (TermDot compares two).
using TermVec = TermVector;

// The query, analyzed once.
struct QueryContext {
  std::vector<std::string> terms;  // distinct index terms
  std::vector<double> idf;         // by terms, in the index's BM25 form (Bm25Params::idf)
  double idf_total = 0;
  double median_idf = 0;  // of terms (the upper median)
  std::unordered_set<std::string> term_set;
  std::vector<float> vec;  // unit embedding; empty without a dense side
  TermVec question_vec;    // (1 + log tf) * idf, unit (past-question similarity)
  // The query's terms as the index's BM25 reads them (Index::Rep::QueryTerms:
  // question words and stopwords out, a repeated word saturated by k3), by
  // term, with their summed weights: the lexical feature scores with these.
  std::vector<std::pair<std::string, double>> bm25_terms;
};

// `query_vector`: the host-computed vector for external embedders (may be
// empty). InvalidArgument on a vector of the wrong dimension.
Result<QueryContext> MakeQueryContext(const Index::Rep& ix, std::string_view query,
                                      const std::vector<float>& query_vector);

// (1 + log tf) * idf over the index's analyzer, unit.
TermVec QuestionVector(const Index::Rep& ix, std::string_view text);
// (1 + log tf) * idf vector of a chunk's text, unit.
TermVec ChunkTermVector(const Index::Rep& ix, uint32_t chunk);
// A chunk's unit embedding (empty when it has none).
std::vector<float> ChunkVector(const Index::Rep& ix, uint32_t chunk);

struct Candidate {
  uint32_t chunk = 0;
  uint32_t first_rank = 1;  // 1-based
  double first_score = 0;
};

// Generic features (kGenericCount values) of every candidate, relative to
// the list where a feature says so.
std::vector<std::vector<double>> GenericFeatures(const Index::Rep& ix, const QueryContext& q,
                                                 const std::vector<Candidate>& list);

}  // namespace foldback::rerank

#endif  // FOLDBACK_RERANK_FEATURES_H_
