// Evaluation: BEIR-format data sets (corpus.jsonl, queries.jsonl, qrels TSV)
// and the retrieval metrics of BEIR / pytrec_eval.
#ifndef FOLDBACK_EVAL_H_
#define FOLDBACK_EVAL_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/document.h"
#include "foldback/status.h"

namespace foldback {

// Parses BEIR corpus lines {"_id", "title"?, "text", ...}. Every other field
// becomes metadata (strings as is; numbers, booleans and arrays of scalars as
// their JSON text). Errors name the 1-based line. Blank lines are skipped.
Result<std::vector<Document>> ParseBeirCorpus(std::string_view jsonl);

struct EvalQuery {
  size_t line = 0;  // 1-based line in the queries file
  std::string id;
  std::string text;
  std::map<std::string, std::string> fields;  // other scalar fields (e.g. doc_id)
};

// Parses BEIR queries lines {"_id", "text", ...}.
Result<std::vector<EvalQuery>> ParseBeirQueries(std::string_view jsonl);

// query id -> corpus id -> relevance grade (> 0 relevant).
using Qrels = std::map<std::string, std::map<std::string, int>>;

// Parses a BEIR qrels TSV: a header line, then "query-id<TAB>corpus-id<TAB>score".
Result<Qrels> ParseQrels(std::string_view tsv);

struct Metrics {
  double ndcg10 = 0;
  double recall5 = 0;
  double recall10 = 0;
  double recall100 = 0;
  double mrr10 = 0;
  size_t queries = 0;  // queries with at least one relevant document
};

// Per-query metrics of a ranked list of corpus ids (best first), as
// pytrec_eval computes them: nDCG@10 with graded gains rel / log2(rank + 1)
// and the ideal ordering of all judged-relevant documents; recall@k over all
// relevant documents; reciprocal rank of the first relevant within 10.
Metrics ScoreQuery(const std::vector<std::string>& ranked, const std::map<std::string, int>& rel);

// Mean over queries; queries without relevant documents are skipped, as
// BEIR does.
class MetricsAccumulator {
 public:
  void Add(const Metrics& m);
  Metrics Mean() const;

 private:
  Metrics sum_;
};

}  // namespace foldback

#endif  // FOLDBACK_EVAL_H_
